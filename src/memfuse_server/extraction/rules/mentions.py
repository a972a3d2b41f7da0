"""Mentions: the spans of a sentence that name an entity, each with a type guess.

Found, in this order (a span found earlier wins an overlap):

1. quoted titles: 'Ode to Joy' (a thing);
2. relatives and pets by their owner: "Tom's daughter Claire" (Claire, a person,
   and "Tom's daughter" as her alias), "Jonas's dad" (a person known only by the
   relation), "Jonas's cat Miso";
3. capitalised names, typed by their words ("Mr", "St", "Primary", "Palace",
   "marathon"), a small gazetteer, and their context ("in Lisbon", "Leo comes",
   "a Bach suite"); a capitalised word with no such evidence is not a mention;
4. a few lower-case institutions and events: "the children's hospital", "the
   community centre", "the village show".
"""

from __future__ import annotations

import re

from memfuse_server.extraction.rules.lexicon import (
    COMMON_CAPITALISED,
    EVENT_NOUNS,
    INSTITUTIONS,
    KINSHIP,
    PETS,
)
from memfuse_server.extraction.rules.names import CAPITAL, SKIP_CAPS, capitalised
from memfuse_server.extraction.rules.spans import MEDIUM, STRONG, WEAK, Context, Mention
from memfuse_server.models import EntityType

_QUOTED = re.compile(r"(?<![\w])[\"']([A-Z][^\"'\n]{0,60}?)[\"'](?![\w])")

_KIN = "|".join(sorted(KINSHIP, key=len, reverse=True))

_PET = "|".join(sorted(PETS, key=len, reverse=True))

_OWNED = re.compile(
    rf"\b(?P<owner>[A-Z][\w\-]*(?:\s+[A-Z][\w\-]*)?)'s?\s+(?:(?:late|little|older|younger|big|baby|eldest|"
    rf"youngest|oldest|new|best|old|grey|black|white)\s+)?(?P<rel>{_KIN}|{_PET})\b"
    rf"(?:,?\s+(?P<name>{CAPITAL}(?:\s+{CAPITAL})?))?"
)

_OWNED_AFTER = re.compile(
    rf"(?P<name>{CAPITAL}(?:\s+{CAPITAL})?),\s+(?P<owner>[A-Z][\w\-]*(?:\s+[A-Z][\w\-]*)?)'s?\s+"
    rf"(?:[a-z]+\s+)?(?P<rel>{_KIN})\b(?=\s*[,.;!?]|$)"
)
_INSTITUTION = re.compile(
    r"\bthe\s+(?P<name>(?:[a-z]+'s\s+|(?!first|second|last|next|same|whole|other|new|old)[a-z]+\s+)?"
    r"(?P<head>" + "|".join(sorted(INSTITUTIONS, key=len, reverse=True)) + r"))\b"
)

_EVENT = re.compile(
    r"\bthe\s+(?P<name>(?!first|second|last|next|same|whole|other|new|old|big|half|full)"
    r"(?:[a-z]+|[A-Z][a-z]+day)\s+(?P<head>" + "|".join(sorted(EVENT_NOUNS)) + r"))\b"
)


def _gender_of(relation: str) -> str:
    if relation in KINSHIP:
        return KINSHIP[relation][1]
    return ""


def _owned(text: str) -> list[Mention]:
    """Relatives and pets named through their owner: "Tom's daughter Claire", "Jonas's dad",
    and in apposition: "Mr Patel, Alice's neighbour, ..."."""
    found: list[Mention] = []
    claimed: set[int] = set()
    for m in _OWNED_AFTER.finditer(text):
        name, owner, rel = _owner(m["name"]), _owner(m["owner"]), m["rel"].lower()
        if name and owner and rel not in PETS:
            at = m.end("name") - len(name)
            found.append(
                Mention(
                    at, m.end("name"), name, EntityType.PERSON, STRONG, _gender_of(rel), owner, rel
                )
            )
            claimed.add(m.start("rel"))
    for m in _OWNED.finditer(text):
        owner, rel = _owner(m["owner"]), m["rel"].lower()
        if owner and m.start("rel") not in claimed:
            found.append(_owned_mention(m, owner, rel))
    return found


def _owned_mention(m: re.Match[str], owner: str, rel: str) -> Mention:
    kind = EntityType.THING if rel in PETS else EntityType.PERSON
    gender = _gender_of(rel)
    name = m["name"]
    if name and name.split()[0].lower() not in SKIP_CAPS | COMMON_CAPITALISED:
        name = name.removesuffix("'s")
        at = m.start("name")
        return Mention(at, at + len(name), name, kind, STRONG, gender, owner, rel)
    described = f"{owner}'s {rel}" if not owner.endswith("s'") else f"{owner} {rel}"
    return Mention(m.start("rel"), m.end("rel"), described, kind, MEDIUM, gender, owner, rel, True)


def _owner(words: str) -> str:
    kept = words.split()
    while kept and kept[0].lower() in COMMON_CAPITALISED:
        kept.pop(0)
    return " ".join(kept)


def _lower_case(text: str) -> list[Mention]:
    found: list[Mention] = []
    for m in _INSTITUTION.finditer(text):
        kind = EntityType(INSTITUTIONS[m["head"]])
        found.append(Mention(m.start("name"), m.end("name"), m["name"], kind, WEAK))
    for m in _EVENT.finditer(text):
        found.append(Mention(m.start("name"), m.end("name"), m["name"], EntityType.EVENT, WEAK))
    return found


def find_mentions(text: str, ctx: Context) -> list[Mention]:
    """All mentions in a sentence, left to right, without overlaps."""
    candidates = [
        *(
            Mention(m.start(1), m.end(1), m.group(1), EntityType.THING, STRONG)
            for m in _QUOTED.finditer(text)
        ),
        *_owned(text),
        *capitalised(text, ctx),
        *_lower_case(text),
    ]
    kept: list[Mention] = []
    for mention in candidates:
        if not any(mention.start < k.end and k.start < mention.end for k in kept):
            kept.append(mention)
    return sorted(kept, key=lambda m: m.start)


__all__ = ["MEDIUM", "STRONG", "WEAK", "Context", "Mention", "find_mentions"]
