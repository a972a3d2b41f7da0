-- memfuse-server PostgreSQL schema, version 5: facts and relations know when they hold.
-- valid_from: when it became true (the turn's time, or the date the text gives);
-- valid_until: NULL while it holds, else when a later statement ended it;
-- superseded_by: the fact (relation) that ended it; recorded_at: when the server learned it.
-- subject_key + attribute (+ value, ends) place a statement on a timeline: see validity.py.
-- Rows stored before this version get the time of their first source message and no attribute.

ALTER TABLE facts
    ADD COLUMN valid_from TIMESTAMPTZ,
    ADD COLUMN valid_until TIMESTAMPTZ,
    ADD COLUMN superseded_by TEXT,
    ADD COLUMN recorded_at TIMESTAMPTZ,
    ADD COLUMN subject_key TEXT,
    ADD COLUMN attribute TEXT,
    ADD COLUMN value TEXT,
    ADD COLUMN ends BOOLEAN NOT NULL DEFAULT false;
UPDATE facts SET recorded_at = created_at, valid_from = COALESCE(
    (SELECT MIN(m.created_at) FROM fact_sources s JOIN messages m ON m.id = s.message_id
     WHERE s.fact_id = facts.id),
    created_at);
CREATE INDEX facts_attribute ON facts(user_id, attribute, subject_key);

ALTER TABLE relations
    ADD COLUMN valid_from TIMESTAMPTZ,
    ADD COLUMN valid_until TIMESTAMPTZ,
    ADD COLUMN superseded_by TEXT,
    ADD COLUMN recorded_at TIMESTAMPTZ,
    ADD COLUMN attribute TEXT,
    ADD COLUMN ends BOOLEAN NOT NULL DEFAULT false;
UPDATE relations SET recorded_at = created_at, valid_from = COALESCE(
    (SELECT MIN(m.created_at) FROM relation_sources s JOIN messages m ON m.id = s.message_id
     WHERE s.relation_id = relations.id),
    created_at);
UPDATE relations SET valid_from = valid_at WHERE valid_at IS NOT NULL AND valid_at <= valid_from;
CREATE INDEX relations_attribute ON relations(subject_id, attribute);
