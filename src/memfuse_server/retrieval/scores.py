"""Scores a person can read.

Reciprocal-rank fusion orders well but says little: every score of a query sat
between about 0.22 and 0.39, a strong match and a weak one alike. A result's score is
instead its similarity to the query: the cosine of the best turn it carries, or of the
item itself where the vector search measured it (knowledge, a fact), whichever is
higher, in 0..1; never above the score of the result ranked before it, so that the
order still reads from the scores. A result with neither keeps the score before it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from memfuse_server.models import ItemKind, QueryResult

Key = tuple[ItemKind, str]


def readable(
    results: Sequence[QueryResult],
    turn_cosine: Mapping[str, float],
    item_cosine: Mapping[Key, float],
) -> list[QueryResult]:
    out: list[QueryResult] = []
    ceiling = 1.0
    for r in results:
        known = [turn_cosine[m] for m in r.item.source_message_ids if m in turn_cosine]
        own = item_cosine.get((r.item.kind, r.item.id))
        if own is not None:
            known.append(own)
        if known:
            ceiling = min(ceiling, max(0.0, max(known)))
        out.append(replace(r, score=ceiling))
    return out


def distinct(results: Sequence[QueryResult]) -> list[QueryResult]:
    """The results less those that repeat a higher one: the same kind, speaker and text
    (letter case and spacing aside), as when a user stored the same conversation twice."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for r in results:
        key = (
            r.item.kind.value,
            str(r.item.extra.get("name") or r.item.role or ""),
            " ".join(r.item.content.lower().split()),
        )
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


__all__ = ["distinct", "readable"]
