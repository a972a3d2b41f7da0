"""Capitalised names: where a run of capitals is a name, and what kind of entity it names.

A run ("Mrs Albrecht", "Rise & Shine", "Scott Joplin") is cut at weekdays, months,
numbers and speakers' names. Its type comes first from its own words: a speaker,
a title ("Mr", "Mrs"), a place prefix ("St"), an organisation or place suffix
("Primary", "Palace"), the gazetteer; then from its context: an event noun after it
("the Porto marathon"), an article before it ("a Bach suite"), an apposition
("Rafael, a marine biologist"), a place preposition ("in Lisbon"), a verb or
possessive after it ("Leo comes", "Dev's"). A word opening a sentence needs more
evidence, since every sentence opens with a capital.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from memfuse_server.extraction.rules.lexicon import (
    AUXILIARIES,
    COMMON_CAPITALISED,
    EVENT_NOUNS,
    KINSHIP,
    MONTHS,
    OCCUPATIONS,
    ORG_SUFFIXES,
    PAST_FORMS,
    PERSON_TITLES,
    PLACE_PREFIXES,
    PLACE_PREPOSITIONS,
    PLACE_SUFFIXES,
    TRAVEL_VERBS,
    WEEKDAYS,
    words,
)
from memfuse_server.extraction.rules.places import GAZETTEER
from memfuse_server.extraction.rules.spans import MEDIUM, STRONG, WEAK, Context, Mention
from memfuse_server.models import EntityType

CAPITAL = r"[A-ZÀ-Ý][\w'\-]*"

_RUN = re.compile(rf"{CAPITAL}(?:\s+(?:&\s+|(?:of|de|da|del|van|von|la|le|du)\s+)?{CAPITAL})*")

_CONNECTORS = words("of & de da del van von la le du")

SKIP_CAPS = frozenset(WEEKDAYS) | {f"{d}s" for d in WEEKDAYS} | frozenset(MONTHS) | {"i"}

_NUMBER = re.compile(
    r"^(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
    r"forty|fifty|sixty|seventy|eighty|ninety|hundred)(?:-\w+)?$"
)

_NOUN_STOP = words(
    """and or but with for from to of in on at by as is was are were that which who the a
    an"""
)


def _split_run(
    text: str, start: int, end: int, initial: bool, speakers: frozenset[str]
) -> list[tuple[int, int]]:
    """Cut a capitalised run at weekdays, months and speakers' names ("Leo Tom's" was
    "him my"), and drop an opening common word."""
    pieces: list[tuple[int, int]] = []
    cursor: int | None = None
    last = start
    for word in re.finditer(r"\S+", text[start:end]):
        if cursor is not None and word.group(0).removesuffix("'s").lower() in speakers:
            pieces.append((cursor, last))
            cursor = None
        w0, w1 = start + word.start(), start + word.end()
        bare = word.group(0).lower().removesuffix("'s")
        opening = initial and w0 == start
        if bare in SKIP_CAPS or (opening and bare in COMMON_CAPITALISED) or _NUMBER.match(bare):
            if cursor is not None:
                pieces.append((cursor, last))
            cursor = None
            continue
        if cursor is None and bare in _CONNECTORS:
            continue
        cursor = w0 if cursor is None else cursor
        if bare not in _CONNECTORS:
            last = w1
        if word.group(0).endswith("'s"):
            pieces.append((cursor, last))
            cursor = None
    if cursor is not None:
        pieces.append((cursor, last))
    return pieces


def next_word(text: str, end: int) -> str:
    m = re.match(r"\s*([\w'\-]+)", text[end:])
    return m.group(1) if m else ""


def prev_words(text: str, start: int, n: int = 2) -> list[str]:
    return [w.lower() for w in re.findall(r"[\w'\-]+", text[:start])[-n:]]


def _strong_type(name: str, ctx: Context) -> tuple[EntityType, str] | None:
    words = name.lower().split()
    first, last = words[0].rstrip("."), words[-1].removesuffix("'s")
    if name in ctx.speakers:
        return EntityType.PERSON, ""
    if first in PERSON_TITLES and len(words) > 1:
        return EntityType.PERSON, PERSON_TITLES[first]
    if first in PLACE_PREFIXES and len(words) > 1:
        return EntityType.PLACE, ""
    if last in ORG_SUFFIXES and len(words) > 1:
        return EntityType.ORGANIZATION, ""
    if last in PLACE_SUFFIXES and len(words) > 1:
        return EntityType.PLACE, ""
    if name.lower().removesuffix("'s") in GAZETTEER:
        return EntityType.PLACE, ""
    return None


@dataclass(frozen=True)
class _Run:
    """A capitalised run and the words around it."""

    start: int
    end: int
    name: str  # possessive dropped, except in "St Mary's"
    possessive: bool
    before: tuple[str, ...]  # the two words before, lower case
    after: str  # the next word, as written


_ADJECTIVE_BEFORE = re.compile(r"\b([Aa]n?|[Tt]he|[Oo]ne)\s+([a-z]+)\s+$")
_ARTICLES = frozenset({"a", "an", "the", "one"})

_HAVE_DO = words("has had does did")

_MODALS = words("would will can could should might must may")


def _guess(text: str, run: _Run) -> tuple[EntityType, int, int, int] | None:
    """A type, how sure, and the span, from the words around a capitalised name."""
    after, before = run.after.lower(), list(run.before)
    if run.possessive:
        return EntityType.PERSON, WEAK, run.start, run.end
    if after in EVENT_NOUNS or (before[-1:] and before[-1] in _ARTICLES and _is_noun(run.after)):
        stop = run.end + text[run.end :].index(run.after) + len(run.after)
        kind = EntityType.EVENT if after in EVENT_NOUNS else EntityType.THING
        return kind, STRONG if kind is EntityType.EVENT else MEDIUM, run.start, stop
    adjective = _ADJECTIVE_BEFORE.search(text[: run.start])
    if (
        adjective
        and adjective.group(1).lower() in _ARTICLES
        and adjective.group(2) not in PLACE_PREPOSITIONS
    ):
        return EntityType.THING, MEDIUM, adjective.start(2), run.end
    if _apposed_role(text[run.end :]):
        return EntityType.PERSON, MEDIUM, run.start, run.end
    if before[-1:] in (["called"], ["named"]) or before == ["name", "is"]:
        return EntityType.THING, MEDIUM, run.start, run.end
    if _after_place_word(before):
        return EntityType.PLACE, WEAK, run.start, run.end
    if (
        after in AUXILIARIES
        or after in PAST_FORMS
        or _verbal(run.after)
        or (before[-1:] and before[-1] in AUXILIARIES)
    ):
        return EntityType.PERSON, WEAK, run.start, run.end
    return None


def _initial_ok(run: _Run, strength: int, ctx: Context) -> bool:
    """Whether a capitalised word opening a sentence is a name and not just a capital."""
    first = run.name.split()[0].lower()
    if first in ctx.lower_words:
        return False
    if first in ctx.inner_capitals or strength >= MEDIUM or run.possessive:
        return True
    after = run.after.lower()
    return after in _MODALS or after in _HAVE_DO or after in PAST_FORMS or _verbal(run.after)


def _after_place_word(before: list[str]) -> bool:
    if before and before[-1] == "the":
        before = before[:-1]
    if not before:
        return False
    if before[-1] in PLACE_PREPOSITIONS:
        return True
    return before[-1] == "to" and len(before) > 1 and before[-2] in TRAVEL_VERBS


_APPOSED = re.compile(r"\s*,\s+an?\s+((?:[a-z][\w\-]*\s+){0,3}[a-z][\w\-]*)")
_ROLES = OCCUPATIONS | frozenset(KINSHIP)


def _apposed_role(rest: str) -> bool:
    m = _APPOSED.match(rest)
    return m is not None and m.group(1).split()[-1] in _ROLES


def _is_noun(word: str) -> bool:
    low = word.lower()
    return (
        bool(word)
        and word.islower()
        and low not in _NOUN_STOP
        and low not in AUXILIARIES
        and not low.endswith(("ed", "ly"))
    )


def _verbal(word: str) -> bool:
    low = word.lower()
    if not word.islower() or low in _NOUN_STOP or len(low) < 4:
        return False
    return low.endswith("ed") or (low.endswith("s") and not low.endswith(("ss", "us", "is")))


def capitalised(text: str, ctx: Context) -> list[Mention]:
    found: list[Mention] = []
    for match in _RUN.finditer(text):
        initial = not text[: match.start()].strip(" \"'(")
        speakers = frozenset(n.lower() for n in ctx.speakers)
        for a, b in _split_run(text, match.start(), match.end(), initial, speakers):
            mention = _typed(text, _run(text, a, b), ctx, initial and a == match.start())
            if mention:
                found.append(mention)
    return found


def _run(text: str, start: int, end: int) -> _Run:
    surface = text[start:end]
    saint = surface.lower().startswith(("st ", "saint "))
    possessive = surface.endswith("'s") and not saint
    name = surface.removesuffix("'s") if possessive else surface
    before = tuple(prev_words(text, start))
    return _Run(start, start + len(name), name, possessive, before, next_word(text, end))


def _typed(text: str, run: _Run, ctx: Context, initial: bool) -> Mention | None:
    strong = _strong_type(run.name, ctx)
    if strong:
        return _strong_mention(text, run.start, run.end, run.name, strong)
    guess = _guess(text, run)
    if guess is None or (initial and not _initial_ok(run, guess[1], ctx)):
        return _known_or_bare(run, ctx, initial)
    kind, strength, start, stop = guess
    name = text[start:stop] if (start, stop) != (run.start, run.end) else run.name
    return Mention(start, start + len(name), name, kind, strength)


def _known_or_bare(run: _Run, ctx: Context, initial: bool) -> Mention | None:
    """A name the episode already typed, or a bare mid-sentence capital (strength 0)."""
    known = ctx.known.get(run.name.lower())
    if known is not None:
        return Mention(run.start, run.end, run.name, known, WEAK)
    if initial or run.before[-1:] == ("the",):
        return None
    return Mention(run.start, run.end, run.name, EntityType.PERSON, 0)


def _strong_mention(
    text: str, start: int, end: int, name: str, typed: tuple[EntityType, str]
) -> Mention:
    kind, gender = typed
    after = next_word(text, end).lower()
    if kind is EntityType.PLACE and after in EVENT_NOUNS:
        stop = end + text[end:].index(after) + len(after)
        return Mention(start, stop, text[start:stop], EntityType.EVENT, STRONG)
    return Mention(start, start + len(name), name, kind, STRONG, gender)


__all__ = ["CAPITAL", "SKIP_CAPS", "capitalised", "next_word", "prev_words"]
