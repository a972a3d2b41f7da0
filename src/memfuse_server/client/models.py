"""Typed results of the client (and the message type it sends), parsed from the API's JSON.

Every model keeps fields the server adds later (``extra="allow"``), so a newer server never
breaks an older client; the documented fields are typed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["user", "assistant", "system", "tool"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Health(_Model):
    status: str
    version: str


class User(_Model):
    id: str
    name: str
    description: str | None = None
    created_at: datetime
    updated_at: datetime


class Agent(User):
    pass


class Session(_Model):
    id: str
    user_id: str
    agent_id: str
    name: str | None = None
    created_at: datetime
    updated_at: datetime


class ChatMessage(_Model):
    """A message to add: OpenAI's chat format, plus ``created_at`` (when the turn happened)."""

    role: Role
    content: str | None = None
    name: str | None = None
    created_at: datetime | None = None
    metadata: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The request JSON: unset fields left out."""
        return self.model_dump(mode="json", exclude_none=True)


class Message(_Model):
    id: str
    session_id: str
    role: Role
    content: str | None = None
    name: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime


class Knowledge(_Model):
    id: str
    user_id: str
    content: str
    created_at: datetime
    updated_at: datetime


class QueryResult(_Model):
    """One memory: ``type`` is message, chunk, fact, relation, entity or knowledge."""

    id: str
    content: str | None = None
    score: float
    type: str
    role: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class MemoryItem(_Model):
    """An M1 fact or an M2 entity / relation, with the messages it came from."""

    id: str
    type: str
    content: str | None = None
    level: int
    source_message_ids: list[str] = Field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None


class EntityNeighbourhood(_Model):
    """An entity with its relations and the facts that mention it."""

    entity: MemoryItem
    relations: list[MemoryItem]
    facts: list[MemoryItem]


class Stats(_Model):
    """The server's operational statistics (``GET /stats``); sections as the server sends them."""

    queue: dict[str, Any] = Field(default_factory=dict)
    layers: dict[str, Any] = Field(default_factory=dict)
    worker: dict[str, Any] = Field(default_factory=dict)
    query_cache: dict[str, Any] = Field(default_factory=dict)
    embedder: dict[str, Any] | None = None


__all__ = [
    "Agent",
    "ChatMessage",
    "EntityNeighbourhood",
    "Health",
    "Knowledge",
    "MemoryItem",
    "Message",
    "QueryResult",
    "Role",
    "Session",
    "Stats",
    "User",
]
