"""How the client moves bytes: the ``Transport`` seam, and any httpx transport behind it.

``Core`` hands a transport an ``Outgoing`` (method, URL, headers, body, timeout) and gets an
``Answer`` (status, headers, body) back. Two transports implement the seam:

- ``Http1Transport`` (``client/http1.py``), the default: pooled HTTP/1.1 connections on the
  running event loop, answers parsed by httptools. Its CPU per request is what bounds bulk
  insertion, which spends it one request at a time on one event loop (docs/benchmarks.md,
  "Bulk insertion").
- ``HttpxTransport``: any ``httpx.AsyncBaseTransport`` (``httpx.ASGITransport`` to call an app
  in-process, as the tests do; ``httpx.AsyncHTTPTransport(proxy=...)`` for a proxy). The
  clients wrap an httpx transport given to them in it.

Failures are raised as httpx's exceptions, whichever transport, because whether a failed request
may have reached the server decides whether it is safe to repeat, and httpx's classes say it: a
connection that could not be opened (or a free connection not found in time) is
``httpx.ConnectError``, ``httpx.ConnectTimeout`` or ``httpx.PoolTimeout`` (nothing was sent);
everything after that, a dropped connection or a slow answer, is ``httpx.ReadError`` /
``httpx.RemoteProtocolError`` / ``httpx.ReadTimeout``. Bodies are read whole (the API answers
JSON envelopes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

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


class Transport(Protocol):
    """Sends one request and reads its whole answer; failures raise ``httpx.TransportError``s."""

    async def send(self, request: Outgoing) -> Answer: ...

    async def aclose(self) -> None: ...


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


__all__ = ["Answer", "HttpxTransport", "Outgoing", "Transport"]
