-- memfuse-server schema, version 7: the speakers of a user's messages, looked up by name.
-- A query that names a speaker ("What did Ann research?") asks whose turns it is about;
-- ranking (retrieval/speakers.py) finds out with an index lookup per candidate name.

CREATE INDEX messages_speaker ON messages(user_id, name);
