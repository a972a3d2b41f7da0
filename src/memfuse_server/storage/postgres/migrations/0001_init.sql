-- memfuse-server PostgreSQL schema, version 1: users, agents, sessions, M0
-- messages and episodes, knowledge, and the search documents (pgvector + tsvector).
-- {dimension} is replaced by embedding.dimension when the migration is applied.

CREATE EXTENSION IF NOT EXISTS vector;
CREATE EXTENSION IF NOT EXISTS btree_gin;  -- contrib: user_id and lexemes in one GIN index

CREATE TABLE memfuse_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO memfuse_meta (key, value) VALUES ('dimension', '{dimension}');

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    description     TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    -- bumped by every write to this user's memory: the query cache key, in every process
    memory_version  BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE agents (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    agent_id        TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    -- the open round window (RoundBuffer state); writers lock the row (FOR UPDATE)
    window_tokens   INTEGER NOT NULL DEFAULT 0,
    window_rounds   INTEGER NOT NULL DEFAULT 0,
    window_size     INTEGER NOT NULL DEFAULT 0,
    last_message_at TIMESTAMPTZ,
    UNIQUE (user_id, name)
);
CREATE INDEX sessions_agent ON sessions(agent_id);
CREATE INDEX sessions_open_window ON sessions(last_message_at) WHERE window_size > 0;

CREATE TABLE episodes (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    content     TEXT NOT NULL,
    start_at    TIMESTAMPTZ NOT NULL,
    end_at      TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX episodes_session ON episodes(session_id);
CREATE INDEX episodes_user ON episodes(user_id);

CREATE TABLE messages (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        TEXT NOT NULL,
    name        TEXT,
    content     TEXT NOT NULL,
    metadata    JSONB NOT NULL DEFAULT '{}',
    tokens      INTEGER NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    episode_id  TEXT REFERENCES episodes(id) ON DELETE SET NULL
);
CREATE INDEX messages_session_time ON messages(session_id, created_at, seq);
CREATE INDEX messages_episode ON messages(episode_id);
CREATE INDEX messages_user ON messages(user_id);

CREATE TABLE knowledge (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    content     TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX knowledge_user ON knowledge(user_id, seq);

-- One row per searchable item (message, chunk, knowledge, fact, entity, relation) and its
-- vector; its full-text row (same seq) is in document_texts, a narrow table that ranking reads
-- without dragging 1.5 KB vectors through memory. Every query names user_id.
CREATE TABLE documents (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind      TEXT NOT NULL,
    item_id   TEXT NOT NULL,
    embedding vector({dimension}) NOT NULL,
    UNIQUE (kind, item_id)
);
CREATE INDEX documents_user_kind ON documents(user_id, kind);
-- One HNSW graph per kind (cosine): a kind's search walks only its own graph.
CREATE INDEX documents_hnsw_message ON documents USING hnsw (embedding vector_cosine_ops) WHERE kind = 'message';
CREATE INDEX documents_hnsw_chunk ON documents USING hnsw (embedding vector_cosine_ops) WHERE kind = 'chunk';
CREATE INDEX documents_hnsw_knowledge ON documents USING hnsw (embedding vector_cosine_ops) WHERE kind = 'knowledge';
CREATE INDEX documents_hnsw_fact ON documents USING hnsw (embedding vector_cosine_ops) WHERE kind = 'fact';
CREATE INDEX documents_hnsw_entity ON documents USING hnsw (embedding vector_cosine_ops) WHERE kind = 'entity';
CREATE INDEX documents_hnsw_relation ON documents USING hnsw (embedding vector_cosine_ops) WHERE kind = 'relation';

CREATE TABLE document_texts (
    seq     BIGINT PRIMARY KEY REFERENCES documents(seq) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    kind    TEXT NOT NULL,
    body    TSVECTOR NOT NULL
);
-- Two GIN indexes, the planner picks per query from the user's share of the rows: lexemes
-- alone (a user owning most rows: the user filter is cheap after the match), and user + kind +
-- lexemes (one user among many: only that user's postings are read).
CREATE INDEX document_texts_body ON document_texts USING gin (body);
CREATE INDEX document_texts_owned ON document_texts USING gin (user_id, kind, body);
