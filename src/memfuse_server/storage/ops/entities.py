"""Users, agents and sessions: named records with create/find/update/delete.

Users and agents share one shape (a unique name and a description), so one
set of operations serves both, parametrised by a ``NamedTable``. Creation is
race-free across processes: ``INSERT ... ON CONFLICT DO NOTHING``, then read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from memfuse_server.errors import Conflict, NotFound
from memfuse_server.models import Agent, Session, User
from memfuse_server.storage.ops.rows import scoped, to_agent, to_session, to_user
from memfuse_server.storage.ops.version import bump_memory_version
from memfuse_server.storage.tx import Row, Tx

T = TypeVar("T")


@dataclass(frozen=True)
class NamedTable(Generic[T]):
    table: str
    noun: str
    convert: Callable[[Row], T]


USERS = NamedTable[User]("users", "User", to_user)
AGENTS = NamedTable[Agent]("agents", "Agent", to_agent)


async def get_named(tx: Tx, kind: NamedTable[T], item_id: str) -> T:
    row = await tx.fetchrow(f"SELECT * FROM {kind.table} WHERE id = $1", item_id)
    if row is None:
        raise NotFound(f"{kind.noun} {item_id} not found.")
    return kind.convert(row)


async def find_named(
    tx: Tx, kind: NamedTable[T], name: str | None, owner: str | None = None
) -> list[T]:
    """All records, or the one of that name; only the owner's own record when ``owner`` is set."""
    if name is None:
        scope, args = scoped(owner, 1, "id")
        sql = f"SELECT * FROM {kind.table} WHERE true{scope} ORDER BY created_at, id"
        rows = await tx.fetch(sql, *args)
    else:
        scope, args = scoped(owner, 2, "id")
        rows = await tx.fetch(f"SELECT * FROM {kind.table} WHERE name = $1{scope}", name, *args)
    return [kind.convert(r) for r in rows]


async def create_named(
    tx: Tx, kind: NamedTable[T], name: str, description: str | None, now: datetime
) -> tuple[T, bool]:
    """Create a record, or return the existing one of that name (``created`` False)."""
    row = await tx.fetchrow(
        f"INSERT INTO {kind.table} (id, name, description, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $4) ON CONFLICT (name) DO NOTHING RETURNING *",
        str(uuid.uuid4()),
        name,
        description,
        now,
    )
    if row is not None:
        return kind.convert(row), True
    existing = await tx.fetchrow(f"SELECT * FROM {kind.table} WHERE name = $1", name)
    if existing is None:  # created and deleted again meanwhile
        raise Conflict(f"{kind.noun} {name!r} changed while it was being created; retry.")
    return kind.convert(existing), False


async def update_named(
    tx: Tx,
    kind: NamedTable[T],
    item_id: str,
    name: str | None,
    description: str | None,
    now: datetime,
) -> T:
    await get_named(tx, kind, item_id)
    taken = Conflict(f"{kind.noun} name {name!r} is already taken; choose another name.")
    if name is not None and await tx.fetchval(
        f"SELECT 1 FROM {kind.table} WHERE name = $1 AND id <> $2", name, item_id
    ):
        raise taken
    try:
        row = await tx.fetchrow(
            f"UPDATE {kind.table} SET name = COALESCE($1, name),"
            " description = COALESCE($2, description), updated_at = $3 WHERE id = $4 RETURNING *",
            name,
            description,
            now,
            item_id,
        )
    except tx.dialect.duplicate as exc:  # a rename that raced another
        raise taken from exc
    if row is None:
        raise NotFound(f"{kind.noun} {item_id} not found.")
    return kind.convert(row)


async def delete_named(tx: Tx, kind: NamedTable[T], item_id: str) -> None:
    if not await tx.execute(f"DELETE FROM {kind.table} WHERE id = $1", item_id):
        raise NotFound(f"{kind.noun} {item_id} not found.")


async def get_session(tx: Tx, session_id: str, owner: str | None = None) -> Session:
    scope, args = scoped(owner, 2)
    row = await tx.fetchrow(f"SELECT * FROM sessions WHERE id = $1{scope}", session_id, *args)
    if row is None:
        raise NotFound(f"Session {session_id} not found.")
    return to_session(row)


async def find_sessions(
    tx: Tx,
    user_id: str | None,
    agent_id: str | None,
    name: str | None,
    owner: str | None = None,
) -> list[Session]:
    clauses: list[str] = []
    args: list[str] = []
    filters = (("user_id", user_id), ("agent_id", agent_id), ("name", name), ("user_id", owner))
    for column, value in filters:
        if value is not None:
            args.append(value)
            clauses.append(f"{column} = ${len(args)}")
    where = " AND ".join(clauses) or "true"
    rows = await tx.fetch(f"SELECT * FROM sessions WHERE {where} ORDER BY created_at, id", *args)
    return [to_session(r) for r in rows]


async def create_session(tx: Tx, user_id: str, agent_id: str, name: str, now: datetime) -> Session:
    await get_named(tx, USERS, user_id)
    await get_named(tx, AGENTS, agent_id)
    await _check_session_name(tx, user_id, name, None)
    try:
        row = await tx.fetchrow(
            "INSERT INTO sessions (id, user_id, agent_id, name, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $5) RETURNING *",
            str(uuid.uuid4()),
            user_id,
            agent_id,
            name,
            now,
        )
    except tx.dialect.duplicate as exc:
        raise _name_taken(name) from exc
    assert row is not None
    return to_session(row)


async def update_session(
    tx: Tx,
    session_id: str,
    name: str | None,
    now: datetime,
    owner: str | None = None,
) -> Session:
    session = await get_session(tx, session_id, owner)
    if name is not None:
        await _check_session_name(tx, session.user_id, name, session_id)
    try:
        row = await tx.fetchrow(
            "UPDATE sessions SET name = COALESCE($1, name), updated_at = $2 WHERE id = $3"
            " RETURNING *",
            name,
            now,
            session_id,
        )
    except tx.dialect.duplicate as exc:
        raise _name_taken(name or "") from exc
    assert row is not None
    await bump_memory_version(tx, session.user_id)  # answers show the session's name
    return to_session(row)


def _name_taken(name: str) -> Conflict:
    return Conflict(f"This user already has a session named {name!r}; choose another name.")


async def _check_session_name(tx: Tx, user_id: str, name: str, session_id: str | None) -> None:
    found = await tx.fetchval(
        "SELECT id FROM sessions WHERE user_id = $1 AND name = $2", user_id, name
    )
    if found is not None and found != session_id:
        raise _name_taken(name)


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
