"""The micro-batcher coalesces concurrent calls, splits big ones, isolates failures, and
runs the requests' texts before the background's."""

from __future__ import annotations

import asyncio
import threading
import zlib
from collections.abc import Sequence

import numpy as np
import pytest

from memfuse_server.embeddings.base import Vectors
from memfuse_server.embeddings.batcher import MicroBatcher, Priority, ThreadedEncoder
from memfuse_server.embeddings.numpy_minilm import NumpyEncoder
from memfuse_server.errors import EmbeddingUnavailable

DIM = 4


def row(text: str) -> Vectors:
    """The vector the test encoder gives ``text``: unit length, seeded by its CRC32."""
    v = np.random.default_rng(zlib.crc32(text.encode())).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


class RecordingEncoder:
    """A blocking encoder that records its batches and threads.

    While ``gate`` is clear, the first call blocks (after setting ``started``),
    so a test can queue calls behind a running batch. A batch holding
    ``"boom"`` raises.
    """

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.threads: set[str] = set()
        self.started = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    @property
    def dimension(self) -> int:
        return DIM

    def encode(self, texts: Sequence[str]) -> Vectors:
        self.batches.append(list(texts))
        self.threads.add(threading.current_thread().name)
        self.started.set()
        if not self.gate.wait(timeout=10):
            raise TimeoutError("the test never opened the gate")
        if "boom" in texts:
            raise RuntimeError("the model broke")
        return np.stack([row(t) for t in texts])


def hold(encoder: RecordingEncoder) -> None:
    encoder.gate.clear()


async def until_started(encoder: RecordingEncoder) -> None:
    assert await asyncio.to_thread(encoder.started.wait, 10)


async def test_an_idle_batcher_runs_a_call_alone_and_at_once() -> None:
    encoder = RecordingEncoder()
    batcher = MicroBatcher.for_encoder(encoder, max_batch_size=32)
    vectors = await asyncio.wait_for(batcher.embed(["hello", "world"]), timeout=5)
    np.testing.assert_array_equal(vectors, np.stack([row("hello"), row("world")]))
    assert encoder.batches == [["hello", "world"]]
    await batcher.aclose()


async def test_calls_queued_behind_a_batch_go_together_in_order() -> None:
    encoder = RecordingEncoder()
    batcher = MicroBatcher.for_encoder(encoder, max_batch_size=32)
    hold(encoder)
    first = asyncio.create_task(batcher.embed(["first"]))
    await until_started(encoder)
    texts = [[f"t{i}a", f"t{i}b"] for i in range(10)]
    waiting = [asyncio.create_task(batcher.embed(t)) for t in texts]
    await asyncio.sleep(0.01)
    encoder.gate.set()
    results = await asyncio.gather(*waiting)
    assert (await first).shape == (1, DIM)
    assert encoder.batches == [["first"], [t for pair in texts for t in pair]]
    for pair, vectors in zip(texts, results, strict=True):
        np.testing.assert_array_equal(vectors, np.stack([row(t) for t in pair]))
    await batcher.aclose()


async def test_many_concurrent_calls_need_few_encoder_calls() -> None:
    encoder = RecordingEncoder()
    batcher = MicroBatcher.for_encoder(encoder, max_batch_size=16)
    texts = [f"message {i}" for i in range(100)]
    results = await asyncio.gather(*(batcher.embed([t]) for t in texts))
    assert len(encoder.batches) <= 7  # 100 texts, at most 16 a batch
    assert [t for batch in encoder.batches for t in batch] == texts
    for text, vectors in zip(texts, results, strict=True):
        np.testing.assert_array_equal(vectors[0], row(text))
    assert batcher.stats.texts == 100
    await batcher.aclose()


async def test_a_call_larger_than_a_batch_is_split() -> None:
    encoder = RecordingEncoder()
    batcher = MicroBatcher.for_encoder(encoder, max_batch_size=32)
    texts = [f"line {i}" for i in range(70)]
    vectors = await batcher.embed(texts)
    assert [len(b) for b in encoder.batches] == [32, 32, 6]
    np.testing.assert_array_equal(vectors, np.stack([row(t) for t in texts]))
    await batcher.aclose()


