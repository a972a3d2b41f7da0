"""Messages' optional fields, the round window (rounds, idle, tokens) and the query path."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.helpers import (
    add_messages,
    contents,
    create_agent,
    create_session,
    create_user,
    err,
    list_messages,
    ok,
    parse_ts,
    query,
    uniq,
)
from tests.serverproc import ServerProcess

RESULT_TYPES = {"message", "chunk", "fact", "relation", "entity", "knowledge"}


def _ids(messages: list[dict[str, Any]]) -> list[str]:
    return [m["id"] for m in messages]


def _new_session(api: httpx.Client) -> tuple[str, str, str]:
    uid, aid = create_user(api), create_agent(api)
    return uid, aid, create_session(api, uid, aid, uniq("session"))


def _exchange(api: httpx.Client, sid: str, said: str, answered: str) -> list[str]:
    """A user message and the assistant's answer; their ids."""
    messages = [{"role": "user", "content": said}, {"role": "assistant", "content": answered}]
    return add_messages(api, sid, messages)


@pytest.fixture
def fresh_api(fresh_server: ServerProcess) -> Iterator[httpx.Client]:
    """A client of ``fresh_server`` (the test sets its settings and starts it first)."""
    with httpx.Client(base_url=fresh_server.api, timeout=60.0) as client:
        yield client


def _check_result(r: dict[str, Any], user_id: str) -> None:
    assert r["type"] in RESULT_TYPES, r
    assert isinstance(r["score"], int | float) and 0.0 <= r["score"] <= 1.0, r
    assert isinstance(r["content"], str) and r["content"], r
    meta = r["metadata"]
    assert meta["user_id"] == user_id, r
    assert meta["level"] in (0, 1, 2), r
    if r["type"] in ("message", "chunk"):
        assert meta["level"] == 0, r
    assert isinstance(meta["source_message_ids"], list), r
    if "all_source_message_ids" in meta:  # the sources that carry the match, best first
        assert set(meta["source_message_ids"]) <= set(meta["all_source_message_ids"]), r
    assert {"agent_id", "session_id", "session_name", "scope"} <= set(meta), r
    parse_ts(r["created_at"])
    parse_ts(r["updated_at"])


# ------------------------------------------------------------------ message fields


def test_message_name_created_at_and_metadata_are_kept(api: httpx.Client) -> None:
    _, _, sid = _new_session(api)
    metadata = {
        "tool_calls": [{"id": "call_1", "function": {"name": "f", "arguments": '{"a": 1}'}}],
        "nested": {"list": [1, 2.5, None, True, "x"], "empty": {}},
        "unicode": "héllo ✓ 日本",
    }
    sent = [
        {
            "role": "user",
            "name": "Ada",
            "content": "We met in Lisbon.",
            "created_at": "2021-03-04T05:06:07.123456+05:30",
            "metadata": metadata,
        },
        {"role": "assistant", "content": "Nice.", "created_at": "2019-01-01T00:00:00Z"},
        {"role": "system", "content": "Be brief."},
    ]
    ids = add_messages(api, sid, sent)
    read = ok(api.post(f"/sessions/{sid}/messages/read", json={"message_ids": ids}))["messages"]
    assert _ids(read) == ids
    first, second, third = read
    assert first["name"] == "Ada"
    assert first["metadata"] == metadata
    assert first["role"] == "user" and first["content"] == "We met in Lisbon."
    assert parse_ts(first["created_at"]) == parse_ts("2021-03-04T05:06:07.123456+05:30")
    assert parse_ts(second["created_at"]) == parse_ts("2019-01-01T00:00:00+00:00")
    assert second["metadata"] == {} or second["metadata"] is None
    before = time.time()
    assert abs(parse_ts(third["created_at"]).timestamp() - before) < 120  # default: now
    listed = {m["id"]: m for m in list_messages(api, sid)}
    assert listed[ids[0]]["metadata"] == metadata
    assert listed[ids[0]]["name"] == "Ada"
    # Sorted by the turns' own times: the 2019 turn is the oldest.
    assert _ids(list_messages(api, sid, order="asc")) == [ids[1], ids[0], ids[2]]


