"""Helpers for the M1/M2 tests: post a small conversation, wait for the background."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from tests.api.helpers import ok, uniq

CONVERSATION = [
    ("Tom", "2024-02-05T10:00:00+00:00", "My grandson Leo turned five on Thursday."),
    ("Priya", "2024-02-05T10:01:00+00:00", "I teach year three at Hillcrest Primary."),
    ("Tom", "2024-02-05T10:02:00+00:00", "My daughter Claire promised to water the seedlings."),
    ("Priya", "2024-02-05T10:03:00+00:00", "Asha played her first piece for us yesterday."),
    ("Tom", "2024-02-05T10:04:00+00:00", "I visited Lisbon last week with my wife Ana."),
    ("Priya", "2024-02-05T10:05:00+00:00", "I registered my bakery, it is called Rise & Shine."),
]


@dataclass
class Posted:
    user_id: str
    session_id: str
    message_ids: list[str]


def post_conversation(
    api: httpx.Client, turns: list[tuple[str, str, str]] = CONVERSATION
) -> Posted:
    """One user and one session; each turn a ``user`` message with a speaker and a date."""
    user_id = ok(api.post("/users", json={"name": uniq("h")}), 201)["user"]["id"]
    agent_id = api.post("/agents", json={"name": "hierarchy"}).json()["data"]["agent"]["id"]
    body = {"user_id": user_id, "agent_id": agent_id, "name": "s1"}
    session_id = ok(api.post("/sessions", json=body), 201)["session"]["id"]
    ids: list[str] = []
    for name, when, text in turns:
        message = {"role": "user", "name": name, "created_at": when, "content": text}
        ids += ok(api.post(f"/sessions/{session_id}/messages", json={"messages": [message]}), 201)[
            "message_ids"
        ]
    return Posted(user_id, session_id, ids)


def wait_drained(api: httpx.Client, timeout: float = 60.0) -> dict[str, Any]:
    """Poll /stats until nothing is pending, running or stalled; return the stats."""
    deadline = time.monotonic() + timeout
    while True:
        stats = ok(api.get("/stats"))
        queue = stats["queue"]
        if queue["pending"] == 0 and queue["running"] == 0 and queue.get("stalled", 0) == 0:
            return dict(stats)
        assert time.monotonic() < deadline, f"background did not drain: {stats}"
        time.sleep(0.1)


def memories(api: httpx.Client, user_id: str) -> dict[str, set[str]]:
    """The contents of a user's facts, entities and relations."""
    out = {}
    for kind in ("facts", "entities", "relations"):
        items = ok(api.get(f"/users/{user_id}/{kind}", params={"limit": 1000}))[kind]
        out[kind] = {i["content"] for i in items}
    return out
