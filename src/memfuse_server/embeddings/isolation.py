"""The local model in a child process of its own.

Inference is CPU-bound, with Python between the kernels (numpy's or onnxruntime's). Run
in a thread of the server process it competes with the event loop and the
SQLite threads for the GIL, and loses a quarter of its throughput under load.
In a child process it has a core to itself: the server sends a batch of
texts down a pipe and gets the vectors back (a 32 x 384 batch is 48 KB).

The child loads the model once and serves batches until the pipe closes
(including when the server is killed: the read end sees EOF and it exits).

The child holds one batch at a time: the server sends the next batch when the
last one has come back (the micro-batcher awaits each), so nothing queues in the
pipe or in the child, and the order the batcher picks (the requests' texts
first, the background's in small batches between them) is the order the model
runs them in.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection

from memfuse_server.config import EmbeddingSettings
from memfuse_server.embeddings.base import Vectors
from memfuse_server.errors import ConfigurationError, EmbeddingUnavailable


def _serve(settings: EmbeddingSettings, conn: Connection) -> None:
    """The child's whole life: load the model, then answer batches until EOF or None."""
    from memfuse_server.embeddings.local import load_encoder

    try:
        encoder = load_encoder(settings)
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", encoder.dimension))
    while True:
        try:
            texts = conn.recv()
        except (EOFError, OSError):
            return
        if texts is None:
            return
        try:
            conn.send(("ok", encoder.encode(texts)))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Start the child with Ctrl-C ignored (an ignored signal stays ignored across exec).

    A terminal's Ctrl-C reaches the whole process group; the server stops the child
    itself, through the pipe, so the child must not die of it with a traceback.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may change handlers; a thread's Ctrl-C is the server's
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class ProcessEncoder:
    """A ``BatchEncoder`` whose model runs in a dedicated child process."""

    def __init__(self, settings: EmbeddingSettings) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(settings, child), name="memfuse-embedder", daemon=True
        )
        with _sigint_ignored():
            self._process.start()
        child.close()
        kind, value = self._conn.recv()
        if kind != "ready":
            self._process.join(timeout=5)
            raise ConfigurationError(f"The embedding model could not be loaded: {value}")
        self._dimension = int(value)
        # One thread waits on the pipe, so the event loop never blocks on it.
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder-pipe")

    @property
    def dimension(self) -> int:
        return self._dimension

    def _roundtrip(self, texts: list[str]) -> Vectors:
        try:
            self._conn.send(texts)
            kind, value = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise EmbeddingUnavailable(
                "The embedding process has stopped; restart the server."
            ) from exc
        if kind != "ok":
            raise EmbeddingUnavailable(f"The embedding model failed: {value}")
        vectors: Vectors = value
        return vectors

    async def encode_batch(self, texts: list[str]) -> Vectors:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io, self._roundtrip, texts)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        self._io.shutdown(wait=True)
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(None)  # the child may be gone already
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)
        self._conn.close()


__all__ = ["ProcessEncoder"]
