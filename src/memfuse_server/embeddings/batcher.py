"""Micro-batching: concurrent ``embed`` calls share one model call.

``MicroBatcher`` is the ``Embedder`` the service talks to, whatever runs the
model underneath. It holds a queue of callers and one runner task:

* when the model is idle, a call starts a batch at once (no waiting delay);
* while a batch runs, new calls queue up and go together in the next batch,
  up to ``max_batch_size`` texts (a larger call is split over batches);
* each caller gets its own rows back, in its own order;
* a failing batch fails only its callers, with ``EmbeddingUnavailable``.

The model sits behind a ``BatchEncoder``: one awaitable call per batch.
``ThreadedEncoder`` adapts a blocking local ``Encoder`` by running it in one
dedicated worker thread (the only place model inference runs, never on the
event loop); ``remote.RemoteEncoder`` calls an HTTP service.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from memfuse_server.embeddings.base import Encoder, Vectors
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


@dataclass(frozen=True)
class BatcherStats:
    """Counters of a ``MicroBatcher`` since it started."""

    batches: int = 0
    """Batches encoded successfully."""
    texts: int = 0
    """Texts embedded (in successful batches)."""
    failed_batches: int = 0
    last_batch_size: int = 0

    @property
    def mean_batch_size(self) -> float:
        return self.texts / self.batches if self.batches else 0.0


@dataclass(eq=False)
class _Request:
    """One ``embed`` call: its texts, its result rows and its future."""

    texts: list[str]
    out: Vectors
    future: asyncio.Future[Vectors]
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
    """An ``Embedder`` that coalesces concurrent calls into batches."""

    def __init__(self, backend: BatchEncoder, *, max_batch_size: int) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        self._backend = backend
        self._max_batch_size = max_batch_size
        self._queue: deque[_Request] = deque()
        self._runner: asyncio.Task[None] | None = None
        self._closed = False
        self._backend_closed = False
        self._stats = BatcherStats()
        self.observer: Callable[[int, float], None] | None = None
        """Called with (texts, seconds) after each successful batch (metrics hook)."""

    @classmethod
    def for_encoder(cls, encoder: Encoder, *, max_batch_size: int) -> MicroBatcher:
        """Batch a blocking local encoder, run in its own worker thread."""
        return cls(ThreadedEncoder(encoder), max_batch_size=max_batch_size)

    @property
    def dimension(self) -> int:
        return self._backend.dimension

    @property
    def stats(self) -> BatcherStats:
        return self._stats

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if self._closed:
            raise EmbeddingUnavailable(
                "The embedder is closed (the server is shutting down); retry."
            )
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        loop = asyncio.get_running_loop()
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        request = _Request(list(texts), out, loop.create_future())
        self._queue.append(request)
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
            while self._queue:
                parts = self._take_batch()
                if parts:
                    await self._run_batch(parts)
        finally:
            self._runner = None
            if self._queue:  # only when this task was cancelled
                _fail(self._queue, _STOPPED, None)
                self._queue.clear()

    def _take_batch(self) -> list[_Part]:
        parts: list[_Part] = []
        room = self._max_batch_size
        while self._queue and room > 0:
            request = self._queue[0]
            if request.future.done():  # cancelled by its caller, or failed
                self._queue.popleft()
                continue
            stop = min(len(request.texts), request.sent + room)
            parts.append(_Part(request, request.sent, stop))
            room -= stop - request.sent
            request.sent = stop
            if stop == len(request.texts):
                self._queue.popleft()
        return parts

    async def _run_batch(self, parts: list[_Part]) -> None:
        texts = [text for part in parts for text in part.texts]
        started = time.perf_counter()
        try:
            vectors = await self._backend.encode_batch(texts)
            self._check_shape(vectors, len(texts))
        except asyncio.CancelledError:
            _fail({part.request for part in parts}, _STOPPED, None)
            raise
        except Exception as exc:  # any backend failure fails this batch's callers only
            self._count(failed=len(texts))
            _fail({part.request for part in parts}, _describe(exc), exc)
            return
        self._count(done=len(texts))
        if self.observer is not None:
            self.observer(len(texts), time.perf_counter() - started)
        row = 0
        for part in parts:
            part.request.deliver(part.start, vectors[row : row + part.stop - part.start])
            row += part.stop - part.start

    def _check_shape(self, vectors: Vectors, count: int) -> None:
        expected = (count, self.dimension)
        if vectors.shape != expected:
            raise ValueError(f"the encoder returned shape {vectors.shape}, expected {expected}")

    def _count(self, *, done: int = 0, failed: int = 0) -> None:
        s = self._stats
        self._stats = BatcherStats(
            batches=s.batches + (1 if done else 0),
            texts=s.texts + done,
            failed_batches=s.failed_batches + (1 if failed else 0),
            last_batch_size=done or failed,
        )


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


__all__ = ["BatchEncoder", "BatcherStats", "MicroBatcher", "ThreadedEncoder"]
