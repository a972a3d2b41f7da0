"""An edit racing the worker: nothing derived from the old text survives.

A real server (SQLite, and PostgreSQL with an API process and a worker process) extracts
with the LLM extractor from the project's test LLM server, which takes a while to answer.
While the episode's job waits for it, the message is replaced. Once the queue drains, the
facts, entities, relations and search results hold the new text only: what was extracted
from the old text is discarded when it is saved, and the edited episode is processed again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from memfuse_server.testing import FakeLLMServer
from tests.api.helpers import ok, uniq
from tests.api.hierarchy_helpers import memories, wait_drained
from tests.pg import PostgresForTests
from tests.serverproc import ServerProcess, WorkerProcess

OLD = "Yesterday I visited Zanzibar with my cousin Quentin."
NEW = "Yesterday I stayed at home and repainted the Kitchen."
OLD_WORDS = ("zanzibar", "quentin")
LATENCY = 2.0  # seconds the test LLM server takes for every answer


@pytest.fixture(scope="module")
def slow_llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(latency_seconds=LATENCY) as fake:
        yield fake


def _settings(llm: FakeLLMServer) -> dict[str, Any]:
    return {
        "buffer": {"max_rounds": 1, "idle_seconds": 600},
        "worker": {"poll_interval_seconds": 0.1},
        "extraction": {"provider": "llm", "llm": {"base_url": llm.base_url, "max_retries": 0}},
    }


@pytest.fixture(params=["sqlite", "postgres"])
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path, slow_llm: FakeLLMServer
) -> Iterator[ServerProcess]:
    """SQLite: one `serve` with its worker. PostgreSQL: `serve --no-worker` and a `worker`."""
    settings = _settings(slow_llm)
    if request.param == "sqlite":
        server = ServerProcess(tmp_path / "s", settings=settings, database_url=None)
        processes: list[ServerProcess | WorkerProcess] = [server]
    else:
        pg: PostgresForTests = request.getfixturevalue("postgres")
        url = pg.create_database()
        server = ServerProcess(tmp_path / "s", settings, args=["--no-worker"], database_url=url)
        processes = [server, WorkerProcess(server)]
    try:
        for proc in processes:
            proc.start()
        yield server
    finally:
        for proc in reversed(processes):
            proc.stop()


def _wait_for_extraction_of(llm: FakeLLMServer, text: str, timeout: float = 60.0) -> None:
    """Until the test LLM server has been asked to extract from ``text``."""
    deadline = time.monotonic() + timeout
    while not any(text in str(r.body) for r in llm.requests):
        assert time.monotonic() < deadline, f"no extraction asked for {text!r}"
        time.sleep(0.02)


def _conversation(api: httpx.Client) -> tuple[str, str, str]:
    """A user, a session and its first message, whose round is closed into an episode."""
    user_id = ok(api.post("/users", json={"name": uniq("race")}), 201)["user"]["id"]
    agent_id = ok(api.post("/agents", json={"name": uniq("agent")}), 201)["agent"]["id"]
    body = {"user_id": user_id, "agent_id": agent_id, "name": "s"}
    session_id = ok(api.post("/sessions", json=body), 201)["session"]["id"]
    turns = [
        {"role": "user", "content": OLD},
        {"role": "assistant", "content": "That sounds like a lovely trip."},
    ]
    ids = ok(api.post(f"/sessions/{session_id}/messages", json={"messages": turns}), 201)
    third = {"role": "user", "content": "What should I cook tonight?"}  # closes the first round
    ok(api.post(f"/sessions/{session_id}/messages", json={"messages": [third]}), 201)
    return user_id, session_id, ids["message_ids"][0]


def _old_text_in(api: httpx.Client, user_id: str) -> list[str]:
    found = [
        text
        for texts in memories(api, user_id).values()
        for text in texts
        if any(w in text.lower() for w in OLD_WORDS)
    ]
    body = {"query": "Zanzibar Quentin", "top_k": 50}
    results = ok(api.post(f"/users/{user_id}/query", json=body))["results"]
    return found + [r["content"] for r in results if "zanzibar" in r["content"].lower()]


def test_an_edit_while_the_job_extracts_leaves_nothing_of_the_old_text(
    deployment: ServerProcess, slow_llm: FakeLLMServer
) -> None:
    with httpx.Client(base_url=deployment.api, timeout=60) as api:
        user_id, session_id, first = _conversation(api)
        _wait_for_extraction_of(slow_llm, "Zanzibar")  # the job has read the old text
        edit = {"message_ids": [first], "new_messages": [{"role": "user", "content": NEW}]}
        ok(api.put(f"/sessions/{session_id}/messages", json=edit))
        time.sleep(LATENCY + 0.5)  # the first job's answers arrive and it saves
        wait_drained(api, timeout=120)
        assert _old_text_in(api, user_id) == []
        facts = memories(api, user_id)["facts"]
        assert any("repainted" in f for f in facts), facts  # the edited episode, processed again
