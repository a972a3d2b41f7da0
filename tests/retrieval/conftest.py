"""A small conversation of the test's own, stored on either engine and asked through the
real query path with the real local embedder (no worker: messages and chunks only)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from memfuse_server.config import EmbeddingSettings, Settings
from memfuse_server.embeddings import MicroBatcher, build_embedder, build_token_counter
from memfuse_server.models import NewMessage, QueryResult, Role
from memfuse_server.retrieval.search import MemoryQuery
from memfuse_server.service import MemoryService
from memfuse_server.storage import Store
from tests.storage.conftest import store, store_settings  # noqa: F401  (both engines)


@pytest.fixture(scope="module")
def embedder() -> Iterator[MicroBatcher]:
    built = build_embedder(EmbeddingSettings(isolation="thread"))
    yield built


@dataclass
class Conversation:
    """One user's memory: add sessions of ``(speaker, text)`` turns, then ask."""

    service: MemoryService
    user_id: str = ""
    agent_id: str = ""
    turns: dict[str, str] | None = None  # message id -> text

    async def session(self, when: datetime, turns: list[tuple[str, str]]) -> list[str]:
        if not self.user_id:
            self.user_id = (await self.service.store.create_user("u", None))[0].id
            self.agent_id = (await self.service.store.create_agent("a", None))[0].id
        number = len(self.turns or {})
        session = await self.service.create_session(self.user_id, self.agent_id, f"s{number}")
        messages = [
            NewMessage(Role.USER, text, name=speaker, created_at=when + timedelta(minutes=i))
            for i, (speaker, text) in enumerate(turns)
        ]
        ids = await self.service.add_messages(session.id, messages)
        self.turns = {**(self.turns or {}), **{i: t for i, (_, t) in zip(ids, turns, strict=True)}}
        await self.service.store.close_idle_windows(when + timedelta(days=3650))
        return ids

    async def ask(self, text: str, top_k: int = 10) -> list[QueryResult]:
        return await self.service.query(MemoryQuery(self.user_id, text, top_k))

    async def turns_of(self, text: str, top_k: int = 10) -> list[str]:
        """The texts of the turns the results stand for, in rank order, each once."""
        seen: dict[str, None] = {}
        for r in await self.ask(text, top_k):
            for m in r.item.source_message_ids:
                seen.setdefault(m, None)
        return [(self.turns or {})[m] for m in seen if m in (self.turns or {})]


@pytest.fixture
async def conversation(
    store: Store,  # noqa: F811
    store_settings: Settings,  # noqa: F811
    embedder: MicroBatcher,
) -> AsyncIterator[Conversation]:
    counter = build_token_counter(store_settings.embedding)
    yield Conversation(MemoryService(store_settings, store, embedder, counter))
