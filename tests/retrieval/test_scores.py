"""Results a person can read: a repeat comes back once; scores say how strong a match is (#14)."""

from __future__ import annotations

from datetime import UTC, datetime

from memfuse_server.models import ItemKind, MemoryItem, QueryResult
from memfuse_server.retrieval.scores import distinct, readable
from tests.retrieval.conftest import Conversation

WHEN = datetime(2024, 5, 8, 13, 0, tzinfo=UTC)


def _result(kind: ItemKind, rid: str, content: str, sources: tuple[str, ...] = ()) -> QueryResult:
    item = MemoryItem(
        kind, rid, content, "user", "s", "a", "s", WHEN, WHEN, sources, {"name": "Ann"}
    )
    return QueryResult(item, 0.3, "cross_session", {})


def test_the_same_text_of_the_same_kind_and_speaker_comes_back_once() -> None:
    results = [
        _result(ItemKind.MESSAGE, "m1", "I ran a  race"),
        _result(ItemKind.MESSAGE, "m2", "i ran a race"),
        _result(ItemKind.FACT, "f1", "I ran a race"),
    ]
    assert [r.item.id for r in distinct(results)] == ["m1", "f1"]


def test_a_score_is_the_best_similarity_and_never_above_the_one_before() -> None:
    results = [
        _result(ItemKind.CHUNK, "c1", "x", ("m1", "m2")),
        _result(ItemKind.KNOWLEDGE, "k1", "y"),
        _result(ItemKind.MESSAGE, "m3", "z", ("m3",)),
        _result(ItemKind.ENTITY, "e1", "w"),
    ]
    turn = {"m1": 0.2, "m2": 0.7, "m3": 0.9}
    scored = readable(results, turn, {(ItemKind.KNOWLEDGE, "k1"): 0.4})
    assert [r.score for r in scored] == [0.7, 0.4, 0.4, 0.4]


async def test_a_conversation_stored_twice_answers_once_with_a_spread_of_scores(
    conversation: Conversation,
) -> None:
    turns = [("Ann", "We adopted a grey kitten called Miso last spring."), ("Bo", "Lovely!")]
    await conversation.session(WHEN, turns)
    await conversation.session(WHEN, turns)  # the script ran twice
    results = await conversation.ask("Which kitten did Ann adopt?", top_k=10)
    messages = [r.item.content for r in results if r.item.kind is ItemKind.MESSAGE]
    assert messages.count(turns[0][1]) == 1
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert scores[0] > 0.5 and scores[0] - scores[-1] > 0.2, scores
