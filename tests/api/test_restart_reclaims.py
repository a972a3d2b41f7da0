"""After a SIGKILL, the restarted server's worker takes up its dead run's jobs at once.

The jobs were leased for ``worker.lease_seconds`` (600 s here); they are done well within
a minute of the restart, because the worker's identity is the same after a restart and it
requeues what that identity held. Before, they waited for their leases to lapse."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from memfuse_server.testing import FakeLLMServer
from tests.api.helpers import ok, uniq
from tests.api.hierarchy_helpers import memories, wait_drained
from tests.serverproc import ServerProcess

LEASE = 600.0


def _running(api: httpx.Client, at_least: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while ok(api.get("/stats"))["queue"]["running"] < at_least:
        assert time.monotonic() < deadline, ok(api.get("/stats"))
        time.sleep(0.1)


def _episodes(api: httpx.Client, sessions: int) -> str:
    user_id = ok(api.post("/users", json={"name": uniq("kill")}), 201)["user"]["id"]
    agent_id = ok(api.post("/agents", json={"name": uniq("agent")}), 201)["agent"]["id"]
    for s in range(sessions):
        body = {"user_id": user_id, "agent_id": agent_id, "name": f"s{s}"}
        sid = ok(api.post("/sessions", json=body), 201)["session"]["id"]
        turns = [{"role": "user", "content": f"I planted {n} tulips in Utrecht."} for n in (3, 4)]
        ok(api.post(f"/sessions/{sid}/messages", json={"messages": turns}), 201)  # one closes
    return str(user_id)


def test_a_restarted_worker_takes_up_its_dead_runs_jobs_at_once(tmp_path: Path) -> None:
    with FakeLLMServer(latency_seconds=120) as llm:  # the jobs are running when the kill comes
        settings = {
            "buffer": {"max_rounds": 1, "idle_seconds": 600},
            "worker": {"lease_seconds": LEASE, "poll_interval_seconds": 0.1},
            "extraction": {"provider": "llm", "llm": {"base_url": llm.base_url}},
        }
        server = ServerProcess(tmp_path / "s", settings, database_url=None).start()
        try:
            with httpx.Client(base_url=server.api, timeout=60) as api:
                user_id = _episodes(api, 3)
                _running(api, 3)
            server.kill()
            stalled = json.loads(server.cli("stats", "--json", "--url", server.base_url).stdout)
            assert stalled["queue"]["running"] == 3  # leased to a dead worker, not lapsed yet
            llm.latency_seconds = 0.0
            started = time.monotonic()
            server.start()
            with httpx.Client(base_url=server.api, timeout=60) as api:
                wait_drained(api, timeout=60)
                assert time.monotonic() - started < LEASE / 2
                assert memories(api, user_id)["facts"]
            assert "jobs of an earlier run requeued" in server.log()
        finally:
            server.stop()