async def test_a_failing_batch_fails_only_its_callers() -> None:
    encoder = RecordingEncoder()
    batcher = MicroBatcher.for_encoder(encoder, max_batch_size=2)
    hold(encoder)
    first = asyncio.create_task(batcher.embed(["x"]))
    await until_started(encoder)
    same_batch = asyncio.create_task(batcher.embed(["b"]))
    bad = asyncio.create_task(batcher.embed(["boom"]))
    later = asyncio.create_task(batcher.embed(["d1", "d2"]))
    await asyncio.sleep(0.01)
    encoder.gate.set()
    assert (await first).shape == (1, DIM)
    for task in (same_batch, bad):
        with pytest.raises(EmbeddingUnavailable, match="the model broke") as info:
            await task
        assert isinstance(info.value.__cause__, RuntimeError)
    np.testing.assert_array_equal(await later, np.stack([row("d1"), row("d2")]))
    assert encoder.batches == [["x"], ["b", "boom"], ["d1", "d2"]]
    np.testing.assert_array_equal(await batcher.embed(["after"]), row("after")[None])
    assert batcher.stats.failed_batches == 1
    await batcher.aclose()


async def test_encoding_runs_in_the_embedder_thread() -> None:
    encoder = RecordingEncoder()
    batcher = MicroBatcher.for_encoder(encoder, max_batch_size=8)
    await asyncio.gather(*(batcher.embed([f"t{i}"]) for i in range(20)))
    assert len(encoder.threads) == 1
    assert next(iter(encoder.threads)).startswith("embedder")
    assert threading.current_thread().name not in encoder.threads
    await batcher.aclose()


async def test_a_cancelled_call_is_skipped_and_others_still_answer() -> None:
    encoder = RecordingEncoder()
    batcher = MicroBatcher.for_encoder(encoder, max_batch_size=8)
    hold(encoder)
    first = asyncio.create_task(batcher.embed(["first"]))
    await until_started(encoder)
    gone = asyncio.create_task(batcher.embed(["gone"]))
    kept = asyncio.create_task(batcher.embed(["kept"]))
    await asyncio.sleep(0.01)
    gone.cancel()
    encoder.gate.set()
    await first
    np.testing.assert_array_equal(await kept, row("kept")[None])
    assert gone.cancelled()
    assert encoder.batches == [["first"], ["kept"]]
    await batcher.aclose()


@pytest.mark.parametrize("priority", list(Priority))
async def test_aclose_drains_the_queue_and_stops_the_thread(priority: Priority) -> None:
    encoder = RecordingEncoder()
    batcher = MicroBatcher.for_encoder(encoder, max_batch_size=4, background_batch_size=2)
    hold(encoder)
    calls = [asyncio.create_task(batcher.embed([f"t{i}"], priority)) for i in range(10)]
    await until_started(encoder)
    closing = asyncio.create_task(batcher.aclose())
    await asyncio.sleep(0.01)
    encoder.gate.set()
    await closing
    assert all(c.done() and not c.exception() for c in calls)
    assert encoder.threads.isdisjoint(t.name for t in threading.enumerate())
    with pytest.raises(EmbeddingUnavailable, match="closed"):
        await batcher.embed(["late"])
    await batcher.aclose()  # twice is fine


async def test_stats_count_batches_and_texts() -> None:
    encoder = RecordingEncoder()
    batcher = MicroBatcher.for_encoder(encoder, max_batch_size=32)
    assert batcher.stats.mean_batch_size == 0.0
    await batcher.embed(["a", "b", "c"])
    await batcher.embed(["d"])
    stats = batcher.stats
    assert (stats.batches, stats.texts, stats.last_batch_size) == (2, 4, 1)
    assert stats.mean_batch_size == 2.0
    await batcher.aclose()


async def test_empty_call_returns_an_empty_matrix() -> None:
    encoder = RecordingEncoder()
    batcher = MicroBatcher.for_encoder(encoder, max_batch_size=8)
    assert (await batcher.embed([])).shape == (0, DIM)
    assert encoder.batches == []
    await batcher.aclose()


