"""``RuleExtractor``: the offline extractor, an ``Extractor`` that needs no model."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Literal

from memfuse_server.extraction.rules.analysis import Analysis, analyse
from memfuse_server.extraction.rules.facts import build_facts
from memfuse_server.extraction.rules.graph import build_graph
from memfuse_server.models import EpisodeInput, Fact, Graph

Half = Literal["facts", "graph"]
KEEP = 64
"""Analyses kept at most while they wait for their episode's other half."""


class RuleExtractor:
    """Derives facts and a graph from one episode with fixed rules (see the package docs).

    Deterministic and cheap (about a millisecond for a five-message episode), so
    it runs inline on the event loop.

    Facts and graph are read from one analysis of the episode (``analysis.analyse``, most
    of the cost), and an episode is analysed once: the worker asks for its facts and its
    graph one after the other (either first, in the parallel mode), so the analysis made
    for the first is kept for the second and let go then. It is a pure function of the
    episode, which is the key it is kept by: an episode whose messages changed meanwhile
    is another key, analysed anew. At most ``KEEP`` analyses wait at once (the oldest go
    first), for callers that ask for one half only.
    """

    def __init__(self) -> None:
        self._waiting: OrderedDict[EpisodeInput, tuple[Analysis, Half]] = OrderedDict()
        self.analysed = 0
        """Episodes analysed so far."""

    def _analysis(self, episode: EpisodeInput, half: Half) -> Analysis:
        kept = self._waiting.pop(episode, None)
        if kept is not None and kept[1] != half:
            return kept[0]  # the other half had it: done with it
        if kept is None:
            kept = analyse(episode), half
            self.analysed += 1
        self._waiting[episode] = kept
        while len(self._waiting) > KEEP:
            self._waiting.popitem(last=False)
        return kept[0]

    async def facts(self, episode: EpisodeInput) -> list[Fact]:
        return build_facts(self._analysis(episode, "facts"))

    async def graph(self, episode: EpisodeInput, facts: Sequence[Fact] | None) -> Graph:
        # The graph is read from the same sentence analysis as the facts, so it is the
        # same whether or not the facts are given (parallel and sequential modes agree).
        return build_graph(self._analysis(episode, "graph"))

    async def aclose(self) -> None:
        self._waiting.clear()


__all__ = ["KEEP", "RuleExtractor"]
