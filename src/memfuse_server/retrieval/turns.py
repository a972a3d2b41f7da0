"""Which of a hit's turns carry the match.

A chunk stands for its ~5 turns, a fact or a relation for the turns it came from.
Counting every one of them for the hit lets one block fill most of a short list,
while only one or two of its turns answer the query. So each turn gets its own
evidence, and a hit carries its best ``CARRIED`` turns, best first:

- the turn's cosine similarity to the query (its own vector, not the block's), plus
- ``SHARED_WORD`` per content word (stemmed, stopwords out) it shares with the
  query: a cosine often ties between the turn that asks and the turn that answers,
  while the answer repeats the words the question is about;
- plus ``SPEAKER`` when the turn is spoken by the one person the query names
  (``speakers.py``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

import numpy as np
import Stemmer  # PyStemmer: the Snowball stemmers in C
from cachetools import LRUCache

from memfuse_server.embeddings.base import Vectors
from memfuse_server.models import Turn
from memfuse_server.retrieval.terms import STOPWORDS

CARRIED = 3  # turns a hit carries at most
SHARED_WORD = 0.05  # evidence per content word shared with the query (a cosine is 0..1)
SPEAKER = 0.4  # evidence for a turn of the one speaker the query names
_WORD = re.compile(r"\w+", re.UNICODE)


class Stems:
    """Content words as their English stems ("researching" and "research" meet); the stems
    of the last ``cached`` texts are kept (the same turns come back query after query)."""

    def __init__(self, cached: int = 50_000) -> None:
        self._stemmer = Stemmer.Stemmer("english")
        self._cache: LRUCache[str, frozenset[str]] = LRUCache(maxsize=cached)

    def __call__(self, text: str) -> frozenset[str]:
        found = self._cache.get(text)
        if found is None:
            words = [w for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in STOPWORDS]
            found = self._cache[text] = frozenset(self._stemmer.stemWords(words))
        return found


def cosines(query: Vectors, turns: Sequence[Turn]) -> dict[str, float]:
    """Each turn's cosine similarity to the query (0 for a turn with no vector)."""
    q = np.asarray(query, dtype=np.float32)
    return {
        t.id: float(np.asarray(t.vector, dtype=np.float32) @ q) if t.vector is not None else 0.0
        for t in turns
    }


def turn_evidence(
    query: Vectors,
    words: frozenset[str],
    turns: Sequence[Turn],
    stems: Stems,
    speakers: Collection[str] = (),
) -> dict[str, float]:
    """Each turn's evidence for the query (see the module's docstring); ``words``: the
    query's content stems, ``speakers``: the one speaker it names, if any."""
    out = cosines(query, turns)
    for t in turns:
        shared = len(words & stems(t.content))
        spoken = SPEAKER if len(speakers) == 1 and t.speaker in speakers else 0.0
        out[t.id] += SHARED_WORD * shared + spoken
    return out


def carrying(
    sources: Sequence[str], evidence: Mapping[str, float], limit: int = CARRIED
) -> tuple[str, ...]:
    """The sources that carry the match, best first (sources with no evidence known are
    kept as they are)."""
    known = [s for s in sources if s in evidence]
    if not known:
        return tuple(sources)
    return tuple(sorted(known, key=lambda s: -evidence[s])[:limit])


__all__ = ["CARRIED", "SHARED_WORD", "SPEAKER", "Stems", "carrying", "cosines", "turn_evidence"]
