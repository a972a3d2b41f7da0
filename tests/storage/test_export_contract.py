"""Export pages: a user's memory read a page at a time, in the order another server lists it,
the same lines whatever the page size, on either engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from memfuse_server.buffer import RoundBuffer
from memfuse_server.exporter.lines import Export, pages
from memfuse_server.models import ItemKind, NewMessage, Role, utcnow
from memfuse_server.storage import Store
from memfuse_server.storage.base import PreparedMessage
from tests.storage.test_layers_contract import VecFn, facts, graph

T0 = datetime(2024, 3, 2, 18, 0, tzinfo=UTC)


def said(text: str, at: datetime, role: Role = Role.USER, **kw: Any) -> PreparedMessage:
    return PreparedMessage(NewMessage(role, text, created_at=at, **kw), text, len(text.split()))


async def seeded(store: Store, vectors: VecFn) -> tuple[str, list[str]]:
    """A user with three sessions (one empty), turns that share a time, and knowledge."""
    user, _ = await store.create_user("maya", "runs marathons")
    agent, _ = await store.create_agent("coach", None)
    buffer = RoundBuffer(800, 2)
    ids: list[str] = []
    for name, count in (("porto", 5), ("alpha", 2), ("empty", 0)):
        session = await store.create_session(user.id, agent.id, name)
        for i in range(count):  # the first three at one time: stored order decides
            at = T0 if i < 3 else T0 + timedelta(minutes=i)
            meta = {"z": i, "a": {"y": 1, "b": [2]}}
            turn = said(f"{name} turn {i}", at, name="Maya", metadata=meta)
            ids += await store.add_messages(session, [turn], vectors(1), buffer)
    await store.close_idle_windows(utcnow() + timedelta(seconds=1))
    await store.add_knowledge(user.id, ["likes figs", "likes figs", "lives in Porto"], vectors(3))
    return user.id, ids


async def lines(store: Store, user_id: str, page: int, derived: bool = False) -> list[bytes]:
    user = await store.get_user(user_id)
    return [orjson.dumps(x) async for x in Export(store, user, page).lines(derived)]


async def test_sessions_messages_and_knowledge_come_in_pages_in_listing_order(
    store: Store, vectors: VecFn
) -> None:
    user_id, ids = await seeded(store, vectors)
    names = []
    async for found in pages(lambda a: store.sessions_page(user_id, a, 2)):
        assert len(found) <= 2
        names += [s.name for s in found]
    assert names == ["alpha", "empty", "porto"]  # by name: the same on any server
    porto = (await store.find_sessions(user_id, None, "porto"))[0]
    listed = [
        m.id async for page in pages(lambda a: store.messages_page(porto.id, a, 2)) for m in page
    ]
    assert listed == ids[:5]  # the three of one time in the order they were stored
    texts = [
        k.content
        async for page in pages(lambda a: store.knowledge_page(user_id, a, 2))
        for k in page
    ]
    assert texts == ["likes figs", "likes figs", "lives in Porto"]
    counts = await store.export_counts(user_id)
    assert counts == {
        "sessions": 3,
        "messages": 7,
        "knowledge": 3,
        "facts": 0,
        "entities": 0,
        "relations": 0,
    }


async def test_the_lines_are_the_same_for_any_page_size(store: Store, vectors: VecFn) -> None:
    user_id, ids = await seeded(store, vectors)
    await store.save_facts(user_id, facts(ids), vectors(2))
    entities, relations = graph(ids)
    await store.save_entities(user_id, entities, vectors(2))
    await store.save_relations(user_id, relations, vectors(1))
    one = await lines(store, user_id, 1, derived=True)
    assert one == await lines(store, user_id, 3, derived=True)
    assert one == await lines(store, user_id, 500, derived=True)
    parsed = [orjson.loads(x) for x in one]
    types = [x["type"] for x in parsed]
    assert types[:3] == ["header", "user", "agent"]
    assert types[-1] == "end" and parsed[-1]["counts"]["message"] == 7
    assert parsed[0]["counts"]["messages"] == 7 and parsed[0]["user"] == "maya"
    porto = [x for x in parsed if x.get("session") == "porto" and x["type"] == "message"]
    assert [(m["n"], m["content"]) for m in porto] == [(i, f"porto turn {i}") for i in range(5)]
    assert porto[0]["metadata"] == {"a": {"b": [2], "y": 1}, "z": 0}
    assert list(porto[0]["metadata"]) == ["a", "z"]  # keys sorted: the same bytes on any engine
    fact = next(x for x in parsed if x["type"] == "fact" and "Leo" in x["content"])
    assert fact["sources"] == [{"session": "porto", "n": 0}]  # ids[0]: porto's first turn
    relation = next(x for x in parsed if x["type"] == "relation")
    assert (relation["subject"], relation["predicate"], relation["object"]) == (
        "Tom",
        "has_grandson",
        "Leo",
    )
    assert not any("id" in x for x in parsed)  # a server's ids stay on the server


async def test_message_places_are_the_users_own(store: Store, vectors: VecFn) -> None:
    user_id, ids = await seeded(store, vectors)
    other, _ = await store.create_user("someone", None)
    assert await store.message_places(other.id, ids) == {}
    places = await store.message_places(user_id, [ids[4], ids[5]])
    assert places == {ids[4]: ("porto", 4), ids[5]: ("alpha", 0)}


async def test_without_derived_only_what_an_import_restores(store: Store, vectors: VecFn) -> None:
    user_id, ids = await seeded(store, vectors)
    await store.save_facts(user_id, facts(ids), vectors(2))
    parsed = [orjson.loads(x) for x in await lines(store, user_id, 500)]
    assert {x["type"] for x in parsed} == {
        "header",
        "user",
        "agent",
        "session",
        "message",
        "knowledge",
        "end",
    }
    assert parsed[1] == {"type": "user", "name": "maya", "description": "runs marathons"}
    assert set(parsed[0]["counts"]) == {"sessions", "messages", "knowledge"}
    assert ItemKind.FACT.value not in parsed[-1]["counts"]
