"""What of a query is searched: its content words, its phrases, and which words are worth
matching. The same policy on every engine: the engines only count and match.

- ``query_terms``: the words full text matches (any of them): stopwords and single
  letters out, in query order, deduplicated, the last ``MAX_TERMS``.
- ``phrases``: the 1-3 word phrases that may name an entity (graph search), whose
  names (up to ``MAX_NAMES``) are then looked for in facts.
- ``selective``: on a large history a full-text match scores every row any term
  matches. The rarest terms carry the ranking (their inverse document frequency is
  highest) and the common ones most of its cost, so terms are taken rarest first
  while the rows they are expected to match stay within ``MATCH_BUDGET`` (the rarest
  always). A match that can only touch ``MATCH_BUDGET`` rows keeps every term. The
  engine says how many rows a match may touch and how many each term matches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

_WORD = re.compile(r"\w+", re.UNICODE)
_NAME_WORD = re.compile(r"[\w'&-]+", re.UNICODE)  # names keep O'Neil, AT&T, Jean-Luc
_STOPWORD_TEXT = """
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most
my myself no nor not now of off on once only or other our ours ourselves out over own same she
should so some such than that the their theirs them themselves then there these they this those
through to too under until up very was we were what when where which while who whom why will with
would you your yours yourself yourselves
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
MAX_TERMS = 32
MAX_PHRASES = 500
LONGEST_PHRASE = 3
MATCH_BUDGET = 2000  # rows a full-text match is expected to score, at most
MAX_NAMES = 64  # names (aliases) of the named entities a graph search looks for in facts


def query_terms(text: str) -> list[str]:
    """The query's content words, in order, deduplicated (stopwords and single letters out)."""
    terms: list[str] = []
    for word in _WORD.findall(text.lower()):
        if len(word) > 1 and word not in STOPWORDS and word not in terms:
            terms.append(word)
    return terms[-MAX_TERMS:]


def phrases(text: str, longest: int = LONGEST_PHRASE) -> list[str]:
    """Every run of 1 to ``longest`` words of ``text``, lower case, sorted: the keys an
    entity's name or alias is looked up by."""
    words = _NAME_WORD.findall(text.lower())
    out = {
        " ".join(words[i : i + n]) for n in range(1, longest + 1) for i in range(len(words) - n + 1)
    }
    return sorted(p.strip("'-") for p in out if p.strip("'-"))[:MAX_PHRASES]


def needs_counts(terms: Sequence[str], scope: int, budget: int = MATCH_BUDGET) -> bool:
    """Whether ``selective`` needs the terms' counts (with few rows or one term it keeps all)."""
    return scope > budget and len(terms) > 1


def selective(
    terms: Sequence[str], scope: int, matches: Mapping[str, float], budget: int = MATCH_BUDGET
) -> list[str]:
    """The terms worth matching, in their query order (see the module's docstring).

    ``scope``: the rows a match may touch; ``matches``: each term's expected matching
    rows (a term not in it is rare)."""
    if not needs_counts(terms, scope, budget):
        return list(terms)
    chosen: set[str] = set()
    total = 0.0
    for term in sorted(terms, key=lambda t: matches.get(t, 0.0)):
        count = matches.get(term, 0.0)
        if chosen and total + count > budget:
            break
        chosen.add(term)
        total += count
    return [t for t in terms if t in chosen]


__all__ = [
    "MATCH_BUDGET",
    "MAX_NAMES",
    "MAX_TERMS",
    "STOPWORDS",
    "needs_counts",
    "phrases",
    "query_terms",
    "selective",
]
