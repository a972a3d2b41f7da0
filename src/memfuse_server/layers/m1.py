"""M1 semantic memory: facts extracted from an episode, embedded, stored idempotently."""

from __future__ import annotations

from collections.abc import Sequence

from memfuse_server.embeddings.base import Embedder
from memfuse_server.extraction.base import Extractor
from memfuse_server.layers.vectors import fact_vectors
from memfuse_server.models import EpisodeInput, Fact
from memfuse_server.storage.base import LayerStore


class FactLayer:
    """M1 of one episode; ``embedder`` is a background one (``MicroBatcher.background``)."""

    def __init__(self, extractor: Extractor, embedder: Embedder, store: LayerStore) -> None:
        self._extractor = extractor
        self._embedder = embedder
        self._store = store

    async def run(self, episode: EpisodeInput) -> Sequence[Fact]:
        """Extract, embed (``vectors.fact_vectors``: only what is new) and store the
        episode's facts; return them (M2 may use them)."""
        facts = await self._extractor.facts(episode)
        if facts:
            vectors = await fact_vectors(self._store, self._embedder, episode, facts)
            await self._store.save_facts(episode.user_id, facts, vectors, episode.messages)
        return facts


__all__ = ["FactLayer"]
