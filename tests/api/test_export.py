"""Export and import of a user's memory, on SQLite and on PostgreSQL: `memfuse-server export`,
an import into an empty server and an export from there give the same file, byte for byte;
importing it again adds nothing; GET /users/{uid}/export streams the same lines."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.helpers import err, ok
from tests.api.hierarchy_helpers import wait_drained
from tests.pg import PostgresForTests
from tests.serverproc import ServerProcess

SETTINGS = {
    "buffer": {"max_rounds": 2, "idle_seconds": 0.5, "sweep_interval_seconds": 0.2},
    "worker": {"poll_interval_seconds": 0.1, "backoff_base_seconds": 0.05},
}
AT = "2024-03-02T18:20:00+00:00"
MARATHON = [  # three turns of one time in one request: their stored order is their order
    {"role": "system", "content": "You are Maya's running coach.", "created_at": AT},
    {"role": "user", "name": "Maya", "content": "I signed up for the Porto marathon!", "created_at": AT},
    {"role": "assistant", "content": None, "created_at": AT, "metadata": {"tool_calls": [{"id": "c1", "function": {"name": "plan", "arguments": "{}"}}]}},
    {"role": "tool", "content": "12-week plan: 4 runs a week.", "metadata": {"tool_call_id": "c1"}, "created_at": "2024-03-02T18:21:00+00:00"},
    {"role": "user", "name": "Maya", "content": "Mein Knie tut weh 🏃‍♀️ – après 20 km.", "metadata": {"z": 1, "a": {"ü": [1, 2.5, None, True]}}, "created_at": "2024-03-09T07:00:00+00:00"},
]  # fmt: skip
FIGS = ["Maya likes figs.", "Maya likes figs.", "Maya lives in Porto."]


@dataclass
class Servers:
    full: ServerProcess  # with Maya's memory
    empty: ServerProcess
    uid: str  # Maya's id on the full one


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Servers]:
    """Two servers on one engine: one with Maya's memory, one empty (the last test of the
    module deletes Maya and imports her back)."""
    urls: list[str | None] = [None, None]
    if request.param == "postgres":
        pg: PostgresForTests = request.getfixturevalue("postgres")
        urls = [pg.create_database(), pg.create_database()]
    folder = tmp_path_factory.mktemp(f"export-{request.param}")
    made = [
        ServerProcess(folder / name, settings=SETTINGS, database_url=url)
        for name, url in zip(("full", "empty"), urls, strict=True)
    ]
    try:
        full, empty = made[0].start(), made[1].start()
        with httpx.Client(base_url=full.api, timeout=60) as api:
            yield Servers(full, empty, seed(api))
    finally:
        for server in made:
            server.stop()


def seed(api: httpx.Client) -> str:
    user = ok(api.post("/users", json={"name": "maya", "description": "runs marathons"}), 201)
    uid = user["user"]["id"]
    coach = ok(api.post("/agents", json={"name": "coach", "description": "a running coach"}), 201)
    helper = ok(api.post("/agents", json={"name": "assistant"}), 201)
    for name, agent, messages in (
        ("marathon", coach, MARATHON),
        ("Ünïcode / names", helper, [{"role": "user", "content": "Figs are in season."}]),
        ("nothing yet", helper, []),
    ):
        body = {"user_id": uid, "agent_id": agent["agent"]["id"], "name": name}
        sid = ok(api.post("/sessions", json=body), 201)["session"]["id"]
        if messages:
            ok(api.post(f"/sessions/{sid}/messages", json={"messages": messages}), 201)
    ok(api.post(f"/users/{uid}/knowledge", json={"knowledge": FIGS}), 201)
    time.sleep(1.0)  # the last windows close when idle
    wait_drained(api)
    return str(uid)


def export(server: ServerProcess, out: Path, *extra: str) -> bytes:
    done = server.cli("export", "--user", "maya", "--out", str(out), *extra)
    assert done.returncode == 0, done.stderr
    assert "exported" in done.stderr
    return out.read_bytes()


def import_into(server: ServerProcess, path: Path) -> str:
    command = [
        sys.executable,
        "-m",
        "memfuse_server",
        "import",
        str(path),
        "--url",
        server.base_url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def row(summary: str, label: str) -> str:
    [line] = [x for x in summary.splitlines() if label in x]
    return line.split("│")[2].strip()


def parsed(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.splitlines()]


def test_the_route_streams_the_same_lines_and_derived_ones_on_request(
    servers: Servers, tmp_path: Path
) -> None:
    full, uid = servers.full, servers.uid
    with httpx.Client(base_url=full.api, timeout=60) as api:
        with api.stream("GET", f"/users/{uid}/export") as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/x-ndjson"
            streamed = b"".join(response.iter_bytes())
        derived = api.get(f"/users/{uid}/export", params={"with_derived": "true"}).content
        err(api.get("/users/no-such-user/export"), 404)
        err(api.get(f"/users/{uid}/export", params={"with_derived": "perhaps"}), 422)
    assert streamed == export(full, tmp_path / "cli.jsonl")
    assert derived == export(full, tmp_path / "cli-derived.jsonl", "--with-derived")
    lines = parsed(derived)
    assert lines[0]["with_derived"] is True
    facts = [x for x in lines if x["type"] == "fact"]
    assert facts and lines[0]["counts"]["facts"] == len(facts)
    marathon = {x["n"]: x for x in lines if x.get("session") == "marathon" and "n" in x}
    for fact in facts:  # each source names a message line of the file
        for source in fact["sources"]:
            assert source["session"] == "marathon" or source["session"].startswith("Ü")
            if source["session"] == "marathon":
                assert source["n"] in marathon


def test_an_unknown_user_or_an_unwritable_file_fails_and_leaves_nothing(
    servers: Servers, tmp_path: Path
) -> None:
    full = servers.full
    missing = full.cli("export", "--user", "nobody", "--out", str(tmp_path / "x.jsonl"))
    assert missing.returncode == 1 and "No user is named 'nobody'" in missing.stderr
    assert not list(tmp_path.glob("x.jsonl*"))  # neither the file nor its .part
    nowhere = full.cli("export", "--user", "maya", "--out", str(tmp_path / "no" / "x.jsonl"))
    assert nowhere.returncode == 1 and "cannot write" in nowhere.stderr


def test_export_import_export_gives_the_same_file(servers: Servers, tmp_path: Path) -> None:
    full, empty, uid = servers.full, servers.empty, servers.uid
    one = export(full, tmp_path / "one.jsonl")
    lines = parsed(one)
    messages = [x for x in lines if x["type"] == "message"]
    assert [(m["session"], m["n"], m["role"]) for m in messages[:3]] == [
        ("marathon", 0, "system"),
        ("marathon", 1, "user"),
        ("marathon", 2, "assistant"),
    ]
    assert messages[2]["content"] == "" and messages[2]["metadata"]["tool_calls"][0]["id"] == "c1"
    assert messages[4]["metadata"] == MARATHON[4]["metadata"]
    assert lines[-1] == {
        "type": "end",
        "counts": {"agent": 2, "knowledge": 3, "message": 6, "session": 3},
    }

    summary = import_into(empty, tmp_path / "one.jsonl")
    assert row(summary, "new on the server") == "6"
    assert row(summary, "knowledge in the file (new)") == "3 (3)"
    assert export(empty, tmp_path / "two.jsonl") == one  # the same file, byte for byte

    again = import_into(empty, tmp_path / "one.jsonl")  # a re-run adds nothing
    assert row(again, "new on the server") == "0"
    assert row(again, "knowledge in the file (new)") == "3 (0)"
    assert export(empty, tmp_path / "three.jsonl") == one

    with httpx.Client(base_url=full.api, timeout=60) as api:  # wiped, then imported back
        ok(api.delete(f"/users/{uid}"))
        import_into(full, tmp_path / "one.jsonl")
        new_uid = ok(api.get("/users", params={"name": "maya"}))["users"][0]["id"]
        agents = {a["name"]: a for a in ok(api.get("/agents"))["agents"]}
        assert agents["coach"]["description"] == "a running coach"
        assert ok(api.get(f"/users/{new_uid}"))["user"]["description"] == "runs marathons"
    assert export(full, tmp_path / "four.jsonl") == one
