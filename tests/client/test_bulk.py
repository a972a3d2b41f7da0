"""bulk_add: bounded concurrency, per-item timeouts, partial failures, metrics, idempotent re-runs."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
import yaml

from memfuse_server.client import (
    AsyncClient,
    BulkItem,
    Client,
    InvalidArgument,
    ItemResult,
    NotFoundError,
    NotSent,
    RequestTimeout,
    ServerError,
)
from memfuse_server.config import ClientSettings, load_settings, masked
from tests.client.loopback import LoopbackServer


def texts(n: int, tag: str = "") -> list[BulkItem]:
    return [BulkItem(f"s{i}", [{"role": "user", "content": f"note {tag}{i}"}]) for i in range(n)]


async def make_sessions(client: AsyncClient, n: int) -> list[str]:
    user = await client.create_user(f"bulk-{uuid.uuid4().hex[:10]}")
    agent = await client.get_or_create_agent("assistant")
    return [(await client.create_session(user.id, agent.id, f"s{i}")).id for i in range(n)]


async def count(client: AsyncClient, session_id: str) -> int:
    return len(await client.list_messages(session_id, limit=1000))


async def test_partial_failures_are_returned_per_item_and_match_the_server(
    http_client: AsyncClient,
) -> None:
    sessions = await make_sessions(http_client, 3)
    missing = str(uuid.uuid4())
    items = [
        BulkItem(sid, [{"role": "user", "content": f"fact {i} of {sid}"}])
        for i in range(5)
        for sid in [*sessions, missing]
    ]
    result = await http_client.bulk_add(items, max_concurrency=8)

    assert [r.index for r in result.items] == list(range(len(items)))
    assert len(result.failed) == 5 and not result.ok
    assert all(r.session_id == missing for r in result.failed)
    assert all(isinstance(r.error, NotFoundError) for r in result.failed)
    assert all(len(r.message_ids) == 1 for r in result.succeeded)
    assert [await count(http_client, sid) for sid in sessions] == [5, 5, 5]

    metrics = http_client.get_insertion_metrics()
    assert metrics.total_items_inserted == 15 == len(result.succeeded)
    assert metrics.total_messages_inserted == sum([await count(http_client, s) for s in sessions])
    assert metrics.errors == 5
    assert metrics.batches_processed == 1
    assert metrics.max_concurrent_insertions == 8
    assert (
        metrics.peak_in_flight == 8 == result.peak_in_flight
    )  # 20 items: all 8 slots fill at once
    assert metrics.total_insertion_time_seconds == pytest.approx(result.elapsed_seconds)
    assert metrics.average_throughput_items_per_sec == pytest.approx(15 / result.elapsed_seconds)
    assert metrics.average_latency_seconds_per_item == pytest.approx(result.elapsed_seconds / 15)
    assert metrics.mean_request_latency_seconds > 0

    http_client.reset_metrics()
    assert http_client.get_insertion_metrics().as_dict() == {k: 0 for k in metrics.as_dict()}


async def test_running_the_same_items_again_adds_nothing(http_client: AsyncClient) -> None:
    (sid,) = await make_sessions(http_client, 1)
    items = [BulkItem(sid, [{"role": "user", "content": f"turn {i}"}]) for i in range(12)]
    first = await http_client.bulk_add(items, max_concurrency=4)
    again = await http_client.bulk_add(items, max_concurrency=4)
    assert first.ok and again.ok
    assert first.message_ids == again.message_ids
    assert await count(http_client, sid) == 12
    # Keys come from position and content: the same words at another position are new.
    assert len({r.idempotency_key for r in first.items}) == 12
    metrics = http_client.get_insertion_metrics()
    assert metrics.batches_processed == 2 and metrics.total_items_inserted == 24


async def test_concurrency_is_bounded(loopback: LoopbackServer) -> None:
    loopback.state.latency = 0.05
    async with AsyncClient(loopback.base_url) as client:
        result = await client.bulk_add(texts(30), max_concurrency=5)
        assert result.ok and result.peak_in_flight == 5
        assert loopback.max_in_flight == 5
        one = await client.bulk_add(texts(5, "b"), max_concurrency=1)
    assert one.ok and one.peak_in_flight == 1
    assert loopback.stored_count() == 35


@pytest.mark.parametrize("bad", [0, -1, 51])
async def test_max_concurrency_must_be_1_to_50(loopback: LoopbackServer, bad: int) -> None:
    async with AsyncClient(loopback.base_url) as client:
        with pytest.raises(InvalidArgument, match="between 1 and 50") as raised:
            await client.bulk_add(texts(3), max_concurrency=bad)
        with pytest.raises(ValueError, match="item_timeout"):
            await client.bulk_add(texts(3), item_timeout=0)
    assert isinstance(raised.value, ValueError)
    assert loopback.requests == 0
    with pytest.raises(ValueError):
        ClientSettings(max_concurrency=bad)


async def test_items_that_take_too_long_time_out_one_by_one(loopback: LoopbackServer) -> None:
    loopback.state.latency = 2.0
    async with AsyncClient(loopback.base_url) as client:
        result = await client.bulk_add(texts(6), max_concurrency=3, item_timeout=0.2)
        metrics = client.get_insertion_metrics()
    assert len(result.failed) == 6
    assert all(isinstance(r.error, RequestTimeout) for r in result.failed)
    assert all(isinstance(r.error, TimeoutError) for r in result.failed)
    assert "item_timeout=0.2s" in str(result.failed[0].error)
    assert result.elapsed_seconds < 1.5  # two rounds of 0.2 s, not 2 s each
    assert metrics.errors == 6 and metrics.total_items_inserted == 0


async def test_a_cancelled_call_still_counts_what_it_inserted(loopback: LoopbackServer) -> None:
    """Ctrl-C mid-run: the metrics hold the items that ended and those cut off in flight, and
    the server's count lies between the two (a cut-off request may still be stored)."""
    loopback.state.latency = 0.1
    ended: list[int] = []
    eight = asyncio.Event()

    def on_result(result: ItemResult) -> None:
        ended.append(result.index)
        if len(ended) == 8:
            eight.set()

    async with AsyncClient(loopback.base_url) as client:
        run = asyncio.create_task(
            client.bulk_add(texts(40), max_concurrency=4, on_result=on_result)
        )
        await eight.wait()
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        metrics = client.get_insertion_metrics()
    await asyncio.sleep(0.3)  # the server finishes the requests it had
    assert metrics.batches_processed == 1
    assert metrics.total_items_inserted == len(ended) and metrics.errors == 0
    assert metrics.cut_off_items == 4
    inserted = metrics.total_items_inserted
    assert inserted <= loopback.stored_count() <= inserted + metrics.cut_off_items
    assert loopback.stored_count() < 40


