"""The default transport against a scripted server: every framing of an answer, answers cut
short (by a close or a reset) that must never pass for whole ones, TLS settings, a cancelled
request, and uvloop."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme
import uvloop

from memfuse_server.client.aiohttp_transport import AiohttpTransport, tls_context
from memfuse_server.client.core import as_transport
from memfuse_server.client.errors import InvalidArgument
from memfuse_server.client.settings import ClientSettings
from memfuse_server.client.transport import AnswerLost, ConnectFailed, Outgoing
from tests.client.loopback import LoopbackServer
from tests.client.test_transport import post

RESET = b"reset"  # the end of a scripted reply: drop the connection with a TCP reset
STALL = b"stall"  # hold the answer until ``stall`` is set, then give what ``reply`` says
Reply = Callable[[int], bytes]  # the n-th request on the server (from 0) -> the bytes to write


@dataclass
class Scripted:
    """A server that answers each request with scripted bytes: ``b""`` closes without answering,
    a reply ending in ``RESET`` writes the rest and resets the connection, an answer saying
    close closes."""

    reply: Reply
    base_url: str = ""
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    stall: asyncio.Event = field(default_factory=asyncio.Event)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await self._one(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.lower().split(b"\r\n")
        length = next((int(x[15:]) for x in lines if x.startswith(b"content-length:")), 0)
        self.requests.append(head + await reader.readexactly(length))
        index = len(self.requests) - 1
        data = self.reply(index)
        if data == STALL:
            await self.stall.wait()
            data = self.reply(index)
        if data.endswith(RESET):
            writer.write(data.removesuffix(RESET))
            await writer.drain()
            await asyncio.sleep(0.05)  # the bytes arrive; then the reset
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        writer.write(data)
        await writer.drain()
        return bool(data) and b"connection: close" not in data.lower()


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
UNFRAMED = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"


async def test_a_chunked_answer_is_read_whole_and_the_connection_reused(start: Start) -> None:
    server = await start(always(CHUNKED))
    async with AiohttpTransport() as transport:
        first = await transport.send(get(server))
        second = await transport.send(get(server))
    assert first.content == second.content == b"hello world"
    assert (len(server.requests), server.connections) == (2, 1)


async def test_an_answer_without_a_length_runs_to_a_clean_close(start: Start) -> None:
    server = await start(lambda n: UNFRAMED + b'{"all": "of it"}' if n == 0 else OK)
    async with AiohttpTransport() as transport:
        first = await transport.send(get(server))
        assert first.content == b'{"all": "of it"}'
        await transport.send(get(server))
    assert server.connections == 2


@pytest.mark.parametrize(
    "reply",
    [
        UNFRAMED + b'{"data": {"message_ids": ["m1"' + RESET,  # to the close, ended by a reset
        b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nonly part",  # a length, then a close
        b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nonly part" + RESET,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n" + RESET,
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",  # not HTTP at all
        b"",  # closed without a word
    ],
    ids=["unframed-reset", "length-close", "length-reset", "chunked-reset", "not-http", "none"],
)
async def test_an_answer_that_is_not_whole_is_never_a_success(start: Start, reply: bytes) -> None:
    server = await start(always(reply))
    async with AiohttpTransport() as transport:
        with pytest.raises(AnswerLost) as failed:
            await transport.send(get(server))
    assert failed.value.may_have_been_sent


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_reset_after_an_unframed_answer_fails_on_either_loop(loop: str) -> None:
    async def main() -> None:
        server = Scripted(always(UNFRAMED + b'{"data": 1' + RESET))
        listening = await asyncio.start_server(server.serve, "127.0.0.1", 0)
        server.base_url = f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}"
        try:
            async with AiohttpTransport() as transport:
                with pytest.raises(AnswerLost, match="reset"):
                    await transport.send(get(server))
        finally:
            listening.close()

    (uvloop.run if loop == "uvloop" else asyncio.run)(main())


async def test_informational_answers_are_skipped(start: Start) -> None:
    early = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
    server = await start(always(early + OK))
    async with AiohttpTransport() as transport:
        answer = await transport.send(get(server))
    assert (answer.status_code, answer.content) == (200, b"{}")


async def test_a_cancelled_request_does_not_leave_its_answer_for_the_next(start: Start) -> None:
    """The first request is cancelled while its answer is late: that connection is closed, so
    the second request cannot read the first one's answer."""
    late = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate"
    server = await start(lambda n: STALL if n == 0 else OK)
    async with AiohttpTransport() as transport:
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


async def test_the_request_on_the_wire(start: Start) -> None:
    server = await start(always(OK))
    request = Outgoing(
        "POST", server.base_url + "/a/b%20c?d=e", {"Content-Type": "application/json"}, b'{"x":1}'
    )
    async with AiohttpTransport() as transport:
        await transport.send(request)
    head, body = server.requests[0].split(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /a/b%20c?d=e HTTP/1.1"  # the target exactly as encoded
    assert b"Content-Type: application/json" in lines and b"Content-Length: 7" in lines
    assert body == b'{"x":1}'


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def served(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.fixture
def ca_bundle(authority: trustme.CA, tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    yield path


async def test_https_trusts_the_configured_ca_bundle(
    start: Start, served: ssl.SSLContext, ca_bundle: Path
) -> None:
    server = await start(always(OK), tls=served)
    settings = ClientSettings(ca_bundle=ca_bundle)
    async with as_transport(None, settings) as transport:
        assert (await transport.send(get(server))).status_code == 200
    async with as_transport(None, ClientSettings()) as untrusting:  # the system's roots
        with pytest.raises(ConnectFailed, match="certificate") as failed:
            await untrusting.send(get(server))
    assert not failed.value.may_have_been_sent


async def test_https_without_verification_accepts_any_certificate(
    start: Start, served: ssl.SSLContext
) -> None:
    server = await start(always(OK), tls=served)
    async with as_transport(None, ClientSettings(verify=False)) as transport:
        assert (await transport.send(get(server))).status_code == 200


def test_a_ca_bundle_that_cannot_be_read_is_refused_at_once(tmp_path: Path) -> None:
    (tmp_path / "not.pem").write_text("not a certificate")
    for bad in (tmp_path / "missing.pem", tmp_path / "not.pem"):
        with pytest.raises(InvalidArgument, match=r"client\.ca_bundle"):
            as_transport(None, ClientSettings(ca_bundle=bad))
    assert tls_context(verify=False).verify_mode == ssl.CERT_NONE


def test_the_transport_runs_on_uvloop(loopback: LoopbackServer) -> None:
    async def two_requests() -> list[int]:
        async with AiohttpTransport() as transport:
            return [
                (await transport.send(post(loopback.base_url, key=k))).status_code for k in "ab"
            ]

    assert uvloop.run(two_requests()) == [201, 201]
    assert (loopback.requests, loopback.connections) == (2, 1)


def test_a_transport_used_by_two_event_loops_one_after_the_other(
    loopback: LoopbackServer,
) -> None:
    transport = AiohttpTransport()

    async def one(key: str) -> int:
        return (await transport.send(post(loopback.base_url, key=key))).status_code

    assert asyncio.run(one("a")) == 201  # that loop ends: its session closes with it
    assert asyncio.run(one("b")) == 201
    asyncio.run(transport.aclose())
    assert loopback.requests == 2
