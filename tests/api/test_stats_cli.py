"""``memfuse-server stats``: a table for people, under the names ``GET /api/v1/stats`` uses."""

from __future__ import annotations

import json

import httpx

from tests.serverproc import ServerProcess


def test_stats_use_the_names_of_the_api(server: ServerProcess, api: httpx.Client) -> None:
    served = api.get("/stats").json()["data"]
    result = server.cli("stats", "--json", "--url", server.base_url)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert set(printed) == set(served)
    for section in ("queue", "layers", "worker"):
        assert set(printed[section]) == set(served[section])
    offline = json.loads(server.cli("stats", "--json", "--url", "http://127.0.0.1:9").stdout)
    assert set(offline) == {"queue", "layers"}  # no server: what the database holds
    assert set(offline["queue"]) == set(served["queue"])
    assert set(offline["layers"]) <= set(served["layers"])

    table = server.cli("stats", "--url", server.base_url)
    assert table.returncode == 0, table.stderr
    for section, names in printed.items():
        for name in names:
            assert any(section in row and name in row for row in table.stdout.splitlines()), name
