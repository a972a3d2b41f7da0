"""Validity over HTTP: facts and relations say when they hold, the list routes filter by it,
and a query takes ``as_of``. Runs on PostgreSQL too (``make pytest-postgres``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import err, ok, parse_ts
from tests.api.hierarchy_helpers import post_conversation, wait_drained
from tests.serverproc import ServerProcess

FAST = {
    "buffer": {"max_rounds": 1, "idle_seconds": 0.5, "sweep_interval_seconds": 0.2},
    "worker": {"poll_interval_seconds": 0.1, "backoff_base_seconds": 0.05},
}
VALIDITY = {"valid_from", "valid_until", "superseded_by", "recorded_at", "current", "superseded"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    server = ServerProcess(Path(tmp_path_factory.mktemp("validity")), settings=FAST)
    server.start()
    try:
        with httpx.Client(base_url=server.api, timeout=60) as client:
            yield client
    finally:
        server.stop()


def settle(api: httpx.Client) -> None:
    time.sleep(0.8)  # the last window closes when idle
    wait_drained(api)


def test_facts_and_relations_carry_their_validity(api: httpx.Client) -> None:
    posted = post_conversation(api)
    settle(api)
    for kind in ("facts", "relations"):
        items = ok(api.get(f"/users/{posted.user_id}/{kind}"))[kind]
        assert items, kind
        for item in items:
            assert set(item) >= VALIDITY, item
            assert item["current"] is True and item["superseded"] is False
            assert parse_ts(item["valid_from"]) <= parse_ts(item["recorded_at"])
    body = {"query": "Where did Tom go with his wife?", "top_k": 10}
    results = ok(api.post(f"/users/{posted.user_id}/query", json=body))["results"]
    derived = [r for r in results if r["type"] in ("fact", "relation")]
    assert derived, results
    for result in derived:
        assert set(result["metadata"]) >= VALIDITY, result


def test_as_of_and_current_are_validated(api: httpx.Client) -> None:
    posted = post_conversation(api, [("Tom", "2024-02-05T10:00:00+00:00", "I live in Leeds.")])
    user = posted.user_id
    err(api.post(f"/users/{user}/query", json={"query": "x", "as_of": "last week"}), 422)
    err(api.get(f"/users/{user}/facts", params={"as_of": "soon"}), 422)
    both = {"current": "true", "as_of": "2024-01-01T00:00:00Z"}
    err(api.get(f"/users/{user}/relations", params=both), 422)
    settle(api)
    before = {"as_of": "2024-01-01T00:00:00Z"}
    assert ok(api.get(f"/users/{user}/facts", params=before))["facts"] == []
    assert ok(api.get(f"/users/{user}/facts", params={"current": "true"}))["facts"]
    body = {"query": "Where does Tom live?", "as_of": "2024-01-01"}
    results = ok(api.post(f"/users/{user}/query", json=body))["results"]
    assert results == []  # nothing had been said yet
