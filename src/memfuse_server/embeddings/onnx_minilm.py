"""The BERT sentence encoder on onnxruntime: the same model, about 1.5x as fast as numpy.

The ONNX graph is built here, in memory, from the weights ``numpy_minilm.load_weights`` reads
(``model.safetensors``, with the attention projections fused and the query pre-scaled): no
exported model file, no torch, nothing downloaded. It computes the last hidden state; mean
pooling and normalisation are ``numpy_minilm.mean_pool``, so both backends share everything
but the forward pass (and agree to ~1e-7).

``int8=True`` (``embedding.precision: int8``) quantises the graph's weight matrices to int8
with onnxruntime's dynamic quantisation (per output channel; activations are quantised on the
fly), in memory at start like the graph itself: nothing is downloaded or stored.

onnxruntime runs the graph with its own kernels (fused LayerNorm and GELU, packed GEMMs) on
``threads`` intra-op threads that do not spin while idle. Measured on the project's machine
(``benchmarks/embedder.py``, one thread each): one message in 11.1 ms instead of 16.6, and
1.3-1.5x numpy's throughput in batches of 1 to 32.
"""

from __future__ import annotations

import contextlib
import logging
import math
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

from memfuse_server.embeddings.numpy_minilm import (
    F32,
    I64,
    BertEncoder,
    BertWeights,
    load_weights,
    mean_pool,
)

OPSET = 17  # LayerNormalization is an operator from 17 on
IR_VERSION = 8  # what onnxruntime of every supported version reads


@dataclass
class _Graph:
    """Nodes and initializers of the graph being built; each ``op`` returns its output name."""

    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)

    def const(self, name: str, value: npt.ArrayLike, dtype: type = np.float32) -> str:
        array: npt.NDArray[np.generic] = np.asarray(value, dtype=dtype)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, kind: str, *inputs: str, **attributes: Any) -> str:
        output = f"{kind.lower()}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(kind, list(inputs), [output], **attributes))
        return output

    def linear(self, x: str, weight: str, bias: str) -> str:
        return self.op("Add", self.op("MatMul", x, weight), bias)

    def layer_norm(self, x: str, weight: str, bias: str, eps: float) -> str:
        return self.op("LayerNormalization", x, weight, bias, axis=-1, epsilon=eps)


def build_model(weights: BertWeights) -> onnx.ModelProto:
    """The ONNX graph of the BERT encoder: ``(ids, mask) -> hidden`` of ``(batch, tokens, h)``."""
    c = weights.config
    g = _Graph()
    i64 = np.int64
    zero, one, two, three = (
        g.const(n, [v], i64) for n, v in (("0", 0), ("1", 1), ("2", 2), ("3", 3))
    )
    heads_shape = g.const("heads_shape", [0, 0, 3, c.heads, c.head_dim], i64)
    merged_shape = g.const("merged_shape", [0, 0, c.hidden], i64)

    tokens = g.op("Slice", g.op("Shape", "ids"), one, two)
    x = g.op("Gather", g.const("word", weights.word), "ids")
    x = g.op("Add", x, g.op("Slice", g.const("position", weights.position), zero, tokens, zero))
    x = g.layer_norm(x, g.const("ln_w", weights.ln_w), g.const("ln_b", weights.ln_b), c.eps)
    # Padding gets -1e9 before the softmax: (mask - 1) * 1e9, shaped (batch, 1, 1, tokens).
    bias = g.op("Mul", g.op("Sub", "mask", g.const("f_one", 1.0)), g.const("f_big", 1e9))
    bias = g.op("Unsqueeze", bias, g.const("axes_1_2", [1, 2], i64))
    half, root2, f_one = g.const("f_half", 0.5), g.const("f_root2", math.sqrt(2.0)), "f_one"

    for n, layer in enumerate(weights.layers):
        w = {name: g.const(f"l{n}.{name}", getattr(layer, name)) for name in _LAYER_TENSORS}
        qkv = g.linear(x, w["qkv_w"], w["qkv_b"])
        qkv = g.op("Transpose", g.op("Reshape", qkv, heads_shape), perm=[2, 0, 3, 1, 4])
        q, k, v = (
            g.op("Squeeze", g.op("Slice", qkv, lo, hi, zero), zero)
            for lo, hi in ((zero, one), (one, two), (two, three))
        )
        scores = g.op("Add", g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2])), bias)
        context = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        context = g.op("Reshape", g.op("Transpose", context, perm=[0, 2, 1, 3]), merged_shape)
        x = g.op("Add", g.linear(context, w["out_w"], w["out_b"]), x)
        x = g.layer_norm(x, w["ln1_w"], w["ln1_b"], c.eps)
        h = g.linear(x, w["up_w"], w["up_b"])
        # exact GELU, h * (1 + erf(h / sqrt 2)) / 2 (onnxruntime fuses it into one kernel)
        h = g.op(
            "Mul", g.op("Mul", h, half), g.op("Add", g.op("Erf", g.op("Div", h, root2)), f_one)
        )
        x = g.op("Add", g.linear(h, w["down_w"], w["down_b"]), x)
        x = g.layer_norm(x, w["ln2_w"], w["ln2_b"], c.eps)

    g.nodes.append(helper.make_node("Identity", [x], ["hidden"]))
    graph = helper.make_graph(
        g.nodes,
        "bert_encoder",
        [
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "tokens", c.hidden])],
        g.initializers,
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )


_LAYER_TENSORS = (
    "qkv_w", "qkv_b", "out_w", "out_b", "ln1_w", "ln1_b",
    "up_w", "up_b", "down_w", "down_b", "ln2_w", "ln2_b",
)  # fmt: skip


def quantize(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with int8 weights in its matrix products (dynamic quantisation, per channel).

    onnxruntime writes the result to a file; it is read back from a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="memfuse-int8-") as folder, _quiet_root_log():
        path = Path(folder) / "int8.onnx"
        quantize_dynamic(model, path, per_channel=True, weight_type=QuantType.QInt8)
        return onnx.load(path)


@contextlib.contextmanager
def _quiet_root_log() -> Iterator[None]:
    """onnxruntime's quantiser advises pre-processing on the root logger; the graph is built
    fused already (``build_model``), so the advice is noise in the server's log."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def open_session(model: onnx.ModelProto, threads: int) -> ort.InferenceSession:
    """An onnxruntime CPU session with ``threads`` intra-op threads that sleep when idle."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


class OnnxForward:
    """One padded batch through the session, then mean pooling: unit-length vectors."""

    def __init__(self, session: ort.InferenceSession) -> None:
        self._session = session

    def __call__(self, ids: I64, mask: F32) -> F32:
        hidden: F32 = self._session.run(["hidden"], {"ids": ids, "mask": mask})[0]
        return mean_pool(hidden, mask)


class OnnxEncoder(BertEncoder):
    """The encoder on onnxruntime (``embedding.backend: onnx``, the default)."""

    def __init__(
        self, model_dir: Path, *, max_tokens: int = 256, threads: int = 1, int8: bool = False
    ) -> None:
        weights = load_weights(model_dir)
        model = build_model(weights)
        session = open_session(quantize(model) if int8 else model, threads)
        super().__init__(model_dir, OnnxForward(session), weights, max_tokens)


__all__ = ["OnnxEncoder", "build_model", "open_session", "quantize"]
