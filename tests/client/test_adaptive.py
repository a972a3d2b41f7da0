"""Adaptive concurrency: AIMD grows on steady latency, backs off on queueing and errors."""

from __future__ import annotations

import asyncio

import pytest

from memfuse_server.client import AsyncClient, BulkItem
from memfuse_server.client.adaptive import AIMD, ConcurrencyLimit
from tests.client.loopback import LoopbackServer


def feed(control: AIMD, latency: float, windows: int, congested: bool = False) -> list[int]:
    """Complete ``windows`` windows at ``latency`` (``int(limit)`` requests in flight)."""
    limits = []
    for _ in range(windows):
        new = None
        while new is None:
            ok = None if congested else latency
            new = control.observe(ok, int(control.limit), congested)
        limits.append(new)
    return limits


def test_steady_latency_grows_to_the_maximum() -> None:
    control = AIMD(max_limit=50)
    assert feed(control, 0.05, 6) == [2, 4, 8, 16, 32, 50]  # slow start doubles


def test_errors_halve_the_limit_and_end_slow_start() -> None:
    control = AIMD(max_limit=50, initial=32)
    assert feed(control, 0.05, 1, congested=True) == [16]
    assert feed(control, 0.05, 2) == [17, 18]  # then one at a time


def test_queueing_latency_shrinks_the_limit() -> None:
    control = AIMD(max_limit=50, initial=20)
    feed(control, 0.05, 1)  # learns the unloaded latency: 50 ms
    shrunk = feed(control, 0.2, 3)  # 40 in flight, 4x the latency: most of them queued
    assert shrunk == sorted(shrunk, reverse=True) and shrunk[-1] < 40
    assert not control.slow_start


async def test_the_limit_can_change_while_held() -> None:
    limit = ConcurrencyLimit(2)
    await limit.acquire()
    await limit.acquire()
    waiter = asyncio.create_task(limit.acquire())
    await asyncio.sleep(0)
    assert not waiter.done()
    limit.set_limit(3)
    await asyncio.wait_for(waiter, 1)
    assert (limit.in_flight, limit.peak) == (3, 3)
    limit.set_limit(1)
    blocked = asyncio.create_task(limit.acquire())
    for _ in range(2):
        limit.release()
    await asyncio.sleep(0)
    assert not blocked.done()  # 1 in flight, limit 1
    blocked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocked
    limit.release()
    assert limit.in_flight == 0


def items(n: int, tag: str) -> list[BulkItem]:
    return [BulkItem(f"s{i % 7}", [{"role": "user", "content": f"{tag} {i}"}]) for i in range(n)]


async def test_without_a_ceiling_adaptive_climbs_high(loopback: LoopbackServer) -> None:
    """Pure network latency: nothing queues, so AIMD keeps growing (the client's own CPU, shared
    here with the loopback server, is the only thing that queues at the top)."""
    loopback.state.latency = 0.2
    async with AsyncClient(loopback.base_url) as client:
        result = await client.bulk_add(items(300, "free"), max_concurrency=50, adaptive=True)
    assert result.ok and result.adaptive
    assert result.peak_in_flight >= 16  # far above the capacity of 4 in the test below


async def test_adaptive_settles_near_a_servers_capacity() -> None:
    """A server that serves 4 at a time (20 ms each): more only queues. AIMD should neither run
    to 50 nor sit below 4 (it allows some queueing: a batching server, like our embedder, gets
    faster with a queue), and should reach the throughput of the best fixed setting."""
    with LoopbackServer(latency=0.02, capacity=4) as server:
        async with AsyncClient(server.base_url) as client:
            best = await client.bulk_add(items(200, "fixed"), max_concurrency=4)
            adaptive = await client.bulk_add(items(400, "aimd"), max_concurrency=50, adaptive=True)
    assert adaptive.ok
    assert 4 <= adaptive.final_concurrency <= 25
    assert adaptive.throughput >= 0.75 * best.throughput
