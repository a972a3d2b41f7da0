"""The graph's ranked list for a query.

The entities a query names (any alias, matched on its phrases) lead to two kinds of
candidate: their relations, and the facts whose text names them. A relation states
something about a named entity where a fact may only mention it, so relations come
first, the most confident first (ties: newest first, as the store lists them); then
the facts, best full-text match first. Each hit's score says why it is where it is:
a relation's confidence, a fact's full-text rank.
"""

from __future__ import annotations

from collections.abc import Sequence

from memfuse_server.models import Hit, ItemKind


def graph_hits(relations: Sequence[tuple[str, float]], facts: Sequence[Hit]) -> list[Hit]:
    """``relations``: (id, confidence) of the named entities' relations, newest first;
    ``facts``: the facts naming them, best text match first."""
    ranked = sorted(relations, key=lambda r: -r[1])  # stable: equal confidence stays newest first
    return [Hit(ItemKind.RELATION, rid, float(confidence)) for rid, confidence in ranked] + [
        Hit(ItemKind.FACT, h.item_id, h.score) for h in facts
    ]


__all__ = ["graph_hits"]
