"""The default transport's HTTP/1.1 against a scripted server: every framing of an answer, the
answers that end a connection, keep-alive, TLS, and a cancelled request."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pytest
import trustme
import uvloop

from memfuse_server.client.http1 import Http1Transport, split_url
from memfuse_server.client.transport import Outgoing
from tests.client.loopback import LoopbackServer
from tests.client.test_transport import post

Reply = Callable[[int], bytes]  # the n-th request on the server (from 0) -> the bytes to write


@dataclass
class Scripted:
    """A server that answers each request with scripted bytes: ``b""`` closes without answering,
    ``b"stall"`` holds the answer until ``stall`` is set, an answer saying close closes."""

    reply: Reply
    base_url: str = ""
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    ended: int = 0  # connections that ended (the client closed them, or the server did)
    stall: asyncio.Event = field(default_factory=asyncio.Event)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.lower().split(b"\r\n")
                length = next((int(x[15:]) for x in lines if x.startswith(b"content-length:")), 0)
                self.requests.append(head + await reader.readexactly(length))
                index = len(self.requests) - 1
                data = self.reply(index)
                if data == b"stall":  # hold the answer, then give what ``reply`` says by then
                    await self.stall.wait()
                    data = self.reply(index)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
                if b"connection: close" in data.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.ended += 1
            writer.close()


Start = Callable[..., Awaitable[Scripted]]  # (reply, tls=None) -> a started server


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    started: list[tuple[asyncio.Server, Scripted]] = []

    async def start_server(reply: Reply, tls: ssl.SSLContext | None = None) -> Scripted:
        holder = Scripted(reply)
        server = await asyncio.start_server(holder.serve, "127.0.0.1", 0, ssl=tls)
        port = server.sockets[0].getsockname()[1]
        holder.base_url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        started.append((server, holder))
        return holder

    yield start_server
    for server, holder in started:
        holder.stall.set()
        server.close()


def get(server: Scripted, path: str = "/x", method: str = "GET", timeout: float = 5.0) -> Outgoing:
    return Outgoing(method, server.base_url + path, {"Accept": "application/json"}, None, timeout)


def always(data: bytes) -> Reply:
    return lambda n: data


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
)


async def test_a_chunked_answer_is_read_whole_and_the_connection_reused(start: Start) -> None:
    server = await start(always(CHUNKED))
    async with Http1Transport() as transport:
        first = await transport.send(get(server))
        second = await transport.send(get(server))
    assert first.content == second.content == b"hello world"
    assert (len(server.requests), server.connections) == (2, 1)


@pytest.mark.parametrize("coding", [b"", b"Transfer-Encoding: identity\r\n"])
async def test_an_answer_without_a_length_runs_to_the_close(start: Start, coding: bytes) -> None:
    def reply(n: int) -> bytes:
        unframed = b"HTTP/1.1 200 OK\r\n" + coding + b"Connection: close\r\n\r\nall of it"
        return unframed if n == 0 else OK

    server = await start(reply)
    async with Http1Transport() as transport:
        first = await transport.send(get(server))
        assert first.content == b"all of it"
        await transport.send(get(server))
    assert server.connections == 2


async def test_an_answer_saying_close_is_not_reused(start: Start) -> None:
    closing = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    server = await start(lambda n: closing if n == 0 else OK)
    async with Http1Transport() as transport:
        await transport.send(get(server))
        await transport.send(get(server))
    assert server.connections == 2


async def test_informational_answers_are_skipped(start: Start) -> None:
    early = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
    server = await start(always(early + OK))
    async with Http1Transport() as transport:
        answer = await transport.send(get(server))
    assert (answer.status_code, answer.content, "link" in answer.headers) == (200, b"{}", False)


async def test_a_head_answer_ends_with_its_headers(start: Start) -> None:
    server = await start(always(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"))
    async with Http1Transport() as transport:
        answer = await transport.send(get(server, method="HEAD", timeout=2))
    assert (answer.status_code, answer.headers["content-length"], answer.content) == (
        200,
        "99",
        b"",
    )


SWITCH = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n"
CUT = b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\nConnection: close\r\n\r\nonly part"


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "is not HTTP"),  # not HTTP at all
        (SWITCH, "HttpParserUpgrade"),  # a switch to another protocol
        (CUT, "before answering in full"),  # the body cut short by a close
    ],
)
async def test_an_answer_that_cannot_be_read_is_a_protocol_error(
    start: Start, reply: bytes, said: str
) -> None:
    server = await start(always(reply))
    async with Http1Transport() as transport:
        with pytest.raises(httpx.RemoteProtocolError, match=said):
            await transport.send(get(server))


async def test_idle_connections_expire(start: Start) -> None:
    server = await start(always(OK))
    async with Http1Transport(keepalive_seconds=0.05) as transport:
        await transport.send(get(server))
        await transport.send(get(server))  # reused at once
        await asyncio.sleep(0.1)
        await transport.send(get(server))  # idle too long: a new connection
    assert (len(server.requests), server.connections) == (3, 2)


async def test_a_cancelled_request_does_not_leave_its_answer_for_the_next(start: Start) -> None:
    """The first request is cancelled while its answer is late: that connection is closed, so
    the second request cannot read the first one's answer."""
    late = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate"

    def reply(n: int) -> bytes:
        return b"stall" if n == 0 else OK

    server = await start(reply)
    async with Http1Transport() as transport:
        first = asyncio.create_task(transport.send(get(server)))
        await asyncio.sleep(0.1)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        server.reply = lambda n: late if n == 0 else OK
        server.stall.set()
        answer = await transport.send(get(server))
    assert answer.content == b"{}"
    assert server.connections == 2


