"""Micro-batching: concurrent ``embed`` calls share one model call, requests first.

``MicroBatcher`` is the ``Embedder`` the service talks to, whatever runs the
model underneath. It holds two queues of callers, foreground (the requests:
adds, queries, knowledge) and background (the layers derived by the worker,
through the ``background`` view), and one runner task:

* when the model is idle, a call starts a batch at once (no waiting delay);
* while a batch runs, new calls queue up and go together in the next batch,
  up to ``max_batch_size`` texts (a larger call is split over batches);
* foreground texts go first: a batch is made of foreground texts whenever any
  wait. Background texts run only in batches of their own, of at most
  ``background_batch_size`` texts, one model call at a time, so a foreground
  text waits behind at most one (small) background batch;
* so that the background is never starved by a steady stream of requests, one
  background batch goes after every ``background_every`` foreground batches
  while background texts wait (the same bound holds for the requests);
* each caller gets its own rows back, in its own order;
* a failing batch fails only its callers, with ``EmbeddingUnavailable``.

Batches are not mixed: on a CPU the model's cost grows with the texts of a
batch (``docs/architecture.md``, Embeddings), so a background text added to a
request's batch would be paid for by the request.

The model sits behind a ``BatchEncoder``: one awaitable call per batch.
``ThreadedEncoder`` adapts a blocking local ``Encoder`` by running it in one
dedicated worker thread (the only place model inference runs, never on the
event loop); ``remote.RemoteEncoder`` calls an HTTP service.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from memfuse_server.embeddings.base import Embedder, Encoder, Vectors
from memfuse_server.errors import EmbeddingUnavailable

THREAD_NAME_PREFIX = "embedder"
_STOPPED = "The embedder stopped before this request was embedded; retry."


class BatchEncoder(Protocol):
    """Encodes one batch per awaited call; owns whatever it runs on."""

    @property
    def dimension(self) -> int: ...

    async def encode_batch(self, texts: list[str]) -> Vectors: ...

    async def aclose(self) -> None: ...


class ThreadedEncoder:
    """A blocking ``Encoder`` run in one dedicated worker thread."""

    def __init__(self, encoder: Encoder) -> None:
        self._encoder = encoder
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=THREAD_NAME_PREFIX)

    @property
    def dimension(self) -> int:
        return self._encoder.dimension

    async def encode_batch(self, texts: list[str]) -> Vectors:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._encoder.encode, texts)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._executor.shutdown, wait=True)


class Priority(enum.Enum):
    """Whose texts these are: a request's (first) or the background's (what is left)."""

    FOREGROUND = "foreground"
    BACKGROUND = "background"


@dataclass(frozen=True)
class BatcherStats:
    """Counters of a ``MicroBatcher`` since it started."""

    batches: int = 0
    """Batches encoded successfully."""
    texts: int = 0
    """Texts embedded (in successful batches)."""
    failed_batches: int = 0
    last_batch_size: int = 0
    background_batches: int = 0
    """Of ``batches``, those of background texts."""
    background_texts: int = 0
    """Of ``texts``, the background's."""
    background_pending: int = 0
    """Background texts waiting now."""

    @property
    def mean_batch_size(self) -> float:
        return self.texts / self.batches if self.batches else 0.0


BatchObserver = Callable[[int, float, Priority], None]
"""Called with (texts, seconds, priority) after each successful batch (a metrics hook)."""
WaitObserver = Callable[[float, Priority], None]
"""Called with (seconds, priority) when a call's first texts start, after queueing."""


@dataclass(eq=False)
class _Request:
    """One ``embed`` call: its texts, its result rows and its future."""

    texts: list[str]
    out: Vectors
    future: asyncio.Future[Vectors]
    queued_at: float
    sent: int = 0
    filled: int = 0

    def deliver(self, start: int, rows: Vectors) -> None:
        if self.future.done():  # the caller gave up, or another part failed
            return
        self.out[start : start + len(rows)] = rows
        self.filled += len(rows)
        if self.filled == len(self.texts):
            self.future.set_result(self.out)

    def fail(self, error: EmbeddingUnavailable) -> None:
        if not self.future.done():
            self.future.set_exception(error)


