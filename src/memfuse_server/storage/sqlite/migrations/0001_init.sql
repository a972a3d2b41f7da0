-- memfuse-server embedded schema, version 1: users, agents, sessions, M0
-- messages and episodes, knowledge, and the search documents (vectors + FTS5).

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    description     TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    -- bumped by every write to this user's memory: the query cache key
    memory_version  INTEGER NOT NULL DEFAULT 0,
    -- bumped when search documents are removed: in-process vector indexes reload
    removal_epoch   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE agents (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    agent_id        TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    -- the open round window (RoundBuffer state)
    window_tokens   INTEGER NOT NULL DEFAULT 0,
    window_rounds   INTEGER NOT NULL DEFAULT 0,
    window_size     INTEGER NOT NULL DEFAULT 0,
    last_message_at TEXT,
    UNIQUE (user_id, name)
);
CREATE INDEX sessions_agent ON sessions(agent_id);
CREATE INDEX sessions_open_window ON sessions(last_message_at) WHERE window_size > 0;

CREATE TABLE episodes (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    content     TEXT NOT NULL,
    start_at    TEXT NOT NULL,
    end_at      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX episodes_session ON episodes(session_id);

CREATE TABLE messages (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        TEXT NOT NULL,
    name        TEXT,
    content     TEXT NOT NULL,
    metadata    TEXT NOT NULL DEFAULT '{}',
    tokens      INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    episode_id  TEXT REFERENCES episodes(id) ON DELETE SET NULL
);
CREATE INDEX messages_session_time ON messages(session_id, created_at, seq);
CREATE INDEX messages_episode ON messages(episode_id);

CREATE TABLE knowledge (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    content     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX knowledge_user ON knowledge(user_id, seq);

-- One row per searchable item (message, chunk, knowledge, ...): its vector,
-- and (same rowid) its full-text row. seq only grows, so an in-process index
-- can load what is new since the last seq it saw.
CREATE TABLE documents (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind     TEXT NOT NULL,
    item_id  TEXT NOT NULL,
    vector   BLOB NOT NULL,
    UNIQUE (kind, item_id)
);
CREATE INDEX documents_user_seq ON documents(user_id, seq);

-- owner holds 'u' + the user's id without dashes, so a MATCH can be scoped to one user.
CREATE VIRTUAL TABLE documents_fts USING fts5(
    body, owner, tokenize = 'porter unicode61 remove_diacritics 2'
);
