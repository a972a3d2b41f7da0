"""The background gives way to the requests: a worker concurrency that follows their latency.

The API reports how long each request took (adds and queries, ``observe``). Every
``worker.throttle_interval_seconds`` the throttle looks at the p95 of the latencies seen since
its last look and moves one step, additive increase and multiplicative decrease (the rule TCP
uses to share a link):

* above ``worker.throttle_target_ms``: halve the jobs the worker may run at once; at one job,
  pause between jobs instead (0.05 s, doubling up to ``worker.throttle_max_pause_seconds``);
* at or below it, or with no request at all: first shorten the pause (halving it, to none),
  then allow one more job, up to ``worker.concurrency``.

The background never stops: at worst it runs one job at a time with the longest pause between
them, so a queue still drains while requests keep coming, and at full speed once they stop.
A worker in a process with no API (``memfuse-server worker``) sees no requests and runs at
``worker.concurrency``, at CPU niceness ``worker.nice`` (``commands.lower_cpu_priority``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from memfuse_server.config import WorkerSettings

MIN_PAUSE_SECONDS = 0.05  # the first pause at one job; below it a pause ends
MAX_STEPS = 64  # steps taken at one look after a long silence (enough to reach full speed)


@dataclass(frozen=True)
class ThrottleState:
    """What the throttle allows now, and the signal it last acted on."""

    limit: int
    """Jobs the worker may run at once now."""
    maximum: int
    """``worker.concurrency``."""
    pause_seconds: float
    """Wait after a job before the next starts (only at one job)."""
    request_p95_ms: float | None
    """p95 of the requests' latency in the last interval (None: no request)."""
    target_ms: float
    enabled: bool

    @property
    def throttled(self) -> bool:
        return self.limit < self.maximum or self.pause_seconds > 0


class Throttle:
    """AIMD on the worker's concurrency, driven by the latency of the requests."""

    def __init__(
        self, settings: WorkerSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._enabled = settings.throttle
        self._maximum = settings.concurrency
        self._target = settings.throttle_target_ms / 1000
        self._interval = settings.throttle_interval_seconds
        self._max_pause = settings.throttle_max_pause_seconds
        self._clock = clock
        self._limit = self._maximum
        self._pause = 0.0
        self._samples: list[float] = []
        self._last_p95: float | None = None
        self._looked = clock()

    def observe(self, seconds: float) -> None:
        """A request finished after ``seconds``."""
        if self._enabled:
            self._samples.append(seconds)
            self._tick()

    @property
    def limit(self) -> int:
        self._tick()
        return self._limit

    @property
    def pause_seconds(self) -> float:
        self._tick()
        return self._pause

    @property
    def state(self) -> ThrottleState:
        self._tick()
        p95 = None if self._last_p95 is None else self._last_p95 * 1000
        return ThrottleState(
            self._limit, self._maximum, self._pause, p95, self._target * 1000, self._enabled
        )

    def _tick(self) -> None:
        """A step per interval passed since the last look: the first on the latencies seen,
        the others on none (nobody asked in between, so no request was slow then)."""
        now = self._clock()
        if not self._enabled or now - self._looked < self._interval:
            return
        steps = min(MAX_STEPS, int((now - self._looked) // self._interval))
        self._looked = now
        samples, self._samples = self._samples, []
        self._last_p95 = float(np.percentile(samples, 95)) if samples else None
        if self._last_p95 is not None and self._last_p95 > self._target:
            self._give_way()
        else:
            self._take_back()
        for _ in range(steps - 1):
            self._take_back()

    def _give_way(self) -> None:
        if self._limit > 1:
            self._limit = max(1, self._limit // 2)
        else:
            self._pause = min(self._max_pause, max(MIN_PAUSE_SECONDS, self._pause * 2))

    def _take_back(self) -> None:
        if self._pause > 0:
            self._pause = self._pause / 2 if self._pause / 2 >= MIN_PAUSE_SECONDS else 0.0
        else:
            self._limit = min(self._maximum, self._limit + 1)


__all__ = ["MIN_PAUSE_SECONDS", "Throttle", "ThrottleState"]
