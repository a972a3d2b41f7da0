"""The model's own tokenizer: loading it, and counting tokens with it.

The bundled ``tokenizer.json`` of all-MiniLM-L6-v2 carries its own padding and
truncation (to 128 tokens), which is not what sentence-transformers does (it
truncates at the model's ``max_seq_length``, 256). ``load_tokenizer`` therefore
always sets both explicitly.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer

from memfuse_server.errors import ConfigurationError

TOKENIZER_FILE = "tokenizer.json"


def load_tokenizer(model_dir: Path, *, max_tokens: int | None) -> Tokenizer:
    """The tokenizer of the model in ``model_dir``.

    With ``max_tokens`` it pads to the longest text of a batch and truncates
    at ``max_tokens`` (special tokens included), as the encoder needs; with
    ``None`` it neither pads nor truncates, as counting needs.
    """
    path = model_dir / TOKENIZER_FILE
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # the Rust side raises a bare Exception
        raise ConfigurationError(
            f"Cannot load the tokenizer {path}: {exc}. "
            "Set embedding.model_path to a sentence-transformers model folder."
        ) from exc
    if max_tokens is None:
        tokenizer.no_padding()
        tokenizer.no_truncation()
    else:
        tokenizer.enable_padding()
        tokenizer.enable_truncation(max_tokens)
    return tokenizer


class ModelTokenCounter:
    """Counts tokens as the embedding model sees them, special tokens excluded.

    Nothing is truncated, so a long text counts in full. ``count`` is cheap
    (a Rust call, no padding) and is safe on the request path.
    """

    def __init__(self, model_dir: Path) -> None:
        self._tokenizer = load_tokenizer(model_dir, max_tokens=None)

    def count(self, text: str) -> int:
        if not text:
            return 0
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        return len(encoding.ids)


__all__ = ["TOKENIZER_FILE", "ModelTokenCounter", "load_tokenizer"]
