"""Request bodies (validated by pydantic) and the JSON shapes of responses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
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

MAX_JSON_DEPTH = 32


def clean_text(value: str) -> str:
    """Text any backend can store: no NUL characters, no unpaired surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters (\\u0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains an unpaired surrogate; send valid UTF-8 text") from None
    return value


def clean_json(value: Any, depth: int = 0) -> Any:
    """A client's JSON object (message metadata): clean strings, at most 32 levels deep."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"is nested more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(v, depth + 1) for v in value]
    return value


Clean = AfterValidator(clean_text)
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), Clean]
Text = Annotated[str, StringConstraints(min_length=1, max_length=100_000), Clean]
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), Clean]
Metadata = Annotated[JSON, AfterValidator(clean_json)]
Ids = Annotated[list[Id], Field(min_length=1, max_length=10_000)]


def aware(value: datetime) -> datetime:
    """A time without a zone is taken as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


AwareTime = Annotated[datetime, AfterValidator(aware)]


class Body(BaseModel):
    """Unknown fields are ignored (older clients send extra ones)."""

    model_config = ConfigDict(extra="ignore")


Description = Annotated[str, StringConstraints(max_length=10_000), Clean]


class NamedCreate(Body):
    name: Name
    description: Description | None = None


class NamedUpdate(Body):
    name: Name | None = None
    description: Description | None = None


class SessionCreate(Body):
    user_id: Id
    agent_id: Id
    name: Name | None = None


class SessionUpdate(Body):
    name: Name | None = None


class MessageIn(Body):
    role: Role
    content: Annotated[str, StringConstraints(max_length=100_000), Clean] | None = None
    name: Name | None = None
    metadata: Metadata | None = None
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
    metadata: Metadata | None = None
    as_of: AwareTime | None = None  # memory as it held at this time (ISO-8601)


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
