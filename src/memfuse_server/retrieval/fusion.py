"""Pure ranking functions: weighted reciprocal-rank fusion.

Each retriever contributes a ranked list; an item's fused score is the sum
over lists of ``weight / (k + rank)`` (rank from 1). Scores are reported in
0..1 by dividing by the best score any item could reach (first in every list).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class RankedList(Generic[K]):
    """One retriever's candidates, best first."""

    name: str
    keys: Sequence[K]
    weight: float = 1.0


@dataclass
class Fused(Generic[K]):
    key: K
    score: float = 0.0
    ranks: dict[str, int] = field(default_factory=dict)


def reciprocal_rank_fusion(lists: Sequence[RankedList[K]], k: int = 60) -> list[Fused[K]]:
    """Fuse ranked lists; best first, ties broken by first appearance."""
    fused: dict[K, Fused[K]] = {}
    for ranked in lists:
        for rank, key in enumerate(ranked.keys, start=1):
            entry = fused.setdefault(key, Fused(key))
            if ranked.name not in entry.ranks:
                entry.ranks[ranked.name] = rank
                entry.score += ranked.weight / (k + rank)
    ceiling = sum(r.weight for r in lists if r.keys) / (k + 1)
    out = sorted(fused.values(), key=lambda f: -f.score)
    if ceiling > 0:
        for entry in out:
            entry.score = min(1.0, entry.score / ceiling)
    return out


__all__ = ["Fused", "RankedList", "reciprocal_rank_fusion"]