@dataclass(frozen=True)
class _Part:
    """A slice of one request's texts inside a batch."""

    request: _Request
    start: int
    stop: int

    @property
    def texts(self) -> list[str]:
        return self.request.texts[self.start : self.stop]


class MicroBatcher:
    """An ``Embedder`` that coalesces concurrent calls into batches, requests first."""

    def __init__(
        self,
        backend: BatchEncoder,
        *,
        max_batch_size: int,
        background_batch_size: int = 1,
        background_every: int = 4,
    ) -> None:
        if min(max_batch_size, background_batch_size, background_every) < 1:
            raise ValueError("batch sizes and background_every must be at least 1")
        self._backend = backend
        self._sizes = {
            Priority.FOREGROUND: max_batch_size,
            Priority.BACKGROUND: background_batch_size,
        }
        self._background_every = background_every
        self._streak = 0  # foreground batches in a row while background texts waited
        self._queues: dict[Priority, deque[_Request]] = {p: deque() for p in Priority}
        self._runner: asyncio.Task[None] | None = None
        self._closed = False
        self._backend_closed = False
        self._stats = BatcherStats()
        self.background = BackgroundEmbedder(self)
        """The view background work embeds through (its texts go after the requests')."""
        self.observer: BatchObserver | None = None
        self.wait_observer: WaitObserver | None = None

    @classmethod
    def for_encoder(
        cls, encoder: Encoder, *, max_batch_size: int, background_batch_size: int = 1
    ) -> MicroBatcher:
        """Batch a blocking local encoder, run in its own worker thread."""
        return cls(
            ThreadedEncoder(encoder),
            max_batch_size=max_batch_size,
            background_batch_size=background_batch_size,
        )

    @property
    def dimension(self) -> int:
        return self._backend.dimension

    @property
    def stats(self) -> BatcherStats:
        pending = sum(len(r.texts) - r.sent for r in self._queues[Priority.BACKGROUND])
        return replace(self._stats, background_pending=pending)

    async def embed(
        self, texts: Sequence[str], priority: Priority = Priority.FOREGROUND
    ) -> Vectors:
        if self._closed:
            raise EmbeddingUnavailable(
                "The embedder is closed (the server is shutting down); retry."
            )
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        loop = asyncio.get_running_loop()
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        request = _Request(list(texts), out, loop.create_future(), time.perf_counter())
        self._queues[priority].append(request)
        if self._runner is None:
            self._runner = loop.create_task(self._run(), name="embedder-batcher")
        return await request.future

    async def aclose(self) -> None:
        """Finish the queued calls, then release the backend (its thread or client)."""
        self._closed = True
        if self._runner is not None:
            await self._runner
        if not self._backend_closed:
            self._backend_closed = True
            await self._backend.aclose()

    async def _run(self) -> None:
        try:
            while any(self._queues.values()):
                priority = self._next_priority()
                parts = self._take_batch(priority)
                if parts:
                    await self._run_batch(parts, priority)
        finally:
            self._runner = None
            for queue in self._queues.values():  # not empty only when this task was cancelled
                _fail(queue, _STOPPED, None)
                queue.clear()

    def _next_priority(self) -> Priority:
        """Foreground while its texts wait, but the background's turn comes every so often."""
        waiting = _live(self._queues[Priority.BACKGROUND])
        if not _live(self._queues[Priority.FOREGROUND]):
            self._streak = 0
            return Priority.BACKGROUND
        if waiting and self._streak >= self._background_every:
            self._streak = 0
            return Priority.BACKGROUND
        self._streak = self._streak + 1 if waiting else 0
        return Priority.FOREGROUND

    def _take_batch(self, priority: Priority) -> list[_Part]:
        queue, parts, room = self._queues[priority], [], self._sizes[priority]
        now = time.perf_counter()
        while queue and room > 0:
            request = queue[0]
            if request.future.done():  # cancelled by its caller, or failed
                queue.popleft()
                continue
            if request.sent == 0 and self.wait_observer is not None:
                self.wait_observer(now - request.queued_at, priority)
            stop = min(len(request.texts), request.sent + room)
            parts.append(_Part(request, request.sent, stop))
            room -= stop - request.sent
            request.sent = stop
            if stop == len(request.texts):
                queue.popleft()
        return parts

    async def _run_batch(self, parts: list[_Part], priority: Priority) -> None:
        texts = [text for part in parts for text in part.texts]
        started = time.perf_counter()
        try:
            vectors = await self._backend.encode_batch(texts)
            self._check_shape(vectors, len(texts))
        except asyncio.CancelledError:
            _fail({part.request for part in parts}, _STOPPED, None)
            raise
        except Exception as exc:  # any backend failure fails this batch's callers only
            self._count(priority, failed=len(texts))
            _fail({part.request for part in parts}, _describe(exc), exc)
            return
        self._count(priority, done=len(texts))
        if self.observer is not None:
            self.observer(len(texts), time.perf_counter() - started, priority)
        row = 0
        for part in parts:
            part.request.deliver(part.start, vectors[row : row + part.stop - part.start])
            row += part.stop - part.start

    def _check_shape(self, vectors: Vectors, count: int) -> None:
        expected = (count, self.dimension)
        if vectors.shape != expected:
            raise ValueError(f"the encoder returned shape {vectors.shape}, expected {expected}")

    def _count(self, priority: Priority, *, done: int = 0, failed: int = 0) -> None:
        s = self._stats
        background = priority is Priority.BACKGROUND and done > 0
        self._stats = replace(
            s,
            batches=s.batches + (1 if done else 0),
            texts=s.texts + done,
            failed_batches=s.failed_batches + (1 if failed else 0),
            last_batch_size=done or failed,
            background_batches=s.background_batches + (1 if background else 0),
            background_texts=s.background_texts + (done if background else 0),
        )