def test_tool_call_turns_with_empty_content_are_stored(api: httpx.Client) -> None:
    uid, _, sid = _new_session(api)
    calls = {"tool_calls": [{"id": "c9", "type": "function", "function": {"name": "lookup"}}]}
    ids = add_messages(
        api,
        sid,
        [
            {"role": "user", "content": "Look up the tide times for Brest."},
            {"role": "assistant", "content": None, "metadata": calls},
            {"role": "tool", "content": "", "metadata": {"tool_call_id": "c9"}},
            {"role": "assistant", "content": ""},
        ],
    )
    read = ok(api.post(f"/sessions/{sid}/messages/read", json={"message_ids": ids}))["messages"]
    assert [m["role"] for m in read] == ["user", "assistant", "tool", "assistant"]
    for m in read[1:]:
        assert m["content"] in (None, "")
    assert read[1]["metadata"] == calls
    assert read[2]["metadata"] == {"tool_call_id": "c9"}
    # Stored, never searched: no empty result shows up.
    for r in query(api, uid, "tide times Brest lookup"):
        assert r["content"], r
    err(api.post(f"/sessions/{sid}/messages", json={"messages": [{"role": "user"}]}), 422)
    assert len(list_messages(api, sid)) == 4


# ----------------------------------------------------------------------- round window


def test_round_window_closes_after_max_rounds(
    fresh_server: ServerProcess, fresh_api: httpx.Client
) -> None:
    fresh_server.settings = {"buffer": {"max_rounds": 2}}
    fresh_server.start()
    api = fresh_api
    uid, _, sid = _new_session(api)
    turns = [
        ("user", "First question about the Danube delta"),
        ("assistant", "The Danube delta is in Romania"),
        ("user", "Second question about pelicans there"),
        ("assistant", "Dalmatian pelicans nest there"),
    ]
    ids = [add_messages(api, sid, [{"role": r, "content": c}])[0] for r, c in turns]
    assert _ids(list_messages(api, sid, buffer_only=True)) == ids[::-1]
    assert list_messages(api, sid, buffer_only=False) == []

    (third,) = add_messages(api, sid, [{"role": "user", "content": "A third question"}])
    assert _ids(list_messages(api, sid, buffer_only=True)) == [third]
    assert _ids(list_messages(api, sid, buffer_only=False)) == ids[::-1]
    assert _ids(list_messages(api, sid)) == [third, *ids[::-1]]

    chunks = [r for r in query(api, uid, "Danube delta pelicans") if r["type"] == "chunk"]
    assert chunks, "the closed window is searchable as an episode chunk"
    assert chunks[0]["metadata"]["all_source_message_ids"] == ids
    assert chunks[0]["metadata"]["session_id"] == sid
    for _, text in turns:
        assert text in chunks[0]["content"]
    assert "A third question" not in chunks[0]["content"]


def test_idle_window_closes_by_itself(fresh_server: ServerProcess, fresh_api: httpx.Client) -> None:
    fresh_server.settings = {"buffer": {"idle_seconds": 1, "sweep_interval_seconds": 0.2}}
    fresh_server.start()
    api = fresh_api
    uid, _, sid = _new_session(api)
    ids = _exchange(
        api,
        sid,
        "My grandmother grew saffron crocuses in Kozani.",
        "Saffron from Kozani is famous.",
    )
    assert _ids(list_messages(api, sid, buffer_only=True)) == ids[::-1]
    deadline = time.monotonic() + 20
    while list_messages(api, sid, buffer_only=True) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list_messages(api, sid, buffer_only=True) == []
    assert _ids(list_messages(api, sid, buffer_only=False)) == ids[::-1]

    results = query(api, uid, "saffron crocuses Kozani", session_id=sid)
    chunks = [r for r in results if r["type"] == "chunk"]
    assert chunks, results
    chunk = chunks[0]
    _check_result(chunk, uid)
    assert chunk["metadata"]["all_source_message_ids"] == ids
    assert chunk["metadata"]["scope"] == "in_session"
    assert "grandmother grew saffron" in chunk["content"] and "famous" in chunk["content"]


