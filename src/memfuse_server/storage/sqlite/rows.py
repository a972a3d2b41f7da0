"""Conversions between SQLite rows and domain objects."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import orjson

from memfuse_server.models import Agent, Knowledge, Message, Role, Session, User


def ts(value: datetime) -> str:
    """A timestamp as stored: ISO-8601 in UTC, fixed width, so text order is time order."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def to_user(row: sqlite3.Row) -> User:
    return User(
        row["id"], row["name"], row["description"], dt(row["created_at"]), dt(row["updated_at"])
    )


def to_agent(row: sqlite3.Row) -> Agent:
    return Agent(
        row["id"], row["name"], row["description"], dt(row["created_at"]), dt(row["updated_at"])
    )


def to_session(row: sqlite3.Row) -> Session:
    return Session(
        row["id"],
        row["user_id"],
        row["agent_id"],
        row["name"],
        dt(row["created_at"]),
        dt(row["updated_at"]),
    )


def to_message(row: sqlite3.Row) -> Message:
    return Message(
        id=row["id"],
        session_id=row["session_id"],
        user_id=row["user_id"],
        role=Role(row["role"]),
        content=row["content"],
        name=row["name"],
        metadata=orjson.loads(row["metadata"]),
        created_at=dt(row["created_at"]),
        updated_at=dt(row["updated_at"]),
        episode_id=row["episode_id"],
    )


def to_knowledge(row: sqlite3.Row) -> Knowledge:
    return Knowledge(
        row["id"], row["user_id"], row["content"], dt(row["created_at"]), dt(row["updated_at"])
    )


def scoped(owner: str | None, column: str = "user_id") -> tuple[str, tuple[str, ...]]:
    """The user-scope predicate: part of every query made for a request acting for one user."""
    return (f" AND {column} = ?", (owner,)) if owner else ("", ())


def param_marks(n: int) -> str:
    return ",".join("?" * n)


__all__ = [
    "dt",
    "param_marks",
    "to_agent",
    "to_knowledge",
    "to_message",
    "to_session",
    "to_user",
    "ts",
]
