"""Embeddings from an OpenAI-compatible service (``embedding.provider: openai``).

``RemoteEncoder`` sends one batch per request, ``POST {base_url}/embeddings``
with ``{"model": ..., "input": [texts]}``, and is wrapped by the same
``MicroBatcher`` as the local model, so concurrent calls share requests.

Connection errors, timeouts, 429 and 5xx are retried up to
``embedding.max_retries`` times with exponential backoff from
``embedding.retry_backoff_seconds``; a ``Retry-After`` header (seconds or an
HTTP date) replaces the backoff, up to ``MAX_RETRY_AFTER_SECONDS``. Other
answers fail at once. Every failure is an ``EmbeddingUnavailable`` saying what
went wrong and what to check. Vectors come back in input order (sorted by
``index``), L2-normalised, and must have ``embedding.dimension`` components.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import numpy as np
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from memfuse_server.config import EmbeddingSettings
from memfuse_server.embeddings.base import Vectors
from memfuse_server.errors import EmbeddingUnavailable

MAX_RETRY_AFTER_SECONDS = 60.0
MAX_BACKOFF_SECONDS = 30.0
_BODY_EXCERPT = 300


class _Retryable(Exception):
    """A failure worth another attempt (network, timeout, 429, 5xx)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class RemoteEncoder:
    """A ``BatchEncoder`` calling an OpenAI-compatible ``/embeddings`` endpoint."""

    def __init__(self, settings: EmbeddingSettings) -> None:
        api_key = settings.api_key.get_secret_value()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._url = settings.base_url.rstrip("/") + "/embeddings"
        self._client = httpx.AsyncClient(headers=headers, timeout=settings.timeout_seconds)
        self._model = settings.model
        self._dimension = settings.dimension
        self._attempts = settings.max_retries + 1
        self._backoff = settings.retry_backoff_seconds

    @property
    def dimension(self) -> int:
        return self._dimension

    async def encode_batch(self, texts: list[str]) -> Vectors:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    payload = await self._post(texts)
        except _Retryable as exc:
            raise EmbeddingUnavailable(
                f"The embedding service at {self._url} failed {self._attempts} time(s), "
                f"last with {exc}. Check that it is up and embedding.base_url is right."
            ) from exc
        return self._vectors(payload, len(texts))

    async def aclose(self) -> None:
        await self._client.aclose()

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, _Retryable) and error.retry_after is not None:
            return min(error.retry_after, MAX_RETRY_AFTER_SECONDS)
        backoff: float = self._backoff * 2.0 ** (state.attempt_number - 1)
        return min(backoff, MAX_BACKOFF_SECONDS)

    async def _post(self, texts: list[str]) -> Any:
        try:
            response = await self._client.post(
                self._url, json={"model": self._model, "input": texts}
            )
        except httpx.TransportError as exc:  # connection errors and timeouts
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}: {_excerpt(response)}", _retry_after(response))
        if response.is_error:
            raise EmbeddingUnavailable(
                f"The embedding service at {self._url} answered HTTP {status}: "
                f"{_excerpt(response)}. Check embedding.api_key, embedding.model and "
                "embedding.base_url."
            )
        try:
            return response.json()
        except ValueError as exc:
            raise EmbeddingUnavailable(
                f"The embedding service at {self._url} answered with a body that is not JSON "
                f"({_excerpt(response)}); embedding.base_url must point at an "
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


def _excerpt(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:_BODY_EXCERPT] or "(empty body)"


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), if any."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


__all__ = ["MAX_BACKOFF_SECONDS", "MAX_RETRY_AFTER_SECONDS", "RemoteEncoder"]
