"""Scale-out on PostgreSQL: 2 API processes (``serve --no-worker``) and 2 workers, one database.

Every job runs exactly once (a second claim of a job would raise its ``attempts``), the
workers share the queue, and a query on either API process sees what was written through
the other: the query cache is keyed by the user's memory version, read from the database.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.api.helpers import ok, uniq
from tests.api.hierarchy_helpers import memories, wait_drained
from tests.pg import PostgresForTests, run_sync
from tests.serverproc import ServerProcess, WorkerProcess

SETTINGS: dict[str, dict[str, Any]] = {
    "buffer": {"max_rounds": 2, "idle_seconds": 0.5, "sweep_interval_seconds": 0.2},
    "worker": {"poll_interval_seconds": 0.1, "concurrency": 2},
}
TURNS = [
    "My grandson Leo turned five on Thursday.",
    "I teach year three at Hillcrest Primary.",
    "My daughter Claire promised to water the seedlings.",
    "Asha played her first piece for us yesterday.",
    "I visited Lisbon last week with my wife Ana.",
    "I registered my bakery, it is called Rise & Shine.",
]


@pytest.fixture
def cluster(postgres: PostgresForTests, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    url = postgres.create_database()
    apis = [
        ServerProcess(
            tmp_path / f"api{i}", settings=SETTINGS, args=["--no-worker"], database_url=url
        )
        for i in range(2)
    ]
    workers = [WorkerProcess(api) for api in apis]
    try:
        for proc in (*apis, *workers):
            proc.start()
        for api in apis:
            _wait_for_worker(api)
        yield apis
    finally:
        for proc in (*workers, *apis):
            proc.stop()


def _wait_for_worker(server: ServerProcess, timeout: float = 60.0) -> None:
    """Until the worker over this server's settings has started its loop."""
    log = server.data_dir / "worker.log"
    deadline = time.monotonic() + timeout
    while not (log.exists() and "worker started" in log.read_text(errors="replace")):
        assert time.monotonic() < deadline, f"worker did not start:\n{log.read_text()}"
        time.sleep(0.1)


def _post_user(api: httpx.Client, other: httpx.Client, sessions: int) -> str:
    """One user whose sessions are written alternately through both API processes."""
    user_id = ok(api.post("/users", json={"name": uniq("scale")}), 201)["user"]["id"]
    agent_id = ok(api.post("/agents", json={"name": uniq("agent")}), 201)["agent"]["id"]
    for s in range(sessions):
        body = {"user_id": user_id, "agent_id": agent_id, "name": f"s{s}"}
        sid = ok(api.post("/sessions", json=body), 201)["session"]["id"]
        for i, text in enumerate(TURNS):
            via = api if i % 2 == 0 else other
            message = {"role": "user", "name": "Tom" if i % 2 == 0 else "Priya", "content": text}
            ok(via.post(f"/sessions/{sid}/messages", json={"messages": [message]}), 201)
    return str(user_id)


async def _jobs(url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch("SELECT id, status, attempts FROM jobs ORDER BY id")
    finally:
        await conn.close()


def _done_by_worker(server: ServerProcess) -> list[int]:
    """The job ids a worker's log says it finished."""
    done = []
    for line in (server.data_dir / "worker.log").read_text().splitlines():
        with_json = line.startswith("{")
        event = json.loads(line) if with_json else {}
        if event.get("event") == "job done":
            done.append(int(event["job_id"]))
    return done


def test_two_apis_two_workers_share_one_database(cluster: list[ServerProcess]) -> None:
    a, b = cluster
    assert a.database_url is not None
    with (
        httpx.Client(base_url=a.api, timeout=60) as api_a,
        httpx.Client(base_url=b.api, timeout=60) as api_b,
    ):
        users = [_post_user(api_a, api_b, 3), _post_user(api_b, api_a, 3)]
        time.sleep(1.0)  # the last windows close when idle
        wait_drained(api_a, timeout=120)
        jobs = run_sync(lambda: _jobs(str(a.database_url)))
        assert len(jobs) >= 2 * 3 * 3  # 6 turns a session, 2 rounds a window
        assert {j["status"] for j in jobs} == {"done"}
        assert all(j["attempts"] == 1 for j in jobs), "a job was claimed twice"
        by_worker = [_done_by_worker(a), _done_by_worker(b)]
        finished = by_worker[0] + by_worker[1]
        assert sorted(finished) == [j["id"] for j in jobs], "every job ran once, on one worker"
        assert all(by_worker), f"both workers took jobs: {[len(w) for w in by_worker]}"
        for user_id in users:
            for view in (memories(api_a, user_id), memories(api_b, user_id)):
                assert view["facts"] and view["entities"] and view["relations"]


def _results(api: httpx.Client, user_id: str, text: str) -> list[dict[str, Any]]:
    body = {"query": text, "top_k": 5}
    return list(ok(api.post(f"/users/{user_id}/query", json=body))["results"])


def _found(api: httpx.Client, user_id: str, text: str) -> list[str]:
    return [r["content"] for r in _results(api, user_id, text)]


@contextlib.contextmanager
def _clients(cluster: list[ServerProcess]) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    a, b = cluster
    with (
        httpx.Client(base_url=a.api, timeout=60) as api_a,
        httpx.Client(base_url=b.api, timeout=60) as api_b,
    ):
        yield api_a, api_b


def test_each_api_process_sees_writes_made_through_the_other(
    cluster: list[ServerProcess],
) -> None:
    with _clients(cluster) as (api_a, api_b):
        user_id = ok(api_a.post("/users", json={"name": uniq("cache")}), 201)["user"]["id"]
        for reader, writer, word in ((api_a, api_b, "zeppelin"), (api_b, api_a, "quokka")):
            question = f"What do I know about the {word}?"
            assert not any(word in c for c in _found(reader, user_id, question))  # now cached
            fact = f"The user rode a {word} over the lake."
            ok(writer.post(f"/users/{user_id}/knowledge", json={"knowledge": [fact]}), 201)
            assert fact in _found(reader, user_id, question)


def _session_names(api: httpx.Client, user_id: str, text: str) -> set[str]:
    results = _results(api, user_id, text)
    return {r["metadata"]["session_name"] for r in results if r["metadata"]["session_name"]}


def test_a_rename_through_one_api_process_shows_in_the_others_cached_answer(
    cluster: list[ServerProcess],
) -> None:
    """Every change a query answer shows bumps the memory version, not only new memories."""
    with _clients(cluster) as (api_a, api_b):
        user_id = ok(api_a.post("/users", json={"name": uniq("rename")}), 201)["user"]["id"]
        agent_id = ok(api_a.post("/agents", json={"name": uniq("agent")}), 201)["agent"]["id"]
        body = {"user_id": user_id, "agent_id": agent_id, "name": "before"}
        sid = ok(api_a.post("/sessions", json=body), 201)["session"]["id"]
        message = {"role": "user", "content": "I keep bees on the roof of the library."}
        ok(api_a.post(f"/sessions/{sid}/messages", json={"messages": [message]}), 201)
        question = "Where do I keep bees?"
        assert _session_names(api_b, user_id, question) == {"before"}  # now cached on B
        ok(api_a.put(f"/sessions/{sid}", json={"name": "after"}))
        assert _session_names(api_b, user_id, question) == {"after"}
        ok(api_a.request("DELETE", f"/sessions/{sid}"))
        assert _session_names(api_b, user_id, question) == set()
