"""Small helpers for the HTTP tests: unique names, envelope checks, fixtures' data."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx


def uniq(prefix: str = "t") -> str:
    """A name no other test uses (the session server is shared)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def is_sentence(text: Any) -> bool:
    return isinstance(text, str) and len(text.strip()) >= 10 and " " in text.strip()


def ok(resp: httpx.Response, code: int = 200) -> Any:
    """Check a success envelope with this code; return its ``data``."""
    assert resp.status_code == code, f"{resp.request.method} {resp.request.url}: {resp.text}"
    body = resp.json()
    assert body["status"] == "success", body
    assert body["code"] == code, body
    assert body["errors"] is None, body
    assert isinstance(body["message"], str), body
    return body["data"]


def err(resp: httpx.Response, code: int | set[int]) -> dict[str, Any]:
    """Check an error envelope (HTTP status == code, a useful message); return the body."""
    codes = {code} if isinstance(code, int) else code
    assert resp.status_code in codes, f"{resp.request.method} {resp.request.url}: {resp.text}"
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    body = resp.json()
    assert set(body) == {"status", "code", "data", "message", "errors"}, body
    assert body["status"] == "error", body
    assert body["code"] == resp.status_code, body
    assert body["data"] is None, body
    assert is_sentence(body["message"]), body
    errors = body["errors"]
    assert errors is None or isinstance(errors, list), body
    for item in errors or []:
        assert isinstance(item, dict) and {"field", "message"} <= set(item), body
    return dict(body)


def parse_ts(value: str) -> datetime:
    """An ISO-8601 timestamp with a timezone."""
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"timestamp without a timezone: {value}"
    return parsed


@dataclass
class World:
    """A user with an agent, a session, messages and knowledge."""

    user_id: str
    user_name: str
    agent_id: str
    agent_name: str
    session_id: str
    session_name: str
    message_ids: list[str]
    knowledge_ids: list[str]


def create_user(api: httpx.Client, name: str | None = None) -> str:
    data = ok(api.post("/users", json={"name": name or uniq("user")}), 201)
    return str(data["user"]["id"])


def create_agent(api: httpx.Client, name: str | None = None) -> str:
    resp = api.post("/agents", json={"name": name or uniq("agent")})
    data = ok(resp, resp.status_code if resp.status_code in (200, 201) else 201)
    return str(data["agent"]["id"])


def create_session(api: httpx.Client, user_id: str, agent_id: str, name: str | None = None) -> str:
    body = {"user_id": user_id, "agent_id": agent_id, "name": name}
    return str(ok(api.post("/sessions", json=body), 201)["session"]["id"])


def add_messages(api: httpx.Client, session_id: str, messages: list[dict[str, Any]]) -> list[str]:
    data = ok(api.post(f"/sessions/{session_id}/messages", json={"messages": messages}), 201)
    ids = [str(i) for i in data["message_ids"]]
    assert len(ids) == len(messages)
    return ids


def list_messages(
    api: httpx.Client, session_id: str, buffer_only: bool | None = None, **params: Any
) -> list[dict[str, Any]]:
    query: dict[str, Any] = {"limit": 1000, **params}
    if buffer_only is not None:
        query["buffer_only"] = str(buffer_only).lower()
    data = ok(api.get(f"/sessions/{session_id}/messages", params=query))
    return list(data["messages"])


def query(
    api: httpx.Client, user_id: str, text: str, top_k: int = 10, **extra: Any
) -> list[dict[str, Any]]:
    data = ok(api.post(f"/users/{user_id}/query", json={"query": text, "top_k": top_k, **extra}))
    assert data["total"] == len(data["results"])
    return list(data["results"])


def contents(results: list[dict[str, Any]]) -> str:
    """All result texts as one string (to look for a phrase)."""
    return "\n".join(str(r["content"]) for r in results)


def make_world(api: httpx.Client) -> World:
    user_name, agent_name, session_name = uniq("user"), uniq("agent"), uniq("session")
    user_id = create_user(api, user_name)
    agent_id = create_agent(api, agent_name)
    session_id = create_session(api, user_id, agent_id, session_name)
    message_ids = add_messages(
        api,
        session_id,
        [
            {"role": "user", "content": "I keep bees on the roof of my flat."},
            {"role": "assistant", "content": "How many hives do you have?"},
            {"role": "user", "content": "Three hives, all Carniolan bees."},
        ],
    )
    data = ok(
        api.post(
            f"/users/{user_id}/knowledge",
            json={"knowledge": ["The user is allergic to peanuts.", "The user lives in Porto."]},
        ),
        201,
    )
    knowledge_ids = [str(i) for i in data["knowledge_ids"]]
    return World(
        user_id,
        user_name,
        agent_id,
        agent_name,
        session_id,
        session_name,
        message_ids,
        knowledge_ids,
    )


def snapshot(api: httpx.Client, world: World) -> dict[str, Any]:
    """Everything a bad request could have changed, as data to compare.

    ``episode_id`` is left out: the idle sweeper may close a window between two snapshots.
    """
    messages = list_messages(api, world.session_id, order="asc")
    for m in messages:
        m.pop("episode_id", None)
    return {
        "users": ok(api.get("/users"))["users"],
        "agents": ok(api.get("/agents"))["agents"],
        "sessions": ok(api.get("/sessions", params={"user_id": world.user_id}))["sessions"],
        "session": ok(api.get(f"/sessions/{world.session_id}"))["session"],
        "messages": messages,
        "knowledge": ok(api.get(f"/users/{world.user_id}/knowledge"))["knowledge"],
    }
