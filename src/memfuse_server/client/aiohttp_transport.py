"""The default transport: aiohttp's pooled HTTP/1.1, with proxies and TLS from the settings.

One ``aiohttp.ClientSession`` per event loop, made on the first request in that loop and closed
with ``aclose()`` (or with the loop, for a client that was never closed). What it does:

- connections are kept per origin and reused while idle for less than ``keepalive_seconds``
  (``client.keepalive_seconds``, 15 s: keep it below the server's own idle limit,
  ``server.keepalive_seconds``, 30 s); at most ``max_connections`` requests are in flight;
- a request waits ``timeout`` for a connection (pooled or new), then at most ``timeout``
  between bytes of the answer; redirects are not followed and no cookies are kept;
- proxies: ``client.proxy`` for every request when set, else (``client.trust_env``, on by
  default) ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``NO_PROXY`` from the environment; HTTPS goes
  through a proxy as a ``CONNECT`` tunnel;
- TLS: the system's trust store, or ``client.ca_bundle`` instead; ``client.verify: false``
  accepts any certificate.

aiohttp's failures become the seam's ``TransportError`` classes (``client/transport.py``), split
by whether the request may have reached the server. One case aiohttp does not report itself is
checked here: an answer without a length that runs to the close of the connection ends when the
connection ends, and aiohttp hands it over whole even when the connection ended by a reset;
such an answer is an ``AnswerLost``, never a success.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncGenerator
from pathlib import Path
from urllib.request import getproxies, proxy_bypass

import aiohttp
from aiohttp.client_proto import ResponseHandler
from yarl import URL

from memfuse_server.client.closing import AsyncClosing
from memfuse_server.client.settings import ClientSettings
from memfuse_server.client.transport import (
    Answer,
    AnswerLost,
    AnswerTimeout,
    ConnectFailed,
    ConnectTimeout,
    Outgoing,
    TransportError,
    Unwritable,
)


def tls_context(verify: bool = True, ca_bundle: Path | None = None) -> ssl.SSLContext:
    """The TLS settings of the client: the system's roots or ``ca_bundle``, or no checks."""
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if ca_bundle is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=str(ca_bundle))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(
            f"client.ca_bundle {str(ca_bundle)!r} is not a readable PEM file: {exc}"
        ) from exc


class Proxies:
    """The proxy each origin goes through: ``configured`` for all, else (with ``trust_env``) the
    environment's ``HTTP_PROXY`` / ``HTTPS_PROXY`` less the hosts in ``NO_PROXY``, read once
    (per host, for ``NO_PROXY``).

    The standard library reads and matches the variables (``urllib.request``; on macOS and
    Windows it also reads the system's proxy settings). aiohttp's own ``trust_env`` is not
    used: it looks the variables and ``~/.netrc`` up again on two worker threads for every
    request, and a ``.netrc`` entry for the server would clash with the client's
    ``Authorization`` header."""

    def __init__(self, configured: str | None, trust_env: bool) -> None:
        self.configured = URL(configured) if configured else None
        self.environment = getproxies() if trust_env and not configured else {}
        self._chosen: dict[tuple[str, str | None], URL | None] = {}

    def for_url(self, url: URL) -> URL | None:
        if not self.environment:
            return self.configured
        key = (url.scheme, url.raw_host)
        if key not in self._chosen:
            proxy = self.environment.get(url.scheme)
            bypass = proxy and url.raw_host and proxy_bypass(url.raw_host)
            self._chosen[key] = URL(proxy) if proxy and not bypass else None
        return self._chosen[key]


class AiohttpTransport(AsyncClosing):
    """The default ``Transport``: an ``aiohttp.ClientSession`` on the running event loop."""

    def __init__(
        self,
        *,
        max_connections: int = 100,
        keepalive_seconds: float = 15.0,
        proxy: str | None = None,
        trust_env: bool = True,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.max_connections = max_connections
        self.keepalive_seconds = keepalive_seconds
        self.proxies = Proxies(proxy, trust_env)
        self.ssl_context = ssl_context
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lifetime: AsyncGenerator[None, None] | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    @classmethod
    def of(cls, settings: ClientSettings) -> AiohttpTransport:
        """The transport ``settings`` describe (``ValueError`` for an unusable CA bundle)."""
        return cls(
            keepalive_seconds=settings.keepalive_seconds,
            proxy=settings.proxy,
            trust_env=settings.trust_env,
            ssl_context=tls_context(settings.verify, settings.ca_bundle),
        )

    async def send(self, request: Outgoing) -> Answer:
        session = self._session
        if session is None or self._loop is not asyncio.get_running_loop():
            session = await self._open()
        url = URL(request.url, encoded=True)
        try:
            async with session.request(
                request.method,
                url,
                headers=request.headers,
                data=request.body,
                allow_redirects=False,
                timeout=self._timeout(request.timeout),
                proxy=self.proxies.for_url(url),
            ) as response:
                connection = response.connection
                protocol = connection.protocol if connection is not None else None
                content = await response.read()
                if protocol is not None and _cut_at_the_close(response, protocol):
                    raise AnswerLost(
                        "the connection failed before the answer was whole"
                        f" ({protocol.exception()})"
                    )
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise _failure(exc) from exc
        return Answer(response.status, response.headers, content)

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        """``seconds`` in aiohttp's terms: ``connect`` covers waiting for a pooled connection
        plus opening one, ``sock_read`` each wait for the answer (one object per value)."""
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            timeout = self._timeouts[seconds] = aiohttp.ClientTimeout(
                total=None, connect=seconds, sock_connect=seconds, sock_read=seconds
            )
        return timeout

    async def _open(self) -> aiohttp.ClientSession:
        """A session on the running loop, tied to that loop's life. A session of another loop
        is left to that loop, which closes it when it ends (its connections are its own)."""
        connector = aiohttp.TCPConnector(
            limit=self.max_connections,
            keepalive_timeout=self.keepalive_seconds,
            ssl=self.ssl_context if self.ssl_context is not None else True,
        )
        session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
        self._session, self._loop = session, asyncio.get_running_loop()
        self._lifetime = _closing_with_the_loop(session)
        await anext(self._lifetime)
        return session

    async def aclose(self) -> None:
        lifetime, self._lifetime, self._session, self._loop = self._lifetime, None, None, None
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


def _cut_at_the_close(response: aiohttp.ClientResponse, protocol: ResponseHandler) -> bool:
    """Whether an answer that runs to the close ended by a failed connection (a reset) rather
    than by the server closing it: aiohttp ends such a body either way."""
    headers = response.headers
    if "Content-Length" in headers or "chunked" in headers.get("Transfer-Encoding", "").lower():
        return False  # framed: aiohttp itself raises when such a body is cut
    return isinstance(protocol.exception(), OSError)


def _failure(exc: aiohttp.ClientError | TimeoutError | ValueError) -> TransportError:
    """An aiohttp failure as the seam's class, split by whether the request may have been sent."""
    message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    kind: type[TransportError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):  # no free connection, or none opened
        kind = ConnectTimeout
    elif isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ClientHttpProxyError):
        kind = ConnectFailed  # refused, DNS, TLS; a proxy that refused the tunnel
    elif isinstance(exc, TimeoutError):  # aiohttp.SocketTimeoutError is one
        kind = AnswerTimeout
    elif isinstance(exc, ValueError):  # a header aiohttp will not write, a URL it cannot use
        kind = Unwritable
    else:
        kind = AnswerLost
    return kind(message)


__all__ = ["AiohttpTransport", "Proxies", "tls_context"]
