"""The query-term policy every engine uses: content words, phrases, and which words a large
history still matches."""

from __future__ import annotations

from memfuse_server.models import Hit, ItemKind
from memfuse_server.retrieval.graph import graph_hits
from memfuse_server.retrieval.terms import MATCH_BUDGET, phrases, query_terms, selective


def test_query_terms_are_content_words_in_order_once() -> None:
    assert query_terms("What did Leo say about the piano, and the PIANO lessons?") == [
        "leo",
        "say",
        "piano",
        "lessons",
    ]


def test_phrases_are_runs_of_up_to_three_words() -> None:
    found = phrases("Ask Mr O'Neil now")
    assert {"mr o'neil", "o'neil", "ask mr o'neil"} <= set(found)
    assert "ask mr o'neil now" not in found


def test_a_small_history_keeps_every_term() -> None:
    terms = ["common", "rare"]
    assert selective(terms, MATCH_BUDGET, {"common": 10_000.0}) == terms


def test_a_large_history_matches_the_rarest_terms_within_the_budget() -> None:
    matches = {"often": 1700.0, "sometimes": 400.0, "everywhere": 50_000.0}
    terms = ["often", "rare", "sometimes", "everywhere"]
    # rarest first: rare (0), sometimes (400), then often (1700) would pass 2000: stop
    assert selective(terms, 100_000, matches) == ["rare", "sometimes"]


def test_the_rarest_term_is_kept_even_past_the_budget() -> None:
    assert selective(["the", "everywhere"], 100_000, {"the": 9e4, "everywhere": 5e4}) == [
        "everywhere"
    ]


def test_graph_relations_rank_by_confidence_before_the_facts_naming_them() -> None:
    facts = [Hit(ItemKind.FACT, "f1", 3.5), Hit(ItemKind.FACT, "f2", 1.0)]
    hits = graph_hits([("r-new", 0.6), ("r-sure", 0.9), ("r-old", 0.6)], facts)
    assert [h.item_id for h in hits] == ["r-sure", "r-new", "r-old", "f1", "f2"]
    assert [h.score for h in hits] == [0.9, 0.6, 0.6, 3.5, 1.0]
