"""process_episode: derive M1 and M2 from one closed episode, in parallel or in sequence.

``memory.parallel_enabled`` (YAML) or ``MEMFUSE_PARALLEL_ENABLED`` (env) picks
the mode. Parallel: ``asyncio.gather(M1, M2)``, M2 working from the messages.
Sequential: M1, then M2 given M1's facts. Either way both layers are attempted
and every failure is reported by name; the writes are idempotent, so a retried
job changes nothing that already went through.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from memfuse_server.fanout import run_all
from memfuse_server.layers.m1 import FactLayer
from memfuse_server.layers.m2 import GraphLayer
from memfuse_server.models import EpisodeInput, LayerTimings
from memfuse_server.storage.base import LayerStore

log = structlog.get_logger(__name__)
T = TypeVar("T")


async def _timed(step: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    start = time.perf_counter()
    result = await step()
    return result, (time.perf_counter() - start) * 1000


class EpisodePipeline:
    def __init__(self, store: LayerStore, m1: FactLayer, m2: GraphLayer, *, parallel: bool) -> None:
        self._store = store
        self._m1 = m1
        self._m2 = m2
        self.parallel = parallel

    @property
    def mode(self) -> str:
        return "parallel" if self.parallel else "sequential"

    async def process(self, episode_id: str) -> LayerTimings | None:
        """Derive the episode's facts and graph; None when the episode no longer exists."""
        episode = await self._store.episode_input(episode_id)
        if episode is None or not episode.messages:
            return None
        if self.parallel:
            return await self._parallel(episode)
        return await self._sequential(episode)

    async def _parallel(self, episode: EpisodeInput) -> LayerTimings:
        results = await run_all(
            {
                "m1": lambda: _timed(lambda: self._m1.run(episode)),
                "m2": lambda: _timed(lambda: self._m2.run(episode, None)),
            }
        )
        return LayerTimings(self.mode, results["m1"][1], results["m2"][1])

    async def _sequential(self, episode: EpisodeInput) -> LayerTimings:
        m1_error: Exception | None = None
        facts = None
        m1_ms = 0.0
        try:
            facts, m1_ms = await _timed(lambda: self._m1.run(episode))
        except Exception as exc:  # M2 still runs; the failure is reported below
            m1_error = exc
        _, m2_ms = await _timed(lambda: self._m2.run(episode, facts))
        if m1_error is not None:
            raise m1_error
        return LayerTimings(self.mode, m1_ms, m2_ms)


__all__ = ["EpisodePipeline"]
