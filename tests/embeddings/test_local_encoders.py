"""The local encoders (numpy, onnxruntime) reproduce sentence-transformers all-MiniLM-L6-v2."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from memfuse_server.embeddings.numpy_minilm import BertEncoder, NumpyEncoder, gelu_, length_buckets
from memfuse_server.embeddings.onnx_minilm import OnnxEncoder
from memfuse_server.errors import ConfigurationError

DATA = Path(__file__).parent / "data"
TEXTS: list[str] = json.loads((DATA / "reference.json").read_text(encoding="utf-8"))
REFERENCE = np.load(DATA / "reference.npy")  # from data/make_reference.py, torch 2.13.0


def test_one_by_one_matches_sentence_transformers(local_encoder: BertEncoder) -> None:
    for text, expected in zip(TEXTS, REFERENCE, strict=True):
        np.testing.assert_allclose(local_encoder.encode([text])[0], expected, atol=1e-5)


def test_a_batch_matches_sentence_transformers(local_encoder: BertEncoder) -> None:
    vectors = local_encoder.encode(TEXTS)
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(vectors, REFERENCE, atol=1e-5)


def test_order_of_a_batch_is_kept(local_encoder: BertEncoder) -> None:
    order = [7, 0, 4, 2, 6, 1, 5, 3]
    vectors = local_encoder.encode([TEXTS[i] for i in order])
    np.testing.assert_allclose(vectors, REFERENCE[order], atol=1e-5)


def test_vectors_have_unit_length(local_encoder: BertEncoder) -> None:
    norms = np.linalg.norm(local_encoder.encode(TEXTS), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_similar_sentences_score_higher_than_unrelated(local_encoder: BertEncoder) -> None:
    query, close, far = local_encoder.encode(
        [
            "Where did Caroline live before she moved?",
            "Caroline moved here from Sweden four years ago.",
            "The quarterly budget review is scheduled for Tuesday.",
        ]
    )
    assert float(query @ close) > float(query @ far) + 0.2


def test_empty_input_gives_an_empty_matrix(local_encoder: BertEncoder) -> None:
    assert local_encoder.encode([]).shape == (0, 384)


def test_dimension(local_encoder: BertEncoder) -> None:
    assert local_encoder.dimension == 384


def test_gelu_is_the_exact_erf_gelu() -> None:
    x = np.linspace(-12, 12, 20001, dtype=np.float32)
    expected = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x.tolist()])
    np.testing.assert_allclose(gelu_(x.copy()), expected, atol=5e-7)


def test_length_buckets_cover_every_row_once() -> None:
    lengths = np.array([30, 9, 31, 120, 10, 29, 8, 118, 32, 11], dtype=np.int64)
    buckets = length_buckets(lengths)
    rows = np.concatenate(buckets)
    assert sorted(rows.tolist()) == list(range(len(lengths)))
    longest = [int(lengths[b].max()) for b in buckets]
    assert longest == sorted(longest)
    assert len(buckets) == 3  # the short, the middle and the long ones


def test_equal_lengths_make_one_bucket() -> None:
    assert len(length_buckets(np.full(32, 40, dtype=np.int64))) == 1


@pytest.mark.parametrize("kind", [NumpyEncoder, OnnxEncoder])
def test_more_tokens_than_the_model_has_positions_is_refused(
    model_dir: Path, kind: type[BertEncoder]
) -> None:
    with pytest.raises(ConfigurationError, match=r"max_tokens"):
        kind(model_dir, max_tokens=1024)  # type: ignore[call-arg]


@pytest.mark.parametrize("kind", [NumpyEncoder, OnnxEncoder])
def test_a_folder_without_weights_is_refused(tmp_path: Path, kind: type[BertEncoder]) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigurationError, match=r"config"):
        kind(tmp_path)  # type: ignore[call-arg]


def test_the_backends_agree_on_long_and_short_texts_mixed(
    numpy_encoder: NumpyEncoder, onnx_encoder: OnnxEncoder
) -> None:
    texts = [*TEXTS, " ".join(TEXTS) * 3, "ok", "", "Café 東京 🚀 naïve"]
    np.testing.assert_allclose(onnx_encoder.encode(texts), numpy_encoder.encode(texts), atol=1e-5)
