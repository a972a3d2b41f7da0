"""The seams of the embedding layer, in domain words.

An ``Embedder`` turns texts into unit-length float32 vectors, asynchronously;
the service only ever talks to one of these. An ``Encoder`` is the blocking
model underneath a local embedder (run off the event loop by the batcher).
A ``TokenCounter`` counts tokens with the model's own tokenizer (the round
window closes by that count).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
"""A ``(n, dimension)`` float32 matrix whose rows have L2 norm 1."""


class Embedder(Protocol):
    """Embeds texts; concurrent callers may be served by one batch."""

    @property
    def dimension(self) -> int: ...

    async def embed(self, texts: Sequence[str]) -> Vectors: ...

    async def aclose(self) -> None: ...


class Encoder(Protocol):
    """A blocking sentence encoder (a local model)."""

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> Vectors: ...


class TokenCounter(Protocol):
    """Counts tokens the way the embedding model does."""

    def count(self, text: str) -> int: ...
