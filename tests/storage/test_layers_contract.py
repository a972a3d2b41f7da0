"""M1/M2 writes: idempotent, merged by content and alias, tied to their source messages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from memfuse_server.embeddings.base import Vectors
from memfuse_server.models import Entity, EntityType, Fact, ItemKind, Relation, utcnow
from memfuse_server.storage import Store
from tests.storage.test_store_contract import add, new_session, prepared

VecFn = Callable[[int], Vectors]


async def setup(store: Store, vectors: VecFn) -> tuple[str, str, list[str]]:
    session = await new_session(store)
    ids = await add(store, session, ["Tom: my grandson Leo turned five", "Priya: lovely"], vectors)
    await store.close_idle_windows(utcnow() + timedelta(seconds=1))
    return session.user_id, session.id, ids


def facts(ids: list[str]) -> list[Fact]:
    when = datetime(2024, 2, 1, tzinfo=UTC)
    return [
        Fact("Tom's grandson Leo turned five.", (ids[0],), "Leo", when, "Thursday", 0.9),
        Fact("Priya finds it lovely.", (ids[1],), "Priya"),
    ]


def graph(ids: list[str]) -> tuple[list[Entity], list[Relation]]:
    entities = [
        Entity("Tom", EntityType.PERSON, ("Tom Baker",), (ids[0],)),
        Entity("Leo", EntityType.PERSON, (), (ids[0],)),
    ]
    relations = [Relation("Tom", "has_grandson", "Leo", (ids[0],), None, "Tom's grandson Leo")]
    return entities, relations


async def test_saving_twice_changes_nothing(store: Store, vectors: VecFn) -> None:
    user_id, _, ids = await setup(store, vectors)
    entities, relations = graph(ids)
    for _ in range(2):
        await store.save_facts(user_id, facts(ids), vectors(2))
        await store.save_entities(user_id, entities, vectors(2))
        await store.save_relations(user_id, relations, vectors(1))
    assert len(await store.list_items(user_id, ItemKind.FACT, 50, 0)) == 2
    assert len(await store.list_items(user_id, ItemKind.ENTITY, 50, 0)) == 2
    assert len(await store.list_items(user_id, ItemKind.RELATION, 50, 0)) == 1


async def test_aliases_resolve_to_one_entity(store: Store, vectors: VecFn) -> None:
    user_id, _, ids = await setup(store, vectors)
    await store.save_entities(user_id, graph(ids)[0], vectors(2))
    await store.save_entities(
        user_id, [Entity("tom baker", EntityType.PERSON, (), (ids[1],))], vectors(1)
    )
    entities = await store.list_items(user_id, ItemKind.ENTITY, 50, 0)
    tom = next(e for e in entities if e.extra["name"] == "Tom")
    assert set(tom.source_message_ids) == set(ids)
    assert len(entities) == 2


async def test_relation_endpoints_are_created_then_typed(store: Store, vectors: VecFn) -> None:
    user_id, _, ids = await setup(store, vectors)
    entities, relations = graph(ids)
    await store.save_relations(user_id, relations, vectors(1))
    things = await store.list_items(user_id, ItemKind.ENTITY, 50, 0)
    assert {e.extra["entity_type"] for e in things} == {"thing"}
    await store.save_entities(user_id, entities, vectors(2))
    typed = await store.list_items(user_id, ItemKind.ENTITY, 50, 0)
    assert {e.extra["entity_type"] for e in typed} == {"person"}


async def test_graph_search_follows_named_entities(store: Store, vectors: VecFn) -> None:
    user_id, _, ids = await setup(store, vectors)
    entities, relations = graph(ids)
    await store.save_facts(user_id, facts(ids), vectors(2))
    await store.save_entities(user_id, entities, vectors(2))
    await store.save_relations(user_id, relations, vectors(1))
    hits = await store.search_graph(user_id, "How old is Leo now?", 10)
    assert [h.kind for h in hits] == [ItemKind.RELATION, ItemKind.FACT]
    items = await store.resolve(user_id, [(h.kind, h.item_id) for h in hits])
    relation = items[(ItemKind.RELATION, hits[0].item_id)]
    assert relation.content == "Tom has grandson Leo" and relation.source_message_ids == (ids[0],)
    assert await store.search_graph(user_id, "nobody known here", 10) == []


async def test_deleting_the_source_message_removes_what_came_from_it(
    store: Store, vectors: VecFn
) -> None:
    user_id, session_id, ids = await setup(store, vectors)
    entities, relations = graph(ids)
    await store.save_facts(user_id, facts(ids), vectors(2))
    await store.save_entities(user_id, entities, vectors(2))
    await store.save_relations(user_id, relations, vectors(1))
    await store.delete_messages(session_id, [ids[0]])
    remaining = await store.list_items(user_id, ItemKind.FACT, 50, 0)
    assert [f.content for f in remaining] == ["Priya finds it lovely."]
    assert await store.list_items(user_id, ItemKind.ENTITY, 50, 0) == []
    assert await store.list_items(user_id, ItemKind.RELATION, 50, 0) == []
    assert not await store.search_text(user_id, "grandson", 10)


async def test_updating_a_source_message_forgets_its_old_facts(
    store: Store, vectors: VecFn
) -> None:
    user_id, session_id, ids = await setup(store, vectors)
    await store.save_facts(user_id, facts(ids), vectors(2))
    await store.update_messages(session_id, [ids[0]], [prepared("Tom: nothing new")], vectors(1))
    remaining = await store.list_items(user_id, ItemKind.FACT, 50, 0)
    assert [f.content for f in remaining] == ["Priya finds it lovely."]


async def test_neighbourhood(store: Store, vectors: VecFn) -> None:
    user_id, _, ids = await setup(store, vectors)
    entities, relations = graph(ids)
    await store.save_facts(user_id, facts(ids), vectors(2))
    await store.save_entities(user_id, entities, vectors(2))
    await store.save_relations(user_id, relations, vectors(1))
    leo = next(
        e
        for e in await store.list_items(user_id, ItemKind.ENTITY, 50, 0)
        if e.extra["name"] == "Leo"
    )
    found = await store.neighbourhood(user_id, leo.id, 10)
    assert found is not None
    assert [r.content for r in found["relations"]] == ["Tom has grandson Leo"]
    assert [f.content for f in found["facts"]] == ["Tom's grandson Leo turned five."]
    assert await store.neighbourhood(user_id, "missing", 10) is None


async def test_deleting_a_session_removes_what_came_from_it(store: Store, vectors: VecFn) -> None:
    user_id, session_id, ids = await setup(store, vectors)
    await store.save_facts(user_id, facts(ids), vectors(2))
    await store.save_entities(user_id, graph(ids)[0], vectors(2))
    await store.delete_session(session_id)
    assert await store.list_items(user_id, ItemKind.FACT, 50, 0) == []
    assert await store.list_items(user_id, ItemKind.ENTITY, 50, 0) == []
    assert not await store.search_text(user_id, "grandson", 10)
