"""The default transport: HTTP/1.1 on asyncio, answers parsed by httptools, connections pooled.

Why not aiohttp or httpx's own transport: bulk insertion sends many small requests at once from
one event loop, so the client's CPU per request decides how soon the last one leaves. Measured
with 50 requests in flight against a loopback server with 50 ms latency (docs/benchmarks.md,
"Bulk insertion"): httpx alone reaches ~22x over sequential, aiohttp ~45x, aiosonic about the
same, raw bytes on open sockets ~47x; this transport is within noise of the raw bytes. It is
small because the hard parts are libraries: asyncio opens the connections (TLS included) and
httptools parses the answers. What it writes itself is the request head and the pool.

- Connections are kept per origin (scheme, host, port) and reused most-recent-first; one idle for
  ``keepalive_seconds`` (``client.keepalive_seconds``, 15 s) is closed instead of reused. Keep
  it below the server's own idle limit (``server.keepalive_seconds`` of memfuse-server: 30 s;
  uvicorn's default: 5 s): a connection the server has closed is never picked, but one it
  closes at the very moment it is picked fails the request, which the client then retries
  only when repeating it is harmless.
- At most ``max_connections`` requests are in flight; a request waits ``timeout`` for its turn
  (``httpx.PoolTimeout``), then ``timeout`` to connect (``httpx.ConnectTimeout`` /
  ``httpx.ConnectError``: nothing was sent), then at most ``timeout`` between bytes of the
  answer (``httpx.ReadTimeout``: the request may have been acted on).
- Requests carry ``Host``, ``Content-Length`` (for a body, and for POST/PUT/PATCH without one)
  and ``Accept-Encoding: identity``; answers are read whole, redirects are not followed, no
  cookies are kept and no proxy is read from the environment (for a proxy, give the client
  ``httpx.AsyncHTTPTransport(proxy=...)``).
- A header or target holding a line break or a NUL (or a space in the target) is refused
  with ``httpx.LocalProtocolError`` before anything is written, as httpx's own transport does.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import httpx

from memfuse_server.client.closing import AsyncClosing
from memfuse_server.client.connection import Connection
from memfuse_server.client.transport import Answer, Outgoing

_LENGTH_REQUIRED = frozenset({"POST", "PUT", "PATCH"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a URL's connections go, and the request target on them."""

    scheme: str
    host: str
    port: int
    host_header: str