async def test_a_session_keeps_its_order_when_asked(loopback: LoopbackServer) -> None:
    loopback.state.latency = 0.01
    items = [
        BulkItem(sid, [{"role": "user", "content": f"{sid} turn {i}"}])
        for i in range(10)
        for sid in ("a", "b", "c")
    ]
    async with AsyncClient(loopback.base_url) as client:
        result = await client.bulk_add(items, max_concurrency=10, in_session_order=True)
    assert result.ok and result.peak_in_flight <= 3  # one request per session at a time
    for sid in ("a", "b", "c"):
        assert [m["content"] for m in loopback.stored(sid)] == [
            f"{sid} turn {i}" for i in range(10)
        ]


async def test_settings_come_from_yaml_and_the_environment(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    loopback.state.latency = 0.03
    config = tmp_path / "memfuse.yaml"
    config.write_text(yaml.safe_dump({"client": {"max_concurrency": 3, "item_timeout_seconds": 5}}))
    from_yaml = load_settings(config, {}).client
    from_env = load_settings(config, {"MEMFUSE_CLIENT__MAX_CONCURRENCY": "7"}).client
    assert (from_yaml.max_concurrency, from_env.max_concurrency) == (3, 7)
    assert from_env.item_timeout_seconds == 5

    for settings, expected in ((from_yaml, 3), (from_env, 7)):
        loopback.state.max_in_flight = 0
        async with AsyncClient(loopback.base_url, settings=settings) as client:
            result = await client.bulk_add(texts(21, str(expected)))
        assert result.max_concurrency == expected == loopback.max_in_flight


def test_the_client_api_key_is_masked() -> None:
    settings = load_settings(None, {"MEMFUSE_CLIENT__API_KEY": "sekret"})
    assert settings.client.api_key.get_secret_value() == "sekret"
    assert masked(settings)["client"]["api_key"] == "********"


def test_the_blocking_client_bulk_adds_too(loopback: LoopbackServer) -> None:
    with Client(loopback.base_url) as client:
        result = client.bulk_add(texts(10), max_concurrency=4)
        assert result.ok
        assert client.get_insertion_metrics().total_items_inserted == 10
    assert loopback.stored_count() == 10


async def test_a_mapping_is_an_item_too(loopback: LoopbackServer) -> None:
    async with AsyncClient(loopback.base_url) as client:
        result = await client.bulk_add(
            [{"session_id": "s", "messages": [{"role": "user", "content": "hi"}]}]
        )
        assert result.ok
        with pytest.raises(InvalidArgument, match="session_id and messages"):
            await client.bulk_add([{"messages": []}])
        with pytest.raises(InvalidArgument, match="no messages"):
            await client.bulk_add([BulkItem("s", [])])


async def test_a_failed_turn_holds_back_the_rest_of_its_session_until_run_again(
    loopback: LoopbackServer,
) -> None:
    """In session order, a failure that may pass stops that session (not the others), so a
    second run stores the missing turns in their place instead of after later ones."""
    sessions = ("a", "b", "c")
    items = [
        BulkItem(sid, [{"role": "user", "content": f"{sid} turn {i}"}])
        for i in range(10)
        for sid in sessions
    ]
    turns = {sid: [f"{sid} turn {i}" for i in range(10)] for sid in sessions}
    loopback.fail_next(1, 503)
    async with AsyncClient(loopback.base_url, max_retries=0) as client:
        first = await client.bulk_add(items, in_session_order=True)
        [failed] = [r for r in first.failed if not isinstance(r.error, NotSent)]
        stopped = failed.session_id
        held = [r for r in first.failed if isinstance(r.error, NotSent)]
        assert isinstance(failed.error, ServerError)
        assert held and {r.session_id for r in held} == {stopped}
        assert len(first.succeeded) + 1 + len(held) == len(items)
        assert client.get_insertion_metrics().errors == 1 + len(held)
        stored = [m["content"] for m in loopback.stored(stopped)]
        assert stored == turns[stopped][: len(stored)] and len(stored) + 1 + len(held) == 10
        for sid in set(sessions) - {stopped}:
            assert [m["content"] for m in loopback.stored(sid)] == turns[sid]

        again = await client.bulk_add(items, in_session_order=True)
    assert again.ok
    for sid in sessions:
        assert [m["content"] for m in loopback.stored(sid)] == turns[sid]


async def test_a_rejected_turn_does_not_hold_back_its_session(loopback: LoopbackServer) -> None:
    """A 4xx is about the item itself: the session goes on (nothing is stored out of order)."""
    items = [BulkItem("missing-x", [{"role": "user", "content": f"turn {i}"}]) for i in range(3)]
    async with AsyncClient(loopback.base_url, max_retries=0) as client:
        result = await client.bulk_add(items, in_session_order=True)
    assert [type(r.error) for r in result.items] == [NotFoundError] * 3
    assert loopback.requests == 3
