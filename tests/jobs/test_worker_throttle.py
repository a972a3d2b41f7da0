"""The worker runs no more jobs at once than its throttle allows, pauses when told, and drains."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from memfuse_server.buffer import RoundBuffer
from memfuse_server.config import WorkerSettings, load_settings
from memfuse_server.jobs.throttle import MIN_PAUSE_SECONDS, Throttle
from memfuse_server.jobs.worker import Worker
from memfuse_server.models import Job, LayerTimings, NewMessage, Role, utcnow
from memfuse_server.storage import PreparedMessage, Store, open_store

SETTINGS = WorkerSettings(concurrency=4, poll_interval_seconds=0.01, throttle_interval_seconds=1.0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A job handler that notes how many jobs run at once, and when each starts and ends."""

    def __init__(self, hold: float = 0.02) -> None:
        self.hold = hold
        self.running = self.peak = 0
        self.spans: list[tuple[float, float]] = []
        self.full = asyncio.Event()  # set when ``worker.concurrency`` jobs ran at once

    async def __call__(self, job: Job) -> LayerTimings | None:
        start = time.monotonic()
        self.running += 1
        self.peak = max(self.peak, self.running)
        if self.running == SETTINGS.concurrency:
            self.full.set()
        await asyncio.sleep(self.hold)
        self.running -= 1
        self.spans.append((start, time.monotonic()))
        return None


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = open_store(load_settings(environ={"MEMFUSE_DATABASE__URL": f"sqlite:///{tmp_path}/m.db"}))
    await s.open()
    yield s
    await s.close()


async def enqueue(store: Store, episodes: int) -> None:
    """``episodes`` closed episodes, so as many pending jobs."""
    user, _ = await store.create_user("alice", None)
    agent, _ = await store.create_agent("agent", None)
    for i in range(episodes):
        session = await store.create_session(user.id, agent.id, f"s{i}")
        message = PreparedMessage(NewMessage(Role.USER, f"message {i}"), f"message {i}", 3)
        vector = np.eye(1, 384, dtype=np.float32)
        await store.add_messages(session, [message], vector, RoundBuffer(800, 5))
    await store.close_idle_windows(utcnow() + timedelta(seconds=1))


async def drain(store: Store, worker: Worker) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    async with asyncio.timeout(30):
        while (q := await store.queue_stats()).pending + q.running > 0:  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # the database's queue is what is waited on
    stop.set()
    await task


def slowed(clock: Clock, steps: int) -> Throttle:
    """A throttle after ``steps`` intervals of requests slower than the target."""
    throttle = Throttle(SETTINGS, clock)
    for _ in range(steps):
        throttle.observe(1.0)
        clock.now += SETTINGS.throttle_interval_seconds
        throttle.state  # noqa: B018  (the throttle looks when asked)
    return throttle


async def test_an_unthrottled_worker_runs_its_full_concurrency(store: Store) -> None:
    await enqueue(store, 8)
    recorder = Recorder(hold=0.2)
    worker = Worker(store, recorder, SETTINGS, throttle=Throttle(SETTINGS, Clock()))
    await drain(store, worker)
    assert recorder.peak == 4 and len(recorder.spans) == 8


async def test_slow_requests_shrink_it_to_one_job_and_the_queue_still_drains(
    store: Store,
) -> None:
    await enqueue(store, 6)
    throttle = slowed(Clock(), 2)
    assert throttle.limit == 1
    recorder = Recorder()
    await drain(store, Worker(store, recorder, SETTINGS, throttle=throttle))
    assert recorder.peak == 1 and len(recorder.spans) == 6


async def test_at_one_job_it_pauses_between_jobs(store: Store) -> None:
    await enqueue(store, 4)
    throttle = slowed(Clock(), 3)
    assert (throttle.limit, throttle.pause_seconds) == (1, MIN_PAUSE_SECONDS)
    recorder = Recorder(hold=0.0)
    await drain(store, Worker(store, recorder, SETTINGS, throttle=throttle))
    spans = sorted(recorder.spans)
    gaps = [nxt[0] - prev[1] for prev, nxt in itertools.pairwise(spans)]
    assert len(spans) == 4 and min(gaps) >= 0.8 * MIN_PAUSE_SECONDS


async def test_once_requests_are_fast_again_it_grows_back(store: Store) -> None:
    clock = Clock()
    throttle = slowed(clock, 2)
    for _ in range(3):  # three intervals of fast requests: 1 -> 2 -> 3 -> 4
        throttle.observe(0.001)
        clock.now += SETTINGS.throttle_interval_seconds
        throttle.state  # noqa: B018
    assert throttle.limit == 4
    await enqueue(store, 8)
    recorder = Recorder(hold=0.2)
    await drain(store, Worker(store, recorder, SETTINGS, throttle=throttle))
    assert recorder.peak == 4
