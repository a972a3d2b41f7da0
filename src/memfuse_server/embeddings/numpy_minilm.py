"""A torch-free BERT sentence encoder (all-MiniLM-L6-v2) in numpy.

It reads ``model.safetensors`` and ``tokenizer.json`` of a sentence-transformers
model folder and reproduces ``SentenceTransformer.encode(...,
normalize_embeddings=True)``: BERT forward pass, mean pooling over the
attention mask, L2 normalisation. Everything is float32.

Where the time goes, and what keeps it low:

* the three attention projections are one GEMM (weights fused at load, the
  ``1/sqrt(head_dim)`` scale folded into the query part);
* attention runs on ``(batch, heads, tokens, head_dim)`` views with batched
  ``matmul``, no Python loop over heads or tokens;
* a batch is sorted by length and encoded in length buckets, so short texts
  are not padded to the longest one;
* the feed-forward block runs in row chunks that stay in the CPU cache, and
  its exact (erf) GELU uses Abramowitz-Stegun 7.1.26 (error below 1.5e-7);
* BLAS threads are limited to ``threads`` (threadpoolctl) for each call.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file
from threadpoolctl import ThreadpoolController

from memfuse_server.embeddings.base import Vectors
from memfuse_server.embeddings.tokens import load_tokenizer
from memfuse_server.errors import ConfigurationError

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"

# The fixed cost of one more length bucket, in tokens of compute (measured:
# a forward pass over one row costs about as much as 16 more padded tokens).
_BUCKET_COST_TOKENS = 16.0
# Upper bound of batch * tokens * tokens in one bucket (attention scores memory).
_MAX_SCORE_CELLS = 1 << 19
# Rows of the feed-forward block computed at once (keeps them in L2 cache).
_FFN_CHUNK_ROWS = 128
# Abramowitz-Stegun 7.1.26, halved: 0.5 * erfc(z) = poly(t) * exp(-z*z).
_AS_P = 0.3275911 / math.sqrt(2.0)
_AS_HALF = (0.127414796, -0.142248368, 0.7107068705, -0.7265760135, 0.5307027145)


@dataclass(frozen=True)
class BertConfig:
    """The few numbers of a BERT ``config.json`` the forward pass needs."""

    hidden: int
    heads: int
    layers: int
    eps: float
    max_positions: int

    @classmethod
    def from_file(cls, path: Path) -> BertConfig:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                hidden=int(data["hidden_size"]),
                heads=int(data["num_attention_heads"]),
                layers=int(data["num_hidden_layers"]),
                eps=float(data.get("layer_norm_eps", 1e-12)),
                max_positions=int(data.get("max_position_embeddings", 512)),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(
                f"Cannot read the BERT config {path}: {exc!r}. "
                "Set embedding.model_path to a sentence-transformers BERT model folder."
            ) from exc

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


@dataclass(frozen=True)
class _Layer:
    qkv_w: F32  # (hidden, 3 * hidden), input-major; query columns pre-scaled
    qkv_b: F32
    out_w: F32
    out_b: F32
    ln1_w: F32
    ln1_b: F32
    up_w: F32
    up_b: F32
    down_w: F32
    down_b: F32
    ln2_w: F32
    ln2_b: F32


@dataclass(frozen=True)
class BertWeights:
    """The weights, laid out for ``x @ w`` on row-major activations."""

    config: BertConfig
    word: F32
    position: F32  # position embeddings plus the token-type-0 embedding
    ln_w: F32
    ln_b: F32
    layers: tuple[_Layer, ...]


def _tensor(tensors: dict[str, npt.NDArray[np.generic]], name: str) -> F32:
    for key in (name, f"bert.{name}"):
        if key in tensors:
            return np.ascontiguousarray(tensors[key], dtype=np.float32)
    raise ConfigurationError(
        f"The model weights have no tensor {name!r}; "
        "embedding.model_path must hold a BERT sentence-transformers model."
    )


def _linear_t(tensors: dict[str, npt.NDArray[np.generic]], name: str) -> F32:
    """A torch ``Linear`` weight ``(out, in)`` as a row-major ``(in, out)`` matrix."""
    return np.ascontiguousarray(_tensor(tensors, f"{name}.weight").T)


def _load_layer(
    tensors: dict[str, npt.NDArray[np.generic]], index: int, config: BertConfig
) -> _Layer:
    p = f"encoder.layer.{index}."
    scale = np.float32(1.0 / math.sqrt(config.head_dim))
    names = ("query", "key", "value")
    qkv_w = np.concatenate([_linear_t(tensors, f"{p}attention.self.{n}") for n in names], axis=1)
    qkv_b = np.concatenate([_tensor(tensors, f"{p}attention.self.{n}.bias") for n in names])
    qkv_w[:, : config.hidden] *= scale
    qkv_b[: config.hidden] *= scale
    return _Layer(
        qkv_w=np.ascontiguousarray(qkv_w),
        qkv_b=qkv_b,
        out_w=_linear_t(tensors, f"{p}attention.output.dense"),
        out_b=_tensor(tensors, f"{p}attention.output.dense.bias"),
        ln1_w=_tensor(tensors, f"{p}attention.output.LayerNorm.weight"),
        ln1_b=_tensor(tensors, f"{p}attention.output.LayerNorm.bias"),
        up_w=_linear_t(tensors, f"{p}intermediate.dense"),
        up_b=_tensor(tensors, f"{p}intermediate.dense.bias"),
        down_w=_linear_t(tensors, f"{p}output.dense"),
        down_b=_tensor(tensors, f"{p}output.dense.bias"),
        ln2_w=_tensor(tensors, f"{p}output.LayerNorm.weight"),
        ln2_b=_tensor(tensors, f"{p}output.LayerNorm.bias"),
    )


def load_weights(model_dir: Path) -> BertWeights:
    """Read ``config.json`` and ``model.safetensors`` of a BERT model folder."""
    config = BertConfig.from_file(model_dir / CONFIG_FILE)
    path = model_dir / WEIGHTS_FILE
    try:
        tensors: dict[str, npt.NDArray[np.generic]] = load_file(str(path))
    except Exception as exc:  # safetensors raises its own untyped errors
        raise ConfigurationError(
            f"Cannot read the model weights {path}: {exc}. "
            "Set embedding.model_path to a folder holding model.safetensors."
        ) from exc
    position = _tensor(tensors, "embeddings.position_embeddings.weight")
    position = position + _tensor(tensors, "embeddings.token_type_embeddings.weight")[0]
    return BertWeights(
        config=config,
        word=_tensor(tensors, "embeddings.word_embeddings.weight"),
        position=np.ascontiguousarray(position),
        ln_w=_tensor(tensors, "embeddings.LayerNorm.weight"),
        ln_b=_tensor(tensors, "embeddings.LayerNorm.bias"),
        layers=tuple(_load_layer(tensors, i, config) for i in range(config.layers)),
    )


def _layer_norm(x: F32, weight: F32, bias: F32, eps: float) -> F32:
    """LayerNorm over the last axis, in place."""
    x -= x.mean(axis=-1, keepdims=True)
    var = np.einsum("ij,ij->i", x, x)[:, None]
    var *= np.float32(1.0 / x.shape[-1])
    var += np.float32(eps)
    np.sqrt(var, out=var)
    x /= var
    x *= weight
    x += bias
    return x


def gelu_(h: F32) -> F32:
    """Exact (erf) GELU, in place: ``h * Phi(h)`` with ``Phi`` the normal CDF.

    With ``a = |h|`` and ``r = erfc(a / sqrt 2) / 2`` (Abramowitz-Stegun
    7.1.26, absolute error below 1.5e-7): ``h * Phi(h) = h / 2 - a * (r - 1/2)``.
    """
    a = np.abs(h)
    t = a * np.float32(_AS_P)
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    r = np.square(a)
    r *= np.float32(-0.5)
    np.exp(r, out=r)
    c1, c2, c3, c4, c5 = (np.float32(c) for c in _AS_HALF)
    poly = t * c5
    for c in (c4, c3, c2, c1):
        poly += c
        poly *= t
    r *= poly
    r -= np.float32(0.5)
    r *= a
    h *= np.float32(0.5)
    h -= r
    return h


def _softmax_(scores: F32) -> F32:
    """Softmax over the last axis, in place."""
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    return scores


def length_buckets(lengths: I64) -> list[I64]:
    """Row indices split into groups of similar length, at the least cost.

    A group is padded to its longest row. Its cost, in tokens, is
    ``_BUCKET_COST_TOKENS + rows * longest``: padding costs compute, and each
    extra group costs a pass over all the weights. The rows are sorted by
    length and cut where the total cost is lowest (dynamic programming);
    a group's attention scores stay within ``_MAX_SCORE_CELLS``.
    """
    order = np.argsort(lengths, kind="stable")
    longest = lengths[order].astype(np.float64)
    best = np.zeros(len(order) + 1)
    cut = np.zeros(len(order) + 1, dtype=np.int64)
    for end in range(1, len(order) + 1):
        rows = np.arange(end, 0, -1, dtype=np.float64)  # rows of a group starting at i
        cost = best[:end] + _BUCKET_COST_TOKENS + rows * longest[end - 1]
        cost[(rows > 1) & (rows * longest[end - 1] ** 2 > _MAX_SCORE_CELLS)] = np.inf
        cut[end] = int(np.argmin(cost))
        best[end] = cost[cut[end]]
    buckets: list[I64] = []
    end = len(order)
    while end > 0:
        buckets.append(order[cut[end] : end])
        end = int(cut[end])
    return buckets[::-1]


class BertForward:
    """The forward pass and mean pooling over one padded batch."""

    def __init__(self, weights: BertWeights) -> None:
        self._w = weights
        self._c = weights.config

    def __call__(self, ids: I64, mask: F32) -> F32:
        """Unit-length sentence vectors of ``ids`` (``(batch, tokens)``)."""
        batch, tokens = ids.shape
        x = self._w.word[ids.reshape(-1)]
        np.add(
            x.reshape(batch, tokens, -1),
            self._w.position[:tokens],
            out=x.reshape(batch, tokens, -1),
        )
        x = _layer_norm(x, self._w.ln_w, self._w.ln_b, self._c.eps)
        bias = ((mask - np.float32(1.0)) * np.float32(1e9))[:, None, None, :]
        for layer in self._w.layers:
            x = self._attention(x, layer, bias, batch)
            x = self._feed_forward(x, layer)
        return mean_pool(x.reshape(batch, tokens, -1), mask)

    def _attention(self, x: F32, layer: _Layer, bias: F32, batch: int) -> F32:
        c = self._c
        tokens = x.shape[0] // batch
        qkv = x @ layer.qkv_w
        qkv += layer.qkv_b
        q, k, v = qkv.reshape(batch, tokens, 3, c.heads, c.head_dim).transpose(2, 0, 3, 1, 4)
        scores = q @ k.swapaxes(-1, -2)
        scores += bias
        context = _softmax_(scores) @ v
        merged = context.transpose(0, 2, 1, 3).reshape(batch * tokens, c.hidden)
        out = merged @ layer.out_w
        out += layer.out_b
        out += x
        return _layer_norm(out, layer.ln1_w, layer.ln1_b, c.eps)

    def _feed_forward(self, x: F32, layer: _Layer) -> F32:
        out = np.empty_like(x)
        for start in range(0, x.shape[0], _FFN_CHUNK_ROWS):
            rows = slice(start, start + _FFN_CHUNK_ROWS)
            h = x[rows] @ layer.up_w
            h += layer.up_b
            np.matmul(gelu_(h), layer.down_w, out=out[rows])
        out += layer.down_b
        out += x
        return _layer_norm(out, layer.ln2_w, layer.ln2_b, self._c.eps)


def mean_pool(hidden: F32, mask: F32) -> F32:
    summed: F32 = np.matmul(mask[:, None, :], hidden)[:, 0, :]
    summed /= np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1e-9))
    norms = np.linalg.norm(summed, axis=1, keepdims=True)
    summed /= np.maximum(norms, np.float32(1e-12))
    return summed


Forward = Callable[[I64, F32], F32]  # (ids, mask) of one padded batch -> unit vectors


class BertEncoder:
    """A blocking ``Encoder`` for BERT sentence-transformers models over a ``Forward``.

    Tokenizes, encodes in length buckets (``length_buckets``) and keeps the input order; the
    forward pass (numpy here, onnxruntime in ``onnx_minilm``) is the subclass's. Calls are not
    meant to overlap: the batcher runs them one at a time.
    """

    def __init__(
        self, model_dir: Path, forward: Forward, weights: BertWeights, max_tokens: int
    ) -> None:
        if max_tokens > weights.config.max_positions:
            raise ConfigurationError(
                f"embedding.max_tokens is {max_tokens}, but the model knows only "
                f"{weights.config.max_positions} positions; lower embedding.max_tokens."
            )
        self._forward = forward
        self._dimension = weights.config.hidden
        self._tokenizer = load_tokenizer(model_dir, max_tokens=max_tokens)

    @property
    def dimension(self) -> int:
        return self._dimension

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.empty((0, self._dimension), dtype=np.float32)
        with self._limits():
            return self._encode(list(texts))

    def _limits(self) -> AbstractContextManager[object]:
        """What bounds the threads of one call (nothing here)."""
        return nullcontext()

    def _encode(self, texts: list[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        lengths = mask.sum(axis=1).astype(np.int64)
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        for rows in length_buckets(lengths):
            tokens = int(lengths[rows[-1]])
            out[rows] = self._forward(ids[rows, :tokens], mask[rows, :tokens])
        return out


class NumpyEncoder(BertEncoder):
    """The forward pass in numpy, torch-free; ``threads`` limits BLAS threads in each call."""

    def __init__(self, model_dir: Path, *, max_tokens: int = 256, threads: int = 1) -> None:
        weights = load_weights(model_dir)
        super().__init__(model_dir, BertForward(weights), weights, max_tokens)
        self._threads = threads
        self._blas = ThreadpoolController()

    def _limits(self) -> AbstractContextManager[object]:
        limits: AbstractContextManager[object] = self._blas.limit(
            limits=self._threads, user_api="blas"
        )
        return limits


__all__ = [
    "BertConfig",
    "BertEncoder",
    "BertForward",
    "BertWeights",
    "Forward",
    "NumpyEncoder",
    "gelu_",
    "length_buckets",
    "load_weights",
    "mean_pool",
]
