"""Hostile bodies are refused early, clearly, and change nothing."""

from __future__ import annotations

import httpx

from tests.api.helpers import err, ok, uniq

JSON = {"content-type": "application/json"}


def user_count(api: httpx.Client) -> int:
    return len(ok(api.get("/users"))["users"])


def test_wrong_content_type_is_415(api: httpx.Client) -> None:
    before = user_count(api)
    body = err(
        api.post("/users", content=b'{"name": "x"}', headers={"content-type": "text/plain"}), 415
    )
    assert "application/json" in body["message"]
    err(
        api.post(
            "/users",
            content=b"name=x",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
        415,
    )
    assert user_count(api) == before


def test_deeply_nested_json_is_refused_before_parsing(api: httpx.Client) -> None:
    deep = b'{"name":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert (
        "nested too deeply" in err(api.post("/users", content=deep, headers=JSON), 422)["message"]
    )


def test_metadata_deeper_than_32_levels_is_refused(api: httpx.Client) -> None:
    user = ok(api.post("/users", json={"name": uniq("deep")}), 201)["user"]["id"]
    agent = api.post("/agents", json={"name": "hardening"}).json()["data"]["agent"]["id"]
    sid = ok(api.post("/sessions", json={"user_id": user, "agent_id": agent}), 201)["session"]["id"]
    nested: dict[str, object] = {}
    for _ in range(40):
        nested = {"n": nested}
    message = {"role": "user", "content": "hi", "metadata": nested}
    body = err(api.post(f"/sessions/{sid}/messages", json={"messages": [message]}), 422)
    assert "32 levels" in body["message"]
    assert ok(api.get(f"/sessions/{sid}/messages"))["messages"] == []


def test_nul_bytes_and_lone_surrogates_are_refused(api: httpx.Client) -> None:
    before = user_count(api)
    assert "NUL" in err(api.post("/users", json={"name": "a\x00b"}), 422)["message"]
    lone = b'{"name": "a\\ud800b"}'
    assert "JSON" in err(api.post("/users", content=lone, headers=JSON), 422)["message"]
    assert user_count(api) == before


def test_unicode_text_is_kept_exactly(api: httpx.Client) -> None:
    name = uniq("Zoë 🌍 日本")
    created = ok(api.post("/users", json={"name": name}), 201)["user"]
    assert ok(api.get(f"/users/{created['id']}"))["user"]["name"] == name
