"""``SqliteStore``: the embedded implementation of the ``Store`` protocol.

It composes the transaction functions of this package, runs them through
``Database`` (writes on the writer thread, reads on reader threads) and keeps
the in-process ``VectorIndex`` in step with what committed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime

from memfuse_server.buffer import RoundBuffer
from memfuse_server.embeddings.base import Vectors
from memfuse_server.models import (
    Agent,
    Hit,
    ItemKind,
    Knowledge,
    MemoryItem,
    Message,
    Session,
    User,
    utcnow,
)
from memfuse_server.storage.base import MessageQuery, PreparedMessage
from memfuse_server.storage.sqlite import entities as ent
from memfuse_server.storage.sqlite import knowledge as kn
from memfuse_server.storage.sqlite import messages as msg
from memfuse_server.storage.sqlite import search
from memfuse_server.storage.sqlite.database import Database
from memfuse_server.storage.sqlite.documents import Changes
from memfuse_server.storage.sqlite.vectors import VectorIndex

_OWNED_DOCS = (
    "SELECT d.user_id, d.seq FROM documents d WHERE (d.kind = 'message' AND d.item_id IN"
    " (SELECT id FROM messages WHERE session_id IN ({s}))) OR (d.kind = 'chunk' AND d.item_id IN"
    " (SELECT id FROM episodes WHERE session_id IN ({s})))"
)


def _drop_session_documents(
    conn: sqlite3.Connection, session_ids: Sequence[str], changes: Changes
) -> None:
    """Remove the search rows of whole sessions before the sessions cascade away."""
    if not session_ids:
        return
    marks = ",".join("?" * len(session_ids))
    rows = conn.execute(_OWNED_DOCS.format(s=marks), (*session_ids, *session_ids)).fetchall()
    for user_id, seq in rows:
        conn.execute("DELETE FROM documents_fts WHERE rowid = ?", (seq,))
        conn.execute("DELETE FROM documents WHERE seq = ?", (seq,))
        changes.removed.setdefault(user_id, set()).add(seq)
    for user_id in {r[0] for r in rows}:
        changes.epochs[user_id] = conn.execute(
            "UPDATE users SET removal_epoch = removal_epoch + 1, memory_version = memory_version + 1"
            " WHERE id = ? RETURNING removal_epoch",
            (user_id,),
        ).fetchone()[0]


def _delete_user(conn: sqlite3.Connection, user_id: str) -> None:
    ent.get_named(conn, ent.USERS, user_id)
    conn.execute(
        "DELETE FROM documents_fts WHERE rowid IN (SELECT seq FROM documents WHERE user_id = ?)",
        (user_id,),
    )
    ent.delete_named(conn, ent.USERS, user_id)


def _delete_sessions(conn: sqlite3.Connection, column: str, value: str, changes: Changes) -> None:
    ids = [r[0] for r in conn.execute(f"SELECT id FROM sessions WHERE {column} = ?", (value,))]
    _drop_session_documents(conn, ids, changes)


def _delete_agent(conn: sqlite3.Connection, agent_id: str, changes: Changes) -> None:
    ent.get_named(conn, ent.AGENTS, agent_id)
    _delete_sessions(conn, "agent_id", agent_id, changes)
    ent.delete_named(conn, ent.AGENTS, agent_id)


def _delete_session(conn: sqlite3.Connection, session_id: str, changes: Changes) -> None:
    ent.get_session(conn, session_id)
    _delete_sessions(conn, "id", session_id, changes)
    conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))


class SqliteStore:
    """The embedded store: one SQLite file in WAL mode."""

    def __init__(self, database: Database, dimension: int, vector_cache_rows: int) -> None:
        self.db = database
        self.index = VectorIndex(dimension, vector_cache_rows)

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        self.db.close()

    async def _changing(self, fn: Callable[..., None], *args: object) -> None:
        """Run a write that may remove search rows (``fn(conn, *args, changes)``),
        then let the in-process vector index follow what committed."""
        changes = Changes()
        await self.db.write(fn, *args, changes)
        for user_id, seqs in changes.removed.items():
            if user_id in changes.epochs:
                self.index.forget_removed(user_id, seqs, changes.epochs[user_id])

    # users
    async def create_user(self, name: str, description: str | None) -> tuple[User, bool]:
        return await self.db.write(ent.create_named, ent.USERS, name, description, utcnow())

    async def get_user(self, user_id: str) -> User:
        return await self.db.read(ent.get_named, ent.USERS, user_id)

    async def find_users(self, name: str | None) -> list[User]:
        return await self.db.read(ent.find_named, ent.USERS, name)

    async def update_user(self, user_id: str, name: str | None, description: str | None) -> User:
        return await self.db.write(
            ent.update_named, ent.USERS, user_id, name, description, utcnow()
        )

    async def delete_user(self, user_id: str) -> None:
        await self.db.write(_delete_user, user_id)
        self.index.forget_user(user_id)

    # agents
    async def create_agent(self, name: str, description: str | None) -> tuple[Agent, bool]:
        return await self.db.write(ent.create_named, ent.AGENTS, name, description, utcnow())

    async def get_agent(self, agent_id: str) -> Agent:
        return await self.db.read(ent.get_named, ent.AGENTS, agent_id)

    async def find_agents(self, name: str | None) -> list[Agent]:
        return await self.db.read(ent.find_named, ent.AGENTS, name)

    async def update_agent(self, agent_id: str, name: str | None, description: str | None) -> Agent:
        return await self.db.write(
            ent.update_named, ent.AGENTS, agent_id, name, description, utcnow()
        )

    async def delete_agent(self, agent_id: str) -> None:
        await self._changing(_delete_agent, agent_id)

    # sessions
    async def create_session(self, user_id: str, agent_id: str, name: str) -> Session:
        return await self.db.write(ent.create_session, user_id, agent_id, name, utcnow())

    async def get_session(self, session_id: str) -> Session:
        return await self.db.read(ent.get_session, session_id)

    async def find_sessions(
        self, user_id: str | None, agent_id: str | None, name: str | None
    ) -> list[Session]:
        return await self.db.read(ent.find_sessions, user_id, agent_id, name)

    async def update_session(self, session_id: str, name: str | None) -> Session:
        return await self.db.write(ent.update_session, session_id, name, utcnow())

    async def delete_session(self, session_id: str) -> None:
        await self._changing(_delete_session, session_id)

    # messages
    async def add_messages(
        self,
        session: Session,
        messages: Sequence[PreparedMessage],
        vectors: Vectors,
        buffer: RoundBuffer,
    ) -> list[str]:
        return await self.db.write(
            msg.insert_messages, session, messages, vectors, buffer, utcnow()
        )

    async def list_messages(self, session_id: str, query: MessageQuery) -> list[Message]:
        return await self.db.read(msg.list_messages, session_id, query)

    async def read_messages(self, session_id: str, message_ids: Sequence[str]) -> list[Message]:
        return await self.db.read(msg.read_messages, session_id, message_ids)

    async def update_messages(
        self,
        session_id: str,
        message_ids: Sequence[str],
        messages: Sequence[PreparedMessage],
        vectors: Vectors,
    ) -> None:
        await self._changing(
            msg.update_messages,
            session_id,
            message_ids,
            messages,
            vectors,
            utcnow(),
        )

    async def delete_messages(self, session_id: str, message_ids: Sequence[str]) -> None:
        await self._changing(msg.delete_messages, session_id, message_ids, utcnow())

    async def close_idle_windows(self, idle_since: datetime) -> int:
        return await self.db.write(msg.close_idle, idle_since, utcnow())

    # knowledge
    async def add_knowledge(
        self, user_id: str, contents: Sequence[str], vectors: Vectors
    ) -> list[str]:
        await self.get_user(user_id)
        return await self.db.write(kn.add_knowledge, user_id, contents, vectors, utcnow())

    async def list_knowledge(self, user_id: str) -> list[Knowledge]:
        return await self.db.read(kn.list_knowledge, user_id)

    async def read_knowledge(self, user_id: str, ids: Sequence[str]) -> list[Knowledge]:
        return await self.db.read(kn.read_knowledge, user_id, ids)

    async def update_knowledge(
        self, user_id: str, ids: Sequence[str], contents: Sequence[str], vectors: Vectors
    ) -> None:
        await self._changing(kn.update_knowledge, user_id, ids, contents, vectors, utcnow())

    async def delete_knowledge(self, user_id: str, ids: Sequence[str]) -> None:
        await self._changing(kn.delete_knowledge, user_id, ids)

    # search
    async def memory_version(self, user_id: str) -> int:
        return await self.db.read(search.memory_version, user_id)

    async def search_vectors(
        self, user_id: str, vector: Vectors, per_kind: int
    ) -> dict[ItemKind, list[Hit]]:
        return await self.db.read(self.index.search, user_id, vector, per_kind)

    async def search_text(self, user_id: str, text: str, limit: int) -> list[Hit]:
        return await self.db.read(search.search_text, user_id, text, limit)

    async def resolve(
        self, user_id: str, keys: Sequence[tuple[ItemKind, str]]
    ) -> dict[tuple[ItemKind, str], MemoryItem]:
        return await self.db.read(search.resolve, user_id, keys)


__all__ = ["SqliteStore"]
