"""SIGTERM lets in-flight requests finish and leaves nothing half-written."""

from __future__ import annotations

import signal
import threading
import time

import httpx

from tests.serverproc import ServerProcess


def test_sigterm_finishes_the_request_in_flight(fresh_server: ServerProcess) -> None:
    fresh_server.start()
    api = fresh_server.api
    with httpx.Client(base_url=api, timeout=60) as client:
        user = client.post("/users", json={"name": "shutdown-user"}).json()["data"]["user"]
        agent = client.post("/agents", json={"name": "a"}).json()["data"]["agent"]
        body = {"user_id": user["id"], "agent_id": agent["id"], "name": "s"}
        sid = client.post("/sessions", json=body).json()["data"]["session"]["id"]
    batch = {"messages": [{"role": "user", "content": f"message {i} " * 20} for i in range(400)]}
    outcome: dict[str, httpx.Response] = {}

    def post() -> None:
        outcome["r"] = httpx.post(f"{api}/sessions/{sid}/messages", json=batch, timeout=120)

    sender = threading.Thread(target=post)
    sender.start()
    time.sleep(0.5)  # the batch is being embedded
    assert fresh_server.kill(signal.SIGTERM) in (0, -signal.SIGTERM)  # uvicorn re-raises it
    sender.join(timeout=120)
    response = outcome["r"]
    assert response.status_code == 201
    ids = response.json()["data"]["message_ids"]

    fresh_server.start()
    with httpx.Client(base_url=api, timeout=60) as client:
        read = client.post(f"/sessions/{sid}/messages/read", json={"message_ids": ids})
        assert read.status_code == 200
        assert len(read.json()["data"]["messages"]) == 400