async def test_concurrent_real_embeddings_equal_one_by_one(numpy_encoder: NumpyEncoder) -> None:
    texts = [f"Note {i}: " + "we talked about the trip to Lisbon " * (1 + i % 5) for i in range(24)]
    alone = [numpy_encoder.encode([t])[0] for t in texts]
    batcher = MicroBatcher.for_encoder(numpy_encoder, max_batch_size=8)
    results = await asyncio.gather(*(batcher.embed([t]) for t in texts))
    for expected, vectors in zip(alone, results, strict=True):
        np.testing.assert_allclose(vectors[0], expected, atol=1e-5)
    assert batcher.stats.batches < len(texts)
    await batcher.aclose()


async def test_a_request_waits_behind_one_background_batch_at_most() -> None:
    encoder = RecordingEncoder()
    batcher = MicroBatcher.for_encoder(encoder, max_batch_size=32, background_batch_size=3)
    hold(encoder)
    background = [
        asyncio.create_task(batcher.background.embed([f"bg{i}a", f"bg{i}b"])) for i in range(10)
    ]
    await until_started(encoder)
    request = asyncio.create_task(batcher.embed(["request"]))
    await asyncio.sleep(0.01)
    encoder.gate.set()
    np.testing.assert_array_equal(await request, row("request")[None])
    assert not all(task.done() for task in background)  # the request did not wait for them all
    await asyncio.gather(*background)
    assert encoder.batches[:2] == [["bg0a", "bg0b", "bg1a"], ["request"]]
    assert all(len(batch) <= 3 for batch in encoder.batches)
    assert [t for b in encoder.batches if b != ["request"] for t in b] == [
        f"bg{i}{s}" for i in range(10) for s in "ab"
    ]
    await batcher.aclose()


async def test_background_vectors_and_stats() -> None:
    encoder = RecordingEncoder()
    batcher = MicroBatcher.for_encoder(encoder, max_batch_size=32, background_batch_size=2)
    texts = ["a fact", "an entity", "a relation"]
    np.testing.assert_array_equal(
        await batcher.background.embed(texts), np.stack([row(t) for t in texts])
    )
    await batcher.embed(["request"])
    stats = batcher.stats
    assert (stats.batches, stats.texts) == (3, 4)
    assert (stats.background_batches, stats.background_texts) == (2, 3)
    assert stats.background_pending == 0
    assert batcher.background.dimension == DIM
    await batcher.background.aclose()  # a view: the batcher stays open
    assert (await batcher.embed(["still open"])).shape == (1, DIM)
    await batcher.aclose()


async def test_a_steady_stream_of_requests_does_not_starve_the_background() -> None:
    encoder = RecordingEncoder()
    batcher = MicroBatcher(
        ThreadedEncoder(encoder), max_batch_size=2, background_batch_size=1, background_every=2
    )
    hold(encoder)
    first = asyncio.create_task(batcher.embed(["first"]))
    await until_started(encoder)
    background = [asyncio.create_task(batcher.background.embed([f"bg{i}"])) for i in range(2)]
    requests = [asyncio.create_task(batcher.embed([f"r{i}"])) for i in range(8)]
    await asyncio.sleep(0.01)
    encoder.gate.set()
    await asyncio.gather(first, *background, *requests)
    assert encoder.batches == [
        ["first"], ["r0", "r1"], ["r2", "r3"], ["bg0"], ["r4", "r5"], ["r6", "r7"], ["bg1"]
    ]  # fmt: skip
    await batcher.aclose()


async def test_waits_are_observed_per_priority() -> None:
    encoder = RecordingEncoder()
    batcher = MicroBatcher.for_encoder(encoder, max_batch_size=8)
    waits: list[tuple[float, Priority]] = []
    batches: list[tuple[int, Priority]] = []
    batcher.wait_observer = lambda seconds, priority: waits.append((seconds, priority))
    batcher.observer = lambda size, seconds, priority: batches.append((size, priority))
    await batcher.embed(["a", "b"])
    await batcher.background.embed(["c"])
    assert [p for _, p in waits] == [Priority.FOREGROUND, Priority.BACKGROUND]
    assert all(seconds >= 0 for seconds, _ in waits)
    assert batches == [(2, Priority.FOREGROUND), (1, Priority.BACKGROUND)]
    await batcher.aclose()
