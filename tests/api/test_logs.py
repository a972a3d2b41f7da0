"""Structured logs: a request id on the request's lines and on the jobs it creates;
no message contents and no keys at INFO."""

from __future__ import annotations

import json
import time

import httpx

from tests.api.helpers import ok
from tests.api.hierarchy_helpers import wait_drained
from tests.serverproc import ServerProcess

SECRET_TEXT = "my locker code is 918273"
ADMIN = "log-admin-key-0123456789abcdef"


def test_request_ids_reach_the_jobs_and_contents_stay_out(fresh_server: ServerProcess) -> None:
    fresh_server.settings = {
        "server": {"admin_api_key": ADMIN},
        "buffer": {"max_rounds": 1},
        "worker": {"poll_interval_seconds": 0.1},
    }
    fresh_server.start()
    with httpx.Client(base_url=fresh_server.api, timeout=60) as api:
        user = ok(api.post("/users", json={"name": "logs"}), 201)["user"]["id"]
        agent = api.post("/agents", json={"name": "logs"}).json()["data"]["agent"]["id"]
        body = {"user_id": user, "agent_id": agent, "name": "s"}
        sid = ok(api.post("/sessions", json=body), 201)["session"]["id"]
        first = {"messages": [{"role": "user", "content": SECRET_TEXT}]}
        ok(api.post(f"/sessions/{sid}/messages", json=first), 201)
        second = {"messages": [{"role": "user", "content": "and my bike is blue"}]}
        closing = api.post(
            f"/sessions/{sid}/messages", json=second, headers={"X-Request-ID": "req-closes-window"}
        )
        assert closing.headers["x-request-id"] == "req-closes-window"
        time.sleep(0.5)
        wait_drained(api)
    fresh_server.stop()
    text = (fresh_server.data_dir / "server.log").read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [
        r
        for r in lines
        if r.get("event") == "request" and r.get("request_id") == "req-closes-window"
    ]
    assert access and access[0]["status"] == 201
    jobs = [r for r in lines if r.get("event") == "job done"]
    assert any(r.get("request_id") == "req-closes-window" for r in jobs), jobs
    assert SECRET_TEXT not in text and "918273" not in text
    assert ADMIN not in text