def test_a_flush_closes_the_window_now(api: httpx.Client) -> None:
    uid, _, sid = _new_session(api)
    ids = _exchange(
        api,
        sid,
        "Maya sold her old cello to a school in Porto.",
        "That cello will have a second life.",
    )
    flushed = ok(api.post(f"/sessions/{sid}/flush"))
    assert flushed["session_id"] == sid and flushed["episode_id"]
    assert list_messages(api, sid, buffer_only=True) == []  # no idle wait (60 s here)
    assert _ids(list_messages(api, sid, buffer_only=False)) == ids[::-1]
    deadline = time.monotonic() + 30  # the episode's facts and graph are derived at once
    while not (facts := ok(api.get(f"/users/{uid}/facts"))["facts"]):
        assert time.monotonic() < deadline, "no fact was derived"
        time.sleep(0.2)
    assert any("cello" in f["content"] for f in facts)
    assert ok(api.post(f"/sessions/{sid}/flush"))["episode_id"] is None  # nothing left open
    err(api.post("/sessions/no-such-session/flush"), 404)


def _words(tag: str, n: int) -> str:
    """About ``n`` tokens: a tag and ``n - 1`` one-token words."""
    return " ".join([tag] + ["word"] * (n - 1))


@pytest.fixture(scope="module")
def token_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A server whose round windows close at 50 tokens."""
    proc = ServerProcess(tmp_path_factory.mktemp("tokens"), settings={"buffer": {"max_tokens": 50}})
    proc.start()
    try:
        with httpx.Client(base_url=proc.api, timeout=60.0) as client:
            yield client
    finally:
        proc.stop()


def test_token_limit_closes_windows(token_api: httpx.Client) -> None:
    api = token_api
    _, _, sid = _new_session(api)
    (long_id,) = add_messages(api, sid, [{"role": "user", "content": _words("walrus", 90)}])
    # Alone over the limit: an episode of its own.
    assert list_messages(api, sid, buffer_only=True) == []
    assert _ids(list_messages(api, sid, buffer_only=False)) == [long_id]

    (a,) = add_messages(api, sid, [{"role": "user", "content": _words("otter", 30)}])
    assert _ids(list_messages(api, sid, buffer_only=True)) == [a]
    (b,) = add_messages(api, sid, [{"role": "assistant", "content": _words("beaver", 30)}])
    # 30 + 30 tokens > 50: the window closed before b.
    assert _ids(list_messages(api, sid, buffer_only=True)) == [b]
    assert set(_ids(list_messages(api, sid, buffer_only=False))) == {long_id, a}

    # Within one batch too.
    batch = [{"role": "user", "content": _words(f"seal{i}", 30)} for i in range(3)]
    c, d, e = add_messages(api, sid, batch)
    assert _ids(list_messages(api, sid, buffer_only=True)) == [e]
    assert set(_ids(list_messages(api, sid, buffer_only=False))) == {long_id, a, b, c, d}


def test_delete_and_update_follow_into_episodes(token_api: httpx.Client) -> None:
    api = token_api
    uid, _, sid = _new_session(api)
    (solo,) = add_messages(
        api, sid, [{"role": "user", "content": "narwhal tusk " + _words("narwhal", 60)}]
    )
    hits = [r for r in query(api, uid, "narwhal tusk") if "narwhal" in r["content"]]
    kinds = {r["type"] for r in hits}
    assert kinds == {"message", "chunk"}, hits
    chunk = next(r for r in hits if r["type"] == "chunk")
    assert chunk["metadata"]["source_message_ids"] == [solo]

    ok(api.request("DELETE", f"/sessions/{sid}/messages", json={"message_ids": [solo]}))
    assert "narwhal" not in contents(query(api, uid, "narwhal tusk"))

    # A two-message episode: edit one member, delete the other.
    x, y = add_messages(
        api,
        sid,
        [
            {"role": "user", "content": "axolotl gills " + _words("axolotl", 20)},
            {"role": "assistant", "content": "capybara bath " + _words("capybara", 8)},
        ],
    )
    add_messages(api, sid, [{"role": "user", "content": _words("closer", 45)}])
    assert set(_ids(list_messages(api, sid, buffer_only=False))) == {x, y}
    chunk = next(r for r in query(api, uid, "axolotl capybara") if r["type"] == "chunk")
    assert chunk["metadata"]["all_source_message_ids"] == [x, y]

    new = {"role": "user", "content": "salamander skin " + _words("salamander", 20)}
    ok(api.put(f"/sessions/{sid}/messages", json={"message_ids": [x], "new_messages": [new]}))
    results = query(api, uid, "axolotl salamander capybara")
    assert "axolotl" not in contents(results)
    chunk = next(r for r in results if r["type"] == "chunk")
    assert "salamander skin" in chunk["content"] and "capybara bath" in chunk["content"]
    assert chunk["metadata"]["all_source_message_ids"] == [x, y]

    ok(api.request("DELETE", f"/sessions/{sid}/messages", json={"message_ids": [y]}))
    results = query(api, uid, "capybara bath salamander")
    assert "capybara" not in contents(results)
    chunk = next(r for r in results if r["type"] == "chunk")
    assert chunk["metadata"]["source_message_ids"] == [x]


# ------------------------------------------------------------------------------ query


def test_query_results_shape_and_scope(api: httpx.Client) -> None:
    uid, aid = create_user(api), create_agent(api)
    here_name, there_name = uniq("here"), uniq("there")
    here = create_session(api, uid, aid, here_name)
    there = create_session(api, uid, aid, there_name)
    (mine,) = add_messages(api, here, [{"role": "user", "content": "I adopted a greyhound."}])
    add_messages(api, there, [{"role": "user", "content": "My greyhound loves the beach."}])
    add_messages(api, there, [{"role": "assistant", "content": "Greyhounds enjoy sprinting."}])

    results = query(api, uid, "greyhound", session_id=here)
    assert len(results) >= 3
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    scopes = set()
    for r in results:
        _check_result(r, uid)
        meta = r["metadata"]
        expected = "in_session" if meta["session_id"] == here else "cross_session"
        assert meta["scope"] == expected, r
        scopes.add(meta["scope"])
        if r["type"] == "message":
            assert meta["source_message_ids"] == [r["id"]]
            assert meta["agent_id"] == aid
            assert meta["session_name"] == (here_name if meta["session_id"] == here else there_name)
            assert r["role"] in ("user", "assistant")
    assert scopes == {"in_session", "cross_session"}
    own = next(r for r in results if r["id"] == mine)
    assert own["type"] == "message" and own["content"] == "I adopted a greyhound."
    assert own["metadata"]["session_id"] == here

    for r in query(api, uid, "greyhound"):
        assert r["metadata"]["scope"] in ("cross_session", None)
    assert len(query(api, uid, "greyhound", top_k=1)) == 1
    # Legacy fields are accepted and ignored.
    legacy = {
        "query": "greyhound",
        "store_type": "vector",
        "include_messages": True,
        "include_knowledge": False,
        "metadata": {"task": "x"},
        "agent_id": None,
    }
    assert ok(api.post(f"/users/{uid}/query", json=legacy))["results"]


def test_query_is_scoped_to_its_user(api: httpx.Client) -> None:
    uid, _, _ = _new_session(api)
    _, _, other_sid = _new_session(api)
    add_messages(api, other_sid, [{"role": "user", "content": "Private note about okapis."}])
    ok(api.post(f"/users/{uid}/knowledge", json={"knowledge": ["Nothing relevant here."]}), 201)
    assert "okapi" not in contents(query(api, uid, "okapis"))


def test_knowledge_is_found_by_query(api: httpx.Client) -> None:
    uid, _, sid = _new_session(api)
    add_messages(api, sid, [{"role": "user", "content": "I had pasta for lunch today."}])
    kids = ok(
        api.post(
            f"/users/{uid}/knowledge",
            json={
                "knowledge": [
                    "The user's blood type is AB negative.",
                    "The user speaks Portuguese and Welsh.",
                    "The user's car is a green Volvo estate.",
                ]
            },
        ),
        201,
    )["knowledge_ids"]
    results = query(api, uid, "What is my blood type?", session_id=sid)
    top = results[0]
    _check_result(top, uid)
    assert top["type"] == "knowledge" and top["id"] == kids[0]
    assert top["content"] == "The user's blood type is AB negative."
    assert top["metadata"]["scope"] in ("cross_session", None)
    listed = ok(api.get(f"/users/{uid}/knowledge"))["knowledge"]
    assert [k["id"] for k in listed] == kids
    assert {"id", "user_id", "content", "created_at", "updated_at"} <= set(listed[0])


def test_query_sees_every_write_at_once(api: httpx.Client) -> None:
    """The same query before and after each write: no stale cached answer."""
    uid, _, sid = _new_session(api)
    add_messages(api, sid, [{"role": "user", "content": "The weather is mild."}])
    ask = "zeppelin hangar"
    assert "zeppelin" not in contents(query(api, uid, ask))
    assert "zeppelin" not in contents(query(api, uid, ask))  # now cached

    (mid,) = add_messages(api, sid, [{"role": "user", "content": "I toured a zeppelin hangar."}])
    assert "I toured a zeppelin hangar." in contents(query(api, uid, ask))

    ok(api.request("DELETE", f"/sessions/{sid}/messages", json={"message_ids": [mid]}))
    assert "zeppelin" not in contents(query(api, uid, ask))

    (kid,) = ok(
        api.post(f"/users/{uid}/knowledge", json={"knowledge": ["The user flew in a zeppelin."]}),
        201,
    )["knowledge_ids"]
    assert "The user flew in a zeppelin." in contents(query(api, uid, ask))
    ok(api.put(f"/users/{uid}/knowledge", json={"knowledge_ids": [kid], "new_knowledge": ["k"]}))
    assert "zeppelin" not in contents(query(api, uid, ask))
    ok(api.request("DELETE", f"/users/{uid}/knowledge", json={"knowledge_ids": [kid]}))

    other = create_session(api, uid, create_agent(api))
    add_messages(api, other, [{"role": "user", "content": "A zeppelin hangar is huge."}])
    assert "A zeppelin hangar is huge." in contents(query(api, uid, ask))
    ok(api.delete(f"/sessions/{other}"))
    assert "zeppelin" not in contents(query(api, uid, ask))


def test_updating_a_message_changes_what_query_finds(api: httpx.Client) -> None:
    uid, _, sid = _new_session(api)
    (mid,) = add_messages(api, sid, [{"role": "user", "content": "My locker code is 4417."}])
    add_messages(api, sid, [{"role": "assistant", "content": "I will remember it."}])
    assert "4417" in contents(query(api, uid, "locker code"))
    new = {"role": "user", "content": "My locker code is 9902 now."}
    assert ok(
        api.put(f"/sessions/{sid}/messages", json={"message_ids": [mid], "new_messages": [new]})
    ) == {"message_ids": [mid]}
    text = contents(query(api, uid, "locker code"))
    assert "9902" in text and "4417" not in text
    assert "4417" not in contents(query(api, uid, "4417"))


def test_deleting_a_user_removes_everything(api: httpx.Client) -> None:
    name = uniq("doomed user")
    uid = create_user(api, name)
    aid = create_agent(api)
    s1 = create_session(api, uid, aid, "first")
    s2 = create_session(api, uid, aid, "second")
    add_messages(api, s1, [{"role": "user", "content": "My passport number is QX778."}])
    add_messages(api, s2, [{"role": "user", "content": "Passport renewal is due in May."}])
    ok(api.post(f"/users/{uid}/knowledge", json={"knowledge": ["Passport kept in drawer."]}), 201)
    assert len(query(api, uid, "passport")) == 3

    assert ok(api.delete(f"/users/{uid}")) == {"user_id": uid}
    err(api.get(f"/users/{uid}"), 404)
    err(api.get("/users", params={"name": name}), 404)
    for sid in (s1, s2):
        err(api.get(f"/sessions/{sid}"), 404)
        err(api.get(f"/sessions/{sid}/messages"), 404)
        err(
            api.post(
                f"/sessions/{sid}/messages", json={"messages": [{"role": "user", "content": "x"}]}
            ),
            404,
        )
    assert ok(api.get("/sessions", params={"user_id": uid}))["sessions"] == []
    err(api.get(f"/users/{uid}/knowledge"), 404)
    err(api.post(f"/users/{uid}/query", json={"query": "passport"}), 404)
    # The agent is shared, not the user's: it stays.
    ok(api.get(f"/agents/{aid}"))

    # A new user of the same name starts empty.
    new_uid = create_user(api, name)
    assert new_uid != uid
    assert query(api, new_uid, "passport") == []
    assert ok(api.get(f"/users/{new_uid}/knowledge"))["knowledge"] == []
    assert ok(api.get("/sessions", params={"user_id": new_uid}))["sessions"] == []