async def test_a_connection_in_use_when_the_transport_closes_is_closed_after(
    start: Start,
) -> None:
    server = await start(lambda n: b"stall" if n == 0 else OK)
    transport = Http1Transport()
    in_flight = asyncio.create_task(transport.send(get(server)))
    await asyncio.sleep(0.1)
    await transport.aclose()
    server.reply = always(OK)
    server.stall.set()
    assert (await in_flight).status_code == 200  # the request in flight still gets its answer
    await asyncio.sleep(0.05)
    assert server.ended == 1  # and its connection is closed, not kept in a closed pool


async def test_the_request_on_the_wire(start: Start) -> None:
    server = await start(always(OK))
    request = Outgoing(
        "POST", server.base_url + "/a/b?c=d", {"Content-Type": "application/json"}, b'{"x":1}'
    )
    async with Http1Transport() as transport:
        await transport.send(request)
        await transport.send(Outgoing("POST", server.base_url + "/empty", {}, None))
    port = server.base_url.rsplit(":", 1)[1]
    assert server.requests[0] == (
        b"POST /a/b?c=d HTTP/1.1\r\nHost: 127.0.0.1:" + port.encode() + b"\r\n"
        b"Accept-Encoding: identity\r\nContent-Type: application/json\r\n"
        b'Content-Length: 7\r\n\r\n{"x":1}'
    )
    assert b"Content-Length: 0\r\n" in server.requests[1]


async def test_https_with_a_trusted_certificate(start: Start) -> None:
    authority = trustme.CA()
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(served)
    server = await start(always(OK), tls=served)
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    async with Http1Transport(ssl_context=trusting) as transport:
        assert (await transport.send(get(server))).status_code == 200
    async with Http1Transport() as untrusting:  # the system's roots do not know the test CA
        with pytest.raises(httpx.ConnectError, match="certificate"):
            await untrusting.send(get(server))


def test_urls_are_split_into_origin_and_target() -> None:
    origin, target = split_url("https://user@[::1]/api/v1/x?q=1")
    assert (origin.scheme, origin.host, origin.port, origin.host_header) == (
        "https",
        "::1",
        443,
        "[::1]",
    )
    assert target == "/api/v1/x?q=1"
    assert split_url("http://h:8/")[0].port == 8
    with pytest.raises(ValueError, match="absolute http"):
        split_url("ftp://h/x")


def test_the_transport_runs_on_uvloop(loopback: LoopbackServer) -> None:
    """uvloop's transports are not ``asyncio.Transport`` subclasses (the benchmarks run on it)."""

    async def two_requests() -> list[int]:
        async with Http1Transport() as transport:
            return [
                (await transport.send(post(loopback.base_url, key=k))).status_code for k in "ab"
            ]

    assert uvloop.run(two_requests()) == [201, 201]
    assert (loopback.requests, loopback.connections) == (2, 1)
