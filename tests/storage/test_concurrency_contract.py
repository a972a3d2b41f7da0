"""Writes that run at once (parallel storage writes, several processes) stay correct."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from memfuse_server.embeddings.base import Vectors
from memfuse_server.errors import WritesFailed
from memfuse_server.fanout import run_all
from memfuse_server.models import ItemKind, utcnow
from memfuse_server.storage import MessageQuery, Store
from tests.storage.test_layers_contract import facts, graph, setup
from tests.storage.test_store_contract import new_session, prepared

VecFn = Callable[[int], Vectors]


async def test_parallel_layer_writes_make_one_entity_per_name(store: Store, vectors: VecFn) -> None:
    user_id, _, ids = await setup(store, vectors)
    entities, relations = graph(ids)
    for _ in range(2):  # the second round finds everything and changes nothing
        await run_all(
            {
                "facts": lambda: store.save_facts(user_id, facts(ids), vectors(2)),
                "entities": lambda: store.save_entities(user_id, entities, vectors(2)),
                "relations": lambda: store.save_relations(user_id, relations, vectors(1)),
            }
        )
    found = await store.list_items(user_id, ItemKind.ENTITY, 50, 0)
    assert sorted(e.extra["name"] for e in found) == ["Leo", "Tom"]
    assert len(await store.list_items(user_id, ItemKind.RELATION, 50, 0)) == 1
    assert len(await store.list_items(user_id, ItemKind.FACT, 50, 0)) == 2


async def test_a_failing_parallel_write_is_reported_and_the_others_land(
    store: Store, vectors: VecFn
) -> None:
    user_id, _, ids = await setup(store, vectors)
    entities, _ = graph(ids)
    try:
        await run_all(
            {
                "facts": lambda: store.save_facts(user_id, facts(ids), vectors(3)),  # wrong shape
                "entities": lambda: store.save_entities(user_id, entities, vectors(2)),
            }
        )
    except WritesFailed as exc:
        assert set(exc.failures) == {"facts"}
    else:
        raise AssertionError("the failing write was not reported")
    assert len(await store.list_items(user_id, ItemKind.ENTITY, 50, 0)) == 2


async def test_concurrent_writes_to_one_session_keep_its_window(
    store: Store, vectors: VecFn
) -> None:
    from memfuse_server.buffer import RoundBuffer

    session = await new_session(store)
    buffer = RoundBuffer(10_000, 1000)
    writes = [
        store.add_messages(session, [prepared(f"m{i}")], vectors(1), buffer) for i in range(12)
    ]
    ids = [i for batch in await asyncio.gather(*writes) for i in batch]
    assert len(set(ids)) == 12
    await store.close_idle_windows(utcnow() + timedelta(seconds=1))
    handed = await store.list_messages(session.id, MessageQuery(limit=50, in_buffer=False))
    assert len(handed) == 12
    jobs = await store.claim_jobs("w", 10, 60)
    assert len(jobs) == 1  # one window, one episode, one job
