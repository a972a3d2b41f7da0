"""Domain types: plain data, no I/O.

These are what the storage layer returns and the service passes around; the
API turns them into the MemFuse JSON shapes in ``api/schemas.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

JSON = dict[str, Any]


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class ProcessKind(StrEnum):
    """What a server process runs: ``serve`` (the API, and the worker unless
    ``worker.enabled`` is false), ``worker`` (the background worker alone) or ``mcp`` (the
    MCP tools over stdio, and the worker unless ``worker.enabled`` is false)."""

    SERVE = "serve"
    WORKER = "worker"
    MCP = "mcp"


class Role(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    TOOL = "tool"


class ItemKind(StrEnum):
    """What a searchable item is; also the ``type`` of a query result."""

    MESSAGE = "message"  # M0
    CHUNK = "chunk"  # M0 episode
    KNOWLEDGE = "knowledge"
    FACT = "fact"  # M1
    ENTITY = "entity"  # M2
    RELATION = "relation"  # M2


LEVELS: dict[ItemKind, int] = {
    ItemKind.MESSAGE: 0,
    ItemKind.CHUNK: 0,
    ItemKind.KNOWLEDGE: 1,
    ItemKind.FACT: 1,
    ItemKind.ENTITY: 2,
    ItemKind.RELATION: 2,
}


@dataclass(frozen=True)
class User:
    id: str
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Session:
    id: str
    user_id: str
    agent_id: str
    name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class NewMessage:
    """A message as a client sends it, validated."""

    role: Role
    content: str
    name: str | None = None
    metadata: JSON = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass(frozen=True)
class Message:
    id: str
    session_id: str
    user_id: str
    role: Role
    content: str
    name: str | None
    metadata: JSON
    created_at: datetime
    updated_at: datetime
    episode_id: str | None

    @property
    def in_buffer(self) -> bool:
        """Still in the session's open round window (not yet handed to M1/M2)."""
        return self.episode_id is None


@dataclass(frozen=True)
class Episode:
    """A closed round window of one session: the M0 chunk."""

    id: str
    user_id: str
    session_id: str
    content: str
    message_ids: tuple[str, ...]
    start_at: datetime
    end_at: datetime
    created_at: datetime


@dataclass(frozen=True)
class Knowledge:
    id: str
    user_id: str
    content: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Hit:
    """One candidate from one retriever, before fusion."""

    kind: ItemKind
    item_id: str
    score: float


@dataclass(frozen=True)
class Turn:
    """A message as ranking reads it: who said it, when, where, and its vector."""

    id: str
    session_id: str
    speaker: str  # the message's name, else its role
    content: str
    created_at: datetime
    vector: Any  # float32, unit length (``embeddings.base.Vectors`` row); None if not embedded


@dataclass(frozen=True)
class MemoryItem:
    """A searchable item resolved for a query result."""

    kind: ItemKind
    id: str
    content: str
    role: str | None
    session_id: str | None
    agent_id: str | None
    session_name: str | None
    created_at: datetime
    updated_at: datetime
    source_message_ids: tuple[str, ...]
    extra: JSON = field(default_factory=dict)


@dataclass(frozen=True)
class ApiKey:
    """A user's API key as stored: never the key itself, only its hash."""

    id: str
    user_id: str
    name: str | None
    permissions: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class Job:
    """A unit of background work claimed from the durable queue."""

    id: int
    kind: str
    user_id: str
    payload: JSON
    attempts: int  # including this one
    request_id: str | None = None


@dataclass(frozen=True)
class LayerTimings:
    mode: str  # "parallel" | "sequential"
    m1_ms: float
    m2_ms: float


