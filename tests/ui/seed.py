"""The memory the browser tests look at: two users, two sessions, facts and a graph.

Windows close at two rounds and never by idleness, so each session keeps its last
turn in the open window while everything before it has been handed to the fact
and graph extractors (and the background has drained).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.api.helpers import ok
from tests.api.hierarchy_helpers import CONVERSATION, wait_drained

SETTINGS: dict[str, dict[str, Any]] = {
    "buffer": {"max_rounds": 2, "idle_seconds": 3600},
    "worker": {"poll_interval_seconds": 0.1, "backoff_base_seconds": 0.05},
}

Turn = tuple[str, str, str, str]  # role, speaker, time, text

GARDEN: list[Turn] = [
    *(("user", name, when, text) for name, when, text in CONVERSATION),
    ("user", "Priya", "2024-02-05T10:06:00+00:00", "See you at the allotment on Saturday."),
]
WEEKEND: list[Turn] = [
    ("user", "Tom", "2024-02-09T18:00:00+00:00", "Claire is driving us to Porto on Saturday."),
    ("assistant", "", "2024-02-09T18:00:05+00:00", "That sounds lovely. Enjoy the trip!"),
    ("user", "Tom", "2024-02-09T18:01:00+00:00", "Ana wants to see the river there."),
    ("user", "Tom", "2024-02-09T18:02:00+00:00", "Remind me to call Leo on Sunday."),
]


@dataclass
class Seeded:
    user_id: str
    user_name: str
    sessions: dict[str, str]  # name -> id
    messages: dict[str, str] = field(default_factory=dict)  # text -> id


def _post(api: httpx.Client, session_id: str, turns: list[Turn], seeded: Seeded) -> None:
    for role, name, when, text in turns:  # one request per turn, as an agent sends them
        message: dict[str, Any] = {"role": role, "content": text, "created_at": when}
        if name:
            message["name"] = name
        body = {"messages": [message]}
        [message_id] = ok(api.post(f"/sessions/{session_id}/messages", json=body), 201)[
            "message_ids"
        ]
        seeded.messages[text] = message_id


def seed(api: httpx.Client) -> Seeded:
    """Post the conversations and wait until the background has processed them."""
    ok(api.post("/users", json={"name": "sam", "description": "A second user"}), 201)
    body = {"name": "tom-and-priya", "description": "Neighbours"}
    user = ok(api.post("/users", json=body), 201)["user"]
    agent = ok(api.post("/agents", json={"name": "assistant"}), 201)["agent"]
    seeded = Seeded(user["id"], user["name"], {})
    for name, turns in (("garden-chat", GARDEN), ("weekend-plans", WEEKEND)):
        body = {"user_id": user["id"], "agent_id": agent["id"], "name": name}
        session_id = ok(api.post("/sessions", json=body), 201)["session"]["id"]
        seeded.sessions[name] = session_id
        _post(api, session_id, turns, seeded)
    wait_drained(api)
    return seeded
