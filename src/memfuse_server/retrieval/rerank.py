"""From fused candidates to results: what each hit stands for, and which hits go.

Fusion ranks items; a result is read as the turns it stands for. Here each
candidate is told which of its turns carry the match (``turns.py``), and
relations that say nothing (``layers.texts.degenerate``: "Jolene has partner
Jolene's partner") are dropped, since such a relation names every turn that
mentions its subject and matches any query about the subject. When the query names
one speaker (``speakers.py``), a hit that stands only for other speakers' turns keeps
``OTHER_SPEAKER`` of its score: a question about Ann is answered by Ann's turns (on
LoCoMo, 96 % of the evidence of a question naming one speaker is that speaker's).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

from memfuse_server.layers.texts import degenerate
from memfuse_server.models import ItemKind, MemoryItem
from memfuse_server.retrieval.turns import carrying

OTHER_SPEAKER = 0.8  # score kept by a hit that stands only for turns of unasked speakers


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


def rerank(
    pool: Sequence[Candidate],
    evidence: Mapping[str, float],
    unasked: Collection[str] = frozenset(),
) -> list[Candidate]:
    """The candidates worth showing, each with the turns that carry its match, best first.

    ``unasked``: turns of speakers other than the one the query names; a candidate that
    stands only for such turns weighs ``OTHER_SPEAKER`` of its score."""
    out = []
    for c in pool:
        if says_nothing(c.item):
            continue
        sources = c.item.source_message_ids
        turns = carrying(sources, evidence) if sources else ()
        elsewhere = bool(turns) and all(t in unasked for t in turns)
        out.append(replace(c, turns=turns, score=c.score * (OTHER_SPEAKER if elsewhere else 1.0)))
    return sorted(out, key=lambda c: -c.score)


__all__ = ["Candidate", "rerank", "says_nothing"]
