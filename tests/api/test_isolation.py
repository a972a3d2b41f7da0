"""Tenant isolation: every route of the OpenAPI document, tried with one user's key
against another user's data, reads and writes nothing of it.

The routes come from the server's own OpenAPI document, so a route added later is
tried too. One body serves every route: request models ignore fields they do not
know, so it carries every field any route reads, all naming the victim's data.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api.helpers import ok, uniq
from tests.api.hierarchy_helpers import post_conversation, wait_drained
from tests.serverproc import ServerProcess

ADMIN = "isolation-admin-key-0123456789"
SHARED = {  # routes that hold no user's data, or list only the caller's own: any key may use them
    ("get", "/api/v1/users"),
    ("get", "/api/v1/sessions"),
    ("get", "/api/v1/agents"),
    ("post", "/api/v1/agents"),
    ("get", "/api/v1/agents/{item_id}"),
    ("get", "/api/v1/stats"),
    ("get", "/api/v1/health"),
}


@dataclass
class Victim:
    user_id: str
    session_id: str
    agent_id: str
    message_ids: list[str]
    knowledge_ids: list[str]
    entity_id: str
    key_id: str
    secrets: list[str]  # contents that must never reach the attacker

    @property
    def ids(self) -> list[str]:
        """Identifiers the attacker sends (an error may echo them; data may not hold them)."""
        return [
            self.user_id,
            self.session_id,
            *self.message_ids,
            *self.knowledge_ids,
            self.entity_id,
        ]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    settings = {
        "server": {"api_key_validation": True, "admin_api_key": ADMIN},
        "buffer": {"max_rounds": 2, "idle_seconds": 0.5, "sweep_interval_seconds": 0.2},
        "worker": {"poll_interval_seconds": 0.1},
    }
    proc = ServerProcess(tmp_path_factory.mktemp("isolation"), settings=settings).start()
    yield proc
    proc.stop()


def make_victim(api: httpx.Client) -> Victim:
    posted = post_conversation(api)
    time.sleep(1.0)
    wait_drained(api)
    uid = posted.user_id
    knowledge = ok(
        api.post(f"/users/{uid}/knowledge", json={"knowledge": ["Bob's PIN is 4417"]}), 201
    )
    entity = ok(api.get(f"/users/{uid}/entities"))["entities"][0]["id"]
    key = ok(api.post(f"/users/{uid}/api-keys", json={"name": "victim"}), 201)["api_key"]
    session = ok(api.get(f"/sessions/{posted.session_id}"))["session"]
    return Victim(
        uid,
        posted.session_id,
        session["agent_id"],
        posted.message_ids,
        knowledge["knowledge_ids"],
        entity,
        key["id"],
        ["4417", "Hillcrest", "Rise & Shine", key["key"]],
    )


def snapshot(api: httpx.Client, v: Victim) -> str:
    parts = [
        ok(api.get(f"/users/{v.user_id}")),
        ok(api.get(f"/sessions/{v.session_id}")),
        ok(api.get(f"/sessions/{v.session_id}/messages", params={"limit": 1000})),
        ok(api.get(f"/users/{v.user_id}/knowledge")),
        ok(api.get(f"/users/{v.user_id}/facts", params={"limit": 1000})),
        ok(api.get(f"/users/{v.user_id}/relations", params={"limit": 1000})),
        [k["id"] for k in ok(api.get(f"/users/{v.user_id}/api-keys"))["api_keys"]],
    ]
    return json.dumps(parts, sort_keys=True)


def fill(path: str, v: Victim) -> str:
    values = {
        "user_id": v.user_id,
        "session_id": v.session_id,
        "entity_id": v.entity_id,
        "key_id": v.key_id,
        "item_id": v.agent_id if path.startswith("/api/v1/agents") else v.user_id,
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def universal_body(v: Victim) -> dict[str, Any]:
    message = {"role": "user", "content": "injected by another user"}
    return {
        "name": uniq("hijack"),
        "description": "hijacked",
        "user_id": v.user_id,
        "agent_id": v.agent_id,
        "session_id": v.session_id,
        "messages": [message],
        "message_ids": v.message_ids[:1],
        "new_messages": [message],
        "knowledge": ["injected"],
        "knowledge_ids": v.knowledge_ids,
        "new_knowledge": ["injected"],
        "query": "What is the PIN?",
        "top_k": 10,
    }


def routes(api: httpx.Client) -> list[tuple[str, str]]:
    spec = api.get("/openapi.json").json()
    return [
        (m, p)
        for p, ops in spec["paths"].items()
        for m in ops
        if m in ("get", "post", "put", "delete")
    ]


def test_no_route_reaches_another_users_data(server: ServerProcess) -> None:
    with httpx.Client(
        base_url=server.api, timeout=60, headers={"Authorization": f"Bearer {ADMIN}"}
    ) as api:
        victim = make_victim(api)
        attacker = ok(api.post("/users", json={"name": uniq("attacker")}), 201)["user"]["id"]
        key = ok(api.post(f"/users/{attacker}/api-keys", json={}), 201)["api_key"]["key"]
        before = snapshot(api, victim)
        tried = routes(api)
    assert len(tried) >= 25, tried
    leaks = []
    with httpx.Client(
        base_url=server.base_url, timeout=60, headers={"Authorization": f"Bearer {key}"}
    ) as api:
        for method, path in tried:
            url = fill(path, victim)
            body = None if method == "get" else universal_body(victim)
            response = api.request(method, url, json=body)
            if (method, path) not in SHARED and response.status_code < 400:
                leaks.append(f"{method.upper()} {path} -> {response.status_code}")
            shown = victim.secrets + (victim.ids if response.status_code < 400 else [])
            if any(s in response.text for s in shown):
                leaks.append(f"{method.upper()} {path} showed the victim's data")
    assert not leaks, leaks
    with httpx.Client(
        base_url=server.api, timeout=60, headers={"Authorization": f"Bearer {ADMIN}"}
    ) as api:
        assert snapshot(api, victim) == before
