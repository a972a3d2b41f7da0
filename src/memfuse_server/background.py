"""The background side of the server: the episode pipeline behind the job worker.

``Background`` is what ``memfuse-server serve`` runs beside the API (unless
``worker.enabled`` is false / ``--no-worker``) and what ``memfuse-server
worker`` runs alone: the worker claims ``process_episode`` jobs and hands each
to the pipeline; between jobs it closes idle round windows and purges old
finished jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import structlog

from memfuse_server.config import Settings
from memfuse_server.embeddings.base import Embedder
from memfuse_server.embeddings.batcher import background_view
from memfuse_server.extraction import build_extractor
from memfuse_server.extraction.base import Extractor
from memfuse_server.jobs.worker import Worker
from memfuse_server.layers.m1 import FactLayer
from memfuse_server.layers.m2 import GraphLayer
from memfuse_server.models import Job, LayerTimings, ProcessKind, utcnow
from memfuse_server.pipeline import EpisodePipeline
from memfuse_server.storage import background_store
from memfuse_server.storage.base import Store

log = structlog.get_logger(__name__)

PROCESS_EPISODE = "process_episode"


class Background:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        embedder: Embedder,
        extractor: Extractor,
        kind: ProcessKind = ProcessKind.SERVE,
    ) -> None:
        self.settings = settings
        self.store = store
        self.extractor = extractor
        self.pipeline = EpisodePipeline(
            store,
            FactLayer(extractor, embedder, store),
            GraphLayer(
                extractor, embedder, store, parallel_writes=settings.storage.parallel_writes
            ),
            parallel=settings.memory.parallel_enabled,
        )
        self.on_timings: Callable[[LayerTimings], None] = lambda timings: None  # metrics hook
        self.worker = Worker(
            store,
            self.handle,
            settings.worker,
            self.housekeeping,
            settings.buffer.sweep_interval_seconds,
            kind=kind,
        )

    async def handle(self, job: Job) -> LayerTimings | None:
        if job.kind != PROCESS_EPISODE:
            raise ValueError(f"unknown job kind {job.kind!r}")
        timings = await self.pipeline.process(str(job.payload["episode_id"]))
        if timings is not None:
            self.on_timings(timings)
        return timings

    async def housekeeping(self) -> None:
        idle_since = utcnow() - timedelta(seconds=self.settings.buffer.idle_seconds)
        closed = await self.store.close_idle_windows(idle_since)
        if closed:
            log.info("idle windows closed", count=closed)
            self.worker.wake()
        await self.store.purge_done_jobs(self.settings.worker.keep_done_seconds)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Background]:
        """Run the worker until the block exits; then let its jobs finish."""
        stop = asyncio.Event()
        task = asyncio.create_task(self.worker.run(stop), name="worker")
        try:
            yield self
        finally:
            stop.set()
            await task
            await self.extractor.aclose()


def build_background(
    settings: Settings, store: Store, embedder: Embedder, kind: ProcessKind = ProcessKind.SERVE
) -> Background:
    """The background over ``store``'s and ``embedder``'s background views: its writes and its
    texts wait for the requests'. ``kind``: the process it runs in (part of its worker's
    identity)."""
    extractor = build_extractor(settings.extraction)
    views = background_store(store), background_view(embedder)
    return Background(settings, *views, extractor, kind)


__all__ = ["Background", "build_background"]
