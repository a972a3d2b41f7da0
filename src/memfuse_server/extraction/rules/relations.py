"""Relations: (subject, predicate, object) read from one sentence by a fixed set of patterns.

A verb pattern ("grew up in", "teaches ... at", "signed up for") needs a subject
mention right before it (adverbs and auxiliaries may stand between: "Maya still
lived") and an object right after it: a mention of an allowed type, or, where the
pattern allows, a short lower-case noun phrase ("started piano lessons"). Other
relations come from the mentions themselves ("Tom's daughter Claire" ->
has_daughter), appositions ("Rafael, a marine biologist" -> is_a), and naming
("Priya's bakery is called Rise & Shine" -> owns, is_a). The predicates and their
patterns are listed in ``docs/extraction.md``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from memfuse_server.extraction.rules.lexicon import (
    INSTRUMENTS,
    JOB_ADJECTIVES,
    KINSHIP,
    NAMEABLE,
    OCCUPATIONS,
    ORG_NAMEABLE,
    PETS,
    SPORTS,
    words,
)
from memfuse_server.extraction.rules.mentions import Mention
from memfuse_server.extraction.rules.patterns import OWNING, PATTERNS, Found, Pattern
from memfuse_server.extraction.rules.persons import possessive
from memfuse_server.models import EntityType

P, PL, T = EntityType.PERSON, EntityType.PLACE, EntityType.THING

_APPOSITION = re.compile(r",\s+[^,]{1,40},\s*$")
_GAP = re.compile(
    r"^(?:\s+and others)?\s+(?:(?:still|also|now|finally|just|recently|has|have|had|will|is|was|"
    r"are|were|really|actually|already|then|first|once|used to|mostly|even|again|soon|"
    r"currently|originally|eventually|proudly|happily|officially)\s+)*$"
)
_DETERMINER = re.compile(r"^\s*(?:(?:the|a|an|some|his|her|their|its|one|two|[A-Z][\w]*'s?)\s+)?")
_PHRASE_STOP = words(
    """for at in on with to of and or but from by as than because while when after before
    this that these those last next again instead now too yet already yesterday today
    tonight tomorrow there here then so if which who where every each about into onto
    over under since until during around near like called named"""
)
_PRONOUNS = words("it them him her me us you something anything everything one")
_WORD = re.compile(r"[a-z][\w'\-]*")


def _subjects(text: str, start: int, mentions: list[Mention], pattern: Pattern) -> list[Mention]:
    """The mention(s) the verb at ``start`` is said of: "Maya", or "Claire and Tom"."""
    before = [m for m in mentions if m.end <= start]
    if pattern.loose:
        people = [m for m in before if m.type is P]
        return people[:1]
    if not before:
        return []
    gap = text[before[-1].end : start]
    apposed = _APPOSITION.search(text[:start])
    if apposed and not _GAP.match(" " + gap):
        before = [m for m in before if m.end <= apposed.start()]
        gap = text[before[-1].end : apposed.start()] if before else "x"
    if not _GAP.match(" " + gap):
        return []
    subject = before[-1]
    if subject.type is not P and not pattern.any_subject:
        return []
    group = [subject]
    if len(before) > 1 and re.fullmatch(r"\s+and\s+", text[before[-2].end : subject.start]):
        group.insert(0, before[-2])
    return group


def _phrase(rest: str, heads: frozenset[str] | None) -> str | None:
    """A short lower-case noun phrase at the start of ``rest`` ("piano lessons")."""
    taken: list[str] = []
    for raw in rest.split():
        word = raw.rstrip(".,!?;:")
        if not _WORD.fullmatch(word) or word in _PHRASE_STOP:
            break
        taken.append(word)
        if word != raw or len(taken) == 4:
            break
    while taken and (taken[-1].endswith("ly") or taken[-1] in _PRONOUNS):
        taken.pop()
    if not taken or taken[0] in _PRONOUNS:
        return None
    if heads is not None and not heads & set(taken):
        return None
    return " ".join(taken)


def _object(
    text: str, end: int, mentions: list[Mention], pattern: Pattern
) -> tuple[str, EntityType] | None:
    skip = _DETERMINER.match(text[end:])
    at = end + (skip.end() if skip else 0)
    for mention in mentions:
        if end <= mention.start <= at + 1:
            return (mention.name, mention.type) if mention.type in pattern.objects else None
    if not pattern.phrase:
        return None
    phrase = _phrase(text[at:].lstrip(), pattern.heads)
    return (phrase, T) if phrase else None


def _there(text: str, start: int, mentions: list[Mention]) -> tuple[str, EntityType] | None:
    places = [m for m in mentions if m.type is PL and m.end <= start]
    return (places[-1].name, PL) if places else None


def verb_relations(text: str, mentions: list[Mention]) -> Iterator[Found]:
    for pattern in PATTERNS:
        for match in pattern.verb.finditer(text):
            subjects = _subjects(text, match.start(), mentions, pattern)
            if not subjects:
                continue
            if match.group(0).endswith("there"):
                target = _there(text, match.start(), mentions)
            else:
                target = _object(text, match.end(), mentions, pattern)
            if target is None:
                continue
            for subject in subjects:
                yield from _found(subject.name, pattern, target)


def _found(subject: str, pattern: Pattern, target: tuple[str, EntityType]) -> Iterator[Found]:
    name, kind = target
    head = name.split()[-1] if kind is T else ""
    if pattern.predicate in OWNING and (head in NAMEABLE or head in PETS):
        owned = f"{possessive(subject)} {head}"
        yield Found(subject, pattern.predicate, owned, pattern.confidence, T)
        return
    yield Found(subject, pattern.predicate, name, pattern.confidence, kind)
    words = name.split()
    if (
        pattern.predicate == "started"
        and len(words) == 2
        and words[1] == "lessons"
        and words[0] in INSTRUMENTS | SPORTS
    ):
        yield Found(subject, "plays", words[0], 0.6, T)
    if pattern.predicate == "teaches_at":
        yield Found(subject, "is_a", "teacher", 0.6, T)


def mention_relations(mentions: list[Mention]) -> Iterator[Found]:
    """Kinship and pets: "Tom's daughter Claire", "Jonas's dad", "Jonas's cat"."""
    for m in mentions:
        if m.owner is None or m.relation is None:
            continue
        if m.relation in PETS:
            yield Found(m.owner, "has_pet", m.name, 0.85, T, timeless=True)
            if not m.descriptor:
                yield Found(m.name, "is_a", m.relation, 0.8, T, timeless=True)
            continue
        predicate = KINSHIP[m.relation][0]
        yield Found(m.owner, predicate, m.name, 0.9 if not m.descriptor else 0.8, P, timeless=True)


_OCCUPATION_NP = r"(?P<np>(?:[a-z][\w\-]*\s+){0,3}[a-z][\w\-]*)"
_APPOSED_AFTER = re.compile(rf"^,\s+an?\s+{_OCCUPATION_NP}")
_APPOSED_BEFORE = re.compile(rf"\b[Aa]n?\s+{_OCCUPATION_NP},\s+$")
_CALLED_BEFORE = re.compile(rf"\ban?\s+{_OCCUPATION_NP}\s+(?:called|named)\s+$")
_ROLE_IS = re.compile(r"^\s+(?:now\s+)?(?:is|was)\s+(?:.{0,60}?\s+(?:called|named)\s+)?$")


def _role_head(np: str) -> str | None:
    head = np.split()[-1]
    return np if head in OCCUPATIONS or head in KINSHIP else None


def apposition_relations(text: str, mentions: list[Mention]) -> Iterator[Found]:
    """ "Rafael, a marine biologist", "A neighbour, Mr Okafor", "a player called Mrs Albrecht"."""
    for m in (m for m in mentions if m.type is P and not m.descriptor):
        after = _APPOSED_AFTER.match(text[m.end :])
        before = _APPOSED_BEFORE.search(text[: m.start]) or _CALLED_BEFORE.search(text[: m.start])
        for found in (after, before):
            role = _role_head(found["np"]) if found else None
            if role:
                yield Found(m.name, "is_a", role, 0.75, T)
        yield from _role_named(text, m, mentions)


def _role_named(text: str, named: Mention, mentions: list[Mention]) -> Iterator[Found]:
    """ "Jonas's teacher now is a retired orchestra player called Mrs Albrecht"."""
    for role in mentions:
        if not (role.descriptor and role.owner and role.type is P and role.relation in KINSHIP):
            continue
        if role.end <= named.start and _ROLE_IS.match(text[role.end : named.start]):
            predicate = KINSHIP[role.relation or ""][0]
            yield Found(role.owner, predicate, named.name, 0.8, P, alias=role.name, timeless=True)


_NAMED = re.compile(
    r"(?P<owner>[A-Z][\w]*(?: [A-Z][\w]*)?)'s? (?P<noun>[a-z]+)(?:'s name is| is called| is named|"
    r" was called| was named) (?P<name>[A-Z0-9][\w'&\- ]*?)(?=[.!?,;]|$| and | but )"
)
_NAMED_BY = re.compile(
    r"(?P<owner>[A-Z][\w]*) (?:named|called) (?:him|her|it|them|(?:the|[A-Z][\w]*'s) (?P<noun>[a-z]+)) "
    r"(?P<name>[A-Z][\w'&\- ]*?)(?=[.!?,;]|$)"
)


def naming_relations(text: str) -> Iterator[Found]:
    """ "Jonas's cat's name is Miso" -> has_pet, is_a; "Priya's bakery is called Rise & Shine"."""
    for m in _NAMED.finditer(text):
        owner, noun, name = m["owner"], m["noun"], m["name"].strip()
        alias = f"{possessive(owner)} {noun}"
        if noun in PETS:
            yield Found(owner, "has_pet", name, 0.85, T, alias=alias)
        elif noun in ORG_NAMEABLE:
            yield Found(owner, "owns", name, 0.8, EntityType.ORGANIZATION, alias=alias)
        elif noun in NAMEABLE:
            yield Found(owner, "owns", name, 0.75, T, alias=alias)
        else:
            continue
        yield Found(name, "is_a", noun, 0.8, T, timeless=True)
    for m in _NAMED_BY.finditer(text):
        yield Found(m["owner"], "named", m["name"].strip(), 0.75, T)


def job_relations(text: str, mentions: list[Mention]) -> Iterator[Found]:
    """ "Maya moved for the nursing job" -> (Maya, is_a, nurse)."""
    people = [m for m in mentions if m.type is P]
    for adjective, occupation in JOB_ADJECTIVES.items():
        if people and re.search(rf"\b{adjective} (?:job|career|position|post)\b", text):
            yield Found(people[0].name, "is_a", occupation, 0.6, T)


def read_relations(text: str, mentions: list[Mention]) -> list[Found]:
    """Every relation one sentence states, in a fixed order."""
    return [
        *mention_relations(mentions),
        *apposition_relations(text, mentions),
        *naming_relations(text),
        *job_relations(text, mentions),
        *verb_relations(text, mentions),
    ]


__all__ = ["read_relations"]
