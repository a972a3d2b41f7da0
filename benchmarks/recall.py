"""Evidence recall of a ranked list of turns: R@k, All@k and MRR, per category.

A system answers a question with results in rank order; each result stands
for one or more turns (a message for itself; a chunk, fact or relation for its
``source_message_ids``). The turns, deduplicated in rank order, are the list
the metrics read: R@k is the share of the question's evidence turns among the
first k turns, All@k whether all of them are there, MRR the reciprocal rank of
the first evidence turn. A result that stands for many turns takes that many
of the k places, so a block of turns cannot look better than the turns in it.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

KS = (1, 5, 10, 20)


def ranked_turns(results: Iterable[Iterable[str]]) -> list[str]:
    """The turns of results in rank order, each once."""
    seen: dict[str, None] = {}
    for turns in results:
        for turn in turns:
            seen.setdefault(turn, None)
    return list(seen)


@dataclass(frozen=True)
class Score:
    category: str
    recall: dict[int, float]
    all_at_10: float
    reciprocal_rank: float


def score(category: str, evidence: frozenset[str], turns: Sequence[str]) -> Score:
    recall = {k: len(evidence.intersection(turns[:k])) / len(evidence) for k in KS}
    first = next((i for i, t in enumerate(turns) if t in evidence), None)
    return Score(
        category,
        recall,
        float(evidence.issubset(turns[:10])),
        0.0 if first is None else 1.0 / (first + 1),
    )


@dataclass
class Table:
    """Scores of one system, and its query latencies."""

    name: str
    scores: list[Score] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)

    def rows(self, categories: Sequence[str], headline: Sequence[str]) -> list[list[str]]:
        """One row per category, then ``overall`` over the headline categories."""
        out = []
        for name in [*categories, "overall"]:
            chosen = [
                s
                for s in self.scores
                if s.category == name or (name == "overall" and s.category in headline)
            ]
            if chosen:
                out.append([name, str(len(chosen)), *_cells(chosen)])
        return out

    def overall(self, headline: Sequence[str]) -> dict[str, float]:
        chosen = [s for s in self.scores if s.category in headline]
        values = [float(c) for c in _cells(chosen)]
        return dict(zip([f"R@{k}" for k in KS] + ["All@10", "MRR"], values, strict=True))

    def latency(self) -> tuple[float, float]:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return (0.0, 0.0)
        return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def _cells(scores: Sequence[Score]) -> list[str]:
    cells = [100 * statistics.mean(s.recall[k] for s in scores) for k in KS]
    cells.append(100 * statistics.mean(s.all_at_10 for s in scores))
    cells.append(statistics.mean(s.reciprocal_rank for s in scores))
    return [f"{c:.1f}" for c in cells[:-1]] + [f"{cells[-1]:.3f}"]


HEADER = ["questions", "n", *[f"R@{k}" for k in KS], "All@10", "MRR"]


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


__all__ = ["HEADER", "KS", "Score", "Table", "markdown", "ranked_turns", "score"]
