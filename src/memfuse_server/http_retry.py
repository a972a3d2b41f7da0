"""One retry policy for calls to OpenAI-compatible HTTP services.

Both remote services (``embeddings/remote.py`` and ``extraction/llm.py``) post
JSON with a ``json_client`` through ``post_json`` and repeat it with a
``RetryPolicy``:

- worth another attempt (``RetryableError``): connection errors, timeouts,
  HTTP 429 and 5xx; any other answer is the caller's to judge;
- the wait before attempt n+1 is ``backoff_seconds * 2**(n-1)``, at most
  ``max_backoff_seconds``; a ``Retry-After`` header (delta-seconds or an HTTP
  date) replaces it, at most ``max_retry_after_seconds``;
- after ``max_retries`` retries the last ``RetryableError`` is raised, for
  the caller to turn into its own error (saying which setting to check).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

MAX_RETRY_AFTER_SECONDS = 60.0
MAX_BACKOFF_SECONDS = 30.0
BODY_EXCERPT_CHARS = 300

_T = TypeVar("_T")


class RetryableError(Exception):
    """A failure worth another attempt (connection error, timeout, 429, 5xx)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before trying a ``RetryableError`` again."""

    max_retries: int
    backoff_seconds: float
    max_backoff_seconds: float = MAX_BACKOFF_SECONDS
    max_retry_after_seconds: float = MAX_RETRY_AFTER_SECONDS

    @property
    def attempts(self) -> int:
        return self.max_retries + 1

    async def run(self, call: Callable[[], Awaitable[_T]]) -> _T:
        """``await call()`` until it succeeds or raises anything but ``RetryableError``;
        once the attempts are used up, the last ``RetryableError`` is raised."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=self.wait,
            retry=retry_if_exception_type(RetryableError),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                result = await call()
        return result

    def wait(self, state: RetryCallState) -> float:
        """Seconds before the next attempt: ``Retry-After`` if the error has one, else backoff."""
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, RetryableError) and error.retry_after is not None:
            return min(error.retry_after, self.max_retry_after_seconds)
        backoff: float = self.backoff_seconds * 2.0 ** (state.attempt_number - 1)
        return min(backoff, self.max_backoff_seconds)


def json_client(api_key: str, timeout_seconds: float) -> httpx.AsyncClient:
    """An HTTP client for one service: ``Authorization: Bearer <api_key>`` when a key is set."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.AsyncClient(headers=headers, timeout=timeout_seconds)


async def post_json(
    client: httpx.AsyncClient, url: str, body: Any, *, timeout_hint: str | None = None
) -> httpx.Response:
    """The response to ``POST url`` with a JSON ``body``.

    Raises ``RetryableError`` on a connection error, a timeout (described by
    ``timeout_hint`` when given), HTTP 429 or 5xx. Other answers, 4xx
    included, are returned for the caller to judge.
    """
    try:
        response = await client.post(url, json=body)
    except httpx.TransportError as exc:  # connection errors and timeouts
        timed_out = isinstance(exc, httpx.TimeoutException) and timeout_hint is not None
        detail = timeout_hint if timed_out else str(exc)
        raise RetryableError(f"{type(exc).__name__}: {detail}") from exc
    if is_retryable_status(response.status_code):
        raise RetryableError(
            f"HTTP {response.status_code}: {excerpt(response)}", retry_after(response)
        )
    return response


class HttpAnswer(Protocol):
    """What the helpers below read of a response (an ``httpx.Response`` is one)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def text(self) -> str: ...


def is_retryable_status(status: int) -> bool:
    """Whether an HTTP status is worth another attempt: 429 and 5xx."""
    return status == 429 or status >= 500


def excerpt(response: HttpAnswer) -> str:
    """The start of a response body on one line, for error messages."""
    text = response.text.strip().replace("\n", " ")
    return text[:BODY_EXCERPT_CHARS] or "(empty body)"


def retry_after(response: HttpAnswer) -> float | None:
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


__all__ = [
    "BODY_EXCERPT_CHARS",
    "MAX_BACKOFF_SECONDS",
    "MAX_RETRY_AFTER_SECONDS",
    "HttpAnswer",
    "RetryPolicy",
    "RetryableError",
    "excerpt",
    "is_retryable_status",
    "json_client",
    "post_json",
    "retry_after",
]
