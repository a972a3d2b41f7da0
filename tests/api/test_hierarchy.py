"""M1 facts and the M2 graph, derived in the background through the durable queue."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from memfuse_server.testing import FakeLLMServer
from tests.api.helpers import ok
from tests.api.hierarchy_helpers import memories, post_conversation, wait_drained
from tests.serverproc import ServerProcess, WorkerProcess

FAST = {"buffer": {"max_rounds": 2, "idle_seconds": 0.5, "sweep_interval_seconds": 0.2}}
QUICK_WORKER = {"poll_interval_seconds": 0.1, "backoff_base_seconds": 0.05}


def run_conversation(server: ServerProcess) -> tuple[dict[str, set[str]], dict[str, object]]:
    server.start()
    with httpx.Client(base_url=server.api, timeout=60) as api:
        posted = post_conversation(api)
        time.sleep(1.0)  # the last window closes when idle
        stats = wait_drained(api)
        return memories(api, posted.user_id), stats


@pytest.mark.parametrize(
    ("yaml_value", "env_value", "expected"),
    [
        (None, None, "parallel"),
        (False, None, "sequential"),
        (None, "false", "sequential"),
        (False, "true", "parallel"),
    ],
)
def test_the_mode_is_read_from_yaml_and_env(
    tmp_path: Path, yaml_value: bool | None, env_value: str | None, expected: str
) -> None:
    settings: dict[str, dict[str, object]] = {**FAST, "worker": dict(QUICK_WORKER)}
    if yaml_value is not None:
        settings["memory"] = {"parallel_enabled": yaml_value}
    env = {"MEMFUSE_PARALLEL_ENABLED": env_value} if env_value else {}
    server = ServerProcess(tmp_path / "s", settings=settings, env=env)
    try:
        found, stats = run_conversation(server)
    finally:
        server.stop()
    assert stats["layers"]["mode"] == expected  # type: ignore[index]
    assert stats["layers"]["last_mode"] == expected  # type: ignore[index]
    assert found["facts"] and found["entities"] and found["relations"]


def test_parallel_and_sequential_give_the_same_memories(tmp_path: Path) -> None:
    results = []
    for parallel in (True, False):
        settings = {**FAST, "memory": {"parallel_enabled": parallel}, "worker": QUICK_WORKER}
        server = ServerProcess(tmp_path / str(parallel), settings=settings)
        try:
            results.append(run_conversation(server)[0])
        finally:
            server.stop()
    assert results[0] == results[1]


def test_query_reaches_facts_and_relations_with_provenance(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "s", settings={**FAST, "worker": QUICK_WORKER})
    try:
        server.start()
        with httpx.Client(base_url=server.api, timeout=60) as api:
            posted = post_conversation(api)
            time.sleep(1.0)
            wait_drained(api)
            body = {"query": "How old is Leo?", "top_k": 10}
            results = ok(api.post(f"/users/{posted.user_id}/query", json=body))["results"]
            types = {r["type"] for r in results}
            assert {"fact", "relation"} & types, results
            for r in results:
                sources = r["metadata"]["source_message_ids"]
                assert sources and set(sources) <= set(posted.message_ids), r
                assert (
                    r["metadata"]["level"]
                    == {
                        "message": 0,
                        "chunk": 0,
                        "fact": 1,
                        "knowledge": 1,
                        "entity": 2,
                        "relation": 2,
                    }[r["type"]]
                )
            leo = [
                r for r in results if r["type"] in ("fact", "relation") and "Leo" in r["content"]
            ]
            assert leo and posted.message_ids[0] in leo[0]["metadata"]["source_message_ids"]
    finally:
        server.stop()


def test_entity_neighbourhood_and_source_turns(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "s", settings={**FAST, "worker": QUICK_WORKER})
    try:
        server.start()
        with httpx.Client(base_url=server.api, timeout=60) as api:
            posted = post_conversation(api)
            time.sleep(1.0)
            wait_drained(api)
            entities = ok(api.get(f"/users/{posted.user_id}/entities"))["entities"]
            leo = next(e for e in entities if e["name"] == "Leo")
            found = ok(api.get(f"/users/{posted.user_id}/entities/{leo['id']}"))
            assert any("Leo" in r["content"] for r in found["relations"])
            read = api.post(
                f"/sessions/{posted.session_id}/messages/read",
                json={"message_ids": leo["source_message_ids"]},
            )
            assert "Leo" in ok(read)["messages"][0]["content"]
            missing = api.get(f"/users/{posted.user_id}/entities/not-an-entity")
            assert missing.status_code == 404
    finally:
        server.stop()


def test_a_failing_llm_ends_in_dead_letters_that_redrive(tmp_path: Path) -> None:
    with FakeLLMServer() as llm:
        llm.fail_always(500)
        settings = {
            **FAST,
            "extraction": {"provider": "llm", "llm": {"base_url": llm.base_url, "max_retries": 0}},
            "worker": {**QUICK_WORKER, "max_attempts": 2},
        }
        server = ServerProcess(tmp_path / "s", settings=settings)
        try:
            server.start()
            with httpx.Client(base_url=server.api, timeout=60) as api:
                posted = post_conversation(api)
                time.sleep(1.0)
                stats = wait_drained(api)
                assert stats["queue"]["dead_letters"] >= 3
                assert memories(api, posted.user_id)["facts"] == set()
                dead = server.cli("jobs", "dead")
                assert "500" in dead.stdout
                llm.fail_always(None)
                redrive = server.cli("jobs", "retry")
                assert redrive.returncode == 0, redrive.stderr
                time.sleep(0.5)
                stats = wait_drained(api)
                assert stats["queue"]["dead_letters"] == 0
                assert memories(api, posted.user_id)["facts"]
        finally:
            server.stop()


def test_a_worker_killed_mid_job_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    with FakeLLMServer(latency_seconds=1.5) as llm:
        settings = {
            **FAST,
            "extraction": {"provider": "llm", "llm": {"base_url": llm.base_url}},
            "worker": {**QUICK_WORKER, "lease_seconds": 1.0},
        }
        server = ServerProcess(tmp_path / "s", settings=settings, args=["--no-worker"])
        worker = WorkerProcess(server)
        try:
            server.start()
            with httpx.Client(base_url=server.api, timeout=60) as api:
                posted = post_conversation(api)
                time.sleep(1.0)
                worker.start()
                deadline = time.monotonic() + 30
                while ok(api.get("/stats"))["queue"]["running"] == 0:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
                worker.kill()  # SIGKILL in the middle of a job
                worker.start()
                stats = wait_drained(api, timeout=90)
                assert stats["queue"]["dead_letters"] == 0
                found = memories(api, posted.user_id)
                facts = ok(api.get(f"/users/{posted.user_id}/facts", params={"limit": 1000}))
                contents = [f["content"] for f in facts["facts"]]
                assert len(contents) == len(set(contents))
                assert len(contents) == len(posted.message_ids)  # one canned fact per message
                assert found["relations"]
        finally:
            worker.stop()
            server.stop()
