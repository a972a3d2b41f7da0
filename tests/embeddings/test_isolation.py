"""The local model in a child process gives the same vectors as in a thread."""

from __future__ import annotations

import asyncio

import numpy as np

from memfuse_server.config import EmbeddingSettings
from memfuse_server.embeddings import build_embedder


async def test_process_and_thread_isolation_agree() -> None:
    texts = ["Maya signed up for the Porto marathon.", "Jonas plays the cello.", "ok"]
    results = []
    for isolation in ("process", "thread"):
        embedder = build_embedder(EmbeddingSettings(isolation=isolation))
        try:
            results.append(await embedder.embed(texts))
        finally:
            await embedder.aclose()
    assert results[0].shape == (3, 384)
    np.testing.assert_allclose(results[0], results[1], atol=1e-6)


async def test_the_child_process_ends_with_the_embedder() -> None:
    embedder = build_embedder(EmbeddingSettings(isolation="process"))
    process = embedder._backend._process  # type: ignore[attr-defined]
    assert process.is_alive()
    await embedder.aclose()
    assert not process.is_alive()


async def test_a_request_is_answered_while_a_long_background_queue_waits() -> None:
    """The child holds one batch at a time, so the requests' priority reaches the model."""
    embedder = build_embedder(EmbeddingSettings(isolation="process", background_batch_size=2))
    try:
        first_batch = asyncio.Event()
        embedder.observer = lambda size, seconds, priority: first_batch.set()
        backlog = [f"Fact {i}: Maya ran the Porto marathon in {2000 + i}." for i in range(300)]
        background = asyncio.create_task(embedder.background.embed(backlog))
        await asyncio.wait_for(first_batch.wait(), timeout=30)
        vectors = await embedder.embed(["What did Maya run?"])
        assert not background.done()
        assert embedder.stats.background_pending > 0
        assert vectors.shape == (1, 384)
        assert (await background).shape == (300, 384)
    finally:
        await embedder.aclose()
