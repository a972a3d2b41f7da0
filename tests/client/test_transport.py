"""The transports against a loopback server: answers, and failures told apart by whether the
request may have reached the server (what makes a retry safe)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote

import httpx
import orjson
import pytest

from memfuse_server.client.aiohttp_transport import AiohttpTransport
from memfuse_server.client.core import Core, Request, api_root, as_transport
from memfuse_server.client.errors import ConnectionFailed, InvalidArgument
from memfuse_server.client.settings import ClientSettings
from memfuse_server.client.transport import (
    AnswerLost,
    AnswerTimeout,
    ConnectFailed,
    ConnectTimeout,
    HttpxTransport,
    Outgoing,
    Unwritable,
)
from tests.client.loopback import LoopbackServer
from tests.serverproc import ServerProcess, free_port

BODY = orjson.dumps({"messages": [{"role": "user", "content": "hello"}]})


def post(url: str, timeout: float = 5.0, key: str = "k1", session: str = "s1") -> Outgoing:
    return Outgoing(
        "POST",
        f"{url}/api/v1/sessions/{session}/messages",
        {"Content-Type": "application/json", "Idempotency-Key": key},
        BODY,
        timeout,
    )


def transport_of(kind: str) -> AiohttpTransport | HttpxTransport:
    return AiohttpTransport() if kind == "aiohttp" else HttpxTransport(httpx.AsyncHTTPTransport())


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
async def test_an_answer_comes_back_whole(loopback: LoopbackServer, kind: str) -> None:
    async with transport_of(kind) as transport:
        response = await transport.send(post(loopback.base_url))
    assert response.status_code == 201
    assert (
        response.headers["Content-Type"] == response.headers["content-type"] == "application/json"
    )
    assert len(orjson.loads(response.content)["data"]["message_ids"]) == 1
    assert orjson.loads(response.text)["status"] == "success"
    assert loopback.stored("s1") == [{"role": "user", "content": "hello"}]


async def test_connections_are_reused(loopback: LoopbackServer) -> None:
    async with AiohttpTransport() as transport:
        for i in range(5):
            await transport.send(post(loopback.base_url, key=f"k{i}"))
    assert (loopback.requests, loopback.connections) == (5, 1)


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
async def test_a_refused_connection_is_a_connect_error(kind: str) -> None:
    async with transport_of(kind) as transport:
        with pytest.raises(ConnectFailed) as failed:
            await transport.send(post(f"http://127.0.0.1:{free_port()}"))
    assert not failed.value.may_have_been_sent


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
async def test_a_slow_answer_is_a_read_timeout(loopback: LoopbackServer, kind: str) -> None:
    loopback.state.latency = 1.0
    async with transport_of(kind) as transport:
        with pytest.raises(AnswerTimeout) as failed:
            await transport.send(post(loopback.base_url, timeout=0.2))
    assert failed.value.may_have_been_sent and isinstance(failed.value, TimeoutError)


async def test_no_free_connection_in_time_is_a_pool_timeout(loopback: LoopbackServer) -> None:
    loopback.state.latency = 0.5
    async with AiohttpTransport(max_connections=1) as transport:
        slow = asyncio.create_task(transport.send(post(loopback.base_url)))
        await asyncio.sleep(0.1)  # the one connection is taken
        with pytest.raises(ConnectTimeout):
            await transport.send(post(loopback.base_url, timeout=0.1, key="k2"))
        assert (await slow).status_code == 201
    assert loopback.requests == 1  # the second request never left


async def test_a_dropped_connection_is_not_mistaken_for_an_unsent_request(
    loopback: LoopbackServer,
) -> None:
    loopback.drop_next(1)
    async with AiohttpTransport() as transport:
        with pytest.raises(AnswerLost) as failed:
            await transport.send(post(loopback.base_url))
    assert failed.value.may_have_been_sent
    assert loopback.requests == 1


async def test_a_post_without_idempotency_is_not_repeated_after_a_drop(
    loopback: LoopbackServer,
) -> None:
    """The server may have acted on it: the caller hears of the failure, nothing is resent."""
    core = Core(ClientSettings(base_url=loopback.base_url, retry_backoff_seconds=0.01))
    loopback.drop_next(1)
    try:
        with pytest.raises(ConnectionFailed):
            await core.request(Request("POST", "/sessions/s1/messages", body={"messages": []}))
    finally:
        await core.aclose()
    assert loopback.requests == 1


async def test_connections_the_server_closed_are_not_reused(loopback: LoopbackServer) -> None:
    async with AiohttpTransport() as transport:
        await transport.send(post(loopback.base_url))
        loopback.close_connections()
        await asyncio.sleep(0.05)
        response = await transport.send(post(loopback.base_url, key="k2"))
    assert response.status_code == 201
    assert (loopback.requests, loopback.connections) == (2, 2)


async def test_a_closed_transport_can_be_used_again(loopback: LoopbackServer) -> None:
    transport = AiohttpTransport()
    await transport.send(post(loopback.base_url))
    await transport.aclose()
    await transport.aclose()
    response = await transport.send(post(loopback.base_url, key="k2"))
    await transport.aclose()
    assert response.status_code == 201


FORGOTTEN = """
import asyncio, gc
from memfuse_server.client import AsyncClient, Client
from tests.client.loopback import LoopbackServer

