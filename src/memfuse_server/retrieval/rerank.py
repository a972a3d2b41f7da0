"""From fused candidates to results: what each hit stands for, and which hits go.

Fusion ranks items; a result is read as the turns it stands for. Here each
candidate is told which of its turns carry the match (``turns.py``), and
relations that say nothing (``layers.texts.degenerate``: "Jolene has partner
Jolene's partner") are dropped, since such a relation names every turn that
mentions its subject and matches any query about the subject.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from memfuse_server.layers.texts import degenerate
from memfuse_server.models import ItemKind, MemoryItem
from memfuse_server.retrieval.turns import carrying


@dataclass(frozen=True)
class Candidate:
    """A fused, resolved item; ``turns``: the source turns that carry the match."""

    item: MemoryItem
    score: float
    ranks: dict[str, int] = field(default_factory=dict)
    turns: tuple[str, ...] = ()


def says_nothing(item: MemoryItem) -> bool:
    if item.kind is not ItemKind.RELATION:
        return False
    subject, obj = item.extra.get("subject") or {}, item.extra.get("object") or {}
    return degenerate(
        str(subject.get("name", "")), str(item.extra.get("predicate", "")), str(obj.get("name", ""))
    )


def rerank(pool: Sequence[Candidate], evidence: Mapping[str, float]) -> list[Candidate]:
    """The candidates worth showing, each with the turns that carry its match."""
    return [
        replace(
            c,
            turns=carrying(c.item.source_message_ids, evidence)
            if c.item.source_message_ids
            else (),
        )
        for c in pool
        if not says_nothing(c.item)
    ]


__all__ = ["Candidate", "rerank", "says_nothing"]