class BackgroundEmbedder:
    """An ``Embedder`` over a ``MicroBatcher`` whose texts wait for the requests' (its view)."""

    def __init__(self, batcher: MicroBatcher) -> None:
        self._batcher = batcher

    @property
    def dimension(self) -> int:
        return self._batcher.dimension

    async def embed(self, texts: Sequence[str]) -> Vectors:
        return await self._batcher.embed(texts, Priority.BACKGROUND)

    async def aclose(self) -> None:
        """Nothing to release: the batcher's owner closes it."""


def background_view(embedder: Embedder) -> Embedder:
    """What background work embeds through: a batcher's background view (else ``embedder``)."""
    return embedder.background if isinstance(embedder, MicroBatcher) else embedder


def _live(queue: deque[_Request]) -> bool:
    """Whether a caller in ``queue`` still waits (cancelled ones at its head are dropped)."""
    while queue and queue[0].future.done():
        queue.popleft()
    return bool(queue)


def _describe(exc: Exception) -> str:
    if isinstance(exc, EmbeddingUnavailable):
        return exc.message
    return (
        f"The embedding model failed on a batch ({type(exc).__name__}: {exc}); "
        "the request can be retried."
    )


def _fail(requests: Iterable[_Request], message: str, cause: Exception | None) -> None:
    for request in requests:
        error = EmbeddingUnavailable(message)  # one instance per caller: tracebacks stay apart
        error.__cause__ = cause
        request.fail(error)


__all__ = [
    "BackgroundEmbedder",
    "BatchEncoder",
    "BatchObserver",
    "BatcherStats",
    "MicroBatcher",
    "Priority",
    "ThreadedEncoder",
    "WaitObserver",
    "background_view",
]
