"""GET /metrics: Prometheus text with the request, ingest, embedding, layer, queue,
pool and cache series that docs/operations.md describes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.api.helpers import ok
from tests.api.hierarchy_helpers import post_conversation, wait_drained
from tests.serverproc import ServerProcess

FAST = {
    "buffer": {"max_rounds": 2, "idle_seconds": 0.5, "sweep_interval_seconds": 0.2},
    "worker": {"poll_interval_seconds": 0.1},
}


class Clients(NamedTuple):
    root: httpx.Client
    api: httpx.Client


def scrape(api: httpx.Client) -> dict[str, float]:
    response = api.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}"] = sample.value
    return values


def total(values: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in values.items() if k.startswith(prefix))


@contextlib.contextmanager
def started(server: ServerProcess, settings: dict[str, Any]) -> Iterator[Clients]:
    """Start ``server`` with ``settings``; clients of its root (``/metrics``) and its API."""
    server.settings = settings
    server.start()
    with (
        httpx.Client(base_url=server.base_url, timeout=60) as root,
        httpx.Client(base_url=server.api, timeout=60) as api,
    ):
        yield Clients(root, api)


def test_metrics_follow_what_the_server_does(fresh_server: ServerProcess) -> None:
    with started(fresh_server, FAST) as (root, api):
        posted = post_conversation(api)
        time.sleep(1.0)
        wait_drained(api)
        for _ in range(2):  # the same query twice, nothing written between: one cache hit
            ok(api.post(f"/users/{posted.user_id}/query", json={"query": "Who is Leo?"}))
        values = scrape(root)
    route = "/api/v1/sessions/{session_id}/messages"
    assert values[f"memfuse_http_requests_total{{method=POST,route={route},status=201}}"] == 6
    assert values["memfuse_messages_ingested_total{}"] == 6
    assert total(values, "memfuse_embedding_batch_size_count{priority=foreground}") >= 1
    # the facts, entities and relations were embedded as background texts, after the requests'
    assert total(values, "memfuse_embedding_batch_size_count{priority=background}") >= 1
    assert total(values, "memfuse_embedding_wait_seconds_count{priority=foreground}") >= 7
    assert values["memfuse_layer_seconds_count{layer=m1,mode=parallel}"] >= 3
    assert values["memfuse_jobs_total{outcome=done}"] >= 3
    assert values["memfuse_jobs_pending{}"] == 0 and values["memfuse_jobs_dead_letters{}"] == 0
    assert values["memfuse_query_cache_hits_total{}"] >= 1
    assert values["memfuse_layers_mode{mode=parallel}"] == 1
    assert "memfuse_db_connections_in_use{}" in values
    assert "memfuse_jobs_lag_seconds{}" in values


def test_metrics_need_the_admin_key_when_keys_are_on(fresh_server: ServerProcess) -> None:
    fresh_server.settings = {"server": {"api_key_validation": True, "admin_api_key": "a" * 24}}
    fresh_server.start()
    with httpx.Client(base_url=fresh_server.base_url, timeout=30) as root:
        assert root.get("/metrics").status_code == 401
        admin = {"Authorization": "Bearer " + "a" * 24}
        assert root.get("/metrics", headers=admin).status_code == 200