@lru_cache(maxsize=4096)
def split_url(url: str) -> tuple[Origin, str]:
    """``(origin, target)`` of an absolute http(s) URL; ``ValueError`` for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"{url!r} is not an absolute http:// or https:// URL")
    port = parts.port or _DEFAULT_PORTS[parts.scheme]
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = parts.netloc.rpartition("@")[2]
    return Origin(parts.scheme, parts.hostname, port, host_header), target


def request_head(request: Outgoing, target: str, host: str) -> bytes:
    """The request line and headers as bytes; ``httpx.LocalProtocolError`` if they would not
    say what was asked (a line break or NUL inside, a space in the target)."""
    lines = [f"{request.method} {target} HTTP/1.1", f"Host: {host}", "Accept-Encoding: identity"]
    lines.extend(f"{name}: {value}" for name, value in request.headers.items())
    if request.body is not None or request.method in _LENGTH_REQUIRED:
        lines.append(f"Content-Length: {len(request.body or b'')}")
    text = "\r\n".join(lines)
    breaks = len(lines) - 1  # the only CR and LF allowed are the separators
    if text.count("\n") != breaks or text.count("\r") != breaks or "\0" in text:
        raise httpx.LocalProtocolError(
            "a header or the URL holds a line break or NUL, which would change the request on"
            " the wire; nothing was sent"
        )
    if " " in target or " " in request.method:
        raise httpx.LocalProtocolError("a space in the method or the URL; nothing was sent")
    return (text + "\r\n\r\n").encode("utf-8")


class _Pool:
    """The idle connections to one origin, most recently used last."""

    def __init__(self, keepalive_seconds: float) -> None:
        self.keepalive_seconds = keepalive_seconds
        self.idle: list[Connection] = []
        self.closed = False  # the transport was closed: what comes back is closed too

    def take(self, now: float) -> Connection | None:
        while self.idle:
            connection = self.idle.pop()
            if connection.usable and now - connection.idle_since < self.keepalive_seconds:
                return connection
            connection.close()  # expired or closed by the server: so is every older one
        return None

    def give_back(self, connection: Connection, now: float) -> None:
        if connection.reusable and connection.usable and not self.closed:
            connection.idle_since = now
            self.idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        self.closed = True
        for connection in self.idle:
            connection.close()
        self.idle.clear()


class Http1Transport(AsyncClosing):
    """The default ``Transport``: pooled HTTP/1.1 connections on the running event loop."""

    def __init__(
        self,
        max_connections: int = 100,
        keepalive_seconds: float = 15.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.max_connections = max_connections
        self.keepalive_seconds = keepalive_seconds
        self._ssl = ssl_context
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pools: dict[Origin, _Pool] = {}
        self._slots = asyncio.Semaphore(max_connections)
        self._lifetime: AsyncGenerator[None, None] | None = None

    async def send(self, request: Outgoing) -> Answer:
        origin, target = split_url(request.url)
        head = request_head(request, target, origin.host_header)
        loop = self._loop if self._loop is asyncio.get_running_loop() else await self._bind()
        await self._turn(request.timeout)
        try:
            pool = self._pools.get(origin) or self._pools.setdefault(
                origin, _Pool(self.keepalive_seconds)
            )
            connection = pool.take(loop.time()) or await self._open(origin, request.timeout)
            data = head + request.body if request.body else head
            try:
                answer = await connection.exchange(data, request.timeout, request.method == "HEAD")
            except BaseException:  # failed or cancelled: a late answer must not be read later
                connection.close()
                raise
            pool.give_back(connection, loop.time())
            return answer
        finally:
            self._slots.release()

    async def _turn(self, seconds: float) -> None:
        """One of the ``max_connections`` slots, waiting at most ``seconds`` for it."""
        if not self._slots.locked():
            await self._slots.acquire()  # free: returns without suspending
            return
        try:
            async with asyncio.timeout(seconds):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout(
                f"all {self.max_connections} connections stayed busy for {seconds:g} s"
            ) from None

    async def _open(self, origin: Origin, seconds: float) -> Connection:
        loop = asyncio.get_running_loop()
        tls = self._tls() if origin.scheme == "https" else None
        try:
            async with asyncio.timeout(seconds):
                _, connection = await loop.create_connection(
                    lambda: Connection(loop),
                    origin.host,
                    origin.port,
                    ssl=tls,
                    server_hostname=origin.host if tls else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(
                f"no connection to {origin.host_header} within {seconds:g} s"
            ) from None
        except OSError as exc:  # refused, unreachable, unknown host, TLS handshake failed
            raise httpx.ConnectError(f"cannot connect to {origin.host_header}: {exc}") from exc
        return connection

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    async def _bind(self) -> asyncio.AbstractEventLoop:
        """Use the running loop from now on; connections of an earlier loop are forgotten."""
        self._pools = {}
        self._slots = asyncio.Semaphore(self.max_connections)
        self._loop = loop = asyncio.get_running_loop()
        self._lifetime = _closing_with_the_loop(self)
        await anext(self._lifetime)
        return loop

    def close_pools(self) -> None:
        """Close every idle connection; those in use close when their exchange ends."""
        for pool in self._pools.values():
            pool.close()

    async def aclose(self) -> None:
        lifetime, self._lifetime, self._loop = self._lifetime, None, None
        if lifetime is not None:
            await lifetime.aclose()


async def _closing_with_the_loop(transport: Http1Transport) -> AsyncGenerator[None, None]:
    """Suspended while the transport is bound to a loop; closes its connections on ``aclose()``,
    and also when a client that was never closed is dropped or its event loop ends.

    asyncio closes, on their loop, the async generators it collects and those still suspended
    when ``asyncio.run`` ends (``loop.shutdown_asyncgens``): the sockets of a forgotten client
    are closed there instead of being reported as unclosed at exit."""
    try:
        yield
    finally:
        transport.close_pools()
        await asyncio.sleep(0)  # let the loop run the closes it scheduled


__all__ = ["Http1Transport", "Origin", "request_head", "split_url"]
