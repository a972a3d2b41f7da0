"""Users, agents and sessions: named records with create/find/update/delete.

Users and agents share one shape (a unique name and a description), so one
set of functions serves both, parametrised by a ``NamedTable``.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from memfuse_server.errors import Conflict, NotFound
from memfuse_server.models import Agent, Session, User
from memfuse_server.storage.sqlite.rows import scoped, to_agent, to_session, to_user, ts

T = TypeVar("T")


@dataclass(frozen=True)
class NamedTable(Generic[T]):
    table: str
    noun: str
    convert: Callable[[sqlite3.Row], T]


USERS = NamedTable[User]("users", "User", to_user)
AGENTS = NamedTable[Agent]("agents", "Agent", to_agent)


def get_named(conn: sqlite3.Connection, kind: NamedTable[T], item_id: str) -> T:
    row = conn.execute(f"SELECT * FROM {kind.table} WHERE id = ?", (item_id,)).fetchone()
    if row is None:
        raise NotFound(f"{kind.noun} {item_id} not found.")
    return kind.convert(row)


def find_named(
    conn: sqlite3.Connection, kind: NamedTable[T], name: str | None, owner: str | None = None
) -> list[T]:
    """All records, or the one of that name; only the owner's own record when ``owner`` is set."""
    scope, args = scoped(owner, "id")
    if name is None:
        sql = f"SELECT * FROM {kind.table} WHERE 1{scope} ORDER BY created_at, id"
        rows = conn.execute(sql, args).fetchall()
    else:
        sql = f"SELECT * FROM {kind.table} WHERE name = ?{scope}"
        rows = conn.execute(sql, (name, *args)).fetchall()
    return [kind.convert(r) for r in rows]


def create_named(
    conn: sqlite3.Connection, kind: NamedTable[T], name: str, description: str | None, now: datetime
) -> tuple[T, bool]:
    """Create a record, or return the existing one of that name (``created`` False)."""
    row = conn.execute(f"SELECT * FROM {kind.table} WHERE name = ?", (name,)).fetchone()
    if row is not None:
        return kind.convert(row), False
    new_id = str(uuid.uuid4())
    conn.execute(
        f"INSERT INTO {kind.table} (id, name, description, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (new_id, name, description, ts(now), ts(now)),
    )
    return get_named(conn, kind, new_id), True


def update_named(
    conn: sqlite3.Connection,
    kind: NamedTable[T],
    item_id: str,
    name: str | None,
    description: str | None,
    now: datetime,
) -> T:
    get_named(conn, kind, item_id)
    if name is not None:
        taken = conn.execute(
            f"SELECT 1 FROM {kind.table} WHERE name = ? AND id != ?", (name, item_id)
        ).fetchone()
        if taken:
            raise Conflict(f"{kind.noun} name {name!r} is already taken; choose another name.")
    conn.execute(
        f"UPDATE {kind.table} SET name = COALESCE(?, name), description = COALESCE(?, description),"
        " updated_at = ? WHERE id = ?",
        (name, description, ts(now), item_id),
    )
    return get_named(conn, kind, item_id)


def delete_named(conn: sqlite3.Connection, kind: NamedTable[T], item_id: str) -> None:
    if conn.execute(f"DELETE FROM {kind.table} WHERE id = ?", (item_id,)).rowcount == 0:
        raise NotFound(f"{kind.noun} {item_id} not found.")


def get_session(conn: sqlite3.Connection, session_id: str, owner: str | None = None) -> Session:
    scope, args = scoped(owner)
    row = conn.execute(
        f"SELECT * FROM sessions WHERE id = ?{scope}", (session_id, *args)
    ).fetchone()
    if row is None:
        raise NotFound(f"Session {session_id} not found.")
    return to_session(row)


def find_sessions(
    conn: sqlite3.Connection,
    user_id: str | None,
    agent_id: str | None,
    name: str | None,
    owner: str | None = None,
) -> list[Session]:
    clauses, args = [], []
    filters = (("user_id", user_id), ("agent_id", agent_id), ("name", name), ("user_id", owner))
    for column, value in filters:
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    where = " AND ".join(clauses) or "1"
    rows = conn.execute(
        f"SELECT * FROM sessions WHERE {where} ORDER BY created_at, id", args
    ).fetchall()
    return [to_session(r) for r in rows]


def create_session(
    conn: sqlite3.Connection, user_id: str, agent_id: str, name: str, now: datetime
) -> Session:
    get_named(conn, USERS, user_id)
    get_named(conn, AGENTS, agent_id)
    _check_session_name(conn, user_id, name, None)
    new_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO sessions (id, user_id, agent_id, name, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (new_id, user_id, agent_id, name, ts(now), ts(now)),
    )
    return get_session(conn, new_id)


def update_session(
    conn: sqlite3.Connection,
    session_id: str,
    name: str | None,
    now: datetime,
    owner: str | None = None,
) -> Session:
    session = get_session(conn, session_id, owner)
    if name is not None:
        _check_session_name(conn, session.user_id, name, session_id)
    conn.execute(
        "UPDATE sessions SET name = COALESCE(?, name), updated_at = ? WHERE id = ?",
        (name, ts(now), session_id),
    )
    return get_session(conn, session_id)


def _check_session_name(
    conn: sqlite3.Connection, user_id: str, name: str, session_id: str | None
) -> None:
    row = conn.execute(
        "SELECT id FROM sessions WHERE user_id = ? AND name = ?", (user_id, name)
    ).fetchone()
    if row is not None and row[0] != session_id:
        raise Conflict(f"This user already has a session named {name!r}; choose another name.")


__all__ = [
    "AGENTS",
    "USERS",
    "NamedTable",
    "create_named",
    "create_session",
    "delete_named",
    "find_named",
    "find_sessions",
    "get_named",
    "get_session",
    "update_named",
    "update_session",
]
