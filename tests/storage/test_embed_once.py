"""What the background embeds: each derived text once per user, and nothing a turn already has.

The layers run with the rules extractor over real episodes on either engine, and embed
through the real batcher on an OpenAI-compatible embeddings endpoint (the test server),
which records every text it was sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import numpy as np
import pytest

from memfuse_server.buffer import RoundBuffer
from memfuse_server.config import EmbeddingSettings
from memfuse_server.embeddings import MicroBatcher, build_embedder
from memfuse_server.embeddings.base import Vectors
from memfuse_server.extraction.rules import RuleExtractor
from memfuse_server.layers.m1 import FactLayer
from memfuse_server.layers.m2 import GraphLayer
from memfuse_server.layers.texts import entity_text
from memfuse_server.layers.vectors import overlap, restated_turn
from memfuse_server.models import (
    Entity,
    EntityType,
    EpisodeInput,
    EpisodeMessage,
    Fact,
    NewMessage,
    Relation,
    Role,
    Session,
    utcnow,
)
from memfuse_server.service import search_text
from memfuse_server.storage import PreparedMessage, Store
from memfuse_server.testing import FakeLLMServer
from tests.storage.test_store_contract import add, new_session

VecFn = Callable[[int], Vectors]


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
async def embedder(fake: FakeLLMServer) -> AsyncIterator[MicroBatcher]:
    settings = EmbeddingSettings(provider="openai", base_url=fake.base_url, dimension=384)
    batcher = build_embedder(settings)
    yield batcher
    await batcher.aclose()


def embedded(fake: FakeLLMServer) -> list[str]:
    """Every text the embeddings endpoint was sent, in order."""
    return [t for r in fake.requests if r.path.endswith("/embeddings") for t in r.body["input"]]


async def episode(
    store: Store, session: Session, turns: list[tuple[str, str]], vectors: VecFn
) -> EpisodeInput:
    """The turns (speaker, text) as one closed episode, read as the worker reads it."""
    messages = [NewMessage(Role.USER, text, name=name) for name, text in turns]
    prepared = [PreparedMessage(m, search_text(m), 10) for m in messages]
    await store.add_messages(session, prepared, vectors(len(prepared)), RoundBuffer(800, 50))
    episode_id = await store.flush_window(session)
    assert episode_id is not None
    read = await store.episode_input(episode_id)
    assert read is not None
    return read


async def derive(store: Store, embedder: MicroBatcher, read: EpisodeInput) -> None:
    extractor = RuleExtractor()
    facts = await FactLayer(extractor, embedder, store).run(read)
    await GraphLayer(extractor, embedder, store).run(read, facts)


FIRST = [
    ("Maya", "I adopted a cat named Biscuit in Lisbon."),
    ("Jonas", "That is lovely news. My brother Felix lives in Porto and he visits Lisbon a lot."),
]
SECOND = [
    ("Maya", "Felix should come and meet Biscuit when he is in Lisbon next time."),
    ("Jonas", "I will tell him, he is flying to Lisbon in June for a conference."),
]


async def test_an_entity_is_embedded_once_per_user(
    store: Store, embedder: MicroBatcher, fake: FakeLLMServer, vectors: VecFn
) -> None:
    session = await new_session(store)
    first = await episode(store, session, FIRST, vectors)
    await derive(store, embedder, first)
    once = embedded(fake)
    entities = {entity_text(e) for e in (await RuleExtractor().graph(first, None)).entities}
    assert entities and entities <= set(once)
    await derive(store, embedder, await episode(store, session, SECOND, vectors))
    again = embedded(fake)[len(once) :]
    assert again, "the second episode says new things"
    assert not entities & set(again), "names the user already has are not embedded again"
    other = await new_session(store, "someone else")
    await derive(store, embedder, await episode(store, other, FIRST, vectors))
    assert entities <= set(embedded(fake)[len(once) + len(again) :]), "another user's are"


async def test_an_episode_derived_again_embeds_nothing(
    store: Store, embedder: MicroBatcher, fake: FakeLLMServer, vectors: VecFn
) -> None:
    read = await episode(store, await new_session(store), FIRST + SECOND, vectors)
    await derive(store, embedder, read)
    sent = len(embedded(fake))
    assert sent
    await derive(store, embedder, read)  # a job run twice
    assert len(embedded(fake)) == sent


async def test_a_fact_that_restates_its_turn_takes_the_turn_vector(
    store: Store, embedder: MicroBatcher, fake: FakeLLMServer, vectors: VecFn
) -> None:
    read = await episode(store, await new_session(store), FIRST, vectors)
    facts = await RuleExtractor().facts(read)
    restating = [f for f in facts if restated_turn(f, read.messages)]
    own = [f for f in facts if not restated_turn(f, read.messages)]
    assert [f.text for f in restating] == ["Maya adopted a cat named Biscuit in Lisbon."]
    assert own, "a fact of one sentence of a longer turn is not its turn"
    await derive(store, embedder, read)
    assert not {f.text for f in restating} & set(embedded(fake))
    assert {f.text for f in own} <= set(embedded(fake))
    fact_vector, turn_vector = await store.stored_vectors(
        read.user_id, [restating[0], read.messages[0]]
    )
    assert fact_vector is not None and turn_vector is not None
    assert np.array_equal(fact_vector, turn_vector)


async def test_stored_vectors_are_those_of_what_is_stored(store: Store, vectors: VecFn) -> None:
    session = await new_session(store)
    ids = await add(store, session, ["Tom: my grandson Leo turned five", "Priya: lovely"], vectors)
    await store.flush_window(session)
    user = session.user_id
    fact = Fact("Tom's grandson Leo turned five.", (ids[0],))
    tom = Entity("Tom", EntityType.PERSON, ("Tom Baker",), (ids[0],))
    leo = Entity("Leo", EntityType.PERSON, (), (ids[0],))
    knows = Relation("Tom", "has_grandson", "Leo", (ids[0],))
    saved = vectors(4)
    await store.save_facts(user, [fact], saved[:1])
    await store.save_entities(user, [tom, leo], saved[1:3])
    await store.save_relations(user, [knows], saved[3:])
    await store.save_relations(user, [Relation("Tom", "knows", "Ada", (ids[1],))], vectors(1))
    asked: list[Fact | Entity | Relation | EpisodeMessage] = [
        Fact("tom's grandson  LEO turned five.", (ids[1],)),  # the same text, folded
        Entity("tom baker", EntityType.PERSON),  # an alias of Tom
        Relation("Tom Baker", "has_grandson", "Leo"),  # the same ends
        EpisodeMessage(ids[0], "user", None, "Tom: my grandson Leo turned five", utcnow()),
        Fact("Leo is five.", (ids[0],)),  # new
        Entity("Tom", EntityType.PERSON, ("Leo",)),  # names of two entities
        Entity("Ada", EntityType.PERSON),  # an endpoint only: stored without a vector
        Relation("Tom", "has_grandson", "Ada"),  # new
    ]
    found = await store.stored_vectors(user, asked)
    (turn,) = await store.turns(user, [ids[0]])
    for got, want in zip(found[:4], [*saved[[0, 1, 3]], turn.vector], strict=True):
        assert got is not None and np.allclose(got, want, atol=1e-6)
    assert found[4:] == [None, None, None, None]
    assert await store.stored_vectors(user, []) == []


def test_overlap_counts_shared_words_over_the_longer_text() -> None:
    assert overlap("Maya adopted a cat.", "maya: I adopted a cat!") == pytest.approx(4 / 5)
    assert overlap("a a b", "a b b") == pytest.approx(2 / 3)
    assert overlap("", "") == 0.0
    turn = EpisodeMessage("m1", "user", "Maya", "I adopted a cat named Biscuit.", utcnow())
    assert restated_turn(Fact("Maya adopted a cat named Biscuit.", ("m1",)), [turn]) is turn
    assert restated_turn(Fact("Maya adopted a cat.", ("m1",)), [turn]) is None  # 4 of 7
    assert restated_turn(Fact("Maya adopted a cat named Biscuit.", ("m1", "m2")), [turn]) is None
