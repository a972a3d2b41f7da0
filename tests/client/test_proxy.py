"""The client through a real forwarding proxy on loopback: HTTP_PROXY / HTTPS_PROXY / NO_PROXY
from the environment, ``client.proxy`` and ``client.trust_env``, HTTPS through a CONNECT tunnel
with a test CA, and a proxy that cannot be reached."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import orjson
import pytest
import trustme

from memfuse_server.client import AsyncClient, Client, ConnectionFailed
from memfuse_server.client.settings import ClientSettings
from tests.client.loopback import LoopbackServer
from tests.client.proxy import ForwardProxy
from tests.serverproc import free_port

HELLO = [{"role": "user", "content": "hello"}]
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ForwardProxy]:
    for name in PROXY_VARIABLES:  # only what a test sets
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    with ForwardProxy() as running:
        yield running


def messages_url(loopback: LoopbackServer, session: str = "s1") -> str:
    return f"POST {loopback.base_url}/api/v1/sessions/{session}/messages"


async def test_http_proxy_from_the_environment_carries_the_requests(
    proxy: ForwardProxy, loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with AsyncClient(loopback.base_url) as client:
        await client.add_messages("s1", HELLO)
        await client.add_messages("s2", HELLO)
    assert proxy.seen == [messages_url(loopback, "s1"), messages_url(loopback, "s2")]
    assert loopback.stored("s1") == loopback.stored("s2") == HELLO


async def test_no_proxy_and_trust_env_keep_requests_direct(
    proxy: ForwardProxy, loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    async with AsyncClient(loopback.base_url) as client:
        await client.add_messages("s1", HELLO)
    monkeypatch.delenv("NO_PROXY")
    async with AsyncClient(
        settings=ClientSettings(base_url=loopback.base_url, trust_env=False)
    ) as c:
        await c.add_messages("s2", HELLO)
    assert proxy.seen == []
    assert loopback.requests == 2


def test_the_configured_proxy_is_used_by_the_blocking_client_too(
    proxy: ForwardProxy, loopback: LoopbackServer
) -> None:
    settings = ClientSettings(base_url=loopback.base_url, proxy=proxy.url, trust_env=False)
    with Client(settings=settings) as client:
        client.add_messages("s1", HELLO)
    assert proxy.seen == [messages_url(loopback)]


async def test_an_unreachable_proxy_is_a_connection_failure_retried_as_never_sent(
    loopback: LoopbackServer,
) -> None:
    settings = ClientSettings(
        base_url=loopback.base_url,
        proxy=f"http://127.0.0.1:{free_port()}",
        max_retries=2,
        retry_backoff_seconds=0.01,
    )
    async with AsyncClient(settings=settings) as client:
        with pytest.raises(ConnectionFailed, match="proxy"):
            await client.add_messages("s1", HELLO)
    assert loopback.requests == 0


HEALTH = orjson.dumps({"status": "success", "code": 200, "data": {"status": "ok", "version": "t"}})


@pytest.fixture
async def https_server(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """A TLS server answering the health envelope, and the PEM of the CA that signed it."""
    authority = trustme.CA()
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(served)
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.readuntil(b"\r\n\r\n"):
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            )
            writer.write(head % len(HEALTH) + HEALTH)
            await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=served)
    yield f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}", bundle
    server.close()


async def test_https_goes_through_a_connect_tunnel_with_the_ca_bundle(
    proxy: ForwardProxy, https_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, bundle = https_server
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    async with AsyncClient(settings=ClientSettings(base_url=url, ca_bundle=bundle)) as client:
        assert (await client.health()).status == "ok"
    assert proxy.seen == [f"CONNECT {url.removeprefix('https://')}"]