@dataclass(frozen=True)
class QueueStats:
    pending: int
    running: int  # leased to a worker whose lease is live
    dead: int
    done: int  # finished and still kept
    retries: int  # attempts beyond the first, over the jobs kept
    oldest_pending_age_seconds: float | None
    m1_ms_avg: float | None  # over the last 100 finished jobs
    m2_ms_avg: float | None
    last_mode: str | None
    stalled: int = 0  # leased, but the lease lapsed (its worker died): waiting to be claimed

    def named(self) -> dict[str, dict[str, Any]]:
        """The ``queue`` and ``layers`` parts of ``GET /api/v1/stats`` (and ``stats`` CLI)."""
        return {
            "queue": {
                "pending": self.pending,
                "running": self.running,
                "stalled": self.stalled,
                "dead_letters": self.dead,
                "done_kept": self.done,
                "retries": self.retries,
                "oldest_pending_age_seconds": self.oldest_pending_age_seconds,
            },
            "layers": {
                "last_mode": self.last_mode,
                "m1_ms_avg": self.m1_ms_avg,
                "m2_ms_avg": self.m2_ms_avg,
            },
        }


@dataclass(frozen=True)
class QueryResult:
    item: MemoryItem
    score: float
    scope: str | None
    ranks: JSON


# What extraction derives from one episode (M1 facts, the M2 graph). An extractor reads
# an ``EpisodeInput``; storage saves what it returns.


@dataclass(frozen=True)
class EpisodeMessage:
    id: str
    role: str
    name: str | None  # the speaker's name when the client sent one
    content: str
    created_at: datetime  # when the turn happened (aware); relative dates resolve against it


@dataclass(frozen=True)
class EpisodeInput:
    episode_id: str
    user_id: str
    user_name: str  # the user's display name: who "I" is in a ``user`` turn without ``name``
    session_id: str
    messages: tuple[EpisodeMessage, ...]


class EntityType(StrEnum):
    PERSON = "person"
    PLACE = "place"
    ORGANIZATION = "organization"
    EVENT = "event"
    THING = "thing"


@dataclass(frozen=True)
class Fact:
    text: str  # self-contained: names resolved, relative dates made absolute
    source_message_ids: tuple[str, ...]
    subject: str | None = None  # the entity the fact is about, when known
    occurred_at: datetime | None = None  # the time it refers to, when stated
    time_expression: str | None = None  # the words that gave it ("last week")
    confidence: float = 0.8
    # When it became true (None: the time of its first source message); see validity.py.
    valid_from: datetime | None = None
    # The attribute it states of ``subject`` ("works_at"), its value ("Zalando"), and
    # whether it says the value ended ("no longer works at Siemens"); see validity.py.
    attribute: str | None = None
    value: str | None = None
    ends: bool = False


@dataclass(frozen=True)
class Entity:
    name: str  # canonical name
    type: EntityType
    aliases: tuple[str, ...] = ()
    source_message_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Relation:
    subject: str  # an entity name (canonical or alias)
    predicate: str  # lower_snake_case verb phrase: "lives_in", "plays", "works_at"
    object: str  # an entity name
    source_message_ids: tuple[str, ...] = ()
    valid_at: datetime | None = None  # when it started to hold / happened, when stated
    fact: str | None = None  # the statement it was read from
    confidence: float = 0.8
    # The attribute it states of its subject (``validity.attribute_of`` of the predicate, or
    # "job_title" for an occupation), and whether it says the object no longer holds.
    attribute: str | None = None
    ends: bool = False


@dataclass(frozen=True)
class Graph:
    entities: tuple[Entity, ...] = ()
    relations: tuple[Relation, ...] = ()


@dataclass(frozen=True)
class Extraction:
    facts: tuple[Fact, ...] = ()
    graph: Graph = field(default_factory=Graph)


__all__ = [
    "LEVELS",
    "Agent",
    "ApiKey",
    "Entity",
    "EntityType",
    "Episode",
    "EpisodeInput",
    "EpisodeMessage",
    "Extraction",
    "Fact",
    "Graph",
    "Hit",
    "ItemKind",
    "Job",
    "Knowledge",
    "LayerTimings",
    "MemoryItem",
    "Message",
    "NewMessage",
    "ProcessKind",
    "QueryResult",
    "QueueStats",
    "Relation",
    "Role",
    "Session",
    "User",
    "utcnow",
]
