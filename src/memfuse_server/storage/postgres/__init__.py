"""The PostgreSQL + pgvector store: many API and worker processes over one database."""
