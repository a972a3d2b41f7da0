"""The storage seams, in domain words.

Only ``storage/`` knows which database is in use. The service talks to a
``Store``; every method scopes its work to the user or session it names.
Write methods are single transactions: either everything they describe is
committed or nothing is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from memfuse_server.buffer import RoundBuffer
from memfuse_server.embeddings.base import Vectors
from memfuse_server.models import (
    JSON,
    Agent,
    ApiKey,
    Entity,
    EpisodeInput,
    EpisodeMessage,
    Fact,
    Hit,
    ItemKind,
    Job,
    Knowledge,
    LayerTimings,
    MemoryItem,
    Message,
    NewMessage,
    QueueStats,
    Relation,
    Session,
    Turn,
    User,
)


@dataclass(frozen=True)
class PreparedMessage:
    """A validated message with what the request path computed for it."""

    message: NewMessage
    search_text: str  # "" means: stored, never searched (e.g. a tool-call turn)
    tokens: int


@dataclass(frozen=True)
class PoolStats:
    """Database connections: in use now, calls waiting for one, and waits so far."""

    in_use: int
    waiting: int
    waits_total: int


@runtime_checkable
class PoolStatsSource(Protocol):
    def pool_stats(self) -> PoolStats: ...


@dataclass(frozen=True)
class WriteContext:
    """Where a write comes from: the request (for logs and jobs) and its idempotency key."""

    request_id: str | None = None
    idempotency_key: str | None = None
    body_hash: str = ""


@dataclass(frozen=True)
class MessageQuery:
    limit: int = 20
    descending: bool = True
    in_buffer: bool | None = None  # True: open window only; False: handed on only


class EntityStore(Protocol):
    """Users, agents and sessions. ``owner`` (a user id) scopes a call to that user's own
    records: it becomes a predicate of every query the call makes."""

    async def create_user(self, name: str, description: str | None) -> tuple[User, bool]: ...
    async def get_user(self, user_id: str) -> User: ...
    async def find_users(self, name: str | None, owner: str | None = None) -> list[User]: ...
    async def update_user(
        self, user_id: str, name: str | None, description: str | None
    ) -> User: ...
    async def delete_user(self, user_id: str) -> None: ...

    async def create_agent(self, name: str, description: str | None) -> tuple[Agent, bool]: ...
    async def get_agent(self, agent_id: str) -> Agent: ...
    async def find_agents(self, name: str | None) -> list[Agent]: ...
    async def update_agent(
        self, agent_id: str, name: str | None, description: str | None
    ) -> Agent: ...
    async def delete_agent(self, agent_id: str) -> None: ...

    async def create_session(self, user_id: str, agent_id: str, name: str) -> Session: ...
    async def get_session(self, session_id: str, owner: str | None = None) -> Session: ...
    async def find_sessions(
        self,
        user_id: str | None,
        agent_id: str | None,
        name: str | None,
        owner: str | None = None,
    ) -> list[Session]: ...
    async def update_session(
        self, session_id: str, name: str | None, owner: str | None = None
    ) -> Session: ...
    async def delete_session(self, session_id: str, owner: str | None = None) -> None: ...


class MessageStore(Protocol):
    async def add_messages(
        self,
        session: Session,
        messages: Sequence[PreparedMessage],
        vectors: Vectors,
        buffer: RoundBuffer,
        context: WriteContext | None = None,
    ) -> list[str]: ...
    async def idempotent_result(
        self, session_id: str, key: str, body_hash: str
    ) -> list[str] | None: ...
    async def list_messages(
        self, session_id: str, query: MessageQuery, owner: str | None = None
    ) -> list[Message]: ...
    async def read_messages(
        self, session_id: str, message_ids: Sequence[str], owner: str | None = None
    ) -> list[Message]: ...
    async def update_messages(
        self,
        session_id: str,
        message_ids: Sequence[str],
        messages: Sequence[PreparedMessage],
        vectors: Vectors,
        owner: str | None = None,
    ) -> None: ...
    async def delete_messages(
        self, session_id: str, message_ids: Sequence[str], owner: str | None = None
    ) -> None: ...
    async def close_idle_windows(self, idle_since: datetime) -> int: ...
    async def flush_window(self, session: Session, request_id: str | None = None) -> str | None:
        """Close ``session``'s open window now: its episode's id (None: it was empty)."""
        ...


class KnowledgeStore(Protocol):
    async def add_knowledge(
        self, user_id: str, contents: Sequence[str], vectors: Vectors
    ) -> list[str]: ...
    async def list_knowledge(self, user_id: str) -> list[Knowledge]: ...
    async def read_knowledge(self, user_id: str, ids: Sequence[str]) -> list[Knowledge]: ...
    async def update_knowledge(
        self, user_id: str, ids: Sequence[str], contents: Sequence[str], vectors: Vectors
    ) -> None: ...
    async def delete_knowledge(self, user_id: str, ids: Sequence[str]) -> None: ...


class SearchStore(Protocol):
    async def memory_version(self, user_id: str) -> int: ...
    async def search_vectors(
        self, user_id: str, vector: Vectors, per_kind: int
    ) -> dict[ItemKind, list[Hit]]: ...
    async def search_text(self, user_id: str, text: str, limit: int) -> list[Hit]: ...
    async def resolve(
        self, user_id: str, keys: Sequence[tuple[ItemKind, str]]
    ) -> dict[tuple[ItemKind, str], MemoryItem]: ...
    async def turns(self, user_id: str, message_ids: Sequence[str]) -> list[Turn]:
        """These messages as ranking reads them (speaker, time, vector), in time order."""
        ...

    async def speakers_named(self, user_id: str, names: Sequence[str]) -> list[str]:
        """Which of ``names`` are speakers (a message's ``name``) of the user."""
        ...


# The messages an extractor read (``EpisodeInput.messages``): a save keeps only the sources
# still as they were read, so nothing extracted from text edited meanwhile is stored.
Read = Sequence[EpisodeMessage] | None


class LayerStore(Protocol):
    """M1 and M2 writes (idempotent: the same input twice changes nothing) and reads. An
    item is tied to those of its source messages that are still stored and, given ``read``,
    unchanged since they were read; an item left with none is not saved."""

    async def episode_input(self, episode_id: str) -> EpisodeInput | None: ...
    async def stored_vectors(
        self, user_id: str, items: Sequence[Fact | Entity | Relation | EpisodeMessage]
    ) -> list[Vectors | None]:
        """Each item's vector as already stored (a fact of that text, an entity of those
        names, a relation of those ends, a message's own), None where none is: the layers
        embed only the rest (``ops/stored.py``)."""
        ...

    async def save_facts(
        self, user_id: str, facts: Sequence[Fact], vectors: Vectors, read: Read = None
    ) -> int: ...
    async def save_entities(
        self, user_id: str, entities: Sequence[Entity], vectors: Vectors, read: Read = None
    ) -> int: ...
    async def save_relations(
        self, user_id: str, relations: Sequence[Relation], vectors: Vectors, read: Read = None
    ) -> int: ...
    async def search_graph(self, user_id: str, text: str, limit: int) -> list[Hit]: ...
    async def list_items(
        self,
        user_id: str,
        kind: ItemKind,
        limit: int,
        offset: int,
        moment: datetime | None = None,
    ) -> list[MemoryItem]:
        """Newest first; with ``moment``, only facts and relations holding then."""
        ...

    async def neighbourhood(self, user_id: str, entity_id: str, limit: int) -> JSON | None: ...
    async def forget_items(self, user_id: str, kind: ItemKind, ids: Sequence[str]) -> None:
        """Delete the user's facts, entities or relations (``NotFound`` if one is not the
        user's) so that processing their episodes again does not bring them back."""
        ...


Cursor = tuple[Any, ...]  # where a page of an export starts (None: from the beginning)


class ExportStore(Protocol):
    """A user's memory read in pages, so that an export never holds a user whole. Each page
    method returns its rows and the cursor the next page starts after (None: that was the
    last page); the order is the one another server lists after an import."""

    async def export_counts(self, user_id: str) -> dict[str, int]: ...
    async def export_agents(self, user_id: str) -> list[Agent]: ...
    async def sessions_page(
        self, user_id: str, after: Cursor | None, limit: int
    ) -> tuple[list[Session], Cursor | None]: ...
    async def messages_page(
        self, session_id: str, after: Cursor | None, limit: int
    ) -> tuple[list[Message], Cursor | None]: ...
    async def knowledge_page(
        self, user_id: str, after: Cursor | None, limit: int
    ) -> tuple[list[Knowledge], Cursor | None]: ...
    async def items_page(
        self, user_id: str, kind: ItemKind, after: Cursor | None, limit: int
    ) -> tuple[list[MemoryItem], Cursor | None]: ...
    async def message_places(
        self, user_id: str, message_ids: Sequence[str]
    ) -> dict[str, tuple[str, int]]:
        """Each message's session name and place in it (from 0), as an export numbers them."""
        ...


class ApiKeyStore(Protocol):
    """API keys, stored as hashes and bound to one user each."""

    async def create_api_key(
        self,
        user_id: str,
        name: str | None,
        key_hash: str,
        permissions: Sequence[str],
        expires_at: datetime | None,
    ) -> ApiKey: ...
    async def list_api_keys(self, user_id: str) -> list[ApiKey]: ...
    async def delete_api_key(self, user_id: str, key_id: str) -> None: ...
    async def find_api_key(self, key_hash: str) -> ApiKey | None: ...


class JobQueue(Protocol):
    """The durable background queue. Jobs are enqueued by the writes that call for them."""

    async def hold_worker_identity(self, kind: str) -> str:
        """This process's worker identity (``host/kind/N``): the same after a restart, never
        one a live process holds."""
        ...

    async def release_jobs(self, worker_id: str) -> int:
        """Requeue at once the jobs still leased to ``worker_id`` (an earlier run of it)."""
        ...

    async def claim_jobs(self, worker_id: str, limit: int, lease_seconds: float) -> list[Job]: ...
    async def renew_jobs(
        self, worker_id: str, ids: Sequence[int], lease_seconds: float
    ) -> None: ...
    async def complete_job(self, job_id: int, timings: LayerTimings | None) -> None: ...
    async def fail_job(self, job_id: int, error: str, retry_in_seconds: float | None) -> None: ...
    async def retry_dead_jobs(self, ids: Sequence[int] | None) -> int: ...
    async def dead_letters(self, limit: int) -> list[JSON]: ...
    async def queue_stats(self) -> QueueStats: ...
    async def purge_done_jobs(self, older_than_seconds: float) -> int: ...


class Store(
    EntityStore,
    MessageStore,
    KnowledgeStore,
    SearchStore,
    LayerStore,
    ExportStore,
    ApiKeyStore,
    JobQueue,
    Protocol,
):
    """Everything the service needs from a database."""

    async def open(self) -> None: ...
    async def warm_up(self) -> None:
        """Load, in the background after ``open``, what makes the first searches fast."""
        ...

    async def close(self) -> None: ...


__all__ = [
    "ApiKeyStore",
    "Cursor",
    "EntityStore",
    "ExportStore",
    "JobQueue",
    "KnowledgeStore",
    "LayerStore",
    "MessageQuery",
    "MessageStore",
    "PoolStats",
    "PoolStatsSource",
    "PreparedMessage",
    "Read",
    "SearchStore",
    "Store",
    "WriteContext",
]
