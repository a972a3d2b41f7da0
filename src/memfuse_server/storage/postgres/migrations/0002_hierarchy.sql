-- memfuse-server PostgreSQL schema, version 2: the durable job queue (outbox),
-- M1 facts and the M2 graph, each tied to the M0 messages it came from.

CREATE TABLE jobs (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         TEXT NOT NULL,                   -- 'process_episode'
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    payload      JSONB NOT NULL,                  -- e.g. {"episode_id": "..."}
    status       TEXT NOT NULL DEFAULT 'pending', -- pending | running | done | dead
    attempts     INTEGER NOT NULL DEFAULT 0,
    run_after    TIMESTAMPTZ NOT NULL,            -- not before (backoff after a failure)
    locked_by    TEXT,                            -- the worker holding the lease
    locked_until TIMESTAMPTZ,                     -- a lease past this time is free to take
    last_error   TEXT,
    request_id   TEXT,
    mode         TEXT,                            -- parallel | sequential, when it ran
    m1_ms        DOUBLE PRECISION,
    m2_ms        DOUBLE PRECISION,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ
);
CREATE INDEX jobs_ready ON jobs(status, run_after);
CREATE INDEX jobs_finished ON jobs(status, finished_at);

CREATE TABLE facts (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    content         TEXT NOT NULL,
    content_hash    TEXT NOT NULL,
    subject         TEXT,
    occurred_at     TIMESTAMPTZ,
    time_expression TEXT,
    confidence      DOUBLE PRECISION NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (user_id, content_hash)
);
CREATE INDEX facts_user_time ON facts(user_id, created_at);

CREATE TABLE fact_sources (
    fact_id    TEXT NOT NULL REFERENCES facts(id) ON DELETE CASCADE,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    PRIMARY KEY (fact_id, message_id)
);
CREATE INDEX fact_sources_message ON fact_sources(message_id);

CREATE TABLE entities (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    type       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX entities_user ON entities(user_id, name);
CREATE INDEX entities_user_time ON entities(user_id, created_at);

-- Every name an entity goes by (its own name included), lower-cased: one entity per alias.
CREATE TABLE entity_aliases (
    user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    alias_key TEXT NOT NULL,
    alias     TEXT NOT NULL,
    entity_id TEXT NOT NULL REFERENCES entities(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, alias_key)
);
CREATE INDEX entity_aliases_entity ON entity_aliases(entity_id);

CREATE TABLE entity_sources (
    entity_id  TEXT NOT NULL REFERENCES entities(id) ON DELETE CASCADE,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    PRIMARY KEY (entity_id, message_id)
);
CREATE INDEX entity_sources_message ON entity_sources(message_id);

CREATE TABLE relations (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    subject_id   TEXT NOT NULL REFERENCES entities(id) ON DELETE CASCADE,
    predicate    TEXT NOT NULL,
    object_id    TEXT NOT NULL REFERENCES entities(id) ON DELETE CASCADE,
    valid_at     TIMESTAMPTZ,
    fact         TEXT,
    confidence   DOUBLE PRECISION NOT NULL,
    content_hash TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (user_id, content_hash)
);
CREATE INDEX relations_subject ON relations(subject_id);
CREATE INDEX relations_object ON relations(object_id);
CREATE INDEX relations_user_time ON relations(user_id, created_at);

CREATE TABLE relation_sources (
    relation_id TEXT NOT NULL REFERENCES relations(id) ON DELETE CASCADE,
    message_id  TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    PRIMARY KEY (relation_id, message_id)
);
CREATE INDEX relation_sources_message ON relation_sources(message_id);
