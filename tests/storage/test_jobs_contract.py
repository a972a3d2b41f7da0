"""The durable job queue: outbox enqueue, leases, retries, dead letters, stats."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest

from memfuse_server.embeddings.base import Vectors
from memfuse_server.errors import NotFound
from memfuse_server.models import LayerTimings, utcnow
from memfuse_server.storage import Store
from tests.storage.test_store_contract import add, new_session, prepared

VecFn = Callable[[int], Vectors]


async def closed_episode(store: Store, vectors: VecFn) -> str:
    session = await new_session(store)
    await add(store, session, ["one", "two"], vectors)
    await store.close_idle_windows(utcnow() + timedelta(seconds=1))
    return session.user_id


async def test_closing_an_episode_enqueues_its_job(store: Store, vectors: VecFn) -> None:
    user_id = await closed_episode(store, vectors)
    jobs = await store.claim_jobs("w1", 10, 60)
    assert [(j.kind, j.user_id, j.attempts) for j in jobs] == [("process_episode", user_id, 1)]
    assert await store.episode_input(str(jobs[0].payload["episode_id"])) is not None
    assert await store.claim_jobs("w2", 10, 60) == []  # leased


async def test_rounds_closing_in_one_request_enqueue_one_job_each(
    store: Store, vectors: VecFn
) -> None:
    session = await new_session(store)
    await add(store, session, ["a", "b", "c", "d", "e"], vectors, max_rounds=1)
    assert len(await store.claim_jobs("w", 10, 60)) == 4


async def test_a_lapsed_lease_is_claimed_again(store: Store, vectors: VecFn) -> None:
    await closed_episode(store, vectors)
    first = await store.claim_jobs("crashed", 1, 0.05)
    await asyncio.sleep(0.1)
    again = await store.claim_jobs("w2", 1, 60)
    assert [j.id for j in again] == [first[0].id] and again[0].attempts == 2


async def test_renewed_leases_hold(store: Store, vectors: VecFn) -> None:
    await closed_episode(store, vectors)
    job = (await store.claim_jobs("w1", 1, 0.2))[0]
    await store.renew_jobs("w1", [job.id], 60)
    await asyncio.sleep(0.3)
    assert await store.claim_jobs("w2", 1, 60) == []


async def test_failures_back_off_then_dead_letter_then_redrive(
    store: Store, vectors: VecFn
) -> None:
    await closed_episode(store, vectors)
    job = (await store.claim_jobs("w", 1, 60))[0]
    await store.fail_job(job.id, "boom", 0.05)
    assert await store.claim_jobs("w", 1, 60) == []  # not yet due
    await asyncio.sleep(0.1)
    job = (await store.claim_jobs("w", 1, 60))[0]
    await store.fail_job(job.id, "boom again", None)
    stats = await store.queue_stats()
    assert (stats.pending, stats.dead, stats.retries) == (0, 1, 1)
    assert [d["last_error"] for d in await store.dead_letters(10)] == ["boom again"]
    assert await store.retry_dead_jobs(None) == 1
    job = (await store.claim_jobs("w", 1, 60))[0]
    assert job.attempts == 1


async def test_completion_records_timings_and_mode(store: Store, vectors: VecFn) -> None:
    await closed_episode(store, vectors)
    job = (await store.claim_jobs("w", 1, 60))[0]
    await store.complete_job(job.id, LayerTimings("sequential", 12.0, 30.0))
    stats = await store.queue_stats()
    assert (stats.done, stats.last_mode, stats.m1_ms_avg, stats.m2_ms_avg) == (
        1,
        "sequential",
        12.0,
        30.0,
    )
    assert await store.purge_done_jobs(0) == 1


async def test_oldest_pending_age(store: Store, vectors: VecFn) -> None:
    assert (await store.queue_stats()).oldest_pending_age_seconds is None
    await closed_episode(store, vectors)
    await asyncio.sleep(0.05)
    age = (await store.queue_stats()).oldest_pending_age_seconds
    assert age is not None and age >= 0.05


async def test_editing_an_episode_message_enqueues_its_reprocessing(
    store: Store, vectors: VecFn
) -> None:
    session = await new_session(store)
    ids = await add(store, session, ["x", "y"], vectors)
    await store.close_idle_windows(utcnow() + timedelta(seconds=1))
    first = await store.claim_jobs("w", 10, 60)
    await store.update_messages(session.id, ids[:1], [prepared("z")], vectors(1))
    again = await store.claim_jobs("w", 10, 60)
    assert [j.payload for j in again] == [first[0].payload]


async def test_flushing_a_window_closes_it_now_and_enqueues_its_job(
    store: Store, vectors: VecFn
) -> None:
    session = await new_session(store)
    ids = await add(store, session, ["one", "two"], vectors)
    assert await store.claim_jobs("w", 10, 60) == []  # the window is open
    version = await store.memory_version(session.user_id)
    episode_id = await store.flush_window(session)
    assert episode_id is not None
    assert await store.memory_version(session.user_id) > version
    jobs = await store.claim_jobs("w", 10, 60)
    assert [j.payload["episode_id"] for j in jobs] == [episode_id]
    episode = await store.episode_input(episode_id)
    assert episode is not None and [m.id for m in episode.messages] == ids
    assert await store.flush_window(session) is None  # empty now: nothing to close
    assert await store.claim_jobs("w2", 10, 60) == []
    await store.delete_session(session.id)
    with pytest.raises(NotFound):
        await store.flush_window(session)
