"""Crash safety over repeated SIGKILLs: nothing acknowledged is lost or duplicated, and
every episode closed before a crash still gets its background processing."""

from __future__ import annotations

import random
import threading
import time

import httpx
import pytest

from tests.api.helpers import create_agent, create_session, create_user, ok, uniq
from tests.api.hierarchy_helpers import wait_drained
from tests.api.test_durability import CLIENTS, Ledger, _check_session, _client_loop
from tests.serverproc import ServerProcess

KILLS = 5
SETTINGS = {
    "buffer": {"max_rounds": 2, "idle_seconds": 0.5, "sweep_interval_seconds": 0.2},
    "worker": {"poll_interval_seconds": 0.1, "backoff_base_seconds": 0.05},
}


def ingest_then_kill(server: ServerProcess, sessions: list[str], ledger: Ledger, seed: int) -> None:
    server.start()
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=_client_loop, args=(server.api, i, sid, ledger, stop, seed), daemon=True
        )
        for i, sid in enumerate(sessions)
    ]
    for t in threads:
        t.start()
    time.sleep(random.Random(seed).uniform(0.5, 1.5))
    server.kill()  # SIGKILL: in the middle of requests, transactions and background jobs
    stop.set()
    for t in threads:
        t.join(timeout=60)


@pytest.mark.slow
def test_five_sigkills_lose_and_duplicate_nothing(fresh_server: ServerProcess) -> None:
    fresh_server.settings = SETTINGS
    fresh_server.start()
    with httpx.Client(base_url=fresh_server.api, timeout=30.0) as api:
        uid, aid = create_user(api, uniq("crash")), create_agent(api)
        sessions = [create_session(api, uid, aid, f"s{i}") for i in range(CLIENTS)]
    fresh_server.kill()
    ledger = Ledger()
    seed = random.randrange(1 << 30)
    for round_ in range(KILLS):
        ingest_then_kill(fresh_server, sessions, ledger, seed + 1000 * round_)
    assert not ledger.failures, ledger.failures
    assert ledger.acked > 0

    fresh_server.start()
    with httpx.Client(base_url=fresh_server.api, timeout=60.0) as api:
        for sid in sessions:
            _check_session(api, sid, [a for a in ledger.attempts if a.session_id == sid], seed)
        time.sleep(1.0)  # the last windows close when idle
        stats = wait_drained(api, timeout=180)
        assert stats["queue"]["dead_letters"] == 0, stats
        episodes = set()
        for sid in sessions:
            listed = ok(api.get(f"/sessions/{sid}/messages", params={"limit": 1000}))["messages"]
            episodes |= {m["episode_id"] for m in listed if m["episode_id"]}
        assert stats["queue"]["done_kept"] >= len(episodes) > 0
    print(f"seed {seed}: {ledger.acked} acknowledged over {KILLS} kills, {len(episodes)} episodes")
