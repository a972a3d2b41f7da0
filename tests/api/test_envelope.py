"""The envelope everywhere: errors of the framework, DELETE bodies, trailing slashes,
idempotent agents, name conflicts and name look-ups."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.api.helpers import (
    add_messages,
    create_agent,
    create_session,
    create_user,
    err,
    ok,
    parse_ts,
    uniq,
)
from tests.serverproc import ServerProcess


def test_health(api: httpx.Client, server: ServerProcess) -> None:
    data = ok(api.get("/health"))
    assert data["status"] == "ok"
    assert str(data["version"]).startswith("0.3.")
    text = api.get("/health").text
    assert str(server.data_dir) not in text
    assert "sqlite" not in text.lower()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/nope"),
        ("GET", "/nope"),
        ("GET", "/api/v2/users"),
        ("POST", "/api/v1/users/abc/def/ghi"),
        ("DELETE", "/api/v1/sessions/abc/messages/xyz"),
    ],
)
def test_unknown_route_is_404_envelope(server: ServerProcess, method: str, path: str) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
        body = err(client.request(method, path), 404)
    assert "route" in body["message"].lower() or "path" in body["message"].lower()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/health"),
        ("POST", "/health"),
        ("PUT", "/users"),
        ("DELETE", "/users"),
        ("PATCH", "/users/{uid}"),
        ("POST", "/users/{uid}"),
        ("POST", "/agents/{aid}"),
        ("POST", "/sessions/{sid}"),
        ("PATCH", "/sessions/{sid}/messages"),
        ("GET", "/sessions/{sid}/messages/read"),
        ("GET", "/users/{uid}/query"),
        ("GET", "/users/{uid}/knowledge/read"),
    ],
)
def test_wrong_method_is_405_envelope(api: httpx.Client, method: str, path: str) -> None:
    uid = create_user(api)
    aid = create_agent(api)
    sid = create_session(api, uid, aid)
    resp = api.request(method, path.format(uid=uid, aid=aid, sid=sid), json={})
    body = err(resp, 405)
    assert "method" in body["message"].lower()


def test_validation_error_is_422_envelope_with_field_errors(api: httpx.Client) -> None:
    body = err(api.post("/users", json={"name": 5, "description": ["no"]}), 422)
    assert body["errors"] and {e["field"] for e in body["errors"]} >= {"name", "description"}


def test_every_route_tolerates_a_trailing_slash(api: httpx.Client) -> None:
    """Every route once, each with a trailing slash; answers as the plain route would
    (no redirect: the SDK does not follow them on POST/DELETE)."""
    ok(api.get("/health/"))
    name = uniq("slash-user")
    uid = ok(api.post("/users/", json={"name": name}), 201)["user"]["id"]
    assert uid in [u["id"] for u in ok(api.get("/users/"))["users"]]
    assert ok(api.get("/users/", params={"name": name}))["users"][0]["id"] == uid
    assert ok(api.get(f"/users/{uid}/"))["user"]["id"] == uid
    assert ok(api.put(f"/users/{uid}/", json={"description": "d"}))["user"]["description"] == "d"
    agent = uniq("slash-agent")
    aid = ok(api.post("/agents/", json={"name": agent}), 201)["agent"]["id"]
    assert ok(api.get("/agents/", params={"name": agent}))["agents"][0]["id"] == aid
    ok(api.get("/agents/"))
    assert ok(api.get(f"/agents/{aid}/"))["agent"]["id"] == aid
    ok(api.put(f"/agents/{aid}/", json={"description": "a"}))
    session = {"user_id": uid, "agent_id": aid, "name": "s one"}
    sid = ok(api.post("/sessions/", json=session), 201)["session"]["id"]
    found = ok(api.get("/sessions/", params={"user_id": uid, "name": "s one"}))["sessions"]
    assert [s["id"] for s in found] == [sid]
    assert ok(api.get(f"/sessions/{sid}/"))["session"]["id"] == sid
    assert ok(api.put(f"/sessions/{sid}/", json={"name": "s two"}))["session"]["name"] == "s two"
    msgs = {"messages": [{"role": "user", "content": "slash tolerant penguin"}]}
    (mid,) = ok(api.post(f"/sessions/{sid}/messages/", json=msgs), 201)["message_ids"]
    assert [m["id"] for m in ok(api.get(f"/sessions/{sid}/messages/"))["messages"]] == [mid]
    read = ok(api.post(f"/sessions/{sid}/messages/read/", json={"message_ids": [mid]}))
    assert read["messages"][0]["content"] == "slash tolerant penguin"
    new = {"message_ids": [mid], "new_messages": [{"role": "user", "content": "edited"}]}
    assert ok(api.put(f"/sessions/{sid}/messages/", json=new))["message_ids"] == [mid]
    kn = {"knowledge": ["slash knowledge"]}
    (kid,) = ok(api.post(f"/users/{uid}/knowledge/", json=kn), 201)["knowledge_ids"]
    assert ok(api.get(f"/users/{uid}/knowledge/"))["knowledge"][0]["id"] == kid
    ok(api.post(f"/users/{uid}/knowledge/read/", json={"knowledge_ids": [kid]}))
    ok(api.put(f"/users/{uid}/knowledge/", json={"knowledge_ids": [kid], "new_knowledge": ["k"]}))
    ok(api.post(f"/users/{uid}/query/", json={"query": "edited", "session_id": sid}))
    gone = ok(api.request("DELETE", f"/users/{uid}/knowledge/", json={"knowledge_ids": [kid]}))
    assert gone == {"knowledge_ids": [kid]}
    gone = ok(api.request("DELETE", f"/sessions/{sid}/messages/", json={"message_ids": [mid]}))
    assert gone == {"message_ids": [mid]}
    assert ok(api.delete(f"/sessions/{sid}/")) == {"session_id": sid}
    assert ok(api.delete(f"/agents/{aid}/")) == {"agent_id": aid}
    assert ok(api.delete(f"/users/{uid}/")) == {"user_id": uid}


def test_delete_answers_200_with_a_body(api: httpx.Client) -> None:
    uid, aid = create_user(api), create_agent(api)
    sid = create_session(api, uid, aid)
    mids = add_messages(api, sid, [{"role": "user", "content": "to delete"}] * 2)
    kids = ok(api.post(f"/users/{uid}/knowledge", json={"knowledge": ["k1", "k2"]}), 201)[
        "knowledge_ids"
    ]
    for resp, data in [
        (api.request("DELETE", f"/sessions/{sid}/messages", json={"message_ids": mids}), mids),
        (api.request("DELETE", f"/users/{uid}/knowledge", json={"knowledge_ids": kids}), kids),
    ]:
        assert resp.status_code == 200 and resp.content
        assert list(ok(resp).values()) == [data]
    for path, key, value in [
        (f"/sessions/{sid}", "session_id", sid),
        (f"/agents/{aid}", "agent_id", aid),
        (f"/users/{uid}", "user_id", uid),
    ]:
        resp = api.delete(path)
        assert resp.status_code == 200 and resp.content
        assert ok(resp) == {key: value}
        err(api.get(path), 404)
        err(api.delete(path), 404)


def test_agent_creation_is_idempotent(api: httpx.Client) -> None:
    name = uniq("agent")
    first = ok(api.post("/agents", json={"name": name, "description": "first"}), 201)["agent"]
    again = api.post(
        "/agents",
        json={"name": name, "description": "second"},
        headers={"Idempotency-Key": f"agent-create:{name}:1"},
    )
    assert ok(again, 200)["agent"] == first
    found = ok(api.get("/agents", params={"name": name}))["agents"]
    assert [a["id"] for a in found] == [first["id"]]


def _concurrently(n: int, fn: Any) -> list[httpx.Response]:
    barrier = threading.Barrier(n)

    def run(_: int) -> httpx.Response:
        barrier.wait()
        return fn()

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_concurrent_creates_of_one_agent_make_one_agent(server: ServerProcess) -> None:
    name = uniq("racing-agent")
    clients = [httpx.Client(base_url=server.api, timeout=60.0) for _ in range(16)]
    it = iter(clients)
    lock = threading.Lock()

    def create() -> httpx.Response:
        with lock:
            client = next(it)
        return client.post(
            "/agents",
            json={"name": name},
            headers={"Idempotency-Key": f"agent-create:{name}:{id(client)}"},
        )

    try:
        responses = _concurrently(16, create)
    finally:
        for c in clients:
            c.close()
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 15 + [201], [r.text for r in responses]
    ids = {ok(r, r.status_code)["agent"]["id"] for r in responses}
    assert len(ids) == 1
    with httpx.Client(base_url=server.api, timeout=60.0) as client:
        found = ok(client.get("/agents", params={"name": name}))["agents"]
        assert [a["id"] for a in found] == list(ids)
        every = ok(client.get("/agents"))["agents"]
        assert sum(a["name"] == name for a in every) == 1


def test_concurrent_creates_of_one_user_make_one_user(server: ServerProcess) -> None:
    name = uniq("racing-user")
    with httpx.Client(base_url=server.api, timeout=60.0) as client:
        responses = _concurrently(8, lambda: client.post("/users", json={"name": name}))
        assert sorted(r.status_code for r in responses) == [201] + [409] * 7
        for r in responses:
            if r.status_code == 409:
                err(r, 409)
        assert len(ok(client.get("/users", params={"name": name}))["users"]) == 1


def test_user_name_taken_is_409(api: httpx.Client) -> None:
    name = uniq("user")
    user = ok(api.post("/users", json={"name": name}), 201)["user"]
    body = err(api.post("/users", json={"name": name}), 409)
    assert name in body["message"]
    other = create_user(api)
    err(api.put(f"/users/{other}", json={"name": name}), 409)
    assert ok(api.get("/users", params={"name": name}))["users"] == [user]


def test_session_name_taken_for_that_user_is_409(api: httpx.Client) -> None:
    uid, other_uid, aid = create_user(api), create_user(api), create_agent(api)
    name = uniq("session")
    sid = create_session(api, uid, aid, name)
    body = {"user_id": uid, "agent_id": aid, "name": name}
    assert name in err(api.post("/sessions", json=body), 409)["message"]
    other_agent = create_agent(api)
    err(api.post("/sessions", json={**body, "agent_id": other_agent}), 409)
    # The same name for another user is fine.
    other_sid = create_session(api, other_uid, aid, name)
    assert other_sid != sid
    found = ok(api.get("/sessions", params={"name": name, "user_id": uid}))["sessions"]
    assert [s["id"] for s in found] == [sid]
    found = ok(api.get("/sessions", params={"name": name, "user_id": other_uid}))["sessions"]
    assert [s["id"] for s in found] == [other_sid]
    # Renaming onto a taken name is a conflict too.
    sid2 = create_session(api, uid, aid)
    err(api.put(f"/sessions/{sid2}", json={"name": name}), 409)


def test_null_session_name_is_generated(api: httpx.Client) -> None:
    uid, aid = create_user(api), create_agent(api)
    body = {"user_id": uid, "agent_id": aid, "name": None}
    first = ok(api.post("/sessions", json=body), 201)["session"]
    second = ok(api.post("/sessions", json=body), 201)["session"]
    assert first["name"] and second["name"] and first["name"] != second["name"]
    assert first["user_id"] == uid and first["agent_id"] == aid


def test_lookups_by_unknown_name_are_404(api: httpx.Client) -> None:
    uid, other_uid, aid = create_user(api), create_user(api), create_agent(api)
    name = uniq("only-other")
    create_session(api, other_uid, aid, name)
    err(api.get("/users", params={"name": uniq("nobody")}), 404)
    err(api.get("/agents", params={"name": uniq("nobody")}), 404)
    err(api.get("/sessions", params={"name": uniq("nothing"), "user_id": uid}), 404)
    # A session of that name exists, but for another user: still 404 for this one.
    err(api.get("/sessions", params={"name": name, "user_id": uid}), 404)
    # Without a name, an empty list is a 200.
    assert ok(api.get("/sessions", params={"user_id": uid}))["sessions"] == []


def test_object_shapes(api: httpx.Client) -> None:
    uid, aid = create_user(api), create_agent(api)
    sid = create_session(api, uid, aid)
    user = ok(api.get(f"/users/{uid}"))["user"]
    assert {"id", "name", "description", "created_at", "updated_at"} <= set(user)
    agent = ok(api.get(f"/agents/{aid}"))["agent"]
    assert {"id", "name", "description", "created_at", "updated_at"} <= set(agent)
    session = ok(api.get(f"/sessions/{sid}"))["session"]
    assert {"id", "user_id", "agent_id", "name", "created_at", "updated_at"} <= set(session)
    (mid,) = add_messages(api, sid, [{"role": "user", "content": "shape"}])
    (message,) = ok(api.post(f"/sessions/{sid}/messages/read", json={"message_ids": [mid]}))[
        "messages"
    ]
    assert {"id", "session_id", "role", "content", "metadata", "created_at", "updated_at"} <= set(
        message
    )
    for obj in (user, agent, session, message):
        for key in ("created_at", "updated_at"):
            parse_ts(obj[key])
