"""How the client moves bytes: the ``Transport`` seam, aiohttp by default, any httpx transport.

``Core`` hands a transport an ``Outgoing`` (method, URL, headers, body, timeout) and gets an
``Answer`` (status, headers, body) back. Two transports implement the seam:

- ``AiohttpTransport``, the default: one ``aiohttp.ClientSession`` (its connection pool and
  C-accelerated parser). Per request it costs about a third of the CPU of
  ``httpx.AsyncClient`` over httpcore, and that CPU is what bounds bulk insertion: with 50
  requests in flight the client spends it one request at a time on one event loop
  (docs/benchmarks.md, "Bulk insertion").
- ``HttpxTransport``: any ``httpx.AsyncBaseTransport`` (``httpx.ASGITransport`` to call an app
  in-process, as the tests do; ``httpx.AsyncHTTPTransport(proxy=...)`` for a proxy). The
  clients wrap an httpx transport given to them in it.

Failures are raised as httpx's exceptions, whichever transport, because whether a failed request
may have reached the server decides whether it is safe to repeat, and httpx's classes say it: a
connection that could not be opened (or a free connection not found in time) is
``httpx.ConnectError`` or ``httpx.ConnectTimeout`` (nothing was sent); everything after that, a
dropped connection or a slow answer, is ``httpx.ReadError`` / ``httpx.RemoteProtocolError`` /
``httpx.ReadTimeout``.

Bodies are read whole (the API answers JSON envelopes). ``AiohttpTransport`` closes idle
connections after ``keepalive_seconds`` (4 s: below uvicorn's 5 s, so the client never reuses a
connection the server is closing), keeps no cookies (the API sets none) and reads no proxy
settings from the environment.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import httpx
from yarl import URL

from memfuse_server.client.closing import AsyncClosing


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One HTTP request: ``url`` is absolute and already percent-encoded."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None = None
    timeout: float = 30.0  # for each of: getting a connection, each wait for the answer


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole HTTP response; ``headers`` look names up case-insensitively."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class Transport(Protocol):
    """Sends one request and reads its whole answer; failures raise ``httpx.TransportError``s."""

    async def send(self, request: Outgoing) -> Answer: ...

    async def aclose(self) -> None: ...


class AiohttpTransport(AsyncClosing):
    """The default transport: one ``aiohttp.ClientSession``, made on first use in its loop."""

    def __init__(self, max_connections: int = 100, keepalive_seconds: float = 4.0) -> None:
        self.max_connections = max_connections
        self.keepalive_seconds = keepalive_seconds
        self._session: aiohttp.ClientSession | None = None
        self._lifetime: AsyncGenerator[None, None] | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    async def _opened(self) -> aiohttp.ClientSession:
        """The session, made on first use in the running loop, tied to that loop's life."""
        connector = aiohttp.TCPConnector(
            limit=self.max_connections, keepalive_timeout=self.keepalive_seconds
        )
        self._session = session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar()
        )
        self._lifetime = _closing_with_the_loop(session)
        await anext(self._lifetime)
        return session

    async def send(self, request: Outgoing) -> Answer:
        session = self._session or await self._opened()
        try:
            async with session.request(
                request.method,
                URL(request.url, encoded=True),
                headers=request.headers,
                data=request.body,
                allow_redirects=False,
                timeout=self._timeout(request.timeout),
            ) as answer:
                body = await answer.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _as_httpx(exc, request) from exc
        return Answer(answer.status, answer.headers, body)

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        """``seconds`` in aiohttp's terms: ``connect`` covers waiting for a pooled connection
        plus opening one, ``sock_read`` each wait for the answer (one object per value)."""
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(
                total=None, connect=seconds, sock_connect=seconds, sock_read=seconds
            )
            self._timeouts[seconds] = timeout
        return timeout

    async def aclose(self) -> None:
        lifetime, self._lifetime, self._session = self._lifetime, None, None
        if lifetime is not None:
            await lifetime.aclose()


async def _closing_with_the_loop(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    """Suspended for the session's life; closes it on ``aclose()``, and also when a client
    that was never closed is dropped or its event loop ends.

    asyncio closes, on their loop, the async generators it collects and those still suspended
    when ``asyncio.run`` ends (``loop.shutdown_asyncgens``): the connections of a forgotten
    client are closed there instead of being reported by aiohttp as unclosed at exit."""
    try:
        yield
    finally:
        await session.close()


# The server went away or answered garbage after the request was sent.
_DROPPED = (
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientPayloadError,
    aiohttp.ClientResponseError,
)


def _as_httpx(exc: aiohttp.ClientError | TimeoutError, request: Outgoing) -> httpx.TransportError:
    """An aiohttp failure as httpx's exception, split by whether the request may have been sent."""
    described = httpx.Request(request.method, request.url)
    message = str(exc) or type(exc).__name__
    kind: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):  # no free connection, or none opened
        kind = httpx.ConnectTimeout
    elif isinstance(exc, aiohttp.ClientConnectorError):
        kind = httpx.ConnectError
    elif isinstance(exc, TimeoutError):  # aiohttp.SocketTimeoutError is one
        kind = httpx.ReadTimeout
    elif isinstance(exc, _DROPPED):
        kind = httpx.RemoteProtocolError
    else:
        kind = httpx.ReadError
    return kind(message, request=described)


class HttpxTransport(AsyncClosing):
    """Any ``httpx.AsyncBaseTransport`` behind the ``Transport`` seam."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def send(self, request: Outgoing) -> Answer:
        t = request.timeout
        message = httpx.Request(
            request.method,
            request.url,
            headers=request.headers,
            content=request.body,
            extensions={"timeout": {"connect": t, "read": t, "write": t, "pool": t}},
        )
        response = await self.inner.handle_async_request(message)
        try:
            content = await response.aread()
        finally:
            await response.aclose()
        return Answer(response.status_code, response.headers, content)

    async def aclose(self) -> None:
        await self.inner.aclose()


def as_transport(given: Transport | httpx.AsyncBaseTransport | None) -> Transport:
    """The transport to use: the default for ``None``, an httpx one wrapped."""
    if given is None:
        return AiohttpTransport()
    if isinstance(given, httpx.AsyncBaseTransport):
        return HttpxTransport(given)
    return given


__all__ = [
    "AiohttpTransport",
    "Answer",
    "HttpxTransport",
    "Outgoing",
    "Transport",
    "as_transport",
]
