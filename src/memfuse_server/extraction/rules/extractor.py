"""``RuleExtractor``: the offline extractor, an ``Extractor`` that needs no model."""

from __future__ import annotations

from collections.abc import Sequence

from memfuse_server.extraction.rules.analysis import analyse
from memfuse_server.extraction.rules.facts import build_facts
from memfuse_server.extraction.rules.graph import build_graph
from memfuse_server.models import EpisodeInput, Fact, Graph


class RuleExtractor:
    """Derives facts and a graph from one episode with fixed rules (see the package docs).

    Deterministic and cheap (about a millisecond for a five-message episode), so
    it runs inline on the event loop. It keeps no state between calls.
    """

    async def facts(self, episode: EpisodeInput) -> list[Fact]:
        return build_facts(analyse(episode))

    async def graph(self, episode: EpisodeInput, facts: Sequence[Fact] | None) -> Graph:
        # The graph is read from the same sentence analysis as the facts, so it is the
        # same whether or not the facts are given (parallel and sequential modes agree).
        return build_graph(analyse(episode))

    async def aclose(self) -> None:
        return None


__all__ = ["RuleExtractor"]
