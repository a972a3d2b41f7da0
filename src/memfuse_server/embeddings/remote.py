"""Embeddings from an OpenAI-compatible service (``embedding.provider: openai``).

``RemoteEncoder`` sends one batch per request, ``POST {base_url}/embeddings``
with ``{"model": ..., "input": [texts]}``, and is wrapped by the same
``MicroBatcher`` as the local model, so concurrent calls share requests.

Connection errors, timeouts, 429 and 5xx are retried up to
``embedding.max_retries`` times with exponential backoff from
``embedding.retry_backoff_seconds``, as ``memfuse_server.http_retry`` says (a
``Retry-After`` header, seconds or an HTTP date, replaces the backoff). Other
answers fail at once. Every failure is an ``EmbeddingUnavailable`` saying what
went wrong and what to check. Vectors come back in input order (sorted by
``index``), L2-normalised, and must have ``embedding.dimension`` components.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from memfuse_server.config import EmbeddingSettings
from memfuse_server.embeddings.base import Vectors
from memfuse_server.errors import EmbeddingUnavailable
from memfuse_server.http_retry import (
    RetryableError,
    RetryPolicy,
    excerpt,
    json_client,
    post_json,
)


class RemoteEncoder:
    """A ``BatchEncoder`` calling an OpenAI-compatible ``/embeddings`` endpoint."""

    def __init__(self, settings: EmbeddingSettings) -> None:
        self._url = settings.base_url.rstrip("/") + "/embeddings"
        self._client = json_client(settings.api_key.get_secret_value(), settings.timeout_seconds)
        self._model = settings.model
        self._dimension = settings.dimension
        self._retry = RetryPolicy(settings.max_retries, settings.retry_backoff_seconds)

    @property
    def dimension(self) -> int:
        return self._dimension

    async def encode_batch(self, texts: list[str]) -> Vectors:
        try:
            payload = await self._retry.run(lambda: self._post(texts))
        except RetryableError as exc:
            raise EmbeddingUnavailable(
                f"The embedding service at {self._url} failed {self._retry.attempts} time(s), "
                f"last with {exc}. Check that it is up and embedding.base_url is right."
            ) from exc
        return self._vectors(payload, len(texts))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _post(self, texts: list[str]) -> Any:
        body = {"model": self._model, "input": texts}
        response = await post_json(self._client, self._url, body)
        if response.is_error:
            raise EmbeddingUnavailable(
                f"The embedding service at {self._url} answered HTTP {response.status_code}: "
                f"{excerpt(response)}. Check embedding.api_key, embedding.model and "
                "embedding.base_url."
            )
        try:
            return response.json()
        except ValueError as exc:
            raise EmbeddingUnavailable(
                f"The embedding service at {self._url} answered with a body that is not JSON "
                f"({excerpt(response)}); embedding.base_url must point at an "
                "OpenAI-compatible API (ending in /v1)."
            ) from exc

    def _vectors(self, payload: Any, count: int) -> Vectors:
        try:
            items = sorted(payload["data"], key=lambda item: int(item["index"]))
            matrix = np.asarray([item["embedding"] for item in items], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbeddingUnavailable(
                f"The embedding service at {self._url} sent an unexpected body ({exc!r}); "
                'an OpenAI-compatible answer is {"data": [{"index": 0, "embedding": [...]}]}.'
            ) from exc
        if matrix.ndim != 2 or matrix.shape[0] != count:
            raise EmbeddingUnavailable(
                f"The embedding service at {self._url} returned {len(items)} embeddings "
                f"for {count} texts; it must return one per input text."
            )
        self._check_dimension(matrix.shape[1])
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix /= np.maximum(norms, np.float32(1e-12))
        return matrix

    def _check_dimension(self, got: int) -> None:
        if got != self._dimension:
            raise EmbeddingUnavailable(
                f"The embedding model {self._model!r} at {self._url} returns {got}-dimensional "
                f"vectors, but embedding.dimension is {self._dimension}. Set "
                f"embedding.dimension to {got} (vectors already stored must then be rebuilt), "
                f"or set embedding.model to a model with {self._dimension} dimensions."
            )


__all__ = ["RemoteEncoder"]
