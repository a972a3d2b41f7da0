"""``AiohttpTransport``: the client's HTTP over aiohttp, behind httpx's transport interface.

The client speaks httpx (``httpx.Request`` in, ``httpx.Response`` out, any
``httpx.AsyncBaseTransport`` accepted, ``httpx.ASGITransport`` in the tests) but moves bytes
with aiohttp, whose connection pool and C-accelerated parser cost about a third of httpcore's
CPU per request. That CPU is what bounds bulk insertion: with 50 requests in flight, the client
spends it one request at a time on one event loop (docs/benchmarks.md, "Bulk insertion").

Whether a failed request may have reached the server decides whether it is safe to repeat, so
aiohttp's errors map onto httpx's by that line: a connection that could not be opened (or a
free connection not found in time) becomes ``httpx.ConnectError`` or ``httpx.ConnectTimeout``
(nothing was sent); everything after that, a dropped connection or a slow
answer, becomes ``httpx.ReadError`` / ``httpx.RemoteProtocolError`` / ``httpx.ReadTimeout``.

Bodies are read whole (the API answers JSON envelopes). Idle connections are closed after
``keepalive_seconds`` (4 s: below uvicorn's 5 s, so the client never reuses a connection the
server is closing). Proxy settings from the environment are not applied, as with any transport
given to httpx; pass ``transport=httpx.AsyncHTTPTransport(proxy=...)`` to go through a proxy.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager

import aiohttp
import httpx
from yarl import URL

# Framing headers aiohttp writes itself from the body (given explicitly, it writes the body
# in a second, slower step).
_FRAMING = frozenset({"content-length", "transfer-encoding"})


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport over one ``aiohttp.ClientSession`` (made on first use, in its loop)."""

    def __init__(self, max_connections: int = 100, keepalive_seconds: float = 4.0) -> None:
        self.max_connections = max_connections
        self.keepalive_seconds = keepalive_seconds
        self._session: aiohttp.ClientSession | None = None
        self._lifetime: AsyncGenerator[None, None] | None = None

    async def _opened(self) -> aiohttp.ClientSession:
        """The session, made on first use in the running loop, tied to that loop's life."""
        connector = aiohttp.TCPConnector(
            limit=self.max_connections, keepalive_timeout=self.keepalive_seconds
        )
        self._session = session = aiohttp.ClientSession(connector=connector)
        self._lifetime = _closing_with_the_loop(session)
        await anext(self._lifetime)
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or await self._opened()
        content = await request.aread()  # a no-op for the client's own (already read) bodies
        with _mapped(request):
            async with session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=[h for h in request.headers.multi_items() if h[0].lower() not in _FRAMING],
                data=content or None,
                allow_redirects=False,
                timeout=_timeout(request),
            ) as answer:
                body = await answer.read()
        return httpx.Response(
            answer.status,
            headers=[(k, v) for k, v in answer.headers.items() if k.lower() != "content-encoding"],
            content=body,
            request=request,
        )

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


def _timeout(request: httpx.Request) -> aiohttp.ClientTimeout:
    """httpx's timeout extension in aiohttp's terms (its ``connect`` covers waiting for a
    pooled connection plus opening one)."""
    given = request.extensions.get("timeout", {})
    return aiohttp.ClientTimeout(
        total=None,
        connect=given.get("pool"),
        sock_connect=given.get("connect"),
        sock_read=given.get("read"),
    )


@contextmanager
def _mapped(request: httpx.Request) -> Iterator[None]:
    """aiohttp's exceptions as httpx's, split by whether the request may have been sent."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:  # no free connection, or none opened, in time
        raise httpx.ConnectTimeout(str(exc) or "timed out connecting", request=request) from exc
    except aiohttp.ClientConnectorError as exc:
        raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
    except TimeoutError as exc:  # aiohttp.SocketTimeoutError is one
        raise httpx.ReadTimeout(str(exc) or "timed out reading", request=request) from exc
    except aiohttp.ServerDisconnectedError as exc:
        raise httpx.RemoteProtocolError(str(exc) or "disconnected", request=request) from exc
    except (aiohttp.ClientPayloadError, aiohttp.ClientResponseError) as exc:
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc
    except aiohttp.ClientError as exc:
        raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc


__all__ = ["AiohttpTransport"]