server = LoopbackServer().start()
hello = [{"role": "user", "content": "hello"}]
Client(server.base_url).add_messages("s1", hello)   # never closed
gc.collect()

async def main():
    await AsyncClient(server.base_url).add_messages("s2", hello)   # never closed
    forgotten = AsyncClient(server.base_url)                      # kept to the end, unclosed
    await forgotten.add_messages("s3", hello)

asyncio.run(main())
print("stored", server.stored_count())
"""


def test_a_client_never_closed_still_closes_its_connections_quietly() -> None:
    """Sockets left open at exit are reported; the transport closes them with its loop."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", FORGOTTEN], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "stored 3" in done.stdout
    assert "Unclosed" not in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_an_httpx_transport_is_wrapped_and_the_default_is_aiohttp() -> None:
    asgi = httpx.ASGITransport(app=lambda scope, receive, send: None)  # type: ignore[arg-type]
    settings = ClientSettings(keepalive_seconds=7, proxy="http://proxy:3128", trust_env=False)
    wrapped = as_transport(asgi, settings)
    assert isinstance(wrapped, HttpxTransport) and wrapped.inner is asgi
    default = as_transport(None, settings)
    assert isinstance(default, AiohttpTransport) and default.keepalive_seconds == 7
    assert str(default.proxies.configured) == "http://proxy:3128"
    own = AiohttpTransport()
    assert as_transport(own, settings) is own


async def test_paths_and_query_parameters_are_percent_encoded(loopback: LoopbackServer) -> None:
    """Ids and names reach the server as given, whatever characters they hold."""
    core = Core(ClientSettings(base_url=loopback.base_url))
    odd = "a b/c?d#e%f-é"
    try:
        url = core.urls.get(f"/sessions/{odd}/messages", {"q": "x&y=z", "flag": True, "none": None})
        assert url == (
            api_root(loopback.base_url)
            + "/sessions/a%20b/c%3Fd%23e%25f-%C3%A9/messages?q=x%26y%3Dz&flag=true"
        )
        session = "s p@ce:é"
        await core.request(
            Request(
                "POST",
                f"/sessions/{session}/messages",
                body={"messages": [{"role": "user", "content": "hi"}]},
                headers={"Idempotency-Key": "k"},
                idempotent=True,
            )
        )
    finally:
        await core.aclose()
    on_the_wire = "s%20p@ce:%C3%A9"  # the loopback server keeps the path segment as sent
    assert unquote(on_the_wire) == session
    assert loopback.stored(on_the_wire) == [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
async def test_a_header_with_a_line_break_is_refused_before_sending(
    loopback: LoopbackServer, kind: str
) -> None:
    """A key like ``"k\r\nX-Admin: 1"`` would add a header on the wire: nothing is sent."""
    async with transport_of(kind) as transport:
        with pytest.raises(Unwritable):
            await transport.send(post(loopback.base_url, key="k\r\nX-Admin: 1"))
    assert loopback.requests == 0


async def test_a_request_that_cannot_be_written_is_an_invalid_argument(
    loopback: LoopbackServer,
) -> None:
    core = Core(ClientSettings(base_url=loopback.base_url, retry_backoff_seconds=0.01))
    try:
        with pytest.raises(InvalidArgument, match="nothing was sent"):
            await core.request(
                Request(
                    "POST",
                    "/sessions/s1/messages",
                    body={"messages": [{"role": "user", "content": "hi"}]},
                    headers={"Idempotency-Key": "k\nX-Admin: 1"},
                    idempotent=True,
                )
            )
    finally:
        await core.aclose()
    assert loopback.requests == 0


def test_the_server_keeps_an_idle_connection_as_configured(fresh_server: ServerProcess) -> None:
    """``server.keepalive_seconds`` reaches uvicorn: an idle connection closes after it."""
    fresh_server.settings = {"server": {"keepalive_seconds": 1}}
    fresh_server.start()
    host, port = fresh_server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET /api/v1/health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        started = time.monotonic()
        received = b""
        while chunk := sock.recv(65536):  # the answer, then the end when the server closes
            received += chunk
        assert received.startswith(b"HTTP/1.1 200") and b'"status"' in received
        assert 0.5 < time.monotonic() - started < 5


@pytest.mark.parametrize("url", ["localhost:8765", "ftp://host/", "http://"])
def test_a_base_url_that_is_not_http_is_refused_at_once(url: str) -> None:
    with pytest.raises(InvalidArgument, match="not an http:// or https:// URL"):
        Core(ClientSettings(base_url=url))
