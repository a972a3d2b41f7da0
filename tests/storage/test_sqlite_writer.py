"""SQLite's writer thread runs the requests' writes before the background's, and starves neither."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from memfuse_server.storage.sqlite.writer import PriorityWriter


def blocked(writer: PriorityWriter) -> threading.Event:
    """Occupy the writer until the event is set (so that what follows queues up)."""
    release, started = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(10)

    writer.submit(hold)
    assert started.wait(10)
    return release


def recorder(order: list[str]) -> Callable[[str], Callable[[], str]]:
    """A maker of calls that note their name in ``order`` when they run, and return it."""

    def make(name: str) -> Callable[[], str]:
        def run() -> str:
            order.append(name)
            return name

        return run

    return make


def test_requests_writes_go_before_the_background_ones_that_wait() -> None:
    writer, order = PriorityWriter("test-writer"), list[str]()
    call = recorder(order)
    release = blocked(writer)
    futures = [writer.submit(call(f"bg{i}"), background=True) for i in range(2)]
    futures += [writer.submit(call(f"req{i}")) for i in range(2)]
    release.set()
    assert [f.result(10) for f in futures] == ["bg0", "bg1", "req0", "req1"]
    assert order == ["req0", "req1", "bg0", "bg1"]
    writer.shutdown()


def test_a_stream_of_requests_lets_one_background_write_through_every_fourth() -> None:
    writer, order = PriorityWriter("test-writer", every=4), list[str]()
    call = recorder(order)
    release = blocked(writer)
    writer.submit(call("bg0"), background=True)
    writer.submit(call("bg1"), background=True)
    last = [writer.submit(call(f"req{i}")) for i in range(10)][-1]
    release.set()
    last.result(10)
    writer.shutdown()
    assert order == [
        *(f"req{i}" for i in range(4)),
        "bg0",
        *(f"req{i}" for i in range(4, 8)),
        "bg1",
        "req8",
        "req9",
    ]


def test_failures_reach_their_caller_and_shutdown_runs_what_is_queued() -> None:
    writer, order = PriorityWriter("test-writer"), list[str]()
    release = blocked(writer)

    def fail() -> None:
        raise ValueError("no")

    failing = writer.submit(fail, background=True)
    queued = writer.submit(recorder(order)("after"), background=True)
    release.set()
    writer.shutdown()
    with pytest.raises(ValueError, match="no"):
        failing.result(0)
    assert queued.result(0) == "after"
    with pytest.raises(RuntimeError, match="shut down"):
        writer.submit(recorder(order)("late"))
