"""The adversarial scenarios of "Trust, round two" and "Trust on PostgreSQL", run again.

1. The default server (SQLite, worker on, rules extractor, one round a window): 60 sessions
   at once post "Yesterday I visited Zanzibar with my cousin Quentin." with a reply and a
   third turn, then replace the first message at once. Nothing of the old text may remain.
2. Two API processes and two workers on PostgreSQL, the LLM extractor at 2 s a call: the
   same race, edits through the other API process while jobs extract; a worker SIGKILLed
   while it holds jobs and started again; a session renamed through one API process while
   the other has the answer cached. Nothing of the old text, no deadlock, no duplicate,
   the killed worker's jobs done long before their leases would lapse, the rename seen.

Slow: each takes a minute or two. What they find is printed (``pytest -s``).
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from memfuse_server.testing import FakeLLMServer
from tests.api.helpers import ok, uniq
from tests.api.hierarchy_helpers import memories, wait_drained
from tests.pg import PostgresForTests, run_sync
from tests.serverproc import ServerProcess, WorkerProcess

OLD = "Yesterday I visited Zanzibar with my cousin Quentin."
NEW = "Yesterday I stayed at home and repainted the kitchen."
OLD_WORDS = ("zanzibar", "quentin")
SESSIONS = 60
LEASE = 600.0


def _users(api: httpx.Client, count: int) -> tuple[list[str], str]:
    users = [
        ok(api.post("/users", json={"name": uniq("adv")}), 201)["user"]["id"] for _ in range(count)
    ]
    agent = ok(api.post("/agents", json={"name": uniq("agent")}), 201)["agent"]["id"]
    return users, agent


def _conversation(api: httpx.Client, user_id: str, agent_id: str) -> tuple[str, str]:
    """A session whose first round (OLD and a reply) is closed by a third turn."""
    body = {"user_id": user_id, "agent_id": agent_id, "name": uniq("s")}
    sid = ok(api.post("/sessions", json=body), 201)["session"]["id"]
    turns = [{"role": "user", "content": OLD}, {"role": "assistant", "content": "Lovely!"}]
    first = ok(api.post(f"/sessions/{sid}/messages", json={"messages": turns}), 201)
    third = {"role": "user", "content": "What should I cook tonight?"}
    ok(api.post(f"/sessions/{sid}/messages", json={"messages": [third]}), 201)
    return sid, first["message_ids"][0]


def _edit(api: httpx.Client, sid: str, message_id: str) -> None:
    body = {"message_ids": [message_id], "new_messages": [{"role": "user", "content": NEW}]}
    ok(api.put(f"/sessions/{sid}/messages", json=body))


def _at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        return [f.result() for f in [pool.submit(c) for c in calls]]


def _old_text(api: httpx.Client, user_ids: list[str]) -> dict[str, int]:
    """Facts, entities, relations and query results that still name the old text."""
    found = {"facts": 0, "entities": 0, "relations": 0, "query results": 0}
    for user_id in user_ids:
        for kind, texts in memories(api, user_id).items():
            found[kind] += sum(any(w in t.lower() for w in OLD_WORDS) for t in texts)
        body = {"query": "Zanzibar Quentin", "top_k": 50}
        results = ok(api.post(f"/users/{user_id}/query", json=body))["results"]
        found["query results"] += sum("zanzibar" in r["content"].lower() for r in results)
    return found


def _report(title: str, rows: dict[str, object]) -> None:
    print(f"\n{title}")
    for name, value in rows.items():
        print(f"  {name:<52} {value}")


@pytest.mark.slow
def test_sixty_sessions_racing_edits_against_the_worker(tmp_path: Path) -> None:
    settings = {"buffer": {"max_rounds": 1}, "worker": {"poll_interval_seconds": 0.1}}
    server = ServerProcess(tmp_path / "s", settings, database_url=None).start()
    try:
        with httpx.Client(base_url=server.api, timeout=120) as api:
            users, agent = _users(api, 6)

            def race(i: int) -> None:
                with httpx.Client(base_url=server.api, timeout=120) as own:
                    sid, first = _conversation(own, users[i % len(users)], agent)
                    _edit(own, sid, first)  # at once: the episode's job is queued or running

            _at_once([lambda i=i: race(i) for i in range(SESSIONS)])
            wait_drained(api, timeout=300)
            old = _old_text(api, users)
            new_facts = sum(any("repainted" in f for f in memories(api, u)["facts"]) for u in users)
        _report(
            "60 sessions racing edits (SQLite, rules extractor)",
            {**old, "users with the new text's facts": f"{new_facts}/{len(users)}"},
        )
        assert old == dict.fromkeys(old, 0)
        assert new_facts == len(users)
    finally:
        server.stop()


# PostgreSQL: two API processes, two workers


async def _db(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


def _count(url: str, sql: str) -> int:
    return int(run_sync(lambda: _db(url, sql))[0][0])


_OLD_ROWS = {
    "facts": "SELECT count(*) FROM facts WHERE content ~* 'zanzibar|quentin'",
    "entities": "SELECT count(*) FROM entities WHERE name ~* 'zanzibar|quentin'",
    "aliases": "SELECT count(*) FROM entity_aliases WHERE alias ~* 'zanzibar|quentin'",
    "relations": "SELECT count(*) FROM relations r JOIN entities o ON o.id = r.object_id"
    " WHERE o.name ~* 'zanzibar|quentin' OR r.fact ~* 'zanzibar|quentin'",
    "search rows": "SELECT count(*) FROM document_texts t JOIN documents d ON d.seq = t.seq"
    " WHERE d.kind IN ('fact', 'entity', 'relation')"
    " AND t.body @@ to_tsquery('english', 'zanzibar | quentin')",
}
_DUPLICATES = (
    "SELECT (SELECT count(*) FROM (SELECT 1 FROM entities GROUP BY user_id, lower(name)"
    " HAVING count(*) > 1) e) + (SELECT count(*) FROM (SELECT 1 FROM relations"
    " GROUP BY user_id, content_hash HAVING count(*) > 1) r)"
)
_DEADLOCKS = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(latency_seconds=2.0) as fake:
        yield fake


@pytest.fixture
def cluster(
    postgres: PostgresForTests, tmp_path: Path, llm: FakeLLMServer
) -> Iterator[tuple[list[ServerProcess], list[WorkerProcess]]]:
    url = postgres.create_database()
    settings = {
        "buffer": {"max_rounds": 1, "idle_seconds": 600},
        "worker": {"poll_interval_seconds": 0.1, "lease_seconds": LEASE},
        "extraction": {"provider": "llm", "llm": {"base_url": llm.base_url, "max_retries": 0}},
    }
    apis = [
        ServerProcess(tmp_path / f"api{i}", settings, args=["--no-worker"], database_url=url)
        for i in range(2)
    ]
    workers = [WorkerProcess(api) for api in apis]
    try:
        for proc in (*apis, *workers):
            proc.start()
        yield apis, workers
    finally:
        for proc in (*workers, *apis):
            proc.stop()


def _log(server: ServerProcess, name: str) -> str:
    path = server.data_dir / name
    return path.read_text(errors="replace") if path.exists() else ""


def _until(check: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, what
        time.sleep(0.1)
    return time.monotonic() - start


def _session_names(api: httpx.Client, user_id: str) -> set[str]:
    body = {"query": "Where do I keep bees?", "top_k": 5}
    results = ok(api.post(f"/users/{user_id}/query", json=body))["results"]
    return {r["metadata"]["session_name"] for r in results if r["metadata"]["session_name"]}


def _rename_seen_across(api_a: httpx.Client, api_b: httpx.Client) -> bool:
    (user,), agent = _users(api_a, 1)
    body = {"user_id": user, "agent_id": agent, "name": "before"}
    sid = ok(api_a.post("/sessions", json=body), 201)["session"]["id"]
    bees = {"role": "user", "content": "I keep bees on the roof of the library."}
    ok(api_a.post(f"/sessions/{sid}/messages", json={"messages": [bees]}), 201)
    assert _session_names(api_b, user) == {"before"}  # cached on B
    ok(api_a.put(f"/sessions/{sid}", json={"name": "after"}))
    return _session_names(api_b, user) == {"after"}


@pytest.mark.slow
def test_two_apis_two_workers_racing_edits_kills_and_renames(
    cluster: tuple[list[ServerProcess], list[WorkerProcess]], llm: FakeLLMServer
) -> None:
    (a, b), workers = cluster
    url = str(a.database_url)
    deadlocks_before = _count(url, _DEADLOCKS)
    with (
        httpx.Client(base_url=a.api, timeout=120) as api_a,
        httpx.Client(base_url=b.api, timeout=120) as api_b,
    ):
        users, agent = _users(api_a, 4)
        posted = _at_once(
            [lambda i=i: _conversation(api_a, users[i % 4], agent) for i in range(20)]
        )
        _until(lambda: any("Zanzibar" in str(r.body) for r in llm.requests), 60, "no extraction")
        _at_once([lambda s=s, m=m: _edit(api_b, s, m) for s, m in posted])  # through the other
        held = "SELECT count(*) FROM jobs WHERE status = 'running' AND locked_by LIKE '%/worker/0'"
        _until(lambda: _count(url, held) > 0, 60, "worker 0 held no job")
        victim = next(w for w in workers if "/worker/0" in _log(w.server, "worker.log"))
        victim.kill()  # SIGKILL, holding leased jobs
        killed_at = time.monotonic()
        victim.start()
        wait_drained(api_a, timeout=LEASE / 2)
        drained_after_kill = time.monotonic() - killed_at
        old_api = _old_text(api_a, users)
        renamed = _rename_seen_across(api_a, api_b)
    time.sleep(11)  # backends report their deadlock counts within 10 s of going idle
    logs = "".join(_log(w.server, "worker.log") for w in workers)
    found = {
        **{f"old-text {k} (database)": _count(url, sql) for k, sql in _OLD_ROWS.items()},
        **{f"old-text {k} (API)": v for k, v in old_api.items()},
        "deadlocks (pg_stat_database)": _count(url, _DEADLOCKS) - deadlocks_before,
        "deadlocks retried (worker logs)": logs.count("DeadlockDetectedError"),
        "duplicate entities or relations": _count(url, _DUPLICATES),
        "drain after the SIGKILL (s; leases 600 s)": round(drained_after_kill, 1),
        "jobs requeued by the restarted worker": "jobs of an earlier run requeued" in logs,
        "rename seen through the other API process": renamed,
    }
    _report("2 API + 2 workers on PostgreSQL, LLM extractor at 2 s a call", found)
    assert all(v == 0 for k, v in found.items() if k.startswith(("old-text", "dead", "dup")))
    assert drained_after_kill < LEASE / 4 and renamed
