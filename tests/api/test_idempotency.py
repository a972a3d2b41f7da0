"""Idempotency-Key on POST .../messages: a retried or re-run write adds nothing."""

from __future__ import annotations

import httpx

from tests.api.helpers import err, ok, uniq


def session(api: httpx.Client) -> str:
    user_id = ok(api.post("/users", json={"name": uniq("idem")}), 201)["user"]["id"]
    agent_id = api.post("/agents", json={"name": "idem"}).json()["data"]["agent"]["id"]
    body = {"user_id": user_id, "agent_id": agent_id, "name": "s"}
    return str(ok(api.post("/sessions", json=body), 201)["session"]["id"])


def count(api: httpx.Client, sid: str) -> int:
    return len(ok(api.get(f"/sessions/{sid}/messages", params={"limit": 1000}))["messages"])


def test_the_same_key_twice_stores_once_and_answers_the_same(api: httpx.Client) -> None:
    sid = session(api)
    body = {"messages": [{"role": "user", "content": "hello there"}]}
    headers = {"Idempotency-Key": "item-1"}
    first = ok(api.post(f"/sessions/{sid}/messages", json=body, headers=headers), 201)
    again = ok(api.post(f"/sessions/{sid}/messages", json=body, headers=headers), 201)
    assert first == again
    assert count(api, sid) == 1


def test_a_reused_key_with_another_body_is_a_conflict(api: httpx.Client) -> None:
    sid = session(api)
    headers = {"Idempotency-Key": "item-2"}
    ok(
        api.post(
            f"/sessions/{sid}/messages",
            json={"messages": [{"role": "user", "content": "a"}]},
            headers=headers,
        ),
        201,
    )
    other = {"messages": [{"role": "user", "content": "b"}]}
    assert (
        "Idempotency-Key"
        in err(api.post(f"/sessions/{sid}/messages", json=other, headers=headers), 409)["message"]
    )
    assert count(api, sid) == 1


def test_keys_are_per_session_and_optional(api: httpx.Client) -> None:
    a, b = session(api), session(api)
    body = {"messages": [{"role": "user", "content": "same words"}]}
    for sid in (a, b):
        ok(api.post(f"/sessions/{sid}/messages", json=body, headers={"Idempotency-Key": "k"}), 201)
    ok(api.post(f"/sessions/{a}/messages", json=body), 201)
    ok(api.post(f"/sessions/{a}/messages", json=body), 201)
    assert (count(api, a), count(api, b)) == (3, 1)
