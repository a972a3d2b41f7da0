"""A standalone worker sees no requests, so its throttle never acts: it runs at a CPU niceness
of its own instead (``worker.nice``), every thread of it and its model process."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

from tests.serverproc import ServerProcess, WorkerProcess


def niceness(pid: int, tid: int) -> int:
    stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])  # field 19 of proc(5)


def threads(pid: int) -> Iterator[tuple[int, int]]:
    """(pid, tid) of every thread of the process and of its descendants."""
    for tid in (int(t) for t in os.listdir(f"/proc/{pid}/task")):
        yield pid, tid
        for child in Path(f"/proc/{pid}/task/{tid}/children").read_text().split():
            yield from threads(int(child))


def test_a_standalone_worker_runs_at_its_niceness(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, {"worker": {"nice": 7}})
    worker = WorkerProcess(server).start()
    log = tmp_path / "worker.log"
    try:
        assert worker.proc is not None
        deadline = time.monotonic() + 120
        while "worker started" not in (log.read_text() if log.exists() else ""):
            assert worker.proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        found = list(threads(worker.proc.pid))
        assert {pid for pid, _ in found} - {worker.proc.pid}, "the model runs in a child process"
        assert len(found) > 2
        low = [(p, t, niceness(p, t)) for p, t in found if niceness(p, t) < 7]
        assert low == [], [Path(f"/proc/{p}/task/{t}/comm").read_text() for p, t, _ in low]
    finally:
        worker.stop()
    assert os.getpriority(os.PRIO_PROCESS, 0) < 7, "the test itself is not lowered"
