"""Validity of facts and relations, the same on both engines: a new value of a single-valued
attribute closes the old one, older statements imported later take their place, and what a
removed statement closed opens again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from memfuse_server.buffer import RoundBuffer
from memfuse_server.embeddings.base import Vectors
from memfuse_server.models import Fact, ItemKind, MemoryItem, NewMessage, Relation, Role, Session
from memfuse_server.storage import Store
from memfuse_server.storage.base import PreparedMessage
from tests.storage.test_store_contract import new_session

VecFn = Callable[[int], Vectors]
JAN, MAR, JUN = (datetime(2024, m, 10, 9, tzinfo=UTC) for m in (1, 3, 6))


async def said(
    store: Store, session: Session, vectors: VecFn, *turns: tuple[str, datetime]
) -> list[str]:
    """Messages said at these times, each in its own window."""
    buffer = RoundBuffer(800, 1)
    ids: list[str] = []
    for text, when in turns:
        message = PreparedMessage(NewMessage(Role.USER, text, created_at=when), text, 10)
        ids += await store.add_messages(session, [message], vectors(1), buffer)
    return ids


def works_at(place: str, source: str, *, ends: bool = False) -> Fact:
    text = f"Maya {'no longer works' if ends else 'works'} at {place}."
    return Fact(text, (source,), "Maya", attribute="works_at", value=place, ends=ends)


async def siemens_then_zalando(store: Store, vectors: VecFn) -> tuple[Session, list[str]]:
    """Maya works at Siemens (January), then at Zalando (June): two turns, two facts."""
    session = await new_session(store)
    ids = await said(store, session, vectors, ("at Siemens", JAN), ("at Zalando", JUN))
    await store.save_facts(session.user_id, [works_at("Siemens", ids[0])], vectors(1))
    await store.save_facts(session.user_id, [works_at("Zalando", ids[1])], vectors(1))
    return session, ids


async def facts(store: Store, user_id: str, **kw: object) -> dict[str, MemoryItem]:
    items = await store.list_items(user_id, ItemKind.FACT, 50, 0, **kw)  # type: ignore[arg-type]
    return {i.content: i for i in items}


async def test_a_new_value_closes_the_old_one(store: Store, vectors: VecFn) -> None:
    session, ids = await siemens_then_zalando(store, vectors)
    found = await facts(store, session.user_id)
    old, new = found["Maya works at Siemens."], found["Maya works at Zalando."]
    assert old.extra["valid_from"].startswith("2024-01-10")
    assert old.extra["valid_until"] == new.extra["valid_from"]
    assert old.extra["superseded_by"] == new.id
    assert new.extra["valid_until"] is None and new.extra["superseded_by"] is None
    assert old.extra["recorded_at"] and old.source_message_ids == (ids[0],)
    current = await facts(store, session.user_id, moment=datetime.now(UTC))
    assert list(current) == ["Maya works at Zalando."]
    back_then = await facts(store, session.user_id, moment=MAR)
    assert list(back_then) == ["Maya works at Siemens."]


async def test_an_older_statement_imported_later_never_ends_a_newer_one(
    store: Store, vectors: VecFn
) -> None:
    session = await new_session(store)
    ids = await said(store, session, vectors, ("at Zalando", JUN), ("at Siemens", JAN))
    await store.save_facts(session.user_id, [works_at("Zalando", ids[0])], vectors(1))
    await store.save_facts(session.user_id, [works_at("Siemens", ids[1])], vectors(1))
    found = await facts(store, session.user_id)
    assert found["Maya works at Zalando."].extra["valid_until"] is None
    old = found["Maya works at Siemens."]
    assert old.extra["superseded_by"] == found["Maya works at Zalando."].id


async def test_an_ending_closes_only_what_it_names(store: Store, vectors: VecFn) -> None:
    session = await new_session(store)
    ids = await said(
        store, session, vectors, ("at Siemens", JAN), ("no longer", MAR), ("likes", JAN)
    )
    likes = [
        Fact("Maya likes jazz.", (ids[2],), "Maya", attribute="likes", value="jazz"),
        Fact("Maya likes opera.", (ids[2],), "Maya", attribute="likes", value="opera"),
    ]
    await store.save_facts(session.user_id, [works_at("Siemens", ids[0]), *likes], vectors(3))
    ended = works_at("Siemens", ids[1], ends=True)
    await store.save_facts(session.user_id, [ended], vectors(1))
    found = await facts(store, session.user_id)
    assert found["Maya works at Siemens."].extra["superseded_by"] == (
        found["Maya no longer works at Siemens."].id
    )
    assert found["Maya no longer works at Siemens."].extra["valid_until"] is None
    assert found["Maya likes jazz."].extra["valid_until"] is None  # multi-valued: both hold
    assert found["Maya likes opera."].extra["valid_until"] is None


async def test_deleting_the_turn_that_superseded_reopens_what_it_closed(
    store: Store, vectors: VecFn
) -> None:
    session, ids = await siemens_then_zalando(store, vectors)
    version = await store.memory_version(session.user_id)
    await store.delete_messages(session.id, [ids[1]])
    found = await facts(store, session.user_id)
    assert list(found) == ["Maya works at Siemens."]
    assert found["Maya works at Siemens."].extra["valid_until"] is None
    assert found["Maya works at Siemens."].extra["superseded_by"] is None
    assert await store.memory_version(session.user_id) > version


async def test_editing_the_turn_that_superseded_reopens_what_it_closed(
    store: Store, vectors: VecFn
) -> None:
    session, ids = await siemens_then_zalando(store, vectors)
    edit = PreparedMessage(NewMessage(Role.USER, "nothing new", created_at=JUN), "nothing new", 5)
    await store.update_messages(session.id, [ids[1]], [edit], vectors(1))
    found = await facts(store, session.user_id)
    assert found["Maya works at Siemens."].extra["valid_until"] is None


async def test_relations_are_closed_by_a_new_object(store: Store, vectors: VecFn) -> None:
    session = await new_session(store)
    ids = await said(store, session, vectors, ("Berlin", JAN), ("Porto", JUN), ("left Berlin", MAR))
    lives = [
        Relation("Maya", "lives_in", "Berlin", (ids[0],), attribute="lives_in"),
        Relation("Maya", "moved_to", "Porto", (ids[1],), attribute="lives_in"),
        Relation("Maya", "moved_from", "Berlin", (ids[2],), attribute="lives_in"),
    ]
    for relation in lives:
        await store.save_relations(session.user_id, [relation], vectors(1))
    items = await store.list_items(session.user_id, ItemKind.RELATION, 50, 0)
    by_text = {i.content: i for i in items}
    berlin = by_text["Maya lives in Berlin"]
    assert berlin.extra["superseded_by"] == by_text["Maya moved from Berlin"].id
    assert berlin.extra["valid_until"] == by_text["Maya moved from Berlin"].extra["valid_from"]
    assert by_text["Maya moved to Porto"].extra["valid_until"] is None
    now = await store.list_items(session.user_id, ItemKind.RELATION, 50, 0, datetime.now(UTC))
    assert "Maya lives in Berlin" not in {i.content for i in now}


async def test_a_negated_relation_reads_as_such(store: Store, vectors: VecFn) -> None:
    session = await new_session(store)
    ids = await said(store, session, vectors, ("Siemens", JAN), ("not any more", MAR))
    await store.save_relations(
        session.user_id,
        [
            Relation("Maya", "works_at", "Siemens", (ids[0],), attribute="works_at"),
            Relation("Maya", "works_at", "Siemens", (ids[1],), attribute="works_at", ends=True),
        ],
        vectors(2),
    )
    items = await store.list_items(session.user_id, ItemKind.RELATION, 50, 0)
    by_text = {i.content: i for i in items}
    assert set(by_text) == {"Maya works at Siemens", "Maya no longer works at Siemens"}
    assert by_text["Maya works at Siemens"].extra["superseded_by"] == (
        by_text["Maya no longer works at Siemens"].id
    )


async def test_a_stated_start_and_a_coming_change(store: Store, vectors: VecFn) -> None:
    session = await new_session(store)
    ids = await said(store, session, vectors, ("Siemens", JAN), ("Zalando from July", JUN))
    july = datetime(2024, 7, 1, tzinfo=UTC)
    siemens = works_at("Siemens", ids[0])
    zalando = Fact(
        "Maya starts at Zalando on July 1.",
        (ids[1],),
        "Maya",
        occurred_at=july,
        valid_from=july,
        attribute="works_at",
        value="Zalando",
    )
    await store.save_facts(session.user_id, [siemens, zalando], vectors(2))
    found = await facts(store, session.user_id)
    assert found["Maya works at Siemens."].extra["valid_until"].startswith("2024-07-01")
    late_june = JUN + timedelta(days=15)
    assert list(await facts(store, session.user_id, moment=late_june)) == ["Maya works at Siemens."]
