"""Conversions between PostgreSQL records and domain objects."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from memfuse_server.models import Agent, ApiKey, Knowledge, Message, Role, Session, User

Record = asyncpg.Record


def utc(value: datetime) -> datetime:
    """A timestamp as stored: aware, in UTC (a naive one is taken as local time, as SQLite does)."""
    return value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """A timestamp as the API shows stored times in ``extra``: ISO-8601, UTC, microseconds."""
    return None if value is None else utc(value).isoformat(timespec="microseconds")


def to_user(row: Record) -> User:
    return User(row["id"], row["name"], row["description"], row["created_at"], row["updated_at"])


def to_agent(row: Record) -> Agent:
    return Agent(row["id"], row["name"], row["description"], row["created_at"], row["updated_at"])


def to_session(row: Record) -> Session:
    return Session(
        row["id"],
        row["user_id"],
        row["agent_id"],
        row["name"],
        row["created_at"],
        row["updated_at"],
    )


def to_message(row: Record) -> Message:
    return Message(
        id=row["id"],
        session_id=row["session_id"],
        user_id=row["user_id"],
        role=Role(row["role"]),
        content=row["content"],
        name=row["name"],
        metadata=row["metadata"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        episode_id=row["episode_id"],
    )


def to_knowledge(row: Record) -> Knowledge:
    return Knowledge(
        row["id"], row["user_id"], row["content"], row["created_at"], row["updated_at"]
    )


def to_api_key(row: Record) -> ApiKey:
    return ApiKey(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        permissions=tuple(row["permissions"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
    )


def scoped(owner: str | None, column: str = "user_id", n: int = 2) -> tuple[str, list[str]]:
    """The user-scope predicate (as parameter ``$n``) of a call acting for one user."""
    return (f" AND {column} = ${n}", [owner]) if owner else ("", [])


__all__ = [
    "Record",
    "iso",
    "scoped",
    "to_agent",
    "to_api_key",
    "to_knowledge",
    "to_message",
    "to_session",
    "to_user",
    "utc",
]
