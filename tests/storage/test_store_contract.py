"""What every Store must do: transactions, windows, derived data, search."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from memfuse_server.buffer import RoundBuffer
from memfuse_server.embeddings.base import Vectors
from memfuse_server.errors import Conflict, NotFound
from memfuse_server.models import ItemKind, NewMessage, Role, Session, utcnow
from memfuse_server.retrieval.terms import MATCH_BUDGET
from memfuse_server.storage import MessageQuery, PreparedMessage, SqlStore, Store
from memfuse_server.storage.tx import Tx

VecFn = Callable[[int], Vectors]


def prepared(text: str, role: Role = Role.USER, tokens: int = 10) -> PreparedMessage:
    return PreparedMessage(NewMessage(role, text), text, tokens)


async def new_session(store: Store, name: str = "alice") -> Session:
    user, _ = await store.create_user(name, None)
    agent, _ = await store.create_agent("agent", None)
    return await store.create_session(user.id, agent.id, "s")


async def add(store: Store, session: Session, texts: list[str], vec: VecFn, **kw: int) -> list[str]:
    buffer = RoundBuffer(kw.get("max_tokens", 800), kw.get("max_rounds", 5))
    ids: list[str] = []
    for text in texts:
        ids += await store.add_messages(session, [prepared(text)], vec(1), buffer)
    return ids


async def test_names_are_unique_and_creation_reports_existing(store: Store) -> None:
    user, created = await store.create_user("bob", "d")
    again, created_again = await store.create_user("bob", None)
    assert created and not created_again and again.id == user.id
    other, _ = await store.create_user("carol", None)
    with pytest.raises(Conflict):
        await store.update_user(other.id, "bob", None)
    with pytest.raises(NotFound):
        await store.get_user("no-such-id")


async def test_session_names_are_unique_per_user(store: Store) -> None:
    session = await new_session(store)
    with pytest.raises(Conflict):
        await store.create_session(session.user_id, session.agent_id, "s")
    other = await new_session(store, "dave")
    assert other.name == session.name


async def test_windows_close_into_episodes_with_provenance(store: Store, vectors: VecFn) -> None:
    session = await new_session(store)
    ids = await add(store, session, [f"turn {i}" for i in range(5)], vectors, max_rounds=2)
    handed = await store.list_messages(session.id, MessageQuery(limit=50, in_buffer=False))
    open_ = await store.list_messages(session.id, MessageQuery(limit=50, in_buffer=True))
    assert {m.id for m in handed} == set(ids[:4])
    assert [m.id for m in open_] == [ids[4]]
    hits = await store.search_vectors(session.user_id, vectors(1)[0], 10)
    chunk_keys = [(h.kind, h.item_id) for h in hits[ItemKind.CHUNK]]
    items = await store.resolve(session.user_id, chunk_keys)
    assert sorted(len(i.source_message_ids) for i in items.values()) == [2, 2]


async def test_idle_windows_close(store: Store, vectors: VecFn) -> None:
    session = await new_session(store)
    await add(store, session, ["one", "two"], vectors)
    assert await store.close_idle_windows(utcnow() - timedelta(hours=1)) == 0
    assert await store.close_idle_windows(utcnow() + timedelta(seconds=1)) == 1
    assert not await store.list_messages(session.id, MessageQuery(in_buffer=True))


async def test_delete_removes_every_derived_row(store: Store, vectors: VecFn) -> None:
    session = await new_session(store)
    ids = await add(store, session, ["the red kite", "a blue whale"], vectors, max_rounds=1)
    await store.close_idle_windows(utcnow() + timedelta(seconds=1))
    before = await store.memory_version(session.user_id)
    await store.delete_messages(session.id, [ids[0]])
    assert await store.memory_version(session.user_id) > before
    assert not await store.search_text(session.user_id, "kite", 10)
    hits = await store.search_vectors(session.user_id, vectors(1)[0], 10)
    assert ids[0] not in {h.item_id for h in hits.get(ItemKind.MESSAGE, [])}
    assert len(hits[ItemKind.CHUNK]) == 1  # the kite's episode went with its only message


async def test_update_rederives_text_vector_and_episode(store: Store, vectors: VecFn) -> None:
    session = await new_session(store)
    ids = await add(store, session, ["I like tea", "you like coffee"], vectors, max_rounds=1)
    await store.close_idle_windows(utcnow() + timedelta(seconds=1))
    new_vec = vectors(1)
    await store.update_messages(session.id, [ids[0]], [prepared("I like cocoa")], new_vec)
    kinds = {h.kind for h in await store.search_text(session.user_id, "cocoa", 10)}
    assert kinds == {ItemKind.MESSAGE, ItemKind.CHUNK}
    assert not await store.search_text(session.user_id, "tea", 10)
    top = (await store.search_vectors(session.user_id, new_vec[0], 1))[ItemKind.MESSAGE]
    assert top[0].item_id == ids[0] and top[0].score > 0.99


async def test_a_failing_transaction_changes_nothing(store: Store, vectors: VecFn) -> None:
    session = await new_session(store)
    ids = await add(store, session, ["keep me"], vectors)
    with pytest.raises(NotFound):
        await store.delete_messages(session.id, [ids[0], "missing"])
    assert len(await store.read_messages(session.id, ids)) == 1
    assert await store.search_text(session.user_id, "keep", 10)


async def test_deleting_a_user_removes_its_search_rows(store: Store, vectors: VecFn) -> None:
    session = await new_session(store)
    other = await new_session(store, "erin")
    await add(store, session, ["secret plans"], vectors)
    await add(store, other, ["secret garden"], vectors)
    await store.delete_user(session.user_id)
    with pytest.raises(NotFound):
        await store.get_session(session.id)
    assert len(await store.search_text(other.user_id, "secret", 10)) == 1
    assert await store.memory_version(session.user_id) == -1


async def test_search_is_scoped_to_the_user(store: Store, vectors: VecFn) -> None:
    a = await new_session(store, "frank")
    b = await new_session(store, "grace")
    await add(store, a, ["apples"], vectors)
    assert not await store.search_text(b.user_id, "apples", 10)
    assert not (await store.search_vectors(b.user_id, vectors(1)[0], 10)).get(ItemKind.MESSAGE)


async def test_knowledge_crud_and_search(store: Store, vectors: VecFn) -> None:
    session = await new_session(store)
    ids = await store.add_knowledge(session.user_id, ["prefers window seats"], vectors(1))
    assert [k.content for k in await store.list_knowledge(session.user_id)] == [
        "prefers window seats"
    ]
    await store.update_knowledge(session.user_id, ids, ["prefers aisle seats"], vectors(1))
    assert [h.item_id for h in await store.search_text(session.user_id, "aisle", 5)] == ids
    await store.delete_knowledge(session.user_id, ids)
    assert await store.list_knowledge(session.user_id) == []


async def test_another_process_removal_is_seen(
    store: Store, vectors: VecFn, reopen: Callable[[], Store]
) -> None:
    session = await new_session(store)
    ids = await add(store, session, ["one", "two"], vectors)
    assert (
        len((await store.search_vectors(session.user_id, vectors(1)[0], 10))[ItemKind.MESSAGE]) == 2
    )
    second = reopen()
    await second.open()
    try:
        await second.delete_messages(session.id, [ids[0]])
        more = await second.add_messages(session, [prepared("three")], vectors(1), RoundBuffer())
    finally:
        await second.close()
    hits = (await store.search_vectors(session.user_id, vectors(1)[0], 10))[ItemKind.MESSAGE]
    assert {h.item_id for h in hits} == {ids[1], more[0]}


async def test_a_reopened_store_warms_up_and_searches_the_same(
    store: Store, vectors: VecFn, reopen: Callable[[], Store]
) -> None:
    """After a restart, the warm-up (whatever a backend loads) changes no search result."""
    alice, bob = await new_session(store, "alice"), await new_session(store, "bob")
    await add(store, alice, ["one", "two", "three"], vectors)
    await add(store, bob, ["four"], vectors)
    probe = vectors(1)[0]
    before = {s.user_id: await store.search_vectors(s.user_id, probe, 10) for s in (alice, bob)}
    second = reopen()
    await second.open()
    try:
        await second.warm_up()
        after = {s.user_id: await second.search_vectors(s.user_id, probe, 10) for s in (alice, bob)}
    finally:
        await second.close()
    assert after == before


async def _analyze(tx: Tx) -> None:
    await tx.execute("ANALYZE")  # statistics as autovacuum keeps them on PostgreSQL


async def test_a_large_history_matches_its_rare_words(store: Store, vectors: VecFn) -> None:
    """One term policy on every engine: past ``MATCH_BUDGET`` rows, a word most rows contain is
    left out of the match and the rare word decides the full-text candidates."""
    session = await new_session(store)
    n = MATCH_BUDGET + 200
    contents = ["weather notes for the day"] * n + ["weather in Reykjavik"]
    await store.add_knowledge(session.user_id, contents, vectors(n + 1))
    assert isinstance(store, SqlStore)
    await store.runner.write(_analyze)
    hits = await store.search_text(session.user_id, "weather Reykjavik", 10)
    found = await store.resolve(session.user_id, [(h.kind, h.item_id) for h in hits])
    assert [i.content for i in found.values()] == ["weather in Reykjavik"]
