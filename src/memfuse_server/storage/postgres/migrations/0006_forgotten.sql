-- memfuse-server PostgreSQL schema, version 6: derived memory a user deleted, kept as tombstones.
-- A fact, entity or relation deleted through the API is recorded here, keyed by what the
-- extractor would produce again (storage/ops/forgetting.py), so processing its episode again
-- does not bring it back. content: what was deleted, as it read.

CREATE TABLE forgotten (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,  -- fact | entity | relation
    key        TEXT NOT NULL,  -- fact, relation: its content_hash; entity: one alias_key each
    content    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, kind, key)
);
