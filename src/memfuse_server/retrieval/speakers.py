"""Speaker awareness: a query that names a speaker asks about that speaker's turns.

"What did Ann research?" is about research, and about Ann's turns. The name says whose
turns, not what about: left in the text, it draws the query's vector towards every
turn and fact that repeats the name ("Ann shared Ann's journey ...") and its words
match every line that greets Ann. So the names a query gives to speakers of the
user's conversations (the ``name`` of their messages, looked up in the store, any
case) are taken out of the text that is embedded and matched, and become a
preference instead: when the query names one speaker, that speaker's turns carry more
evidence (``turns.SPEAKER``). A query made only of a name is kept as it is.
"""

from __future__ import annotations

import re
from collections.abc import Collection

_NAME = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)
_POSSESSIVE = re.compile(r"['’]s?$")
LONGEST_NAME = 3  # words


def _words(text: str) -> list[str]:
    return [_POSSESSIVE.sub("", w) for w in _NAME.findall(text)]


def name_candidates(text: str) -> list[str]:
    """The runs of 1-3 words of ``text`` that could be a speaker's name, as written and
    capitalised ("ann" -> "Ann"), possessives dropped; sorted, each once."""
    words = [w for w in _words(text) if w]
    runs = {
        " ".join(words[i : i + n])
        for n in range(1, LONGEST_NAME + 1)
        for i in range(len(words) - n + 1)
    }
    forms = runs | {" ".join(p[:1].upper() + p[1:] for p in run.split()) for run in runs}
    return sorted(forms)


def topic(text: str, speakers: Collection[str]) -> str:
    """``text`` without the speakers' names (and their possessive "'s"); ``text`` itself if
    nothing else would be left."""
    if not speakers:
        return text
    names = sorted(speakers, key=len, reverse=True)
    pattern = re.compile(
        r"\b(?:" + "|".join(re.escape(n) for n in names) + r")(?:['’]s?)?(?!\w)", re.IGNORECASE
    )
    stripped = " ".join(pattern.sub(" ", text).split())
    return stripped if re.search(r"\w", stripped) else text


__all__ = ["LONGEST_NAME", "name_candidates", "topic"]
