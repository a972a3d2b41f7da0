"""PostgreSQL: writers take their locks in one order, so none waits for another in a circle.

A deadlock is found by PostgreSQL, which rolls one transaction back; the runner would
retry it, so these stores retry nothing: a deadlock fails the call (503), and the test.
The order is stated in docs/deploy.md ("Locks").
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest

from memfuse_server.buffer import RoundBuffer
from memfuse_server.embeddings.base import Vectors
from memfuse_server.errors import NotFound
from memfuse_server.models import Entity, EntityType, Relation, Session, utcnow
from memfuse_server.storage import Store, open_store
from tests.pg import PostgresForTests
from tests.storage.conftest import postgres_settings
from tests.storage.test_store_contract import add, prepared

VecFn = Callable[[int], Vectors]
NAMES = [f"Person{i}" for i in range(12)]


@pytest.fixture
async def stores(postgres: PostgresForTests) -> AsyncIterator[list[Store]]:
    """Two stores over one database, as two processes hold them; no retries."""
    settings = postgres_settings(postgres.create_database(), retry_attempts="0")
    opened = [open_store(settings) for _ in range(2)]
    for store in opened:
        await store.open()
    yield opened
    for store in opened:
        await store.close()


async def _sessions(store: Store, users: int, per_user: int) -> list[Session]:
    agent, _ = await store.create_agent("agent", None)
    out = []
    for u in range(users):
        user, _ = await store.create_user(f"user{u}", None)
        for s in range(per_user):
            out.append(await store.create_session(user.id, agent.id, f"s{s}"))
    return out


def _graph(rng: random.Random, source: str) -> tuple[list[Entity], list[Relation]]:
    """Entities known and new, with aliases, and relations between them, in a random order."""
    names = rng.sample(NAMES, 6)
    entities = [
        Entity(n, EntityType.PERSON, (f"{n} {rng.choice('ABCDEFGH')}.",), (source,)) for n in names
    ]
    relations = [
        Relation(a, rng.choice(["knows", "met", "helps"]), b, (source,))
        for a, b in itertools.pairwise(names)
    ]
    return entities, relations


async def _job(store: Store, user_id: str, source: str, rng: random.Random, vec: VecFn) -> None:
    entities, relations = _graph(rng, source)
    await asyncio.gather(
        store.save_entities(user_id, entities, vec(len(entities))),
        store.save_relations(user_id, relations, vec(len(relations))),
    )


async def test_graph_writes_of_one_user_never_deadlock(stores: list[Store], vectors: VecFn) -> None:
    """Entities found (their new aliases inserted) and entities created (the user's graph lock)
    by many jobs at once, through two stores: 8 deadlocks in 489 jobs before the order."""
    (session,) = await _sessions(stores[0], 1, 1)
    ids = await add(stores[0], session, [f"turn {i}" for i in range(8)], vectors)
    rng = random.Random(5)
    for _ in range(15):
        await asyncio.gather(
            *(
                _job(stores[i % 2], session.user_id, ids[i % len(ids)], rng, vectors)
                for i in range(8)
            )
        )


async def test_closing_idle_windows_and_writing_never_deadlock(
    stores: list[Store], vectors: VecFn
) -> None:
    """Two sweepers close many users' windows while messages arrive and sessions go."""
    sessions = await _sessions(stores[0], 10, 5)
    buffer = RoundBuffer(800, 5)
    for _ in range(6):
        for s in sessions:
            await stores[0].add_messages(s, [prepared("hello")], vectors(1), buffer)
        later = utcnow() + timedelta(seconds=1)
        writes = [
            stores[i % 2].add_messages(s, [prepared("again")], vectors(1), buffer)
            for i, s in enumerate(sessions[::2])
        ]
        await asyncio.gather(
            stores[0].close_idle_windows(later),
            stores[1].close_idle_windows(later),
            *writes,
        )


async def test_deleting_a_session_while_messages_arrive_never_deadlocks(
    stores: list[Store], vectors: VecFn
) -> None:
    """A deletion and adds to the same session, and renames of the user's other sessions."""
    buffer = RoundBuffer(800, 5)
    for round_ in range(12):
        sessions = await _sessions(stores[0], 1, 3)
        doomed, other = sessions[0], sessions[1]
        await add(stores[0], doomed, [f"turn {i}" for i in range(30)], vectors)
        outcomes = await asyncio.gather(
            stores[0].delete_session(doomed.id),
            *(
                stores[1].add_messages(doomed, [prepared("late")], vectors(1), buffer)
                for _ in range(3)
            ),
            stores[1].update_session(other.id, f"renamed-{round_}"),
            stores[0].add_messages(other, [prepared("more")], vectors(1), buffer),
            return_exceptions=True,
        )
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        assert all(isinstance(f, NotFound) for f in failures), failures  # adds after the delete
        await stores[0].delete_user(doomed.user_id)
