"""M2 relational memory: the episode's entities and relations, stored as a graph.

Entities and relations are written as two independent writes (a relation names
its endpoints and creates any it does not find), so they go out concurrently
where the backend allows it, each failure reported by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from memfuse_server.embeddings.base import Embedder
from memfuse_server.extraction.base import Extractor
from memfuse_server.fanout import run_all
from memfuse_server.layers.texts import degenerate, entity_text, relation_text
from memfuse_server.layers.vectors import vectors_for
from memfuse_server.models import EpisodeInput, Fact, Graph
from memfuse_server.storage.base import LayerStore


def without_degenerate(graph: Graph) -> Graph:
    """The graph less the relations that say nothing (``texts.degenerate``)."""
    kept = tuple(r for r in graph.relations if not degenerate(r.subject, r.predicate, r.object))
    return graph if len(kept) == len(graph.relations) else replace(graph, relations=kept)


class GraphLayer:
    """M2 of one episode; ``embedder`` is a background one (``MicroBatcher.background``)."""

    def __init__(
        self,
        extractor: Extractor,
        embedder: Embedder,
        store: LayerStore,
        parallel_writes: bool = True,
    ) -> None:
        self._extractor = extractor
        self._embedder = embedder
        self._store = store
        self._parallel_writes = parallel_writes

    async def run(self, episode: EpisodeInput, facts: Sequence[Fact] | None) -> Graph:
        graph = without_degenerate(await self._extractor.graph(episode, facts))
        if not graph.entities and not graph.relations:
            return graph
        texts = [entity_text(e) for e in graph.entities] + [
            relation_text(r.subject, r.predicate, r.object) for r in graph.relations
        ]
        user, read = episode.user_id, episode.messages  # what was read: see LayerStore
        stored = await self._store.stored_vectors(user, [*graph.entities, *graph.relations])
        vectors = await vectors_for(self._embedder, texts, stored)
        split = len(graph.entities)
        await run_all(
            {
                "entities": lambda: self._store.save_entities(
                    user, graph.entities, vectors[:split], read
                ),
                "relations": lambda: self._store.save_relations(
                    user, graph.relations, vectors[split:], read
                ),
            },
            parallel=self._parallel_writes,
        )
        return graph


__all__ = ["GraphLayer", "without_degenerate"]
