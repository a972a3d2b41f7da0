"""How many bulk requests may be in flight: a resizable limit, and AIMD to resize it.

``ConcurrencyLimit`` is a semaphore whose size can change while it is held. With a fixed size it
is the seed's ``asyncio.Semaphore(max_concurrency)``.

``AIMD`` sets the size from what the requests tell it, one window (about one round trip: as many
completions as the current limit) at a time:

- a window with a congestion failure (timeout, connection error, 429, 5xx): multiply by 0.5;
- a window whose requests queued on the server: multiply by 0.9. Queueing is read from latency,
  as TCP Vegas does: with ``n`` requests in flight, a mean latency ``L`` and the lowest latency
  seen ``L0``, about ``n * (1 - L0 / L)`` of them were waiting rather than being served; more
  than ``max(3, 10 * log10(limit))`` waiting is queueing. (TCP Vegas and Netflix's limiter
  allow less; bulk insertion wants throughput, and a server that batches, like our embedder,
  keeps getting faster with a queue of a dozen requests);
- otherwise grow: double while still in slow start (until the first decrease), then add one.

The limit stays within ``1..max_limit``. Against a server whose latency does not grow with load
(network latency) it climbs to ``max_limit``; against one with a throughput ceiling (an embedder)
it settles past the knee of its throughput curve, where more concurrency buys only latency.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque

FAILURE_DECREASE = 0.5
QUEUEING_DECREASE = 0.9
MIN_QUEUE_ALLOWANCE = 3.0
QUEUE_ALLOWANCE_PER_DECADE = 10.0


class ConcurrencyLimit:
    """At most ``limit`` holders at once; ``set_limit`` may change it at any time."""

    def __init__(self, limit: int) -> None:
        self._limit = max(1, limit)
        self._in_flight = 0
        self._peak = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def peak(self) -> int:
        """The most holders there ever were at once."""
        return self._peak

    def set_limit(self, limit: int) -> None:
        self._limit = max(1, limit)
        self._wake()

    async def acquire(self) -> None:
        if self._in_flight < self._limit and not self._waiters:
            self._take()
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a slot just before
                self.release()
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self._in_flight -= 1
        self._wake()

    def _take(self) -> None:
        self._in_flight += 1
        self._peak = max(self._peak, self._in_flight)

    def _wake(self) -> None:
        while self._waiters and self._in_flight < self._limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._take()  # the slot is handed over, so no newcomer can take it first
                waiter.set_result(None)


class AIMD:
    """Additive increase, multiplicative decrease of a concurrency limit (see the module doc)."""

    def __init__(self, max_limit: int, initial: int = 1) -> None:
        self.max_limit = max_limit
        self.limit = float(min(max(1, initial), max_limit))
        self.slow_start = True
        self.min_latency = math.inf
        self._reset_window()

    def _reset_window(self) -> None:
        self._count = 0
        self._latency_sum = 0.0
        self._in_flight_sum = 0
        self._ok = 0
        self._congested = False

    def observe(self, latency: float | None, in_flight: int, congested: bool = False) -> int | None:
        """Record one completion: its latency (None when it failed), the requests in flight when
        it started, and whether it failed from congestion. Returns the new limit at the end of
        a window, else None."""
        self._count += 1
        self._congested |= congested
        if latency is not None:
            self._ok += 1
            self._latency_sum += latency
            self._in_flight_sum += in_flight
            self.min_latency = min(self.min_latency, latency)
        if self._count < max(1, int(self.limit)):
            return None
        self._adjust()
        self._reset_window()
        return int(self.limit)

    def _adjust(self) -> None:
        if self._congested:
            self._decrease(FAILURE_DECREASE)
        elif self._ok and self._queue() > self._allowance():
            self._decrease(QUEUEING_DECREASE)
        elif self._ok:
            grown = self.limit * 2 if self.slow_start else self.limit + 1
            self.limit = min(float(self.max_limit), grown)

    def _decrease(self, factor: float) -> None:
        self.slow_start = False
        self.limit = max(1.0, self.limit * factor)

    def _queue(self) -> float:
        mean_latency = self._latency_sum / self._ok
        mean_in_flight = self._in_flight_sum / self._ok
        if mean_latency <= 0:
            return 0.0
        return mean_in_flight * (1.0 - self.min_latency / mean_latency)

    def _allowance(self) -> float:
        return max(MIN_QUEUE_ALLOWANCE, QUEUE_ALLOWANCE_PER_DECADE * math.log10(self.limit))


__all__ = ["AIMD", "ConcurrencyLimit"]
