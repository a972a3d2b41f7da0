"""The worker's throttle shows in /stats, /metrics and `memfuse-server stats`: it shrinks while
requests are slower than its target and grows back when they stop."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.api.helpers import ok
from tests.api.hierarchy_helpers import post_conversation, wait_drained
from tests.api.test_metrics import scrape, started
from tests.serverproc import ServerProcess

# Every request is slower than a microsecond: each interval with one the throttle gives way.
SLOW = {
    "worker": {
        "concurrency": 4,
        "throttle_target_ms": 0.001,
        "throttle_interval_seconds": 0.2,
        "poll_interval_seconds": 0.05,
    },
    "buffer": {"max_rounds": 2, "idle_seconds": 0.5, "sweep_interval_seconds": 0.2},
}


def throttle(api: httpx.Client) -> dict[str, Any]:
    state: dict[str, Any] = ok(api.get("/stats"))["worker"]["throttle"]
    return state


def cli_stats(server: ServerProcess, url: str) -> tuple[dict[str, Any], str]:
    config = server.data_dir / "config.yaml"
    command = [sys.executable, "-m", "memfuse_server", "stats", "--config", str(config)]
    done = subprocess.run(
        [*command, "--url", url, "--json"], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout), done.stderr


def until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_slow_requests_throttle_the_worker_and_it_recovers(fresh_server: ServerProcess) -> None:
    with started(fresh_server, SLOW) as (root, api), ThreadPoolExecutor(1) as pool:
        assert throttle(api)["limit"] == 4 and not throttle(api)["throttled"]
        posted = post_conversation(api)
        stop = threading.Event()

        def ask() -> None:  # requests keep coming, each slower than the target
            with httpx.Client(base_url=fresh_server.api, timeout=60) as own:
                while not stop.is_set():
                    own.post(f"/users/{posted.user_id}/query", json={"query": "Who is Leo?"})

        asking = pool.submit(ask)
        until(lambda: throttle(api)["limit"] == 1, "the worker never went down to one job")
        assert scrape(root)["memfuse_worker_concurrency_limit{}"] < 4
        assert scrape(root)["memfuse_worker_concurrency_max{}"] == 4
        wait_drained(api)  # throttled, the background still drains
        stop.set()
        asking.result()
        until(lambda: not throttle(api)["throttled"], "the worker never recovered")
        assert throttle(api)["limit"] == 4 and throttle(api)["pause_seconds"] == 0
        live, _ = cli_stats(fresh_server, fresh_server.base_url)
        assert live["worker"]["throttle"]["limit"] == 4 and live["queue"]["pending"] == 0
