"""Deleting derived memory: it goes, with its search rows, and saving it again brings
nothing back, for that user only."""

from __future__ import annotations

import pytest

from memfuse_server.errors import NotFound
from memfuse_server.models import Entity, EntityType, ItemKind, MemoryItem, Relation
from memfuse_server.storage import Store
from tests.storage.test_layers_contract import VecFn, facts, graph, setup
from tests.storage.test_store_contract import add, new_session


async def items(store: Store, user_id: str, kind: ItemKind) -> list[MemoryItem]:
    return await store.list_items(user_id, kind, 50, 0)


async def derive(store: Store, user_id: str, ids: list[str], vectors: VecFn) -> None:
    """What the extractors would save from the episode, saved (again)."""
    entities, relations = graph(ids)
    await store.save_facts(user_id, facts(ids), vectors(2))
    await store.save_entities(user_id, entities, vectors(2))
    await store.save_relations(user_id, relations, vectors(1))


async def test_a_deleted_fact_is_not_saved_again(store: Store, vectors: VecFn) -> None:
    user_id, _, ids = await setup(store, vectors)
    await derive(store, user_id, ids, vectors)
    leo = next(f for f in await items(store, user_id, ItemKind.FACT) if "Leo" in f.content)
    version = await store.memory_version(user_id)
    await store.forget_items(user_id, ItemKind.FACT, [leo.id])
    assert await store.memory_version(user_id) > version  # cached answers go
    hits = await store.search_text(user_id, "turned five", 10)
    assert hits and ItemKind.FACT not in {h.kind for h in hits}  # its search rows went too
    await derive(store, user_id, ids, vectors)  # the episode processed again
    kept = await items(store, user_id, ItemKind.FACT)
    assert [f.content for f in kept] == ["Priya finds it lovely."]
    assert await store.save_facts(user_id, facts(ids), vectors(2)) == 0


async def test_a_deleted_relation_is_not_saved_again(store: Store, vectors: VecFn) -> None:
    user_id, _, ids = await setup(store, vectors)
    await derive(store, user_id, ids, vectors)
    [relation] = await items(store, user_id, ItemKind.RELATION)
    await store.forget_items(user_id, ItemKind.RELATION, [relation.id])
    await derive(store, user_id, ids, vectors)
    assert await items(store, user_id, ItemKind.RELATION) == []
    assert len(await items(store, user_id, ItemKind.ENTITY)) == 2  # its entities stay
    other = Relation("Tom", "lives_in", "Leeds", (ids[0],), None, "Tom lives in Leeds")
    await store.save_relations(user_id, [other], vectors(1))  # other relations still come
    assert [r.extra["predicate"] for r in await items(store, user_id, ItemKind.RELATION)] == [
        "lives_in"
    ]


async def test_a_deleted_entity_goes_with_its_relations_under_every_name(
    store: Store, vectors: VecFn
) -> None:
    user_id, _, ids = await setup(store, vectors)
    await derive(store, user_id, ids, vectors)
    tom = next(e for e in await items(store, user_id, ItemKind.ENTITY) if e.extra["name"] == "Tom")
    await store.forget_items(user_id, ItemKind.ENTITY, [tom.id])
    assert [e.extra["name"] for e in await items(store, user_id, ItemKind.ENTITY)] == ["Leo"]
    assert await items(store, user_id, ItemKind.RELATION) == []
    await derive(store, user_id, ids, vectors)
    by_alias = Entity("tom baker", EntityType.PERSON, (), (ids[1],))
    await store.save_entities(user_id, [by_alias], vectors(1))
    other = Relation("Tom Baker", "lives_in", "Leeds", (ids[0],), None, "Tom lives in Leeds")
    await store.save_relations(user_id, [other], vectors(1))
    assert [e.extra["name"] for e in await items(store, user_id, ItemKind.ENTITY)] == ["Leo"]
    assert await items(store, user_id, ItemKind.RELATION) == []
    assert len(await items(store, user_id, ItemKind.FACT)) == 2  # facts are their own


async def test_deletions_are_the_users_own(store: Store, vectors: VecFn) -> None:
    user_id, _, ids = await setup(store, vectors)
    bob = await new_session(store, "bob")
    other_id = bob.user_id
    other_ids = await add(store, bob, ["Tom: my grandson Leo turned five", "Priya: ok"], vectors)
    await derive(store, user_id, ids, vectors)
    await derive(store, other_id, other_ids, vectors)
    fact = (await items(store, user_id, ItemKind.FACT))[0]
    theirs = (await items(store, other_id, ItemKind.FACT))[0]
    with pytest.raises(NotFound):  # another user's fact is not found for this one
        await store.forget_items(user_id, ItemKind.FACT, [theirs.id])
    with pytest.raises(NotFound):  # nothing is deleted when one id is unknown
        await store.forget_items(user_id, ItemKind.FACT, [fact.id, "no-such-fact"])
    assert len(await items(store, user_id, ItemKind.FACT)) == 2
    await store.forget_items(user_id, ItemKind.FACT, [fact.id])
    await derive(store, other_id, other_ids, vectors)
    assert len(await items(store, other_id, ItemKind.FACT)) == 2


async def test_tombstones_go_with_their_user(store: Store, vectors: VecFn) -> None:
    user_id, _, ids = await setup(store, vectors)
    await derive(store, user_id, ids, vectors)
    for kind in (ItemKind.FACT, ItemKind.RELATION, ItemKind.ENTITY):
        await store.forget_items(user_id, kind, [i.id for i in await items(store, user_id, kind)])
    await store.delete_user(user_id)  # a foreign key to the user: nothing left behind
    with pytest.raises(NotFound):
        await store.get_user(user_id)
