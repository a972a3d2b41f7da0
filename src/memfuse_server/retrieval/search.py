"""The query path: candidates from every retriever, fused, resolved, scoped.

Candidates are gathered concurrently: vector search over the user's messages,
episode chunks, knowledge, facts, entities and relations (one matrix product
per kind), BM25 full text over all of them, and the graph (the entities named
in the query lead to their relations and the facts naming them). Reciprocal-rank fusion orders them; the top items are
resolved to their content and provenance; a superseded fact or relation goes below
what replaced it, and with ``as_of`` only what held then is kept (``validity.py``).
Results are cached per user memory version.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from memfuse_server.config import QuerySettings
from memfuse_server.embeddings.base import Embedder, Vectors
from memfuse_server.errors import NotFound
from memfuse_server.models import Hit, ItemKind, QueryResult, Turn
from memfuse_server.retrieval.cache import QueryCache
from memfuse_server.retrieval.fusion import RankedList, reciprocal_rank_fusion
from memfuse_server.retrieval.rerank import Candidate, rerank
from memfuse_server.retrieval.scores import distinct, readable
from memfuse_server.retrieval.speakers import name_candidates, topic
from memfuse_server.retrieval.turns import Stems, cosines, turn_evidence
from memfuse_server.retrieval.validity import in_time
from memfuse_server.storage.base import LayerStore, SearchStore


class QueryStore(SearchStore, LayerStore, Protocol):
    """What the query path reads."""


Key = tuple[ItemKind, str]
AS_OF_BREADTH = 4
"""With ``as_of``, this many candidates per wanted result are resolved: some held later."""
MIN_POOL = 40
"""Fused candidates resolved at least: a hit stands for fewer turns, so more hits fill a list."""
FOCUS_CHARS = 1000
"""About the model's 256-token window: what of a long query is searched."""


def focus(text: str, limit: int = FOCUS_CHARS) -> str:
    """The end of a long query: its latest lines, up to about ``limit`` characters.

    The SDK's chat wrapper sends the whole recent conversation as the query
    ("User: ...\\nAssistant: ...\\nUser: <the new turn>"); the new turn is at
    the end, and the embedding model reads only its first 256 tokens.
    """
    if len(text) <= limit:
        return text
    lines = [line for line in text.replace("\\n", "\n").split("\n") if line.strip()]
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        if kept and size + len(line) > limit:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(reversed(kept))[-limit:]


@dataclass(frozen=True)
class MemoryQuery:
    user_id: str
    text: str
    top_k: int
    session_id: str | None = None
    agent_id: str | None = None
    as_of: datetime | None = None  # memory as it held then; None: as it holds now


@dataclass(frozen=True)
class QueryView:
    """What of a query is searched: its focused text, its topic (the text less the speakers
    it names) and those speakers."""

    text: str
    topic: str
    speakers: tuple[str, ...]


class QueryEngine:
    def __init__(self, store: QueryStore, embedder: Embedder, settings: QuerySettings) -> None:
        self._store = store
        self._embedder = embedder
        self._settings = settings
        self._stems = Stems()
        self.cache: QueryCache[list[QueryResult]] = QueryCache(
            settings.cache_size, settings.cache_ttl_seconds
        )

    async def query(self, q: MemoryQuery) -> list[QueryResult]:
        version = await self._store.memory_version(q.user_id)
        if version < 0:
            raise NotFound(f"User {q.user_id} not found.")
        key = (q.user_id, version, q.text, q.session_id, q.top_k, q.as_of)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        results = await self._search(q)
        self.cache.put(key, results)
        return results

    async def _search(self, q: MemoryQuery) -> list[QueryResult]:
        view = await self._view(q)
        lists, vector, similarity = await self._candidates(q, view)
        fused = reciprocal_rank_fusion(lists, k=self._settings.rrf_k)
        wanted = fused[: max(q.top_k * (AS_OF_BREADTH if q.as_of else 2), MIN_POOL)]
        items = await self._store.resolve(q.user_id, [f.key for f in wanted])
        pool = [Candidate(items[f.key], f.score, dict(f.ranks)) for f in wanted if f.key in items]
        turns = await self._store.turns(
            q.user_id, sorted({m for c in pool for m in c.item.source_message_ids})
        )
        evidence = turn_evidence(vector, self._stems(view.topic), turns, self._stems, view.speakers)
        results = [_result(c, q.session_id) for c in rerank(pool, evidence, _unasked(view, turns))]
        ranked = await in_time(
            distinct(results), q.as_of, lambda keys: self._store.resolve(q.user_id, keys)
        )
        return readable(ranked[: q.top_k], cosines(vector, turns), similarity)

    async def _view(self, q: MemoryQuery) -> QueryView:
        """The searched text, the speakers it names, and its topic (``speakers.py``)."""
        text = focus(q.text)
        speakers = await self._store.speakers_named(q.user_id, name_candidates(text))
        return QueryView(text, topic(text, speakers), tuple(speakers))

    async def _candidates(
        self, q: MemoryQuery, view: QueryView
    ) -> tuple[list[RankedList[Key]], Vectors, dict[Key, float]]:
        """Every retriever at once; full text and graph do not wait for the embedding. The
        topic is embedded and matched; the graph looks up every name, speakers' too."""
        n = self._settings.candidates
        (vector, by_kind), text_hits, graph_hits = await asyncio.gather(
            self._vector_hits(q.user_id, view.topic, n),
            self._store.search_text(q.user_id, view.topic, n),
            self._store.search_graph(q.user_id, view.text, n),
        )
        weights = self._settings.kind_weights
        lists = [
            RankedList(
                f"vector:{kind.value}",
                _keys(hits),
                self._settings.vector_weight * weights.get(kind.value, 1.0),
            )
            for kind, hits in by_kind.items()
        ]
        lists.append(RankedList("text", _keys(text_hits), self._settings.text_weight))
        lists.append(RankedList("graph", _keys(graph_hits), self._settings.graph_weight))
        similarity = {(h.kind, h.item_id): h.score for hits in by_kind.values() for h in hits}
        return lists, vector, similarity

    async def _vector_hits(
        self, user_id: str, text: str, n: int
    ) -> tuple[Vectors, dict[ItemKind, list[Hit]]]:
        vector = (await self._embedder.embed([text]))[0]
        return vector, await self._store.search_vectors(user_id, vector, n)


def _unasked(view: QueryView, turns: Sequence[Turn]) -> frozenset[str]:
    """The turns of speakers other than the one the query names (none if it names none,
    or several)."""
    if len(view.speakers) != 1:
        return frozenset()
    return frozenset(t.id for t in turns if t.speaker not in view.speakers)


def _result(c: Candidate, session_id: str | None) -> QueryResult:
    """A candidate as a result: its sources are the turns that carry the match, best first
    (every source stays in ``all_source_message_ids``)."""
    item = c.item
    if item.kind is not ItemKind.MESSAGE and item.source_message_ids:
        extra = {**item.extra, "all_source_message_ids": list(item.source_message_ids)}
        item = replace(item, source_message_ids=c.turns, extra=extra)
    scope = "in_session" if session_id and item.session_id == session_id else "cross_session"
    return QueryResult(item, c.score, scope, c.ranks)


def _keys(hits: list[Hit]) -> list[Key]:
    return [(h.kind, h.item_id) for h in hits]


__all__ = ["MemoryQuery", "QueryEngine", "focus"]
