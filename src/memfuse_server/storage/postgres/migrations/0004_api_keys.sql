-- memfuse-server PostgreSQL schema, version 4: API keys, each bound to one user.
-- Only a SHA-256 of the key is stored; the key itself is shown once, at creation.

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name        TEXT,
    key_hash    TEXT NOT NULL UNIQUE,
    permissions JSONB NOT NULL DEFAULT '[]',
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ
);
CREATE INDEX api_keys_user ON api_keys(user_id, created_at);
