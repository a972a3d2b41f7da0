"""Fixtures of the embedding tests: the bundled model, a loaded encoder, a stub server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from memfuse_server.config import EmbeddingSettings
from memfuse_server.embeddings.local import resolve_model_path
from memfuse_server.embeddings.numpy_minilm import NumpyEncoder
from tests.embeddings.openai_stub import OpenAIStub


@pytest.fixture(scope="session")
def model_dir() -> Path:
    return resolve_model_path("")


@pytest.fixture(scope="session")
def numpy_encoder(model_dir: Path) -> NumpyEncoder:
    return NumpyEncoder(model_dir, max_tokens=256, threads=1)


@pytest.fixture
def openai_stub() -> Iterator[OpenAIStub]:
    stub = OpenAIStub(dimension=8)
    stub.start()
    yield stub
    stub.stop()


@pytest.fixture
def remote_settings(openai_stub: OpenAIStub) -> EmbeddingSettings:
    return EmbeddingSettings(
        provider="openai",
        base_url=openai_stub.base_url,
        dimension=openai_stub.dimension,
        model="test-embedder",
        timeout_seconds=2.0,
        max_retries=3,
        retry_backoff_seconds=0.01,
    )
