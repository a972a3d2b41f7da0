"""A query that names a speaker is about that speaker's turns; the name is not its topic (#14)."""

from __future__ import annotations

from datetime import UTC, datetime

from memfuse_server.retrieval.speakers import name_candidates, topic
from tests.retrieval.conftest import Conversation

WHEN = datetime(2024, 5, 8, 13, 0, tzinfo=UTC)


def test_name_candidates_are_runs_of_words_as_written_and_capitalised() -> None:
    found = name_candidates("what did ann marie's dog eat?")
    assert {"ann", "Ann", "Ann Marie", "ann marie", "Dog"} <= set(found)
    assert "Ann Marie's" not in found and "Marie's" not in found  # possessives dropped


def test_the_topic_is_the_query_less_the_speakers_names() -> None:
    assert topic("What did Ann research?", ["Ann"]) == "What did research?"
    assert topic("What is ann's favourite book, Ann?", ["Ann"]) == "What is favourite book, ?"
    assert topic("Where did Anne go?", ["Ann"]) == "Where did Anne go?"  # whole names only
    assert topic("Ann", ["Ann"]) == "Ann"  # nothing else: kept
    assert topic("What did Ann research?", []) == "What did Ann research?"


async def test_speakers_are_found_among_the_users_message_names(
    conversation: Conversation,
) -> None:
    await conversation.session(WHEN, [("Ann Lee", "hello"), ("Bo", "hi")])
    store, user = conversation.service.store, conversation.user_id
    found = await store.speakers_named(user, name_candidates("did ann lee or bo or Cy call?"))
    assert found == ["Ann Lee", "Bo"]


async def test_a_query_naming_one_speaker_finds_that_speakers_turns_first(
    conversation: Conversation,
) -> None:
    await conversation.session(
        WHEN,
        [
            ("Ann", "I have been reading about painting techniques all week."),
            ("Bo", "Nice! I have been reading about sailing boats and knots."),
            ("Ann", "Sailing sounds fun, I would love to try it one day."),
            ("Bo", "You should, and I could use some painting tips myself."),
        ],
    )
    turns = await conversation.turns_of("What has Bo been reading about?", top_k=3)
    assert turns[0] == "Nice! I have been reading about sailing boats and knots."
    turns = await conversation.turns_of("What has Ann been reading about?", top_k=3)
    assert turns[0] == "I have been reading about painting techniques all week."


def test_a_hit_of_only_unasked_speakers_turns_keeps_part_of_its_score() -> None:
    from memfuse_server.models import ItemKind, MemoryItem
    from memfuse_server.retrieval.rerank import OTHER_SPEAKER, Candidate, rerank

    def chunk(cid: str, sources: tuple[str, ...]) -> MemoryItem:
        return MemoryItem(ItemKind.CHUNK, cid, "", None, "s", "a", "s", WHEN, WHEN, sources)

    pool = [Candidate(chunk("c1", ("a1", "a2")), 0.5), Candidate(chunk("c2", ("b1", "a3")), 0.45)]
    evidence = {"a1": 0.9, "a2": 0.8, "a3": 0.1, "b1": 0.7}
    ranked = rerank(pool, evidence, unasked={"a1", "a2", "a3"})
    assert [c.item.id for c in ranked] == ["c2", "c1"]
    assert ranked[1].score == 0.5 * OTHER_SPEAKER
    assert [c.item.id for c in rerank(pool, evidence)] == ["c1", "c2"]  # no one named
