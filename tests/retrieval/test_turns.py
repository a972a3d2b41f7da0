"""A hit stands for the turns that carry its match, not for all its turns (#14)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from memfuse_server.layers.texts import degenerate
from memfuse_server.models import ItemKind, MemoryItem, Turn
from memfuse_server.retrieval.rerank import Candidate, rerank
from memfuse_server.retrieval.turns import CARRIED, Stems, carrying, turn_evidence
from tests.retrieval.conftest import Conversation

WHEN = datetime(2024, 5, 8, 13, 0, tzinfo=UTC)


def _turn(i: int, speaker: str, text: str, vector: list[float]) -> Turn:
    v = np.asarray(vector, dtype=np.float32)
    return Turn(f"m{i}", "s", speaker, text, WHEN, v / np.linalg.norm(v))


def test_evidence_is_the_turns_own_cosine_plus_the_words_it_shares() -> None:
    stems = Stems()
    turns = [
        _turn(0, "Ann", "What did you research?", [1, 0]),
        _turn(1, "Bo", "Researching adoption agencies, finally.", [0.97, 0.243]),
        _turn(2, "Ann", "Nice weather today.", [0, 1]),
    ]
    query = np.asarray([1, 0], dtype=np.float32)
    evidence = turn_evidence(query, stems("adoption research"), turns, stems)
    assert evidence["m1"] > evidence["m0"] > evidence["m2"]  # two shared words beat a better cosine
    assert abs(evidence["m0"] - 1.05) < 1e-6  # "research" shared once
    assert stems("Researching adoption agencies") == stems("research the adopted agency")


def test_the_one_speaker_a_query_names_lifts_that_speakers_turns() -> None:
    stems = Stems()
    turns = [_turn(0, "Ann", "I ran a race", [1, 0]), _turn(1, "Bo", "I ran a race", [1, 0])]
    query = np.asarray([1, 0], dtype=np.float32)
    named = turn_evidence(query, frozenset(), turns, stems, speakers=("Bo",))
    assert named["m1"] > named["m0"]
    both = turn_evidence(query, frozenset(), turns, stems, speakers=("Ann", "Bo"))
    assert both["m0"] == both["m1"]


def test_a_hit_carries_its_best_turns_best_first() -> None:
    evidence = {"a": 0.1, "b": 0.9, "c": 0.5, "d": 0.3, "e": 0.7}
    assert carrying(["a", "b", "c", "d", "e"], evidence) == ("b", "e", "c")[:CARRIED]
    assert carrying(["a", "b"], evidence, limit=1) == ("b",)
    assert carrying(["x", "y"], evidence) == ("x", "y")  # nothing known: as they were


def test_relations_that_say_nothing_are_recognised() -> None:
    assert degenerate("Jolene", "has_partner", "Jolene")
    assert degenerate("Jolene", "has_partner", "Jolene's partner")
    assert degenerate("Caroline", "has_father", "caroline's dad")  # the lexicon's role word
    assert degenerate("Mel", "friend_of", "Mel's friend")
    assert not degenerate("Mel", "has_pet", "Mel's horse")  # the kind of pet is news
    assert not degenerate("Mel", "has_husband", "Tom")
    assert not degenerate("Mel", "has_partner", "Mel's partner Sam")


def _relation(rid: str, subject: str, predicate: str, obj: str) -> MemoryItem:
    extra = {"subject": {"name": subject}, "predicate": predicate, "object": {"name": obj}}
    return MemoryItem(
        ItemKind.RELATION, rid, "", None, None, None, None, WHEN, WHEN, ("m1", "m2"), extra
    )


def test_rerank_drops_relations_that_say_nothing_and_narrows_the_rest() -> None:
    pool = [
        Candidate(_relation("r1", "Jo", "has_partner", "Jo's partner"), 0.9),
        Candidate(_relation("r2", "Jo", "has_partner", "Sam"), 0.8),
    ]
    ranked = rerank(pool, {"m1": 0.2, "m2": 0.6})
    assert [c.item.id for c in ranked] == ["r2"]
    assert ranked[0].turns == ("m2", "m1")


async def test_a_winning_chunk_stands_for_its_answering_turn_not_its_whole_window(
    conversation: Conversation,
) -> None:
    await conversation.session(
        WHEN,
        [
            ("Ann", "Hey Bo! How have you been lately?"),
            ("Bo", "Busy! I spent the week researching adoption agencies for our family."),
            ("Ann", "That is a big step, good luck with it."),
            ("Bo", "Thanks. We also repainted the kitchen a bright yellow."),
            ("Ann", "Send me a photo of it sometime!"),
            ("Bo", "Will do, talk soon."),
        ],
    )
    results = await conversation.ask("Which adoption agencies did Bo research?", top_k=5)
    chunks = [r for r in results if r.item.kind is ItemKind.CHUNK]
    assert chunks, [r.item.kind for r in results]
    chunk = chunks[0].item
    assert len(chunk.source_message_ids) <= CARRIED < len(chunk.extra["all_source_message_ids"])
    first = (conversation.turns or {})[chunk.source_message_ids[0]]
    assert first.startswith("Busy! I spent the week researching adoption agencies")


def test_the_graph_layer_does_not_keep_relations_that_say_nothing() -> None:
    from memfuse_server.layers.m2 import without_degenerate
    from memfuse_server.models import Graph, Relation

    kept = Relation("Jo", "has_partner", "Sam", ("m1",), None, "Jo's partner Sam")
    graph = Graph((), (Relation("Jo", "has_partner", "Jo's partner", ("m1",), None, ""), kept))
    assert without_degenerate(graph).relations == (kept,)
