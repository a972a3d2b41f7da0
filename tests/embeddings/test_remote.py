"""The OpenAI-compatible embedder, against a real HTTP server on 127.0.0.1 (FakeLLMServer)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import numpy as np
import pytest
from pydantic import SecretStr

from memfuse_server.config import EmbeddingSettings
from memfuse_server.embeddings import MicroBatcher, Vectors, build_embedder
from memfuse_server.errors import EmbeddingUnavailable
from memfuse_server.testing import FakeLLMServer, Reply, fake_embedding
from tests.serverproc import free_port


def expected(texts: list[str], dimension: int = 8) -> Vectors:
    raw = np.array([fake_embedding(t, dimension) for t in texts], dtype=np.float32)
    unit: Vectors = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    return unit


def scaled_and_reversed(texts: list[str], dimension: int = 8) -> str:
    """An answer whose vectors are not unit length, listed in reverse ``index`` order."""
    data = [
        {"index": i, "embedding": [3.0 * x for x in fake_embedding(t, dimension)]}
        for i, t in enumerate(texts)
    ]
    return json.dumps({"object": "list", "data": data[::-1]})


async def test_vectors_come_back_in_order_and_normalised(
    fake: FakeLLMServer, remote_settings: EmbeddingSettings
) -> None:
    texts = ["alpha", "beta", "gamma", "delta"]
    fake.script(Reply(body=scaled_and_reversed(texts)))
    embedder = build_embedder(remote_settings)
    vectors = await embedder.embed(texts)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, expected(texts), atol=1e-6)
    [request] = fake.requests
    assert request.path == "/v1/embeddings"
    assert request.body == {"model": "test-embedder", "input": texts}
    assert "authorization" not in request.headers
    await embedder.aclose()


async def test_the_api_key_is_sent_as_a_bearer_token(
    fake: FakeLLMServer, remote_settings: EmbeddingSettings
) -> None:
    settings = remote_settings.model_copy(update={"api_key": SecretStr("sk-test")})
    embedder = build_embedder(settings)
    await embedder.embed(["hello"])
    assert fake.requests[0].headers["authorization"] == "Bearer sk-test"
    await embedder.aclose()


async def test_concurrent_calls_share_requests(
    fake: FakeLLMServer, remote_settings: EmbeddingSettings
) -> None:
    embedder = build_embedder(remote_settings.model_copy(update={"max_batch_size": 16}))
    texts = [f"message {i}" for i in range(40)]
    results = await asyncio.gather(*(embedder.embed([t]) for t in texts))
    assert len(fake.requests) <= 4  # 40 texts, at most 16 a request
    for text, vectors in zip(texts, results, strict=True):
        np.testing.assert_allclose(vectors, expected([text]), atol=1e-6)
    await embedder.aclose()


async def test_a_503_is_retried(fake: FakeLLMServer, remote_settings: EmbeddingSettings) -> None:
    fake.script(Reply(status=503, body="overloaded"), Reply(status=502))
    embedder = build_embedder(remote_settings)
    vectors = await embedder.embed(["retry me"])
    np.testing.assert_allclose(vectors, expected(["retry me"]), atol=1e-6)
    assert len(fake.requests) == 3
    await embedder.aclose()


async def test_a_429_waits_as_long_as_retry_after_says(
    fake: FakeLLMServer, remote_settings: EmbeddingSettings
) -> None:
    fake.script(Reply(status=429, retry_after=1))
    embedder = build_embedder(remote_settings)
    await embedder.embed(["slow down"])
    first, second = fake.requests
    assert 0.9 <= second.at - first.at < 3.0  # the backoff alone would be 0.01 s
    await embedder.aclose()


async def test_retry_after_as_an_http_date(
    fake: FakeLLMServer, remote_settings: EmbeddingSettings
) -> None:
    when = datetime.now(UTC) + timedelta(seconds=2)
    header = format_datetime(when, usegmt=True)
    fake.script(Reply(status=429, retry_after=header))
    embedder = build_embedder(remote_settings)
    await embedder.embed(["slow down"])
    first, second = fake.requests
    assert 0.5 <= second.at - first.at < 3.5  # the date has a one-second resolution
    await embedder.aclose()


async def test_a_timeout_is_retried(
    fake: FakeLLMServer, remote_settings: EmbeddingSettings
) -> None:
    fake.script(Reply(delay_seconds=1.0))
    embedder = build_embedder(remote_settings.model_copy(update={"timeout_seconds": 0.3}))
    vectors = await embedder.embed(["patience"])
    np.testing.assert_allclose(vectors, expected(["patience"]), atol=1e-6)
    assert len(fake.requests) == 2
    await embedder.aclose()


async def test_giving_up_after_max_retries(
    fake: FakeLLMServer, remote_settings: EmbeddingSettings
) -> None:
    fake.script(*[Reply(status=500, body="broken")] * 5)
    embedder = build_embedder(remote_settings.model_copy(update={"max_retries": 2}))
    with pytest.raises(EmbeddingUnavailable, match=r"failed 3 time\(s\).*HTTP 500: broken"):
        await embedder.embed(["doomed"])
    assert len(fake.requests) == 3
    await embedder.aclose()


async def test_a_client_error_is_not_retried(
    fake: FakeLLMServer, remote_settings: EmbeddingSettings
) -> None:
    fake.script(Reply(status=401, body='{"error": "bad key"}'))
    embedder = build_embedder(remote_settings)
    with pytest.raises(EmbeddingUnavailable, match=r"HTTP 401.*embedding.api_key"):
        await embedder.embed(["who am i"])
    assert len(fake.requests) == 1
    await embedder.aclose()


async def test_a_dimension_mismatch_is_a_clear_error(
    fake: FakeLLMServer, remote_settings: EmbeddingSettings
) -> None:
    fake.script(Reply(dimension=16))
    embedder = build_embedder(remote_settings)
    with pytest.raises(
        EmbeddingUnavailable, match=r"returns 16-dimensional vectors, but embedding.dimension is 8"
    ):
        await embedder.embed(["too wide"])
    await embedder.aclose()


async def test_a_body_that_is_not_openai_shaped(
    fake: FakeLLMServer, remote_settings: EmbeddingSettings
) -> None:
    fake.script(Reply(body='{"vectors": []}'))
    embedder = build_embedder(remote_settings)
    with pytest.raises(EmbeddingUnavailable, match="unexpected body"):
        await embedder.embed(["odd"])
    await embedder.aclose()


async def test_an_unreachable_service_fails_after_retries() -> None:
    settings = EmbeddingSettings(
        provider="openai",
        base_url=f"http://127.0.0.1:{free_port()}/v1",
        dimension=8,
        max_retries=1,
        retry_backoff_seconds=0.01,
    )
    embedder = build_embedder(settings)
    assert isinstance(embedder, MicroBatcher)
    started = time.monotonic()
    with pytest.raises(EmbeddingUnavailable, match=r"failed 2 time\(s\).*ConnectError"):
        await embedder.embed(["anyone?"])
    assert time.monotonic() - started < 5
    await embedder.aclose()
