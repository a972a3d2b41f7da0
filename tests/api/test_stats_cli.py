"""``memfuse-server stats``: a table for people, under the names ``GET /api/v1/stats`` uses."""

from __future__ import annotations

import json

import httpx

from tests.serverproc import ServerProcess


def test_stats_use_the_names_of_the_api(server: ServerProcess, api: httpx.Client) -> None:
    served = api.get("/stats").json()["data"]
    result = server.cli("stats", "--json")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert set(printed) == {"queue", "layers"}
    assert set(printed["queue"]) == set(served["queue"])
    assert set(printed["layers"]) <= set(served["layers"])

    table = server.cli("stats")
    assert table.returncode == 0, table.stderr
    for section, names in printed.items():
        for name in names:
            assert any(section in row and name in row for row in table.stdout.splitlines()), name
