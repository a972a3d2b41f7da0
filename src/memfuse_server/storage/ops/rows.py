"""Rows to domain objects, for either engine.

SQLite hands back timestamps as ISO-8601 text and JSON as text; PostgreSQL as
``datetime`` and decoded values. The decoders here take either, so one mapper
serves both engines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from memfuse_server.errors import NotFound
from memfuse_server.models import Agent, ApiKey, Knowledge, Message, Role, Session, User
from memfuse_server.storage.tx import Row


def utc(value: datetime) -> datetime:
    """A timestamp as stored: aware, in UTC (a naive one is taken as local time)."""
    return value.astimezone(UTC)


def dt(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def iso(value: datetime | str | None) -> str | None:
    """A stored timestamp as the API shows it in ``extra``: ISO-8601, UTC, microseconds."""
    if value is None or isinstance(value, str):
        return value  # SQLite keeps exactly this text
    return utc(value).isoformat(timespec="microseconds")


def js(value: Any) -> Any:
    """A stored JSON value (SQLite: its text)."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def scoped(owner: str | None, n: int, column: str = "user_id") -> tuple[str, list[str]]:
    """The user-scope predicate (as parameter ``$n``) of a call acting for one user."""
    return (f" AND {column} = ${n}", [owner]) if owner else ("", [])


T = TypeVar("T")


def in_order(found: Mapping[str, T], ids: Sequence[str], missing: str) -> list[T]:
    """``found`` in the order of ``ids``; ``NotFound`` (``missing``: the ids) if any is not."""
    absent = [i for i in ids if i not in found]
    if absent:
        raise NotFound(f"{missing}: {', '.join(absent)}.")
    return [found[i] for i in ids]


def to_user(row: Row) -> User:
    return User(
        row["id"], row["name"], row["description"], dt(row["created_at"]), dt(row["updated_at"])
    )


def to_agent(row: Row) -> Agent:
    return Agent(
        row["id"], row["name"], row["description"], dt(row["created_at"]), dt(row["updated_at"])
    )


def to_session(row: Row) -> Session:
    return Session(
        row["id"],
        row["user_id"],
        row["agent_id"],
        row["name"],
        dt(row["created_at"]),
        dt(row["updated_at"]),
    )


def to_message(row: Row) -> Message:
    return Message(
        id=row["id"],
        session_id=row["session_id"],
        user_id=row["user_id"],
        role=Role(row["role"]),
        content=row["content"],
        name=row["name"],
        metadata=js(row["metadata"]),
        created_at=dt(row["created_at"]),
        updated_at=dt(row["updated_at"]),
        episode_id=row["episode_id"],
    )


def to_knowledge(row: Row) -> Knowledge:
    return Knowledge(
        row["id"], row["user_id"], row["content"], dt(row["created_at"]), dt(row["updated_at"])
    )


def to_api_key(row: Row) -> ApiKey:
    permissions: list[str] = js(row["permissions"])
    return ApiKey(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        permissions=tuple(permissions),
        created_at=dt(row["created_at"]),
        expires_at=dt(row["expires_at"]) if row["expires_at"] else None,
    )


__all__ = [
    "dt",
    "in_order",
    "iso",
    "js",
    "scoped",
    "to_agent",
    "to_api_key",
    "to_knowledge",
    "to_message",
    "to_session",
    "to_user",
    "utc",
]
