"""Every change a query answer shows bumps the user's memory version (the cache key), so a
cached answer changes in every process: new memories, and also new sources of a known item,
a new type of a known entity, a renamed session."""

from __future__ import annotations

from collections.abc import Callable

from memfuse_server.embeddings.base import Vectors
from memfuse_server.models import Entity, EntityType, Fact, Relation
from memfuse_server.storage import Store
from tests.storage.test_layers_contract import setup
from tests.storage.test_store_contract import new_session

VecFn = Callable[[int], Vectors]


async def test_renaming_a_session_bumps_the_version(store: Store) -> None:
    session = await new_session(store)
    before = await store.memory_version(session.user_id)
    await store.update_session(session.id, "renamed")
    assert await store.memory_version(session.user_id) > before


async def test_a_known_fact_with_a_new_source_bumps_the_version(
    store: Store, vectors: VecFn
) -> None:
    user_id, _, ids = await setup(store, vectors)
    await store.save_facts(user_id, [Fact("Leo is five.", (ids[0],))], vectors(1))
    before = await store.memory_version(user_id)
    await store.save_facts(user_id, [Fact("Leo is five.", (ids[1],))], vectors(1))
    assert await store.memory_version(user_id) > before  # its source_message_ids changed


async def test_a_known_entity_or_relation_with_more_shown_bumps_the_version(
    store: Store, vectors: VecFn
) -> None:
    user_id, _, ids = await setup(store, vectors)
    await store.save_relations(user_id, [Relation("Tom", "knows", "Leo", (ids[0],))], vectors(1))
    before = await store.memory_version(user_id)
    await store.save_entities(
        user_id, [Entity("Tom", EntityType.PERSON, (), (ids[0],))], vectors(1)
    )
    assert await store.memory_version(user_id) > before  # "Tom (thing)" became a person
    before = await store.memory_version(user_id)
    await store.save_relations(user_id, [Relation("Tom", "knows", "Leo", (ids[1],))], vectors(1))
    assert await store.memory_version(user_id) > before


async def test_saving_what_is_already_there_keeps_the_version(store: Store, vectors: VecFn) -> None:
    """The cache stays warm when a job runs twice."""
    user_id, _, ids = await setup(store, vectors)
    fact = [Fact("Leo is five.", (ids[0],))]
    entity = [Entity("Tom", EntityType.PERSON, (), (ids[0],))]
    relation = [Relation("Tom", "knows", "Leo", (ids[0],))]
    await store.save_facts(user_id, fact, vectors(1))
    await store.save_entities(user_id, entity, vectors(1))
    await store.save_relations(user_id, relation, vectors(1))
    before = await store.memory_version(user_id)
    await store.save_facts(user_id, fact, vectors(1))
    await store.save_entities(user_id, entity, vectors(1))
    await store.save_relations(user_id, relation, vectors(1))
    assert await store.memory_version(user_id) == before
