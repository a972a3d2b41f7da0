"""The pure parts of validity: timelines of statements, and ranking a superseded item below
its successor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from memfuse_server.models import ItemKind, MemoryItem, QueryResult
from memfuse_server.retrieval.validity import Key, holds, in_time, mark
from memfuse_server.validity import (
    Statement,
    attribute_of,
    is_single_valued,
    timeline,
    valid_from,
    value_key,
)

T = [datetime(2024, m, 1, tzinfo=UTC) for m in range(1, 13)]


def s(i: str, month: int, value: str | None, ends: bool = False, recorded: int = 12) -> Statement:
    return Statement(i, T[month - 1], T[recorded - 1], value, ends)


def closers(result: Mapping[str, object]) -> dict[str, str | None]:
    return {k: getattr(v, "superseded_by", None) for k, v in result.items()}


def test_single_valued_a_new_value_closes_the_old() -> None:
    result = timeline([s("a", 1, "siemens"), s("b", 6, "zalando")], single_valued=True)
    assert closers(result) == {"a": "b", "b": None}
    assert result["a"] is not None and result["a"].valid_until == T[5]


def test_a_restatement_keeps_both_open_until_a_change() -> None:
    same = [s("a", 1, "siemens"), s("b", 3, "siemens"), s("c", 6, "zalando")]
    assert closers(timeline(same, single_valued=True)) == {"a": "c", "b": "c", "c": None}


def test_order_is_by_valid_from_not_by_arrival() -> None:
    late_old = [s("new", 6, "zalando", recorded=6), s("old", 1, "siemens", recorded=9)]
    assert closers(timeline(late_old, single_valued=True)) == {"old": "new", "new": None}


def test_multi_valued_accumulates_and_an_ending_closes_its_value() -> None:
    likes = [s("a", 1, "jazz"), s("b", 2, "opera"), s("c", 5, "jazz", ends=True)]
    assert closers(timeline(likes, single_valued=False)) == {"a": "c", "b": None, "c": None}


def test_an_unnamed_ending_closes_every_value_and_a_new_value_closes_it() -> None:
    steps = [s("a", 1, "siemens"), s("quit", 3, None, ends=True), s("b", 6, "zalando")]
    assert closers(timeline(steps, single_valued=True)) == {"a": "quit", "quit": "b", "b": None}


def test_coming_back_closes_the_ending() -> None:
    steps = [s("a", 1, "siemens"), s("left", 3, "siemens", ends=True), s("back", 8, "siemens")]
    assert closers(timeline(steps, single_valued=True)) == {
        "a": "left",
        "left": "back",
        "back": None,
    }


def test_attributes_of_predicates() -> None:
    assert attribute_of("moved_to") == ("lives_in", False)
    assert attribute_of("moved_from") == ("lives_in", True)
    assert attribute_of("likes") == ("likes", False)
    assert attribute_of("has_daughter") == (None, False)
    assert is_single_valued("works_at") and is_single_valued("favourite_food")
    assert not is_single_valued("likes")
    assert value_key("  The Porto ") == "porto" and value_key("") is None


def test_valid_from_takes_a_stated_date_unless_it_is_a_plan() -> None:
    said = T[5]
    assert valid_from(None, said, stateful=True) == said
    assert valid_from(T[2], said, stateful=False) == T[2]
    assert valid_from(T[9], said, stateful=False) == said  # "the marathon is in October"
    assert valid_from(T[9], said, stateful=True) == T[9]  # "starts at Zalando in October"


def item(i: str, start: int, until: int | None = None, by: str | None = None) -> MemoryItem:
    extra = {
        "valid_from": T[start - 1].isoformat(),
        "valid_until": T[until - 1].isoformat() if until else None,
        "superseded_by": by,
    }
    return MemoryItem(ItemKind.FACT, i, i, None, None, None, None, T[11], T[11], (), extra)


def result(it: MemoryItem, score: float) -> QueryResult:
    return QueryResult(it, score, "cross_session", {"text": 1})


async def test_a_superseded_item_goes_below_its_successor_which_is_fetched_if_missing() -> None:
    old, mid, new = item("old", 1, 3, "mid"), item("mid", 3, 6, "new"), item("new", 6)
    asked: list[Sequence[Key]] = []

    async def fetch(keys: Sequence[Key]) -> dict[Key, MemoryItem]:
        asked.append(keys)
        return {k: {"mid": mid, "new": new}[k[1]] for k in keys}

    other = item("other", 2)
    ranked = await in_time([result(old, 0.9), result(other, 0.5)], None, fetch)
    assert [r.item.id for r in ranked] == ["new", "mid", "old", "other"]
    assert [r.score for r in ranked] == [0.9, 0.9, 0.9, 0.5]
    assert ranked[2].item.extra["superseded"] is True and ranked[0].item.extra["current"]
    assert asked == [[(ItemKind.FACT, "mid")], [(ItemKind.FACT, "new")]]


async def test_as_of_keeps_what_held_then_and_does_not_reorder_it() -> None:
    old, new = item("old", 1, 6, "new"), item("new", 6)

    async def fetch(keys: Sequence[Key]) -> dict[Key, MemoryItem]:
        raise AssertionError("nothing was superseded in March")

    ranked = await in_time([result(new, 0.9), result(old, 0.8)], T[2], fetch)
    assert [r.item.id for r in ranked] == ["old"]
    assert ranked[0].item.extra["current"] is True
    assert holds(old, T[2]) and not holds(old, T[6]) and not holds(new, T[2])
    assert mark(old, T[7]).extra["superseded"] is True
