-- memfuse-server PostgreSQL schema, version 3: idempotency keys of message writes.
-- A POST .../messages with an Idempotency-Key stores its answer here in the same
-- transaction as the messages; the same key again returns that answer.

CREATE TABLE idempotency_keys (
    session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    body_hash   TEXT NOT NULL,
    message_ids JSONB NOT NULL,  -- list, in input order
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (session_id, key)
);
