"""Fixtures of the embedding tests: the bundled model, a loaded encoder, a fake service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from memfuse_server.config import EmbeddingSettings
from memfuse_server.embeddings.local import resolve_model_path
from memfuse_server.embeddings.numpy_minilm import BertEncoder, NumpyEncoder
from memfuse_server.embeddings.onnx_minilm import OnnxEncoder
from memfuse_server.testing import FakeLLMServer


@pytest.fixture(scope="session")
def model_dir() -> Path:
    return resolve_model_path("")


@pytest.fixture(scope="session")
def numpy_encoder(model_dir: Path) -> NumpyEncoder:
    return NumpyEncoder(model_dir, max_tokens=256, threads=1)


@pytest.fixture(scope="session")
def onnx_encoder(model_dir: Path) -> OnnxEncoder:
    return OnnxEncoder(model_dir, max_tokens=256, threads=1)


@pytest.fixture(params=["numpy", "onnx"])
def local_encoder(
    request: pytest.FixtureRequest, numpy_encoder: NumpyEncoder, onnx_encoder: OnnxEncoder
) -> BertEncoder:
    """Each local backend in turn (they share everything but the forward pass)."""
    return numpy_encoder if request.param == "numpy" else onnx_encoder


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(dimension=8) as server:
        yield server


@pytest.fixture
def remote_settings(fake: FakeLLMServer) -> EmbeddingSettings:
    return EmbeddingSettings(
        provider="openai",
        base_url=fake.base_url,
        dimension=fake.dimension,
        model="test-embedder",
        timeout_seconds=2.0,
        max_retries=3,
        retry_backoff_seconds=0.01,
    )
