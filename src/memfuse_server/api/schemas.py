"""Request bodies (validated by pydantic) and the JSON shapes of responses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from memfuse_server.models import (
    JSON,
    LEVELS,
    Agent,
    Knowledge,
    MemoryItem,
    Message,
    NewMessage,
    QueryResult,
    Role,
    Session,
    User,
)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Ids = Annotated[list[Id], Field(min_length=1, max_length=10_000)]


class Body(BaseModel):
    """Unknown fields are ignored (older clients send extra ones)."""

    model_config = ConfigDict(extra="ignore")


class NamedCreate(Body):
    name: Name
    description: str | None = Field(default=None, max_length=10_000)


class NamedUpdate(Body):
    name: Name | None = None
    description: str | None = Field(default=None, max_length=10_000)


class SessionCreate(Body):
    user_id: Id
    agent_id: Id
    name: Name | None = None


class SessionUpdate(Body):
    name: Name | None = None


class MessageIn(Body):
    role: Role
    content: str | None = Field(default=None, max_length=100_000)
    name: Name | None = None
    metadata: JSON | None = None
    created_at: datetime | None = None

    @model_validator(mode="after")
    def _content_needed(self) -> MessageIn:
        if not (self.content or "").strip() and self.role in (Role.USER, Role.SYSTEM):
            raise ValueError(f"a {self.role.value} message needs non-empty content")
        return self

    @field_validator("created_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    def to_domain(self) -> NewMessage:
        return NewMessage(
            role=self.role,
            content=self.content or "",
            name=self.name,
            metadata=self.metadata or {},
            created_at=self.created_at,
        )


class MessagesAdd(Body):
    messages: list[MessageIn] = Field(min_length=1)


class MessageIds(Body):
    message_ids: Ids


class MessagesUpdate(Body):
    message_ids: Ids
    new_messages: list[MessageIn] = Field(min_length=1)

    @model_validator(mode="after")
    def _paired(self) -> MessagesUpdate:
        if len(self.message_ids) != len(self.new_messages):
            raise ValueError("message_ids and new_messages must have the same length")
        return self


class KnowledgeAdd(Body):
    knowledge: list[Text] = Field(min_length=1, max_length=10_000)


class KnowledgeIds(Body):
    knowledge_ids: Ids


class KnowledgeUpdate(Body):
    knowledge_ids: Ids
    new_knowledge: list[Text] = Field(min_length=1, max_length=10_000)

    @model_validator(mode="after")
    def _paired(self) -> KnowledgeUpdate:
        if len(self.knowledge_ids) != len(self.new_knowledge):
            raise ValueError("knowledge_ids and new_knowledge must have the same length")
        return self


class QueryIn(Body):
    query: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200_000)
    ]
    session_id: Id | None = None
    agent_id: Id | None = None
    top_k: int = Field(default=5, ge=1, le=100)
    metadata: JSON | None = None


def user_json(u: User | Agent) -> JSON:
    return {
        "id": u.id,
        "name": u.name,
        "description": u.description,
        "created_at": u.created_at,
        "updated_at": u.updated_at,
    }


def session_json(s: Session) -> JSON:
    return {
        "id": s.id,
        "user_id": s.user_id,
        "agent_id": s.agent_id,
        "name": s.name,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    }


def message_json(m: Message) -> JSON:
    return {
        "id": m.id,
        "session_id": m.session_id,
        "role": m.role.value,
        "content": m.content,
        "name": m.name,
        "metadata": m.metadata,
        "episode_id": m.episode_id,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
    }


def knowledge_json(k: Knowledge) -> JSON:
    return {
        "id": k.id,
        "user_id": k.user_id,
        "content": k.content,
        "created_at": k.created_at,
        "updated_at": k.updated_at,
    }


def item_json(item: MemoryItem) -> JSON:
    """A derived item (fact, entity, relation) for the inspection routes."""
    return {
        "id": item.id,
        "type": item.kind.value,
        "content": item.content,
        "level": LEVELS[item.kind],
        "source_message_ids": list(item.source_message_ids),
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        **item.extra,
    }


def result_json(r: QueryResult, user_id: str) -> JSON:
    item = r.item
    metadata: dict[str, Any] = {
        "user_id": user_id,
        "agent_id": item.agent_id,
        "session_id": item.session_id,
        "session_name": item.session_name,
        "scope": r.scope,
        "level": LEVELS[item.kind],
        "source_message_ids": list(item.source_message_ids),
        "retrieval": r.ranks,
        **item.extra,
    }
    return {
        "id": item.id,
        "content": item.content,
        "score": round(r.score, 6),
        "type": item.kind.value,
        "role": item.role,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "metadata": metadata,
    }
