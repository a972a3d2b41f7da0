"""The throttle: the worker's concurrency shrinks while requests are slow and grows back."""

from __future__ import annotations

from memfuse_server.config import WorkerSettings
from memfuse_server.jobs.throttle import MIN_PAUSE_SECONDS, Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def throttle(**settings: object) -> tuple[Throttle, Clock]:
    """A throttle of 8 jobs at most, targeting 50 ms, on a clock the test moves."""
    values = {"concurrency": 8, "throttle_target_ms": 50.0, "throttle_max_pause_seconds": 0.4}
    clock = Clock()
    return Throttle(WorkerSettings.model_validate({**values, **settings}), clock), clock


def interval(t: Throttle, clock: Clock, *latencies: float) -> tuple[int, float]:
    """One interval in which requests took ``latencies`` seconds; the state after it."""
    for seconds in latencies:
        t.observe(seconds)
    clock.now += 1.0
    return t.limit, t.pause_seconds


def test_slow_requests_halve_the_limit_then_pause_between_jobs() -> None:
    t, clock = throttle()
    assert (t.limit, t.pause_seconds) == (8, 0.0)
    steps = [interval(t, clock, 0.01, 0.2) for _ in range(7)]
    assert steps == [
        (4, 0.0), (2, 0.0), (1, 0.0), (1, MIN_PAUSE_SECONDS), (1, 0.1), (1, 0.2), (1, 0.4)
    ]  # fmt: skip
    assert interval(t, clock, 0.3) == (1, 0.4)  # the longest pause: the queue still drains
    state = t.state
    assert state.throttled and state.request_p95_ms is not None and state.request_p95_ms > 50


def test_fast_requests_shorten_the_pause_then_add_one_job_at_a_time() -> None:
    t, clock = throttle()
    for _ in range(5):
        interval(t, clock, 0.5)
    assert (t.limit, t.pause_seconds) == (1, 0.1)
    steps = [interval(t, clock, 0.01, 0.02) for _ in range(4)]
    assert steps == [(1, MIN_PAUSE_SECONDS), (1, 0.0), (2, 0.0), (3, 0.0)]


def test_the_p95_is_the_signal_not_one_slow_request() -> None:
    t, clock = throttle()
    assert interval(t, clock, *([0.01] * 40), 2.0) == (8, 0.0)
    assert interval(t, clock, *([0.01] * 10), *([0.2] * 2)) == (4, 0.0)


def test_silence_gives_the_background_its_speed_back() -> None:
    t, clock = throttle()
    for _ in range(8):
        interval(t, clock, 1.0)
    assert (t.limit, t.pause_seconds) == (1, 0.4)
    clock.now += 60  # no request for a minute; nobody looked in between
    assert (t.limit, t.pause_seconds) == (8, 0.0)
    assert t.state.request_p95_ms is None and not t.state.throttled


def test_switched_off_it_never_moves() -> None:
    t, clock = throttle(throttle=False)
    assert interval(t, clock, 5.0, 5.0) == (8, 0.0)
    assert not t.state.enabled
