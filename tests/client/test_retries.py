"""Retries: connection errors and 5xx/429 are tried again with backoff and Retry-After."""

from __future__ import annotations

import time

import pytest

from memfuse_server.client import (
    AsyncClient,
    Client,
    ConnectionFailed,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from memfuse_server.client.core import Core, Request
from memfuse_server.config import ClientSettings
from tests.client.loopback import LoopbackServer
from tests.serverproc import free_port

HELLO = [{"role": "user", "content": "hello"}]


def fast(url: str, retries: int = 3) -> AsyncClient:
    """A client that retries quickly (the first wait 10 ms, doubling)."""
    settings = ClientSettings(base_url=url, max_retries=retries, retry_backoff_seconds=0.01)
    return AsyncClient(settings=settings)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_a_failing_server_is_tried_again_until_it_answers(
    loopback: LoopbackServer, status: int
) -> None:
    loopback.fail_next(2, status)
    async with fast(loopback.base_url) as client:
        ids = await client.add_messages("s1", HELLO)
    assert len(ids) == 1
    assert loopback.requests == 3
    assert len(loopback.stored("s1")) == 1


async def test_retry_after_is_honoured(loopback: LoopbackServer) -> None:
    loopback.fail_next(1, 503, retry_after=0.4)
    async with fast(loopback.base_url) as client:
        start = time.perf_counter()
        await client.add_messages("s1", HELLO)
    assert time.perf_counter() - start >= 0.4
    assert loopback.requests == 2


async def test_backoff_grows_exponentially(loopback: LoopbackServer) -> None:
    loopback.fail_next(3, 503)
    settings = ClientSettings(base_url=loopback.base_url, retry_backoff_seconds=0.1)
    async with AsyncClient(settings=settings) as client:
        start = time.perf_counter()
        await client.add_messages("s1", HELLO)
    assert time.perf_counter() - start >= 0.1 + 0.2 + 0.4


async def test_after_the_last_retry_the_error_is_raised(loopback: LoopbackServer) -> None:
    loopback.fail_next(10, 503)
    async with fast(loopback.base_url, retries=2) as client:
        with pytest.raises(ServerError) as failed:
            await client.add_messages("s1", HELLO)
    assert failed.value.status == 503 and "Injected failure" in failed.value.message
    assert loopback.requests == 3


async def test_rate_limits_surface_as_their_own_error(loopback: LoopbackServer) -> None:
    loopback.fail_next(5, 429, retry_after=0)
    async with fast(loopback.base_url, retries=1) as client:
        with pytest.raises(RateLimitedError) as limited:
            await client.add_messages("s1", HELLO)
    assert limited.value.retry_after == 0


async def test_client_errors_are_not_retried(loopback: LoopbackServer) -> None:
    async with fast(loopback.base_url) as client:
        with pytest.raises(NotFoundError):
            await client.add_messages("missing-session", HELLO)
    assert loopback.requests == 1


async def test_a_dropped_connection_is_retried_without_duplicating(
    loopback: LoopbackServer,
) -> None:
    loopback.drop_next(1)
    async with fast(loopback.base_url) as client:
        await client.add_messages("s1", HELLO)
    assert loopback.requests == 2
    assert len(loopback.stored("s1")) == 1


async def test_an_unreachable_server_raises_connection_failed() -> None:
    async with fast(f"http://127.0.0.1:{free_port()}", retries=2) as client:
        with pytest.raises(ConnectionFailed) as failed:
            await client.health()
    assert "cannot reach the server" in failed.value.message


async def test_a_post_that_is_not_idempotent_is_not_repeated_after_a_500(
    loopback: LoopbackServer,
) -> None:
    settings = ClientSettings(base_url=loopback.base_url, retry_backoff_seconds=0.01)
    core = Core(settings)
    request = Request("POST", "/sessions/s1/messages", body={"messages": HELLO})
    try:
        loopback.fail_next(1, 500)
        with pytest.raises(ServerError):
            await core.request(request)
        assert loopback.requests == 1
        loopback.fail_next(1, 503)  # "not now": the server did nothing, so it is repeated
        await core.request(request)
        assert loopback.requests == 3
    finally:
        await core.aclose()


def test_the_blocking_client_retries_the_same_way(loopback: LoopbackServer) -> None:
    loopback.fail_next(2, 503)
    settings = ClientSettings(base_url=loopback.base_url, retry_backoff_seconds=0.01)
    with Client(settings=settings) as client:
        assert len(client.add_messages("s1", HELLO)) == 1
    assert loopback.requests == 3
