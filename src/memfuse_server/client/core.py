"""The one place the client talks HTTP: build a request, retry it, read the MemFuse envelope.

Both clients go through ``Core.request`` (``Client`` runs ``AsyncClient`` on a private event
loop), so what is retried, how long it waits and how an answer becomes data or an error is
written once. The backoff itself is the project's shared policy (``memfuse_server.http_retry``):
``retry_backoff_seconds * 2**(n-1)`` capped, or the server's ``Retry-After`` when it sends one.

What is retried:

- the request never reached the server (connection refused, connect or pool timeout), or the
  server said "not now" (429, 503): always;
- the answer was lost or the server failed (read error or timeout, 500, 502, 504): only when
  repeating the request is harmless: GET, PUT, DELETE, the read-only POSTs (query, read), and a
  POST that carries an ``Idempotency-Key`` (every ``add_messages`` does: the client makes one
  when the caller gives none).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from cachetools import LRUCache

from memfuse_server.client.errors import (
    APIError,
    ConnectionFailed,
    InvalidResponse,
    MemFuseClientError,
    RequestTimeout,
    api_error,
)
from memfuse_server.client.transport import AiohttpTransport
from memfuse_server.config import ClientSettings
from memfuse_server.http_retry import RetryableError, RetryPolicy, excerpt, retry_after

API_PREFIX = "/api/v1"
USER_AGENT = "memfuse-server-client"
_ALWAYS_RETRIED_STATUSES = frozenset({429, 503})
# Exceptions raised before any byte of the request left: repeating them cannot duplicate.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class Request:
    """One API call: ``path`` is under ``/api/v1``; ``idempotent`` allows more retries."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotent: bool = False


class _Retry(RetryableError):
    """A failed attempt worth repeating; carries the error to raise if none succeeds."""

    def __init__(self, error: MemFuseClientError, retry_after_seconds: float | None) -> None:
        super().__init__(error.message, retry_after_seconds)
        self.error = error


def api_root(base_url: str) -> str:
    """``http://host:8765/api/v1`` from a server URL given with or without the prefix."""
    root = base_url.rstrip("/")
    if root.endswith(API_PREFIX):
        root = root[: -len(API_PREFIX)]
    return root + API_PREFIX


class Core:
    """One server's API over an httpx transport, with the retry policy and envelope parsing.

    Requests go straight to the transport (``AiohttpTransport`` by default; tests pass an
    ``httpx.ASGITransport`` to call the app in-process): an ``httpx.AsyncClient`` around it
    would add cookie, redirect, auth and URL handling the API does not use, at about 100 us of
    CPU a request, which bulk insertion spends one request at a time on one event loop.
    """

    def __init__(
        self,
        settings: ClientSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        key = settings.api_key.get_secret_value()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.headers = headers
        self.base_url = api_root(settings.base_url)
        self.policy = RetryPolicy(settings.max_retries, settings.retry_backoff_seconds)
        t = settings.timeout_seconds
        self.extensions = {"timeout": {"connect": t, "read": t, "write": t, "pool": t}}
        self.urls = _Urls(self.base_url)
        self.transport = transport or AiohttpTransport()

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def request(self, request: Request) -> Any:
        """The ``data`` of the success envelope; a ``MemFuseClientError`` otherwise.

        The first attempt runs outside the retry machinery (tenacity costs tens of microseconds on
        every request); only a retryable failure enters ``policy.run``, whose first attempt
        replays that failure, so attempts, waits and the error raised are the policy's own.
        """
        try:
            return await self._attempt(request)
        except _Retry as first:
            failure: _Retry | None = first

        async def again() -> Any:
            nonlocal failure
            if failure is not None:
                replay, failure = failure, None
                raise replay
            return await self._attempt(request)

        try:
            return await self.policy.run(again)
        except _Retry as exc:
            raise exc.error from exc.error.__cause__

    async def _attempt(self, request: Request) -> Any:
        content = None if request.body is None else orjson.dumps(request.body)
        headers = {**self.headers, **request.headers}
        if content is not None:
            headers["Content-Type"] = "application/json"
        http_request = httpx.Request(
            request.method,
            self.urls.get(request.path, _params(request.params)),
            headers=headers,
            content=content,
            extensions=self.extensions,
        )
        try:
            response = await self.transport.handle_async_request(http_request)
            try:
                await response.aread()
            finally:
                await response.aclose()
        except httpx.TransportError as exc:
            raise _transport_failure(exc, request) from exc
        return _data(response, request)


class _Urls:
    """The ``httpx.URL`` of each API path, built once (parsing one costs tens of microseconds)."""

    def __init__(self, base_url: str) -> None:
        self.base = httpx.URL(base_url)
        self.cache: LRUCache[str, httpx.URL] = LRUCache(maxsize=4096)

    def get(self, path: str, params: dict[str, str] | None) -> httpx.URL:
        url = self.cache.get(path)
        if url is None:
            url = self.cache[path] = self.base.copy_with(path=self.base.path + path)
        return url.copy_merge_params(params) if params else url


def _params(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not params:
        return None
    out = {}
    for key, value in params.items():
        if value is not None:
            out[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def _transport_failure(exc: httpx.TransportError, request: Request) -> MemFuseClientError | _Retry:
    where = f"{request.method} {request.path}"
    error: MemFuseClientError
    if isinstance(exc, httpx.TimeoutException):
        error = RequestTimeout(
            f"{where}: no answer in time ({type(exc).__name__}); raise timeout_seconds"
            " (MEMFUSE_CLIENT__TIMEOUT_SECONDS) or check the server's load."
        )
    else:
        error = ConnectionFailed(
            f"{where}: cannot reach the server ({type(exc).__name__}: {exc}); is it running"
            " at the configured base_url?"
        )
    error.__cause__ = exc
    if request.idempotent or isinstance(exc, _NOT_SENT):
        return _Retry(error, None)
    return error


def _data(response: httpx.Response, request: Request) -> Any:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if response.status_code >= 400:
        raise _status_failure(response, body, request)
    if not isinstance(body, dict) or "data" not in body:
        raise InvalidResponse(
            f"{request.method} {request.path}: the answer (HTTP {response.status_code}) is not a"
            f" MemFuse envelope: {excerpt(response)}. Is base_url a memfuse-server?"
        )
    return body["data"]


def _status_failure(
    response: httpx.Response, body: Any, request: Request
) -> MemFuseClientError | _Retry:
    wait = retry_after(response)
    if body is None:
        body = {"message": f"the server answered HTTP {response.status_code}: {excerpt(response)}"}
    error: APIError = api_error(response.status_code, body, wait)
    status = response.status_code
    if status in _ALWAYS_RETRIED_STATUSES or (status >= 500 and request.idempotent):
        return _Retry(error, wait)
    return error


__all__ = ["API_PREFIX", "Core", "Request", "api_root"]
