"""The worker: claims jobs from the durable queue and runs them with bounded concurrency.

Up to ``worker.concurrency`` jobs run at once, fewer while the requests beside it slow down
(``throttle.py``: the background gives way to the foreground). A claimed job holds a lease the
worker renews while the job runs; if the worker dies, the lease lapses and
another worker claims the job again. A worker's identity (``host/kind/N``) is the same
after a restart and never one a live process holds, so a worker that starts again after
a SIGKILL requeues its earlier run's jobs at once instead of waiting for their leases. A failure
is retried after ``backoff_base * 2**(attempt-1)`` seconds (capped), and after
``max_attempts`` the job becomes a dead letter with its last error. The
worker also closes idle round windows and purges old finished jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog

from memfuse_server.config import WorkerSettings
from memfuse_server.jobs.throttle import Throttle
from memfuse_server.models import Job, LayerTimings, ProcessKind
from memfuse_server.storage.base import JobQueue

log = structlog.get_logger(__name__)

Handler = Callable[[Job], Awaitable[LayerTimings | None]]
Housekeeping = Callable[[], Awaitable[None]]


def backoff_seconds(attempt: int, settings: WorkerSettings) -> float:
    return float(
        min(settings.backoff_max_seconds, settings.backoff_base_seconds * 2 ** (attempt - 1))
    )


class Worker:
    def __init__(
        self,
        queue: JobQueue,
        handler: Handler,
        settings: WorkerSettings,
        housekeeping: Housekeeping | None = None,
        housekeeping_interval: float = 1.0,
        throttle: Throttle | None = None,
        kind: str = ProcessKind.SERVE,
    ) -> None:
        self._queue = queue
        self._handler = handler
        self._settings = settings
        self._housekeeping = housekeeping
        self._housekeeping_interval = housekeeping_interval
        self._kind = kind
        # until run() takes the process's identity (this one if that fails: leases then lapse)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.on_outcome: Callable[[str], None] = lambda outcome: None  # done | retry | dead
        self._running: dict[int, asyncio.Task[None]] = {}
        self._renewed = self._swept = 0.0  # monotonic times of the last renewal and sweep
        self._wake = asyncio.Event()
        self.throttle = throttle or Throttle(settings)
        """How many jobs may run now (``observe`` it with the requests' latency)."""
        self._resume_at = 0.0  # monotonic time before which no job starts (a throttle pause)

    def wake(self) -> None:
        """Look for work now (called after a write that may have enqueued a job)."""
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._running)

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and run jobs until ``stop`` is set; then let the running ones finish."""
        await self._identify()
        log.info("worker started", worker_id=self.worker_id, concurrency=self._settings.concurrency)
        while not stop.is_set():
            self._wake.clear()  # before claiming: a job finishing from here on wakes the wait
            await self._chores()
            await self._fill()
            await self._idle(stop)
        if self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)
        log.info("worker stopped", worker_id=self.worker_id)

    async def _identify(self) -> None:
        """Take this process's identity, and requeue the jobs its earlier run left leased."""
        try:
            self.worker_id = await self._queue.hold_worker_identity(self._kind)
            released = await self._queue.release_jobs(self.worker_id)
        except Exception:
            log.exception("no worker identity; jobs of a dead run wait for their leases")
            return
        if released:
            log.info("jobs of an earlier run requeued", worker_id=self.worker_id, count=released)

    async def _fill(self) -> None:
        free = self.throttle.limit - len(self._running)
        if free <= 0 or time.monotonic() < self._resume_at:
            return
        try:
            jobs = await self._queue.claim_jobs(self.worker_id, free, self._settings.lease_seconds)
        except Exception:
            log.exception("claiming jobs failed")
            return
        for job in jobs:
            task = asyncio.create_task(self._run_one(job), name=f"job-{job.id}")
            self._running[job.id] = task
            task.add_done_callback(functools.partial(self._finished, job.id))

    def _finished(self, job_id: int, _task: asyncio.Task[None]) -> None:
        self._running.pop(job_id, None)
        self._resume_at = time.monotonic() + self.throttle.pause_seconds
        self._wake.set()

    async def _idle(self, stop: asyncio.Event) -> None:
        """Sleep until woken, stopped, the poll interval passes or a throttle pause ends."""
        stopper = asyncio.ensure_future(stop.wait())
        waker = asyncio.ensure_future(self._wake.wait())
        timeout = self._settings.poll_interval_seconds
        pause_left = self._resume_at - time.monotonic()
        await asyncio.wait(
            {stopper, waker},
            timeout=min(timeout, pause_left) if pause_left > 0 else timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        for fut in (stopper, waker):
            fut.cancel()

    async def _chores(self) -> None:
        """Renew the running jobs' leases every third of a lease; housekeeping on its interval."""
        now = time.monotonic()
        if self._running and now - self._renewed >= self._settings.lease_seconds / 3:
            self._renewed = now
            with contextlib.suppress(Exception):
                await self._queue.renew_jobs(
                    self.worker_id, list(self._running), self._settings.lease_seconds
                )
        if self._housekeeping is None or now - self._swept < self._housekeeping_interval:
            return
        self._swept = now
        try:
            await self._housekeeping()
        except Exception:
            log.exception("housekeeping failed")

    async def _run_one(self, job: Job) -> None:
        bound = structlog.contextvars.bound_contextvars(
            request_id=job.request_id, job_id=job.id, job_kind=job.kind
        )
        with bound:
            try:
                timings = await self._handler(job)
            except Exception as exc:
                await self._record(self._failed(job, exc))
                return
            await self._record(self._queue.complete_job(job.id, timings))
            self.on_outcome("done")
            log.info("job done", attempts=job.attempts, mode=timings.mode if timings else None)

    @staticmethod
    async def _record(outcome: Awaitable[None]) -> None:
        """Write a job's outcome; if that fails, its lease lapses and it runs again."""
        try:
            await outcome
        except Exception:
            log.exception("recording a job outcome failed; the job will run again")

    async def _failed(self, job: Job, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        if job.attempts >= self._settings.max_attempts:
            await self._queue.fail_job(job.id, error, None)
            self.on_outcome("dead")
            log.error("job dead-lettered", attempts=job.attempts, error=error)
            return
        delay = backoff_seconds(job.attempts, self._settings)
        await self._queue.fail_job(job.id, error, delay)
        self.on_outcome("retry")
        log.warning("job failed, will retry", attempts=job.attempts, retry_in=delay, error=error)


__all__ = ["Worker", "backoff_seconds"]
