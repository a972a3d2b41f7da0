"""Bad input on every route: the error envelope with HTTP status == code, and no change."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.api.helpers import (
    World,
    add_messages,
    create_session,
    create_user,
    err,
    list_messages,
    make_world,
    ok,
    uniq,
)
from tests.serverproc import ServerProcess

MISSING = str(uuid.uuid4())
BAD_JSON = {400, 422}


@dataclass
class Ctx:
    world: World
    other_session_id: str  # another session of the same user
    other_message_id: str  # a message of that other session
    other_user_id: str
    other_knowledge_id: str
    ids: dict[str, str] = field(default_factory=dict)

    def fill(self, template: str) -> str:
        w = self.world
        return template.format(
            uid=w.user_id,
            aid=w.agent_id,
            sid=w.session_id,
            mid=w.message_ids[0],
            mid2=w.message_ids[1],
            kid=w.knowledge_ids[0],
            kid2=w.knowledge_ids[1],
            other_sid=self.other_session_id,
            other_mid=self.other_message_id,
            other_uid=self.other_user_id,
            other_kid=self.other_knowledge_id,
            user_name=w.user_name,
            agent_name=w.agent_name,
            session_name=w.session_name,
            missing=MISSING,
        )


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.api, timeout=60.0) as c:
        yield c


@pytest.fixture(scope="module")
def ctx(client: httpx.Client) -> Ctx:
    world = make_world(client)
    other_sid = create_session(client, world.user_id, world.agent_id, uniq("other"))
    (other_mid,) = add_messages(client, other_sid, [{"role": "user", "content": "elsewhere"}])
    other_uid = create_user(client)
    data = ok(client.post(f"/users/{other_uid}/knowledge", json={"knowledge": ["x is y"]}), 201)
    return Ctx(world, other_sid, other_mid, other_uid, data["knowledge_ids"][0])


def snapshot(client: httpx.Client, c: Ctx) -> dict[str, Any]:
    """Everything a bad request could change (``episode_id`` left out: the idle sweeper
    may close a window between two snapshots)."""
    state: dict[str, Any] = {
        "users": ok(client.get("/users"))["users"],
        "agents": ok(client.get("/agents"))["agents"],
    }
    for uid in (c.world.user_id, c.other_user_id):
        state[f"sessions:{uid}"] = ok(client.get("/sessions", params={"user_id": uid}))["sessions"]
        state[f"knowledge:{uid}"] = ok(client.get(f"/users/{uid}/knowledge"))["knowledge"]
    for sid in (c.world.session_id, c.other_session_id):
        messages = list_messages(client, sid, order="asc")
        for m in messages:
            m.pop("episode_id", None)
        state[f"messages:{sid}"] = messages
    return state


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str
    code: int | set[int]
    body: Any = None  # JSON (templated strings inside are filled)
    raw: bytes | None = None  # sent as is with Content-Type: application/json
    params: dict[str, str] | None = None
    no_body: bool = False


def _fill(value: Any, c: Ctx) -> Any:
    if isinstance(value, str):
        return c.fill(value)
    if isinstance(value, list):
        return [_fill(v, c) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, c) for k, v in value.items()}
    return value


U = {"role": "user", "content": "fine"}

CASES = [
    # users
    Case("users-create-malformed", "POST", "/users", BAD_JSON, raw=b'{"name": "x",'),
    Case("users-create-not-object", "POST", "/users", 422, body=["x"]),
    Case("users-create-missing-name", "POST", "/users", 422, body={"description": "d"}),
    Case("users-create-name-int", "POST", "/users", 422, body={"name": 5}),
    Case("users-create-name-empty", "POST", "/users", 422, body={"name": ""}),
    Case("users-create-name-blank", "POST", "/users", 422, body={"name": "   "}),
    Case("users-create-desc-list", "POST", "/users", 422, body={"name": "n", "description": []}),
    Case("users-create-no-body", "POST", "/users", 422, no_body=True),
    Case("users-create-taken", "POST", "/users", 409, body={"name": "{user_name}"}),
    Case("users-get-unknown", "GET", "/users/{missing}", 404),
    Case("users-put-unknown", "PUT", "/users/{missing}", 404, body={"name": "n"}),
    Case("users-put-malformed", "PUT", "/users/{uid}", BAD_JSON, raw=b"{name"),
    Case("users-put-name-int", "PUT", "/users/{uid}", 422, body={"name": 1}),
    Case("users-put-name-taken", "PUT", "/users/{other_uid}", 409, body={"name": "{user_name}"}),
    Case("users-delete-unknown", "DELETE", "/users/{missing}", 404),
    Case("users-find-unknown-name", "GET", "/users", 404, params={"name": uniq("nobody")}),
    # agents
    Case("agents-create-malformed", "POST", "/agents", BAD_JSON, raw=b"{"),
    Case("agents-create-missing-name", "POST", "/agents", 422, body={}),
    Case("agents-create-name-list", "POST", "/agents", 422, body={"name": ["a"]}),
    Case("agents-get-unknown", "GET", "/agents/{missing}", 404),
    Case("agents-put-unknown", "PUT", "/agents/{missing}", 404, body={"name": "n"}),
    Case("agents-put-name-int", "PUT", "/agents/{aid}", 422, body={"name": 3}),
    Case("agents-delete-unknown", "DELETE", "/agents/{missing}", 404),
    Case("agents-find-unknown-name", "GET", "/agents", 404, params={"name": uniq("nobody")}),
    # sessions
    Case("sessions-create-malformed", "POST", "/sessions", BAD_JSON, raw=b"[{]"),
    Case("sessions-create-missing-user", "POST", "/sessions", 422, body={"agent_id": "{aid}"}),
    Case("sessions-create-missing-agent", "POST", "/sessions", 422, body={"user_id": "{uid}"}),
    Case(
        "sessions-create-unknown-user",
        "POST",
        "/sessions",
        404,
        body={"user_id": "{missing}", "agent_id": "{aid}", "name": uniq("s")},
    ),
    Case(
        "sessions-create-unknown-agent",
        "POST",
        "/sessions",
        404,
        body={"user_id": "{uid}", "agent_id": "{missing}", "name": uniq("s")},
    ),
    Case(
        "sessions-create-name-int",
        "POST",
        "/sessions",
        422,
        body={"user_id": "{uid}", "agent_id": "{aid}", "name": 12},
    ),
    Case(
        "sessions-create-user-int",
        "POST",
        "/sessions",
        422,
        body={"user_id": 12, "agent_id": "{aid}", "name": "x"},
    ),
    Case(
        "sessions-create-name-taken",
        "POST",
        "/sessions",
        409,
        body={"user_id": "{uid}", "agent_id": "{aid}", "name": "{session_name}"},
    ),
    Case("sessions-get-unknown", "GET", "/sessions/{missing}", 404),
    Case("sessions-put-unknown", "PUT", "/sessions/{missing}", 404, body={"name": "n"}),
    Case("sessions-put-name-int", "PUT", "/sessions/{sid}", 422, body={"name": 5}),
    Case(
        "sessions-put-name-taken",
        "PUT",
        "/sessions/{other_sid}",
        409,
        body={"name": "{session_name}"},
    ),
    Case("sessions-delete-unknown", "DELETE", "/sessions/{missing}", 404),
    Case(
        "sessions-find-unknown-name",
        "GET",
        "/sessions",
        404,
        params={"name": uniq("nothing"), "user_id": "{uid}"},
    ),
    # messages: add
    Case("msg-add-malformed", "POST", "/sessions/{sid}/messages", BAD_JSON, raw=b'{"messages": [}'),
    Case(
        "msg-add-unknown-session",
        "POST",
        "/sessions/{missing}/messages",
        404,
        body={"messages": [U]},
    ),
    Case("msg-add-empty-list", "POST", "/sessions/{sid}/messages", 422, body={"messages": []}),
    Case("msg-add-missing-list", "POST", "/sessions/{sid}/messages", 422, body={}),
    Case("msg-add-not-list", "POST", "/sessions/{sid}/messages", 422, body={"messages": U}),
    Case("msg-add-no-body", "POST", "/sessions/{sid}/messages", 422, no_body=True),
    Case(
        "msg-add-missing-role",
        "POST",
        "/sessions/{sid}/messages",
        422,
        body={"messages": [{"content": "hi"}]},
    ),
    Case(
        "msg-add-unknown-role",
        "POST",
        "/sessions/{sid}/messages",
        422,
        body={"messages": [{"role": "robot", "content": "hi"}]},
    ),
    Case(
        "msg-add-content-int",
        "POST",
        "/sessions/{sid}/messages",
        422,
        body={"messages": [{"role": "user", "content": 42}]},
    ),
    Case(
        "msg-add-user-empty",
        "POST",
        "/sessions/{sid}/messages",
        422,
        body={"messages": [{"role": "user", "content": ""}]},
    ),
    Case(
        "msg-add-user-blank",
        "POST",
        "/sessions/{sid}/messages",
        422,
        body={"messages": [{"role": "user", "content": "  \n "}]},
    ),
    Case(
        "msg-add-user-null",
        "POST",
        "/sessions/{sid}/messages",
        422,
        body={"messages": [{"role": "user", "content": None}]},
    ),
    Case(
        "msg-add-user-missing-content",
        "POST",
        "/sessions/{sid}/messages",
        422,
        body={"messages": [{"role": "user"}]},
    ),
    Case(
        "msg-add-metadata-string",
        "POST",
        "/sessions/{sid}/messages",
        422,
        body={"messages": [{"role": "user", "content": "hi", "metadata": "x"}]},
    ),
    Case(
        "msg-add-metadata-list",
        "POST",
        "/sessions/{sid}/messages",
        422,
        body={"messages": [{"role": "user", "content": "hi", "metadata": [1]}]},
    ),
    Case(
        "msg-add-bad-created-at",
        "POST",
        "/sessions/{sid}/messages",
        422,
        body={"messages": [{"role": "user", "content": "hi", "created_at": "last tuesday"}]},
    ),
    Case(
        "msg-add-name-int",
        "POST",
        "/sessions/{sid}/messages",
        422,
        body={"messages": [{"role": "user", "content": "hi", "name": 7}]},
    ),
    Case(
        "msg-add-one-bad-of-three",
        "POST",
        "/sessions/{sid}/messages",
        422,
        body={"messages": [U, {"role": "user", "content": ""}, U]},
    ),
    # messages: list
    Case("msg-list-unknown-session", "GET", "/sessions/{missing}/messages", 404),
    Case("msg-list-limit-zero", "GET", "/sessions/{sid}/messages", 422, params={"limit": "0"}),
    Case("msg-list-limit-text", "GET", "/sessions/{sid}/messages", 422, params={"limit": "many"}),
    Case("msg-list-bad-order", "GET", "/sessions/{sid}/messages", 422, params={"order": "up"}),
    Case(
        "msg-list-bad-buffer-only",
        "GET",
        "/sessions/{sid}/messages",
        422,
        params={"buffer_only": "perhaps"},
    ),
    # messages: read
    Case("msg-read-malformed", "POST", "/sessions/{sid}/messages/read", BAD_JSON, raw=b"{]"),
    Case(
        "msg-read-unknown-session",
        "POST",
        "/sessions/{missing}/messages/read",
        404,
        body={"message_ids": ["{mid}"]},
    ),
    Case(
        "msg-read-unknown-id",
        "POST",
        "/sessions/{sid}/messages/read",
        404,
        body={"message_ids": ["{missing}"]},
    ),
    Case(
        "msg-read-one-unknown",
        "POST",
        "/sessions/{sid}/messages/read",
        404,
        body={"message_ids": ["{mid}", "{missing}"]},
    ),
    Case(
        "msg-read-other-session",
        "POST",
        "/sessions/{sid}/messages/read",
        404,
        body={"message_ids": ["{other_mid}"]},
    ),
    Case("msg-read-empty", "POST", "/sessions/{sid}/messages/read", 422, body={"message_ids": []}),
    Case(
        "msg-read-not-list",
        "POST",
        "/sessions/{sid}/messages/read",
        422,
        body={"message_ids": "{mid}"},
    ),
    Case("msg-read-missing", "POST", "/sessions/{sid}/messages/read", 422, body={}),
    # messages: update
    Case("msg-put-malformed", "PUT", "/sessions/{sid}/messages", BAD_JSON, raw=b"{{"),
    Case(
        "msg-put-unknown-session",
        "PUT",
        "/sessions/{missing}/messages",
        404,
        body={"message_ids": ["{mid}"], "new_messages": [U]},
    ),
    Case(
        "msg-put-unknown-id",
        "PUT",
        "/sessions/{sid}/messages",
        404,
        body={"message_ids": ["{missing}"], "new_messages": [U]},
    ),
    Case(
        "msg-put-one-unknown",
        "PUT",
        "/sessions/{sid}/messages",
        404,
        body={"message_ids": ["{mid}", "{missing}"], "new_messages": [U, U]},
    ),
    Case(
        "msg-put-other-session",
        "PUT",
        "/sessions/{sid}/messages",
        404,
        body={"message_ids": ["{other_mid}"], "new_messages": [U]},
    ),
    Case(
        "msg-put-length-mismatch",
        "PUT",
        "/sessions/{sid}/messages",
        422,
        body={"message_ids": ["{mid}", "{mid2}"], "new_messages": [U]},
    ),
    Case(
        "msg-put-empty",
        "PUT",
        "/sessions/{sid}/messages",
        422,
        body={"message_ids": [], "new_messages": []},
    ),
    Case(
        "msg-put-user-empty",
        "PUT",
        "/sessions/{sid}/messages",
        422,
        body={"message_ids": ["{mid}"], "new_messages": [{"role": "user", "content": ""}]},
    ),
    Case(
        "msg-put-duplicate-ids",
        "PUT",
        "/sessions/{sid}/messages",
        422,
        body={"message_ids": ["{mid}", "{mid}"], "new_messages": [U, U]},
    ),
    Case(
        "msg-put-missing-new",
        "PUT",
        "/sessions/{sid}/messages",
        422,
        body={"message_ids": ["{mid}"]},
    ),
    # messages: delete
    Case("msg-delete-malformed", "DELETE", "/sessions/{sid}/messages", BAD_JSON, raw=b"}"),
    Case(
        "msg-delete-unknown-session",
        "DELETE",
        "/sessions/{missing}/messages",
        404,
        body={"message_ids": ["{mid}"]},
    ),
    Case(
        "msg-delete-one-unknown",
        "DELETE",
        "/sessions/{sid}/messages",
        404,
        body={"message_ids": ["{mid}", "{missing}"]},
    ),
    Case(
        "msg-delete-other-session",
        "DELETE",
        "/sessions/{sid}/messages",
        404,
        body={"message_ids": ["{other_mid}"]},
    ),
    Case("msg-delete-empty", "DELETE", "/sessions/{sid}/messages", 422, body={"message_ids": []}),
    Case("msg-delete-no-body", "DELETE", "/sessions/{sid}/messages", 422, no_body=True),
    Case(
        "msg-delete-ids-int",
        "DELETE",
        "/sessions/{sid}/messages",
        422,
        body={"message_ids": [1, 2]},
    ),
    # knowledge
    Case("kn-list-unknown-user", "GET", "/users/{missing}/knowledge", 404),
    Case("kn-add-malformed", "POST", "/users/{uid}/knowledge", BAD_JSON, raw=b'{"knowledge": ['),
    Case(
        "kn-add-unknown-user", "POST", "/users/{missing}/knowledge", 404, body={"knowledge": ["k"]}
    ),
    Case("kn-add-empty-list", "POST", "/users/{uid}/knowledge", 422, body={"knowledge": []}),
    Case("kn-add-not-list", "POST", "/users/{uid}/knowledge", 422, body={"knowledge": "k"}),
    Case("kn-add-item-int", "POST", "/users/{uid}/knowledge", 422, body={"knowledge": ["a", 5]}),
    Case("kn-add-item-empty", "POST", "/users/{uid}/knowledge", 422, body={"knowledge": ["a", ""]}),
    Case("kn-add-missing", "POST", "/users/{uid}/knowledge", 422, body={}),
    Case(
        "kn-read-unknown-user",
        "POST",
        "/users/{missing}/knowledge/read",
        404,
        body={"knowledge_ids": ["{kid}"]},
    ),
    Case(
        "kn-read-one-unknown",
        "POST",
        "/users/{uid}/knowledge/read",
        404,
        body={"knowledge_ids": ["{kid}", "{missing}"]},
    ),
    Case(
        "kn-read-other-user",
        "POST",
        "/users/{uid}/knowledge/read",
        404,
        body={"knowledge_ids": ["{other_kid}"]},
    ),
    Case("kn-read-empty", "POST", "/users/{uid}/knowledge/read", 422, body={"knowledge_ids": []}),
    Case(
        "kn-put-one-unknown",
        "PUT",
        "/users/{uid}/knowledge",
        404,
        body={"knowledge_ids": ["{kid}", "{missing}"], "new_knowledge": ["a", "b"]},
    ),
    Case(
        "kn-put-other-user",
        "PUT",
        "/users/{uid}/knowledge",
        404,
        body={"knowledge_ids": ["{other_kid}"], "new_knowledge": ["a"]},
    ),
    Case(
        "kn-put-length-mismatch",
        "PUT",
        "/users/{uid}/knowledge",
        422,
        body={"knowledge_ids": ["{kid}", "{kid2}"], "new_knowledge": ["a"]},
    ),
    Case(
        "kn-put-empty-text",
        "PUT",
        "/users/{uid}/knowledge",
        422,
        body={"knowledge_ids": ["{kid}"], "new_knowledge": [""]},
    ),
    Case(
        "kn-put-empty",
        "PUT",
        "/users/{uid}/knowledge",
        422,
        body={"knowledge_ids": [], "new_knowledge": []},
    ),
    Case(
        "kn-delete-one-unknown",
        "DELETE",
        "/users/{uid}/knowledge",
        404,
        body={"knowledge_ids": ["{kid}", "{missing}"]},
    ),
    Case(
        "kn-delete-other-user",
        "DELETE",
        "/users/{uid}/knowledge",
        404,
        body={"knowledge_ids": ["{other_kid}"]},
    ),
    Case("kn-delete-empty", "DELETE", "/users/{uid}/knowledge", 422, body={"knowledge_ids": []}),
    Case("kn-delete-no-body", "DELETE", "/users/{uid}/knowledge", 422, no_body=True),
    # query
    Case("query-malformed", "POST", "/users/{uid}/query", BAD_JSON, raw=b'{"query": "x"'),
    Case("query-unknown-user", "POST", "/users/{missing}/query", 404, body={"query": "bees"}),
    Case("query-missing-text", "POST", "/users/{uid}/query", 422, body={"top_k": 3}),
    Case("query-empty-text", "POST", "/users/{uid}/query", 422, body={"query": ""}),
    Case("query-text-int", "POST", "/users/{uid}/query", 422, body={"query": 5}),
    Case("query-top-k-zero", "POST", "/users/{uid}/query", 422, body={"query": "b", "top_k": 0}),
    Case(
        "query-top-k-text", "POST", "/users/{uid}/query", 422, body={"query": "b", "top_k": "ten"}
    ),
    Case(
        "query-session-int",
        "POST",
        "/users/{uid}/query",
        422,
        body={"query": "bees", "session_id": 5},
    ),
    Case("query-no-body", "POST", "/users/{uid}/query", 422, no_body=True),
]


def send(client: httpx.Client, c: Ctx, case: Case) -> httpx.Response:
    path = c.fill(case.path)
    params = _fill(case.params, c) if case.params else None
    if case.raw is not None:
        headers = {"Content-Type": "application/json"}
        return client.request(case.method, path, content=case.raw, headers=headers, params=params)
    if case.no_body:
        return client.request(case.method, path, params=params)
    if case.body is None:
        return client.request(case.method, path, params=params)
    return client.request(case.method, path, json=_fill(case.body, c), params=params)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_request_is_refused_and_changes_nothing(
    client: httpx.Client, ctx: Ctx, case: Case
) -> None:
    before = snapshot(client, ctx)
    body = err(send(client, ctx, case), case.code)
    if case.raw is not None:
        assert "json" in body["message"].lower(), body
    assert snapshot(client, ctx) == before


def test_validation_errors_name_the_field(client: httpx.Client, ctx: Ctx) -> None:
    resp = client.post(
        f"/sessions/{ctx.world.session_id}/messages",
        json={"messages": [U, {"role": "robot", "content": "x"}]},
    )
    body = err(resp, 422)
    assert body["errors"], body
    fields = " ".join(e["field"] for e in body["errors"])
    assert "role" in fields, body


def test_unknown_ids_say_what_was_not_found(client: httpx.Client, ctx: Ctx) -> None:
    for path, noun in [
        (f"/users/{MISSING}", "user"),
        (f"/agents/{MISSING}", "agent"),
        (f"/sessions/{MISSING}", "session"),
    ]:
        body = err(client.get(path), 404)
        assert noun in body["message"].lower(), body
    resp = client.post(
        f"/sessions/{ctx.world.session_id}/messages/read", json={"message_ids": [MISSING]}
    )
    assert "message" in err(resp, 404)["message"].lower()
    resp = client.post(
        f"/users/{ctx.world.user_id}/knowledge/read", json={"knowledge_ids": [MISSING]}
    )
    assert "knowledge" in err(resp, 404)["message"].lower()


def test_batch_over_the_default_limit_is_refused(client: httpx.Client, ctx: Ctx) -> None:
    """The default limit is 10,000 messages per request: 10,001 are refused, unstored."""
    before = snapshot(client, ctx)
    messages = [{"role": "user", "content": f"m{i}"} for i in range(10_001)]
    resp = client.post(f"/sessions/{ctx.world.session_id}/messages", json={"messages": messages})
    body = err(resp, {413, 422})
    assert "10000" in body["message"].replace(",", "") or "10001" in body["message"].replace(
        ",", ""
    ), body
    assert snapshot(client, ctx) == before


def test_small_limits_refuse_big_bodies_and_batches(fresh_server: ServerProcess) -> None:
    fresh_server.settings = {"server": {"max_body_bytes": 2048, "max_messages_per_request": 3}}
    fresh_server.start()
    with httpx.Client(base_url=fresh_server.api, timeout=60.0) as client:
        world = make_world(client)
        ctx_ = Ctx(
            world, world.session_id, world.message_ids[0], world.user_id, world.knowledge_ids[0]
        )
        before = snapshot(client, ctx_)
        sid, uid = world.session_id, world.user_id
        big = "x" * 3000
        refused = [
            client.post(
                f"/sessions/{sid}/messages", json={"messages": [{"role": "user", "content": big}]}
            ),
            client.post("/users", json={"name": uniq("u"), "description": big}),
            client.post(f"/users/{uid}/knowledge", json={"knowledge": [big]}),
            client.put(
                f"/sessions/{sid}/messages",
                json={
                    "message_ids": [world.message_ids[0]],
                    "new_messages": [{"role": "user", "content": big}],
                },
            ),
            client.post(f"/users/{uid}/query", json={"query": big}),
        ]
        for resp in refused:
            body = err(resp, 413)
            assert "2048" in body["message"], body

        four = [{"role": "user", "content": f"n{i}"} for i in range(4)]
        body = err(client.post(f"/sessions/{sid}/messages", json={"messages": four}), {413, 422})
        assert "3" in body["message"], body
        assert snapshot(client, ctx_) == before

        # At the limits, requests pass.
        ids = add_messages(client, sid, four[:3])
        assert len(ids) == 3
        small = json.dumps({"messages": [{"role": "user", "content": "z" * 1500}]})
        assert len(small) < 2048
        ok(
            client.post(
                f"/sessions/{sid}/messages",
                content=small,
                headers={"Content-Type": "application/json"},
            ),
            201,
        )

        # A body streamed without Content-Length (chunked) is counted too.
        before_stream = snapshot(client, ctx_)

        def chunks() -> Iterator[bytes]:
            yield b'{"messages": [{"role": "user", "content": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}]}'

        streamed = client.post(
            f"/sessions/{sid}/messages",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
        err(streamed, 413)
        assert snapshot(client, ctx_) == before_stream
