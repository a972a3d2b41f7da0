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
from urllib.parse import quote, urlencode, urlsplit

import httpx
import orjson
from cachetools import LRUCache

from memfuse_server.client.aiohttp_transport import AiohttpTransport
from memfuse_server.client.errors import (
    APIError,
    ConnectionFailed,
    InvalidArgument,
    InvalidResponse,
    MemFuseClientError,
    RequestTimeout,
    api_error,
)
from memfuse_server.client.settings import ClientSettings
from memfuse_server.client.transport import (
    Answer,
    HttpxTransport,
    Outgoing,
    Transport,
    TransportError,
    Unwritable,
)
from memfuse_server.http_retry import RetryableError, RetryPolicy, excerpt, retry_after

API_PREFIX = "/api/v1"
USER_AGENT = "memfuse-server-client"
_ALWAYS_RETRIED_STATUSES = frozenset({429, 503})
# What a path may hold unescaped (RFC 3986 pchar, and "/"): ids and names are escaped otherwise.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


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
    """One server's API over a ``Transport``, with the retry policy and envelope parsing.

    The default transport is ``AiohttpTransport``, made from the settings (proxy, TLS); an
    httpx transport given instead is wrapped (the tests pass ``httpx.ASGITransport`` to call
    the app in-process). Requests are plain ``Outgoing`` records, not a library's request
    objects: building an httpx request and response costs about 30 us of CPU a request, and
    bulk insertion spends that one request at a time on one event loop (docs/benchmarks.md,
    "Bulk insertion").
    """

    def __init__(
        self,
        settings: ClientSettings,
        *,
        transport: Transport | httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        key = settings.api_key.get_secret_value()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.headers = headers
        self.base_url = api_root(settings.base_url)
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidArgument(
                f"base_url {settings.base_url!r} is not an http:// or https:// URL with a host"
                " (like http://127.0.0.1:8765)."
            )
        self.policy = RetryPolicy(settings.max_retries, settings.retry_backoff_seconds)
        self.timeout = settings.timeout_seconds
        self.urls = _Urls(self.base_url)
        self.transport = as_transport(transport, settings)

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
        body = None if request.body is None else orjson.dumps(request.body)
        headers = {**self.headers, **request.headers}
        if body is not None:
            headers["Content-Type"] = "application/json"
        url = self.urls.get(request.path, request.params)
        try:
            answer = await self.transport.send(
                Outgoing(request.method, url, headers, body, self.timeout)
            )
        except TransportError as exc:
            raise _transport_failure(exc, request) from exc
        return _data(answer, request)


def as_transport(
    given: Transport | httpx.AsyncBaseTransport | None, settings: ClientSettings
) -> Transport:
    """The transport to use: the default for ``None`` (per ``settings``), an httpx one wrapped."""
    if given is None:
        try:
            return AiohttpTransport.of(settings)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from exc
    if isinstance(given, httpx.AsyncBaseTransport):
        return HttpxTransport(given)
    return given


class _Urls:
    """The percent-encoded URL of each API path, built once per path."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.cache: LRUCache[str, str] = LRUCache(maxsize=4096)

    def get(self, path: str, params: Mapping[str, Any] | None) -> str:
        url = self.cache.get(path)
        if url is None:
            url = self.cache[path] = self.base + quote(path, safe=_PATH_SAFE)
        query = _query(params)
        return f"{url}?{query}" if query else url


def _query(params: Mapping[str, Any] | None) -> str:
    """``params`` as a query string: ``None`` values left out, booleans as true/false."""
    if not params:
        return ""
    pairs = []
    for key, value in params.items():
        if value is not None:
            pairs.append((key, str(value).lower() if isinstance(value, bool) else str(value)))
    return urlencode(pairs)


def _transport_failure(exc: TransportError, request: Request) -> MemFuseClientError | _Retry:
    """The client's error for a failed request, as a ``_Retry`` when repeating it is safe: the
    request never left, or it may have but repeating it is harmless."""
    where = f"{request.method} {request.path}"
    if isinstance(exc, Unwritable):  # could not be written: repeating cannot help
        return InvalidArgument(f"{where}: {exc}. Check the ids and header values given.")
    error: MemFuseClientError
    if isinstance(exc, TimeoutError):
        error = RequestTimeout(
            f"{where}: no answer in time ({type(exc).__name__}: {exc}); raise timeout_seconds"
            " (MEMFUSE_CLIENT__TIMEOUT_SECONDS) or check the server's load."
        )
    else:
        error = ConnectionFailed(
            f"{where}: cannot reach the server ({type(exc).__name__}: {exc}); is it running"
            " at the configured base_url (and the proxy, if one is set, reachable)?"
        )
    error.__cause__ = exc
    if request.idempotent or not exc.may_have_been_sent:
        return _Retry(error, None)
    return error


def _data(response: Answer, request: Request) -> Any:
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


def _status_failure(response: Answer, body: Any, request: Request) -> MemFuseClientError | _Retry:
    wait = retry_after(response)
    if body is None:
        body = {"message": f"the server answered HTTP {response.status_code}: {excerpt(response)}"}
    error: APIError = api_error(response.status_code, body, wait)
    status = response.status_code
    if status in _ALWAYS_RETRIED_STATUSES or (status >= 500 and request.idempotent):
        return _Retry(error, wait)
    return error


__all__ = ["API_PREFIX", "Core", "Request", "api_root", "as_transport"]
