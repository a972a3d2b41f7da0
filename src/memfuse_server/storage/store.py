"""``SqlStore``: the ``Store`` protocol over either engine.

Each method runs one operation of ``storage/ops/`` as one transaction through the
engine's ``Runner`` (writes on SQLite's writer thread or a pooled PostgreSQL
connection; reads in a snapshot). After a write commits, an in-process search index
(SQLite's vectors) follows what it removed. Search methods turn a query's text into
what the engines match with ``retrieval/``'s policy: the engines only find candidates.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import ParamSpec, TypeVar

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
    Turn,
    User,
    utcnow,
)
from memfuse_server.retrieval.graph import graph_hits
from memfuse_server.retrieval.terms import phrases, query_terms
from memfuse_server.storage.base import (
    Cursor,
    MessageQuery,
    PoolStats,
    PreparedMessage,
    Read,
    WriteContext,
)
from memfuse_server.storage.ops import api_keys as keys
from memfuse_server.storage.ops import entities as ent
from memfuse_server.storage.ops import (
    episodes,
    export,
    facts,
    forgetting,
    graph,
    jobs,
    layers,
    removal,
    resolve,
    search,
    stored,
    turns,
)
from memfuse_server.storage.ops import knowledge as kn
from memfuse_server.storage.ops import messages as msg
from memfuse_server.storage.ops.version import memory_version
from memfuse_server.storage.tx import Op, Runner, SearchIndex

T = TypeVar("T")
P = ParamSpec("P")


class SqlStore:
    """Everything the service needs from a database, on SQLite or PostgreSQL."""

    def __init__(
        self, runner: Runner, index: SearchIndex | None = None, *, background: bool = False
    ) -> None:
        self.runner = runner
        self.index = index
        self._background = background

    @property
    def background(self) -> SqlStore:
        """This store for the background: its writes go after the requests' that wait
        (``Runner.write_background``). The owner of the store opens and closes it."""
        return SqlStore(self.runner, self.index, background=True)

    async def _read(self, op: Op[P, T], *args: P.args, **kw: P.kwargs) -> T:
        return await self.runner.read(op, *args, **kw)

    async def _write(self, op: Op[P, T], *args: P.args, **kw: P.kwargs) -> T:
        write = self.runner.write_background if self._background else self.runner.write
        result, changes = await write(op, *args, **kw)
        if changes and self.index is not None:
            self.index.committed(changes)
        return result

    async def open(self) -> None:
        await self.runner.open()

    async def warm_up(self) -> None:
        if self.index is not None:
            await self.index.warm_up(self.runner)

    async def close(self) -> None:
        await self.runner.close()

    def pool_stats(self) -> PoolStats:
        return self.runner.pool_stats()

    # users
    async def create_user(self, name: str, description: str | None) -> tuple[User, bool]:
        return await self._write(ent.create_named, ent.USERS, name, description, utcnow())

    async def get_user(self, user_id: str) -> User:
        return await self._read(ent.get_named, ent.USERS, user_id)

    async def find_users(self, name: str | None, owner: str | None = None) -> list[User]:
        return await self._read(ent.find_named, ent.USERS, name, owner)

    async def update_user(self, user_id: str, name: str | None, description: str | None) -> User:
        return await self._write(ent.update_named, ent.USERS, user_id, name, description, utcnow())

    async def delete_user(self, user_id: str) -> None:
        await self._write(removal.delete_user, user_id)

    # agents
    async def create_agent(self, name: str, description: str | None) -> tuple[Agent, bool]:
        return await self._write(ent.create_named, ent.AGENTS, name, description, utcnow())

    async def get_agent(self, agent_id: str) -> Agent:
        return await self._read(ent.get_named, ent.AGENTS, agent_id)

    async def find_agents(self, name: str | None) -> list[Agent]:
        return await self._read(ent.find_named, ent.AGENTS, name)

    async def update_agent(self, agent_id: str, name: str | None, description: str | None) -> Agent:
        return await self._write(
            ent.update_named, ent.AGENTS, agent_id, name, description, utcnow()
        )

    async def delete_agent(self, agent_id: str) -> None:
        await self._write(removal.delete_agent, agent_id)

    # sessions
    async def create_session(self, user_id: str, agent_id: str, name: str) -> Session:
        return await self._write(ent.create_session, user_id, agent_id, name, utcnow())

    async def get_session(self, session_id: str, owner: str | None = None) -> Session:
        return await self._read(ent.get_session, session_id, owner)

    async def find_sessions(
        self,
        user_id: str | None,
        agent_id: str | None,
        name: str | None,
        owner: str | None = None,
    ) -> list[Session]:
        return await self._read(ent.find_sessions, user_id, agent_id, name, owner)

    async def update_session(
        self, session_id: str, name: str | None, owner: str | None = None
    ) -> Session:
        return await self._write(ent.update_session, session_id, name, utcnow(), owner)

    async def delete_session(self, session_id: str, owner: str | None = None) -> None:
        await self._write(removal.delete_session, session_id, owner)

    # messages
    async def add_messages(
        self,
        session: Session,
        messages: Sequence[PreparedMessage],
        vectors: Vectors,
        buffer: RoundBuffer,
        context: WriteContext | None = None,
    ) -> list[str]:
        return await self._write(
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
        return await self._read(msg.idempotent_result, session_id, key, body_hash)

    async def list_messages(
        self, session_id: str, query: MessageQuery, owner: str | None = None
    ) -> list[Message]:
        return await self._read(msg.list_messages, session_id, query, owner)

    async def read_messages(
        self, session_id: str, message_ids: Sequence[str], owner: str | None = None
    ) -> list[Message]:
        return await self._read(msg.read_messages, session_id, message_ids, owner)

    async def update_messages(
        self,
        session_id: str,
        message_ids: Sequence[str],
        messages: Sequence[PreparedMessage],
        vectors: Vectors,
        owner: str | None = None,
    ) -> None:
        await self._write(
            msg.update_messages, session_id, message_ids, messages, vectors, utcnow(), owner
        )

    async def delete_messages(
        self, session_id: str, message_ids: Sequence[str], owner: str | None = None
    ) -> None:
        await self._write(msg.delete_messages, session_id, message_ids, utcnow(), owner)

    async def close_idle_windows(self, idle_since: datetime) -> int:
        return await self._write(msg.close_idle, idle_since, utcnow())

    async def flush_window(self, session: Session, request_id: str | None = None) -> str | None:
        return await self._write(msg.flush_window, session, utcnow(), request_id)

    # knowledge
    async def add_knowledge(
        self, user_id: str, contents: Sequence[str], vectors: Vectors
    ) -> list[str]:
        return await self._write(kn.add_knowledge, user_id, contents, vectors, utcnow())

    async def list_knowledge(self, user_id: str) -> list[Knowledge]:
        return await self._read(kn.list_knowledge, user_id)

    async def read_knowledge(self, user_id: str, ids: Sequence[str]) -> list[Knowledge]:
        return await self._read(kn.read_knowledge, user_id, ids)

    async def update_knowledge(
        self, user_id: str, ids: Sequence[str], contents: Sequence[str], vectors: Vectors
    ) -> None:
        await self._write(kn.update_knowledge, user_id, ids, contents, vectors, utcnow())

    async def delete_knowledge(self, user_id: str, ids: Sequence[str]) -> None:
        await self._write(kn.delete_knowledge, user_id, ids)

    # search
    async def memory_version(self, user_id: str) -> int:
        return await self._read(memory_version, user_id)

    async def search_vectors(
        self, user_id: str, vector: Vectors, per_kind: int
    ) -> dict[ItemKind, list[Hit]]:
        return await self._read(search.vector_hits, user_id, vector, per_kind)

    async def search_text(self, user_id: str, text: str, limit: int) -> list[Hit]:
        terms = query_terms(text)
        return await self._read(search.text_hits, user_id, terms, limit) if terms else []

    async def search_graph(self, user_id: str, text: str, limit: int) -> list[Hit]:
        found = phrases(text)
        if not found:
            return []
        relations, named = await self._read(search.graph_candidates, user_id, found, limit)
        return graph_hits(relations, named)

    async def resolve(
        self, user_id: str, keys: Sequence[tuple[ItemKind, str]]
    ) -> dict[tuple[ItemKind, str], MemoryItem]:
        return await self._read(resolve.resolve, user_id, keys)

    async def turns(self, user_id: str, message_ids: Sequence[str]) -> list[Turn]:
        return await self._read(turns.turns, user_id, message_ids)

    async def speakers_named(self, user_id: str, names: Sequence[str]) -> list[str]:
        return await self._read(turns.speakers_named, user_id, names)

    # M1 and M2
    async def episode_input(self, episode_id: str) -> EpisodeInput | None:
        return await self._read(episodes.episode_input, episode_id)

    async def stored_vectors(
        self, user_id: str, items: Sequence[stored.Derived]
    ) -> list[Vectors | None]:
        return await self._read(stored.stored_vectors, user_id, items)

    async def save_facts(
        self, user_id: str, items: Sequence[Fact], vectors: Vectors, read: Read = None
    ) -> int:
        return await self._write(facts.save_facts, user_id, items, vectors, utcnow(), read)

    async def save_entities(
        self, user_id: str, items: Sequence[Entity], vectors: Vectors, read: Read = None
    ) -> int:
        return await self._write(graph.save_entities, user_id, items, vectors, utcnow(), read)

    async def save_relations(
        self, user_id: str, items: Sequence[Relation], vectors: Vectors, read: Read = None
    ) -> int:
        return await self._write(graph.save_relations, user_id, items, vectors, utcnow(), read)

    async def list_items(
        self,
        user_id: str,
        kind: ItemKind,
        limit: int,
        offset: int,
        moment: datetime | None = None,
    ) -> list[MemoryItem]:
        return await self._read(layers.list_items, user_id, kind, limit, offset, moment)

    async def neighbourhood(self, user_id: str, entity_id: str, limit: int) -> JSON | None:
        return await self._read(layers.neighbourhood, user_id, entity_id, limit)

    async def forget_items(self, user_id: str, kind: ItemKind, ids: Sequence[str]) -> None:
        await self._write(forgetting.forget_items, user_id, kind, ids, utcnow())

    # export: pages of a user's memory
    async def export_counts(self, user_id: str) -> dict[str, int]:
        return await self._read(export.counts, user_id)

    async def export_agents(self, user_id: str) -> list[Agent]:
        return await self._read(export.agents_of, user_id)

    async def sessions_page(
        self, user_id: str, after: Cursor | None, limit: int
    ) -> tuple[list[Session], Cursor | None]:
        return await self._read(export.sessions_page, user_id, after, limit)

    async def messages_page(
        self, session_id: str, after: Cursor | None, limit: int
    ) -> tuple[list[Message], Cursor | None]:
        return await self._read(export.messages_page, session_id, after, limit)

    async def knowledge_page(
        self, user_id: str, after: Cursor | None, limit: int
    ) -> tuple[list[Knowledge], Cursor | None]:
        return await self._read(export.knowledge_page, user_id, after, limit)

    async def items_page(
        self, user_id: str, kind: ItemKind, after: Cursor | None, limit: int
    ) -> tuple[list[MemoryItem], Cursor | None]:
        return await self._read(export.items_page, user_id, kind, after, limit)

    async def message_places(
        self, user_id: str, message_ids: Sequence[str]
    ) -> dict[str, tuple[str, int]]:
        return await self._read(export.message_places, user_id, message_ids)

    # API keys
    async def create_api_key(
        self,
        user_id: str,
        name: str | None,
        key_hash: str,
        permissions: Sequence[str],
        expires_at: datetime | None,
    ) -> ApiKey:
        return await self._write(
            keys.create_api_key, user_id, name, key_hash, permissions, expires_at, utcnow()
        )

    async def list_api_keys(self, user_id: str) -> list[ApiKey]:
        return await self._read(keys.list_api_keys, user_id)

    async def delete_api_key(self, user_id: str, key_id: str) -> None:
        await self._write(keys.delete_api_key, user_id, key_id)

    async def find_api_key(self, key_hash: str) -> ApiKey | None:
        return await self._read(keys.find_api_key, key_hash)

    # jobs
    async def hold_worker_identity(self, kind: str) -> str:
        return await self.runner.hold_name(f"{socket.gethostname()}/{kind}")

    async def release_jobs(self, worker_id: str) -> int:
        return await self._write(jobs.release, worker_id, utcnow())

    async def claim_jobs(self, worker_id: str, limit: int, lease_seconds: float) -> list[Job]:
        lease = timedelta(seconds=lease_seconds)
        return await self._write(jobs.claim, worker_id, limit, lease, utcnow())

    async def renew_jobs(self, worker_id: str, ids: Sequence[int], lease_seconds: float) -> None:
        lease = timedelta(seconds=lease_seconds)
        await self._write(jobs.renew, worker_id, ids, lease, utcnow())

    async def complete_job(self, job_id: int, timings: LayerTimings | None) -> None:
        await self._write(jobs.complete, job_id, timings, utcnow())

    async def fail_job(self, job_id: int, error: str, retry_in_seconds: float | None) -> None:
        now = utcnow()
        retry_at = None if retry_in_seconds is None else now + timedelta(seconds=retry_in_seconds)
        await self._write(jobs.fail, job_id, error, retry_at, now)

    async def retry_dead_jobs(self, ids: Sequence[int] | None) -> int:
        return await self._write(jobs.retry_dead, ids, utcnow())

    async def dead_letters(self, limit: int) -> list[JSON]:
        return await self._read(jobs.dead_letters, limit)

    async def queue_stats(self) -> QueueStats:
        return await self._read(jobs.stats, utcnow())

    async def purge_done_jobs(self, older_than_seconds: float) -> int:
        before = utcnow() - timedelta(seconds=older_than_seconds)
        return await self._write(jobs.purge_done, before)


__all__ = ["SqlStore"]
