"""Embeddings: texts to unit-length vectors, and token counts.

``build_embedder`` and ``build_token_counter`` are the only places a backend
is picked from ``EmbeddingSettings``:

=================  ==========  ===============================================
provider           backend     runs
=================  ==========  ===============================================
``local``          ``onnx``    ``OnnxEncoder``: BERT on onnxruntime (default)
``local``          ``numpy``   ``NumpyEncoder``: BERT in numpy alone
``local``          ``torch``   ``TorchEncoder``: sentence-transformers on torch
``openai``         (ignored)   ``RemoteEncoder``: ``POST {base_url}/embeddings``
=================  ==========  ===============================================

Each is wrapped in a ``MicroBatcher``, which coalesces concurrent calls, runs
the requests' texts before the background's (``MicroBatcher.background``), and
keeps blocking inference off the event loop. A local model runs in a child
process of its own (``embedding.isolation: process``, the default; see
``isolation.py``) or in a worker thread (``thread``). Token counts always come from the
local model's tokenizer (``embedding.model_path``).
"""

from __future__ import annotations

from memfuse_server.config import EmbeddingSettings
from memfuse_server.embeddings.base import Embedder, Encoder, TokenCounter, Vectors
from memfuse_server.embeddings.batcher import (
    BatchEncoder,
    BatcherStats,
    MicroBatcher,
    Priority,
    ThreadedEncoder,
)
from memfuse_server.embeddings.isolation import ProcessEncoder
from memfuse_server.embeddings.local import load_encoder, resolve_model_path
from memfuse_server.embeddings.remote import RemoteEncoder
from memfuse_server.embeddings.tokens import ModelTokenCounter


def build_embedder(settings: EmbeddingSettings) -> MicroBatcher:
    """The embedder ``settings`` describe, loaded and ready (call ``aclose`` at the end)."""
    backend: BatchEncoder
    if settings.provider == "openai":
        backend = RemoteEncoder(settings)
    elif settings.isolation == "process":
        backend = ProcessEncoder(settings)
    else:
        backend = ThreadedEncoder(load_encoder(settings))
    return MicroBatcher(
        backend,
        max_batch_size=settings.max_batch_size,
        background_batch_size=settings.background_batch_size,
    )


def build_token_counter(settings: EmbeddingSettings) -> TokenCounter:
    """Counts tokens with the tokenizer of the model in ``embedding.model_path``."""
    return ModelTokenCounter(resolve_model_path(settings.model_path))


__all__ = [
    "BatcherStats",
    "Embedder",
    "Encoder",
    "MicroBatcher",
    "Priority",
    "TokenCounter",
    "Vectors",
    "build_embedder",
    "build_token_counter",
]
