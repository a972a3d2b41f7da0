"""``MemoryService``: the one entry point the API, the CLI and background tasks call.

It validates what the storage layer cannot know (names, batch sizes), computes
what the request path needs before the write (search text, token counts,
embeddings), and hands one transaction to the store.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime

import numpy as np
import structlog

from memfuse_server.buffer import RoundBuffer
from memfuse_server.config import Settings
from memfuse_server.embeddings.base import Embedder, TokenCounter, Vectors
from memfuse_server.errors import InvalidInput, NotFound
from memfuse_server.exporter.lines import Export
from memfuse_server.layers.texts import turn_text
from memfuse_server.models import (
    JSON,
    ItemKind,
    Knowledge,
    MemoryItem,
    Message,
    NewMessage,
    QueryResult,
    Session,
    User,
    utcnow,
)
from memfuse_server.retrieval.search import MemoryQuery, QueryEngine
from memfuse_server.retrieval.validity import mark
from memfuse_server.storage.base import MessageQuery, PreparedMessage, Store, WriteContext


def search_text(message: NewMessage) -> str:
    """What is embedded and indexed for a message (``texts.turn_text``); "" when empty."""
    if not message.content.strip():
        return ""
    return turn_text(message.name, message.content)


class MemoryService:
    def __init__(
        self, settings: Settings, store: Store, embedder: Embedder, tokens: TokenCounter
    ) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.tokens = tokens
        self.buffer = RoundBuffer(settings.buffer.max_tokens, settings.buffer.max_rounds)
        self.queries = QueryEngine(store, embedder, settings.query)
        self.on_write: Callable[[], None] = lambda: None  # the worker's wake-up, when it runs here
        self.on_ingest: Callable[[int], None] = lambda n: None  # counts stored messages (metrics)
        # seconds an add or a query took: what the worker's throttle gives way to, when it runs here
        self.on_latency: Callable[[float], None] = lambda seconds: None

    # users, agents, sessions
    async def create_session(self, user_id: str, agent_id: str, name: str | None) -> Session:
        chosen = name if name else f"session-{uuid.uuid4().hex[:12]}"
        return await self.store.create_session(user_id, agent_id, chosen)

    # messages
    async def _prepare(
        self, messages: Sequence[NewMessage]
    ) -> tuple[list[PreparedMessage], Vectors]:
        texts = [search_text(m) for m in messages]
        prepared = [
            PreparedMessage(m, t, self.tokens.count(t) if t else 0)
            for m, t in zip(messages, texts, strict=True)
        ]
        vectors = await self._embed_some(texts)
        return prepared, vectors

    async def _embed_some(self, texts: Sequence[str]) -> Vectors:
        """Embed the non-empty texts; empty ones get a zero row (never indexed)."""
        out = np.zeros((len(texts), self.embedder.dimension), dtype=np.float32)
        keep = [i for i, t in enumerate(texts) if t]
        if keep:
            out[keep] = await self.embedder.embed([texts[i] for i in keep])
        return out

    async def add_messages(
        self,
        session_id: str,
        messages: Sequence[NewMessage],
        idempotency_key: str | None = None,
        body_hash: str = "",
        owner: str | None = None,
    ) -> list[str]:
        """Store messages durably; a repeated idempotency key returns the first answer."""
        started = time.perf_counter()
        session = await self.store.get_session(session_id, owner)
        if idempotency_key:
            earlier = await self.store.idempotent_result(session_id, idempotency_key, body_hash)
            if earlier is not None:
                return earlier
        prepared, vectors = await self._prepare(messages)
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        context = WriteContext(request_id, idempotency_key, body_hash)
        ids = await self.store.add_messages(session, prepared, vectors, self.buffer, context)
        self.on_ingest(len(ids))
        self.on_write()
        self.on_latency(time.perf_counter() - started)
        return ids

    async def flush_session(self, session_id: str, owner: str | None = None) -> str | None:
        """Close the session's open window now, so its episode is derived at once; the
        episode's id, or None when the window was empty."""
        session = await self.store.get_session(session_id, owner)
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        episode_id = await self.store.flush_window(session, request_id)
        if episode_id is not None:
            self.on_write()
        return episode_id

    async def update_messages(
        self,
        session_id: str,
        message_ids: Sequence[str],
        messages: Sequence[NewMessage],
        owner: str | None = None,
    ) -> None:
        _distinct(message_ids, "message_ids")
        await self.store.read_messages(session_id, message_ids, owner)
        prepared, vectors = await self._prepare(messages)
        await self.store.update_messages(session_id, message_ids, prepared, vectors, owner)
        self.on_write()

    async def delete_messages(
        self, session_id: str, message_ids: Sequence[str], owner: str | None = None
    ) -> None:
        _distinct(message_ids, "message_ids")
        await self.store.delete_messages(session_id, message_ids, owner)

    async def list_messages(
        self, session_id: str, query: MessageQuery, owner: str | None = None
    ) -> list[Message]:
        await self.store.get_session(session_id, owner)
        return await self.store.list_messages(session_id, query, owner)

    # knowledge
    async def add_knowledge(self, user_id: str, contents: Sequence[str]) -> list[str]:
        await self.store.get_user(user_id)
        vectors = await self.embedder.embed(contents)
        return await self.store.add_knowledge(user_id, contents, vectors)

    async def update_knowledge(
        self, user_id: str, ids: Sequence[str], contents: Sequence[str]
    ) -> None:
        _distinct(ids, "knowledge_ids")
        await self.store.read_knowledge(user_id, ids)
        vectors = await self.embedder.embed(contents)
        await self.store.update_knowledge(user_id, ids, contents, vectors)

    async def delete_knowledge(self, user_id: str, ids: Sequence[str]) -> None:
        _distinct(ids, "knowledge_ids")
        await self.store.delete_knowledge(user_id, ids)

    async def list_knowledge(self, user_id: str) -> list[Knowledge]:
        await self.store.get_user(user_id)
        return await self.store.list_knowledge(user_id)

    # M1 and M2, for inspection
    async def list_items(
        self,
        user_id: str,
        kind: ItemKind,
        limit: int,
        offset: int,
        moment: datetime | None = None,
    ) -> list[MemoryItem]:
        """A page of facts, entities or relations; facts and relations marked current or
        superseded (as of ``moment``, or now), and with a moment only those holding then."""
        await self.store.get_user(user_id)
        items = await self.store.list_items(user_id, kind, limit, offset, moment)
        return [mark(i, moment or utcnow()) for i in items]

    async def neighbourhood(self, user_id: str, entity_id: str, limit: int) -> JSON:
        await self.store.get_user(user_id)
        found = await self.store.neighbourhood(user_id, entity_id, limit)
        if found is None:
            raise NotFound(f"Entity {entity_id} not found for user {user_id}.")
        now = utcnow()
        for part in ("relations", "facts"):
            found[part] = [mark(i, now) for i in found[part]]
        return found

    async def forget_items(self, user_id: str, kind: ItemKind, ids: Sequence[str]) -> None:
        """Delete facts, entities or relations; processing their episodes again does not
        bring them back (``storage/ops/forgetting.py``)."""
        _distinct(ids, "ids")
        await self.store.get_user(user_id)
        await self.store.forget_items(user_id, kind, ids)

    # export
    async def export(self, user_id: str, with_derived: bool) -> AsyncIterator[JSON]:
        """The lines of the user's export (docs/export.md), read a page at a time as they are
        consumed; ``NotFound`` at once for an unknown user."""
        user = await self.store.get_user(user_id)
        return Export(self.store, user).lines(with_derived)

    # query
    async def query(self, q: MemoryQuery) -> list[QueryResult]:
        started = time.perf_counter()
        results = await self.queries.query(q)
        self.on_latency(time.perf_counter() - started)
        return results

    # by name, for agents' tools (MCP): users and sessions named, items by id alone
    async def user_named(self, name_or_id: str, *, create: bool) -> User:
        """The user with this id, else this name (made when ``create``)."""
        with contextlib.suppress(NotFound):
            return await self.store.get_user(name_or_id)
        found = await self.store.find_users(name_or_id)
        if found:
            return found[0]
        if not create:
            raise NotFound(f"No user is named {name_or_id!r}; add a memory for it first.")
        user, _ = await self.store.create_user(name_or_id, None)
        return user

    async def session_named(self, user_id: str, agent: str, name: str) -> Session:
        """The user's session of this name with this agent, made when missing."""
        agent_row, _ = await self.store.create_agent(agent, None)
        found = await self.store.find_sessions(user_id, agent_row.id, name, user_id)
        return found[0] if found else await self.create_session(user_id, agent_row.id, name)

    async def sessions_of(self, user_id: str, name: str | None = None) -> list[Session]:
        return await self.store.find_sessions(user_id, None, name, user_id)

    async def items(self, user_id: str, ids: Sequence[str]) -> list[MemoryItem]:
        """The user's messages, knowledge, facts, entities and relations with these ids."""
        keys = [(kind, i) for i in ids for kind in ItemKind if kind is not ItemKind.CHUNK]
        found = await self.store.resolve(user_id, keys)
        return [item for i in ids for kind in ItemKind if (item := found.get((kind, i)))]

    async def forget_user(self, user_id: str) -> int:
        """Delete every session (with what was derived from it) and the knowledge of a user."""
        sessions = await self.sessions_of(user_id)
        for session in sessions:
            await self.store.delete_session(session.id, user_id)
        knowledge = [k.id for k in await self.store.list_knowledge(user_id)]
        if knowledge:
            await self.store.delete_knowledge(user_id, knowledge)
        self.on_write()
        return len(sessions)


def _distinct(ids: Sequence[str], field: str) -> None:
    if len(set(ids)) != len(ids):
        raise InvalidInput(f"{field} contains the same id more than once; list each id once.")


__all__ = ["MemoryService", "search_text"]
