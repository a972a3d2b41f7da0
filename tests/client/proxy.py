"""A small forwarding HTTP proxy on 127.0.0.1, in a thread of its own: the network edge for the
client's proxy tests.

It serves the two ways a client uses a proxy: a request in absolute form
(``POST http://host:port/path HTTP/1.1``), forwarded to the origin in origin form, and
``CONNECT host:port``, answered 200 and then tunnelled byte for byte (HTTPS). It closes each
client connection after one exchange (``Connection: close`` on the answer) and records what it
was asked (``seen``: ``"POST http://..."`` or ``"CONNECT host:port"``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType
from urllib.parse import urlsplit


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def _relay(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    await asyncio.gather(_pipe(client[0], upstream[1]), _pipe(upstream[0], client[1]))


def _without_hop_headers(lines: list[bytes]) -> list[bytes]:
    hop = (b"connection:", b"proxy-connection:", b"keep-alive:")
    return [line for line in lines if not line.lower().startswith(hop)]


class ForwardProxy:
    """``with ForwardProxy() as proxy:`` ... ``proxy.url``; ``proxy.seen`` lists the requests."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def __enter__(self) -> ForwardProxy:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._open(), self._loop).result(10)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            exchanges = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in exchanges:
                task.cancel()
            await asyncio.gather(*exchanges, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _open(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            self.seen.append(f"{method} {target}")
            if method == "CONNECT":
                await self._tunnel(target, (reader, writer))
            else:
                await self._forward(head, target, (reader, writer))
        writer.close()

    async def _tunnel(
        self, target: str, client: tuple[asyncio.StreamReader, asyncio.StreamWriter]
    ) -> None:
        host, _, port = target.rpartition(":")
        upstream = await asyncio.open_connection(host, int(port))
        client[1].write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await client[1].drain()
        await _relay(client, upstream)

    async def _forward(
        self, head: bytes, target: str, client: tuple[asyncio.StreamReader, asyncio.StreamWriter]
    ) -> None:
        url = urlsplit(target)
        assert url.hostname and url.port, f"not an absolute URL: {target}"
        lines = head.rstrip(b"\r\n").split(b"\r\n")
        origin_form = (url.path or "/") + (f"?{url.query}" if url.query else "")
        request_line = lines[0].replace(target.encode(), origin_form.encode(), 1)
        headers = [*_without_hop_headers(lines[1:]), b"Connection: close"]
        length = next((int(h[15:]) for h in headers if h.lower().startswith(b"content-length:")), 0)
        body = await client[0].readexactly(length)
        upstream = await asyncio.open_connection(url.hostname, url.port)
        upstream[1].write(b"\r\n".join([request_line, *headers]) + b"\r\n\r\n" + body)
        answer = await upstream[0].readuntil(b"\r\n\r\n")
        answer_lines = answer.rstrip(b"\r\n").split(b"\r\n")
        answer_lines = [answer_lines[0], *_without_hop_headers(answer_lines[1:])]
        client[1].write(b"\r\n".join([*answer_lines, b"Connection: close"]) + b"\r\n\r\n")
        await _relay(client, upstream)  # the answer's body down, to the close


__all__ = ["ForwardProxy"]
