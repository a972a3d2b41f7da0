"""build_embedder picks the backend the settings name, and refuses settings that cannot work."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from memfuse_server.config import EmbeddingSettings, load_settings
from memfuse_server.embeddings import MicroBatcher, build_embedder
from memfuse_server.errors import ConfigurationError

DATA = Path(__file__).parent / "data"


async def test_the_default_is_the_bundled_model_on_onnxruntime() -> None:
    assert EmbeddingSettings().backend == "onnx"
    assert EmbeddingSettings().precision == "auto"  # int8 on onnx
    embedder = build_embedder(EmbeddingSettings())
    assert isinstance(embedder, MicroBatcher)
    assert embedder.dimension == 384
    text = json.loads((DATA / "reference.json").read_text(encoding="utf-8"))[0]
    vectors = await embedder.embed([text])
    assert float(vectors[0] @ np.load(DATA / "reference.npy")[0]) > 0.97
    await embedder.aclose()


def test_the_model_gets_two_threads_unless_there_is_one_core() -> None:
    assert EmbeddingSettings().threads == min(2, os.cpu_count() or 1)
    assert load_settings(environ={"MEMFUSE_EMBEDDING__THREADS": "1"}).embedding.threads == 1


def test_settings_come_from_the_environment() -> None:
    settings = load_settings(environ={"MEMFUSE_EMBEDDING__RETRY_BACKOFF_SECONDS": "0.25"})
    assert settings.embedding.retry_backoff_seconds == 0.25


def test_a_dimension_other_than_the_model_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"set embedding.dimension to 384"):
        build_embedder(EmbeddingSettings(dimension=768))


def test_a_missing_model_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"lacks config.json, model.safetensors"):
        build_embedder(EmbeddingSettings(model_path=str(tmp_path)))


@pytest.mark.parametrize("backend", ["onnx", "numpy"])
async def test_each_local_backend_can_be_chosen(backend: str) -> None:
    environ = {"MEMFUSE_EMBEDDING__BACKEND": backend, "MEMFUSE_EMBEDDING__PRECISION": "float32"}
    settings = load_settings(environ=environ).embedding
    assert settings.backend == backend
    embedder = build_embedder(settings)
    text = json.loads((DATA / "reference.json").read_text(encoding="utf-8"))[0]
    vectors = await embedder.embed([text])
    np.testing.assert_allclose(vectors[0], np.load(DATA / "reference.npy")[0], atol=1e-5)
    await embedder.aclose()


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"'onnx', 'numpy' or 'torch'"):
        load_settings(environ={"MEMFUSE_EMBEDDING__BACKEND": "tensorflow"})


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed")
def test_the_torch_backend_without_torch_says_how_to_install_it() -> None:
    with pytest.raises(
        ConfigurationError, match=r"pip install torch==2\.13\.0 sentence-transformers"
    ):
        build_embedder(EmbeddingSettings(backend="torch"))


def nearest(vectors: np.ndarray) -> np.ndarray:
    """Each row's most similar other row."""
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -1)
    return scores.argmax(axis=1)


async def test_int8_precision_is_close_to_float32_and_ranks_alike() -> None:
    settings = load_settings(environ={"MEMFUSE_EMBEDDING__PRECISION": "int8"}).embedding
    texts = json.loads((DATA / "reference.json").read_text(encoding="utf-8"))
    reference = np.load(DATA / "reference.npy")
    embedder = build_embedder(settings)
    try:
        vectors = await embedder.embed(texts)
    finally:
        await embedder.aclose()
    assert vectors.shape == reference.shape
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.min(np.sum(vectors * reference, axis=1)) > 0.97  # cosine to the float32 vector
    assert not np.allclose(vectors, reference, atol=1e-4)  # it is another model
    assert (nearest(vectors) == nearest(reference)).all()  # the same neighbours


def test_int8_needs_the_onnx_backend() -> None:
    with pytest.raises(ConfigurationError, match=r"precision int8 needs embedding.backend onnx"):
        build_embedder(EmbeddingSettings(backend="numpy", precision="int8"))
