"""``PostgresStore``: the scaled-out implementation of the ``Store`` protocol.

It composes the transaction functions of this package and runs each call as
one transaction on one pooled connection (``Database``). Any number of API
and worker processes may share the database: session rows are locked while
their windows change, jobs are claimed with ``SKIP LOCKED``, and the query
cache key (the user's memory version) lives in the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from memfuse_server.buffer import RoundBuffer
from memfuse_server.embeddings.base import Vectors
from memfuse_server.models import (
    JSON,
    Agent,
    ApiKey,
    Entity,
    EpisodeInput,
    Fact,
    Hit,
    ItemKind,
    Job,
    Knowledge,
    LayerTimings,
    MemoryItem,
    Message,
    QueueStats,
    Relation,
    Session,
    User,
    utcnow,
)
from memfuse_server.storage.base import MessageQuery, PoolStats, PreparedMessage, WriteContext
from memfuse_server.storage.postgres import api_keys as keys
from memfuse_server.storage.postgres import entities as ent
from memfuse_server.storage.postgres import episodes, facts, graph, jobs, layers_read, search
from memfuse_server.storage.postgres import knowledge as kn
from memfuse_server.storage.postgres import messages as msg
from memfuse_server.storage.postgres.database import Database
from memfuse_server.storage.postgres.removal import delete_agent, delete_session, delete_user


class PostgresStore:
    """The shared store: PostgreSQL with pgvector."""

    def __init__(self, database: Database) -> None:
        self.db = database
        self.term_stats = search.TermStats()

    async def open(self) -> None:
        await self.db.open()

    async def warm_up(self) -> None:
        """Nothing to load: the vectors and their index live in the database."""

    async def close(self) -> None:
        await self.db.close()

    def pool_stats(self) -> PoolStats:
        return self.db.pool_stats()

    async def migrate(self) -> int:
        """Apply pending migrations without opening the pool (``memfuse-server migrate``)."""
        return await self.db.migrate()

    # users
    async def create_user(self, name: str, description: str | None) -> tuple[User, bool]:
        return await self.db.write(ent.create_named, ent.USERS, name, description, utcnow())

    async def get_user(self, user_id: str) -> User:
        return await self.db.read(ent.get_named, ent.USERS, user_id)

    async def find_users(self, name: str | None, owner: str | None = None) -> list[User]:
        return await self.db.read(ent.find_named, ent.USERS, name, owner)

    async def update_user(self, user_id: str, name: str | None, description: str | None) -> User:
        return await self.db.write(
            ent.update_named, ent.USERS, user_id, name, description, utcnow()
        )

    async def delete_user(self, user_id: str) -> None:
        await self.db.write(delete_user, user_id)

    # agents
    async def create_agent(self, name: str, description: str | None) -> tuple[Agent, bool]:
        return await self.db.write(ent.create_named, ent.AGENTS, name, description, utcnow())

    async def get_agent(self, agent_id: str) -> Agent:
        return await self.db.read(ent.get_named, ent.AGENTS, agent_id)

    async def find_agents(self, name: str | None) -> list[Agent]:
        return await self.db.read(ent.find_named, ent.AGENTS, name)

    async def update_agent(self, agent_id: str, name: str | None, description: str | None) -> Agent:
        return await self.db.write(
            ent.update_named, ent.AGENTS, agent_id, name, description, utcnow()
        )

    async def delete_agent(self, agent_id: str) -> None:
        await self.db.write(delete_agent, agent_id)

    # sessions
    async def create_session(self, user_id: str, agent_id: str, name: str) -> Session:
        return await self.db.write(ent.create_session, user_id, agent_id, name, utcnow())

    async def get_session(self, session_id: str, owner: str | None = None) -> Session:
        return await self.db.read(ent.get_session, session_id, owner)

    async def find_sessions(
        self,
        user_id: str | None,
        agent_id: str | None,
        name: str | None,
        owner: str | None = None,
    ) -> list[Session]:
        return await self.db.read(ent.find_sessions, user_id, agent_id, name, owner)

    async def update_session(
        self, session_id: str, name: str | None, owner: str | None = None
    ) -> Session:
        return await self.db.write(ent.update_session, session_id, name, utcnow(), owner)

    async def delete_session(self, session_id: str, owner: str | None = None) -> None:
        await self.db.write(delete_session, session_id, owner)

    # messages
    async def add_messages(
        self,
        session: Session,
        messages: Sequence[PreparedMessage],
        vectors: Vectors,
        buffer: RoundBuffer,
        context: WriteContext | None = None,
    ) -> list[str]:
        return await self.db.write(
            msg.insert_messages,
            session,
            messages,
            vectors,
            buffer,
            utcnow(),
            context or WriteContext(),
        )

    async def idempotent_result(
        self, session_id: str, key: str, body_hash: str
    ) -> list[str] | None:
        return await self.db.read(msg.idempotent_result, session_id, key, body_hash)

    async def list_messages(
        self, session_id: str, query: MessageQuery, owner: str | None = None
    ) -> list[Message]:
        return await self.db.read(msg.list_messages, session_id, query, owner)

    async def read_messages(
        self, session_id: str, message_ids: Sequence[str], owner: str | None = None
    ) -> list[Message]:
        return await self.db.read(msg.read_messages, session_id, message_ids, owner)

    async def update_messages(
        self,
        session_id: str,
        message_ids: Sequence[str],
        messages: Sequence[PreparedMessage],
        vectors: Vectors,
        owner: str | None = None,
    ) -> None:
        await self.db.write(
            msg.update_messages, session_id, message_ids, messages, vectors, utcnow(), owner
        )

    async def delete_messages(
        self, session_id: str, message_ids: Sequence[str], owner: str | None = None
    ) -> None:
        await self.db.write(msg.delete_messages, session_id, message_ids, utcnow(), owner)

    async def close_idle_windows(self, idle_since: datetime) -> int:
        return await self.db.write(msg.close_idle, idle_since, utcnow())

    # knowledge
    async def add_knowledge(
        self, user_id: str, contents: Sequence[str], vectors: Vectors
    ) -> list[str]:
        return await self.db.write(kn.add_knowledge, user_id, contents, vectors, utcnow())

    async def list_knowledge(self, user_id: str) -> list[Knowledge]:
        return await self.db.read(kn.list_knowledge, user_id)

    async def read_knowledge(self, user_id: str, ids: Sequence[str]) -> list[Knowledge]:
        return await self.db.read(kn.read_knowledge, user_id, ids)

    async def update_knowledge(
        self, user_id: str, ids: Sequence[str], contents: Sequence[str], vectors: Vectors
    ) -> None:
        await self.db.write(kn.update_knowledge, user_id, ids, contents, vectors, utcnow())

    async def delete_knowledge(self, user_id: str, ids: Sequence[str]) -> None:
        await self.db.write(kn.delete_knowledge, user_id, ids)

    # search
    async def memory_version(self, user_id: str) -> int:
        return await self.db.read(search.memory_version, user_id)

    async def search_vectors(
        self, user_id: str, vector: Vectors, per_kind: int
    ) -> dict[ItemKind, list[Hit]]:
        return await self.db.read(search.search_vectors, user_id, vector, per_kind)

    async def search_text(self, user_id: str, text: str, limit: int) -> list[Hit]:
        return await self.db.read(search.search_text, user_id, text, limit, self.term_stats)

    async def resolve(
        self, user_id: str, keys: Sequence[tuple[ItemKind, str]]
    ) -> dict[tuple[ItemKind, str], MemoryItem]:
        return await self.db.read(search.resolve, user_id, keys)

    # M1 and M2
    async def episode_input(self, episode_id: str) -> EpisodeInput | None:
        return await self.db.read(episodes.episode_input, episode_id)

    async def save_facts(self, user_id: str, items: Sequence[Fact], vectors: Vectors) -> int:
        return await self.db.write(facts.save_facts, user_id, items, vectors, utcnow())

    async def save_entities(self, user_id: str, items: Sequence[Entity], vectors: Vectors) -> int:
        return await self.db.write(graph.save_entities, user_id, items, vectors, utcnow())

    async def save_relations(
        self, user_id: str, items: Sequence[Relation], vectors: Vectors
    ) -> int:
        return await self.db.write(graph.save_relations, user_id, items, vectors, utcnow())

    async def search_graph(self, user_id: str, text: str, limit: int) -> list[Hit]:
        return await self.db.read(layers_read.search_graph, user_id, text, limit)

    async def list_items(
        self, user_id: str, kind: ItemKind, limit: int, offset: int
    ) -> list[MemoryItem]:
        return await self.db.read(layers_read.list_items, user_id, kind, limit, offset)

    async def neighbourhood(self, user_id: str, entity_id: str, limit: int) -> JSON | None:
        return await self.db.read(layers_read.neighbourhood, user_id, entity_id, limit)

    # API keys
    async def create_api_key(
        self,
        user_id: str,
        name: str | None,
        key_hash: str,
        permissions: Sequence[str],
        expires_at: datetime | None,
    ) -> ApiKey:
        return await self.db.write(
            keys.create_api_key, user_id, name, key_hash, permissions, expires_at, utcnow()
        )

    async def list_api_keys(self, user_id: str) -> list[ApiKey]:
        return await self.db.read(keys.list_api_keys, user_id)

    async def delete_api_key(self, user_id: str, key_id: str) -> None:
        await self.db.write(keys.delete_api_key, user_id, key_id)

    async def find_api_key(self, key_hash: str) -> ApiKey | None:
        return await self.db.read(keys.find_api_key, key_hash)

    # jobs
    async def claim_jobs(self, worker_id: str, limit: int, lease_seconds: float) -> list[Job]:
        lease = timedelta(seconds=lease_seconds)
        return await self.db.write(jobs.claim, worker_id, limit, lease, utcnow())

    async def renew_jobs(self, worker_id: str, ids: Sequence[int], lease_seconds: float) -> None:
        lease = timedelta(seconds=lease_seconds)
        await self.db.write(jobs.renew, worker_id, ids, lease, utcnow())

    async def complete_job(self, job_id: int, timings: LayerTimings | None) -> None:
        await self.db.write(jobs.complete, job_id, timings, utcnow())

    async def fail_job(self, job_id: int, error: str, retry_in_seconds: float | None) -> None:
        now = utcnow()
        retry_at = None if retry_in_seconds is None else now + timedelta(seconds=retry_in_seconds)
        await self.db.write(jobs.fail, job_id, error, retry_at, now)

    async def retry_dead_jobs(self, ids: Sequence[int] | None) -> int:
        return await self.db.write(jobs.retry_dead, ids, utcnow())

    async def dead_letters(self, limit: int) -> list[JSON]:
        return await self.db.read(jobs.dead_letters, limit)

    async def queue_stats(self) -> QueueStats:
        return await self.db.read(jobs.stats, utcnow())

    async def purge_done_jobs(self, older_than_seconds: float) -> int:
        before = utcnow() - timedelta(seconds=older_than_seconds)
        return await self.db.write(jobs.purge_done, before)


__all__ = ["PostgresStore"]
