"""The reference a memory layer must beat: BM25 and MiniLM over the raw turns, fused.

Each conversation's turns are indexed as ``speaker: text`` (the server's own
search text): BM25 (Okapi, ``rank-bm25``, lower-cased word tokens) and cosine
similarity of the same MiniLM embeddings the server uses; the two top-50 lists
are fused by reciprocal rank (k = 60). No layers, no dates, no graph.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from rank_bm25 import BM25Okapi

from benchmarks.locomo_data import Conversation, Question
from memfuse_server.config import EmbeddingSettings
from memfuse_server.embeddings.local import load_encoder

_WORD = re.compile(r"\w+")
DEPTH = 50
RRF_K = 60


def tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@dataclass
class Index:
    ids: list[str]
    bm25: BM25Okapi
    vectors: np.ndarray


def fuse(*rankings: list[int]) -> list[int]:
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, i in enumerate(ranking):
            scores[i] = scores.get(i, 0.0) + 1.0 / (RRF_K + rank + 1)
    return sorted(scores, key=lambda i: -scores[i])


def asker(conversations: list[Conversation]) -> Callable[[Question], list[str]]:
    """A function that answers a question with the conversation's turn ids, best first."""
    encoder = load_encoder(EmbeddingSettings())
    indexes = {}
    for c in conversations:
        turns = [t for s in c.sessions for t in s.turns]
        texts = [f"{t.speaker}: {t.text}" for t in turns]
        indexes[c.id] = Index(
            [t.id for t in turns], BM25Okapi([tokens(x) for x in texts]), encoder.encode(texts)
        )

    def ask(q: Question) -> list[str]:
        index = indexes[q.conversation]
        bm25 = list(np.argsort(-index.bm25.get_scores(tokens(q.text)))[:DEPTH])
        cosine = list(np.argsort(-(index.vectors @ encoder.encode([q.text])[0]))[:DEPTH])
        return [index.ids[i] for i in fuse(bm25, cosine)]

    return ask


__all__ = ["asker", "fuse"]
