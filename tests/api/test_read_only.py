"""A SQLite file that cannot be written: 503 with a Retry-After worth waiting for, then
writes again within seconds once it can be written, without a restart."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.api.helpers import err, ok, uniq
from tests.serverproc import ServerProcess
from tests.storage.test_sqlite_readonly import ROOT, read_only


def test_writes_answer_503_then_recover_once_the_file_is_writable(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "s", database_url=None).start()
    db = tmp_path / "s" / "memfuse.db"
    try:
        with httpx.Client(base_url=server.api, timeout=30) as api:
            ok(api.post("/users", json={"name": uniq("before")}), 201)
            with read_only(db, db.with_name("memfuse.db-wal")):
                answer = api.post("/users", json={"name": uniq("during")})
                if ROOT:  # (chmod leaves the server's open files writable)
                    err(answer, 503)
                    assert int(answer.headers["Retry-After"]) >= 5
                    assert "writable" in answer.json()["message"]
            deadline = time.monotonic() + 10
            while (answer := api.post("/users", json={"name": uniq("after")})).status_code != 201:
                assert time.monotonic() < deadline, answer.text
                time.sleep(0.5)
    finally:
        server.stop()
