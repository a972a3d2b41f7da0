"""How the client moves bytes: the ``Transport`` seam, its failures, and httpx behind it.

``Core`` hands a transport an ``Outgoing`` (method, URL, headers, body, timeout) and gets an
``Answer`` (status, headers, body) back: plain records, because building a library's request and
response objects costs tens of microseconds of CPU a request, and bulk insertion spends that one
request at a time on one event loop (docs/benchmarks.md, "Bulk insertion"). Two transports
implement the seam:

- ``AiohttpTransport`` (``client/aiohttp_transport.py``), the default: one
  ``aiohttp.ClientSession`` per event loop, with proxies and TLS from ``ClientSettings``;
- ``HttpxTransport``: any ``httpx.AsyncBaseTransport`` (``httpx.ASGITransport`` calls an app
  in-process, as the tests do). The clients wrap an httpx transport given to them in it.

A transport reports a failure as one of the ``TransportError`` classes below, whatever library
it uses, because whether a failed request may have reached the server decides whether it is
safe to repeat:

::

    TransportError               may_have_been_sent
    ├── NeverSent                no  nothing of the request reached the server
    │   ├── ConnectFailed        no  refused, unknown host, TLS or proxy failure
    │   ├── ConnectTimeout       no  no connection (or no free one) in time; a TimeoutError
    │   └── Unwritable           no  the request cannot be written as given (a line break in a
    │                                header): repeating cannot help
    └── AnswerLost               yes the request went out; its answer did not come back whole
        └── AnswerTimeout        yes no bytes of the answer for ``timeout`` seconds; a TimeoutError

A body cut short (by a close or a reset) is an ``AnswerLost``, never an answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

import httpx

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


class TransportError(Exception):
    """A request that failed on the way; ``may_have_been_sent`` decides if a retry is safe."""

    may_have_been_sent: ClassVar[bool] = True


class NeverSent(TransportError):
    """Nothing of the request reached the server: repeating it cannot duplicate anything."""

    may_have_been_sent = False


class ConnectFailed(NeverSent):
    """No connection: refused, unknown host, a TLS handshake or a proxy that failed."""


class ConnectTimeout(NeverSent, TimeoutError):
    """No connection, or no free one within the limit, in time."""


class Unwritable(NeverSent):
    """The request cannot be written as given (a header holding a line break)."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            "a header or the URL cannot be written as given (a line break or another control"
            f" character?); nothing was sent ({reason})"
        )


class AnswerLost(TransportError):
    """The request went out but its answer did not come back whole (a close, a reset, bytes
    that are not HTTP): the server may have acted on it."""


class AnswerTimeout(AnswerLost, TimeoutError):
    """No bytes of the answer for the request's timeout."""


class Transport(Protocol):
    """Sends one request and reads its whole answer; failures raise ``TransportError``s."""

    async def send(self, request: Outgoing) -> Answer: ...

    async def aclose(self) -> None: ...


class HttpxTransport(AsyncClosing):
    """Any ``httpx.AsyncBaseTransport`` behind the ``Transport`` seam."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def send(self, request: Outgoing) -> Answer:
        t = request.timeout
        try:
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
        except httpx.TransportError as exc:
            raise _from_httpx(exc) from exc
        return Answer(response.status_code, response.headers, content)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _from_httpx(exc: httpx.TransportError) -> TransportError:
    kind: type[TransportError]
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        kind = ConnectTimeout
    elif isinstance(exc, httpx.ConnectError | httpx.ProxyError):
        kind = ConnectFailed
    elif isinstance(exc, httpx.LocalProtocolError | httpx.UnsupportedProtocol):
        kind = Unwritable
    elif isinstance(exc, httpx.TimeoutException):
        kind = AnswerTimeout
    else:
        kind = AnswerLost
    return kind(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


__all__ = [
    "Answer",
    "AnswerLost",
    "AnswerTimeout",
    "ConnectFailed",
    "ConnectTimeout",
    "HttpxTransport",
    "NeverSent",
    "Outgoing",
    "Transport",
    "TransportError",
    "Unwritable",
]
