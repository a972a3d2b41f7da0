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
    embedder = build_embedder(EmbeddingSettings())
    assert isinstance(embedder, MicroBatcher)
    assert embedder.dimension == 384
    text = json.loads((DATA / "reference.json").read_text(encoding="utf-8"))[0]
    vectors = await embedder.embed([text])
    np.testing.assert_allclose(vectors[0], np.load(DATA / "reference.npy")[0], atol=1e-5)
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
    settings = load_settings(environ={"MEMFUSE_EMBEDDING__BACKEND": backend}).embedding
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
