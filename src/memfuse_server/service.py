"""``MemoryService``: the one entry point the API, the CLI and background tasks call.

It validates what the storage layer cannot know (names, batch sizes), computes
what the request path needs before the write (search text, token counts,
embeddings), and hands one transaction to the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import structlog

from memfuse_server.buffer import RoundBuffer
from memfuse_server.config import Settings
from memfuse_server.embeddings.base import Embedder, TokenCounter, Vectors
from memfuse_server.errors import InvalidInput
from memfuse_server.models import (
    Knowledge,
    Message,
    NewMessage,
    QueryResult,
    Session,
    utcnow,
)
from memfuse_server.retrieval.search import MemoryQuery, QueryEngine
from memfuse_server.storage.base import MessageQuery, PreparedMessage, Store

log = structlog.get_logger(__name__)


def search_text(message: NewMessage) -> str:
    """What is embedded and indexed for a message: ``speaker: content``."""
    if not message.content.strip():
        return ""
    return f"{message.name}: {message.content}" if message.name else message.content


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

    async def add_messages(self, session_id: str, messages: Sequence[NewMessage]) -> list[str]:
        session = await self.store.get_session(session_id)
        prepared, vectors = await self._prepare(messages)
        return await self.store.add_messages(session, prepared, vectors, self.buffer)

    async def update_messages(
        self, session_id: str, message_ids: Sequence[str], messages: Sequence[NewMessage]
    ) -> None:
        _distinct(message_ids, "message_ids")
        await self.store.read_messages(session_id, message_ids)
        prepared, vectors = await self._prepare(messages)
        await self.store.update_messages(session_id, message_ids, prepared, vectors)

    async def delete_messages(self, session_id: str, message_ids: Sequence[str]) -> None:
        _distinct(message_ids, "message_ids")
        await self.store.delete_messages(session_id, message_ids)

    async def list_messages(self, session_id: str, query: MessageQuery) -> list[Message]:
        await self.store.get_session(session_id)
        return await self.store.list_messages(session_id, query)

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

    # query
    async def query(self, q: MemoryQuery) -> list[QueryResult]:
        return await self.queries.query(q)

    # background
    async def close_idle_windows(self) -> int:
        idle_since = utcnow() - timedelta(seconds=self.settings.buffer.idle_seconds)
        return await self.store.close_idle_windows(idle_since)

    async def run_sweeper(self, stop: asyncio.Event) -> None:
        """Close idle round windows until ``stop`` is set."""
        interval = self.settings.buffer.sweep_interval_seconds
        while not stop.is_set():
            try:
                closed = await self.close_idle_windows()
                if closed:
                    log.info("idle windows closed", count=closed)
            except Exception:
                log.exception("idle window sweep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)


def _distinct(ids: Sequence[str], field: str) -> None:
    if len(set(ids)) != len(ids):
        raise InvalidInput(f"{field} contains the same id more than once; list each id once.")


__all__ = ["MemoryService", "search_text"]
