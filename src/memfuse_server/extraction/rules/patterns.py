"""The verb patterns of the relation reader, one line per predicate, and what a match yields.

Each :class:`Pattern` is a regular expression for the verb phrase ("grew up in",
"teach ... at") plus what may follow it: mention types (``objects``: P person,
O organisation, L place, E event, T thing) and/or a short lower-case noun
phrase, optionally required to contain one of ``heads`` ("plays" needs an
instrument or a sport). ``docs/extraction.md`` lists them as a table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from memfuse_server.extraction.rules.lexicon import INSTRUMENTS, OCCUPATIONS, PETS, SPORTS, words
from memfuse_server.models import EntityType

_KINDS = {
    "P": EntityType.PERSON,
    "O": EntityType.ORGANIZATION,
    "L": EntityType.PLACE,
    "E": EntityType.EVENT,
    "T": EntityType.THING,
}


@dataclass(frozen=True)
class Found:
    """A relation as read, with names as written (the registry makes them canonical)."""

    subject: str
    predicate: str
    object: str
    confidence: float
    object_type: EntityType = EntityType.THING  # used when the object is not a mention
    alias: str | None = None  # a second name for the object ("Priya's bakery")
    timeless: bool = False  # kinship and kinds hold regardless of the sentence's date


@dataclass(frozen=True)
class Pattern:
    predicate: str
    verb: re.Pattern[str]
    objects: frozenset[EntityType] = frozenset()  # allowed mention types
    phrase: bool = False  # a lower-case noun phrase may be the object
    heads: frozenset[str] | None = None  # the phrase must contain one of these words
    confidence: float = 0.8
    loose: bool = False  # the subject is the sentence's first person, not the verb's
    any_subject: bool = False  # the subject may be a thing ("the black Krim won")


def _p(
    predicate: str,
    verb: str,
    objects: str = "",
    *,
    phrase: bool = False,
    heads: frozenset[str] | None = None,
    confidence: float = 0.8,
    loose: bool = False,
    any_subject: bool = False,
) -> Pattern:
    kinds = frozenset(_KINDS[c] for c in objects)
    return Pattern(
        predicate, re.compile(verb), kinds, phrase, heads, confidence, loose, any_subject
    )


# Predicates whose object, when a nameable thing, is written as the subject's:
# "Priya registered the bakery" -> (Priya, registered, Priya's bakery).
OWNING = frozenset({"registered", "owns", "has_pet", "started"})
_CLASSES = words("class classes course club workshop school college university gym")
_GROUPS = words("band orchestra choir team club group quartet ensemble")
PATTERNS = (
    _p("lives_in", r"\b(?:lives|live|living|is living|has lived|have lived) (?:in|near)\b", "L"),
    _p("lived_in", r"\blived (?:in|near|there)\b", "L", confidence=0.75),
    _p("grew_up_in", r"\bgrew up (?:in|near)\b", "L", confidence=0.85),
    _p("moved_to", r"\bmov(?:ed|es|e|ing) (?:back |over )?to\b", "L", confidence=0.85),
    _p("moved_from", r"\bmov(?:ed|es|e|ing) (?:here |away |over )?from\b", "L", confidence=0.85),
    _p("born_in", r"\b(?:was|were) born in\b", "L", confidence=0.9),
    _p("is_from", r"\b(?:is|comes|come|came|are) from\b", "L", confidence=0.7),
    _p("works_at", r"\b(?:works?|worked|working) (?:at|for)\b", "OL", phrase=True),
    _p(
        "works_at", r"\bjob (?:at|with|offer from)\b", "OL", phrase=True, loose=True, confidence=0.7
    ),
    _p("teaches_at", r"\bteach(?:es|ing)?(?: [\w']+){0,3}? at\b", "OL", confidence=0.85),
    _p("studies_at", r"\bstud(?:y|ies|ied|ying)(?: [\w']+){0,2}? at\b", "OL", confidence=0.85),
    _p("volunteers_at", r"\bvolunteer(?:s|ed|ing)? (?:at|for|with)\b", "OL", phrase=True),
    _p("plays", r"\bplay(?:s|ed|ing)?\b(?! in)", phrase=True, heads=INSTRUMENTS | SPORTS),
    _p(
        "member_of",
        r"\b(?:play(?:s|ed|ing)?|sings?|sang) in\b|\bjoined\b",
        phrase=True,
        heads=_GROUPS,
        confidence=0.75,
    ),
    _p(
        "attends",
        r"\b(?:joined|joins|attends?|attended|enrolled in|goes to|takes|took)\b",
        phrase=True,
        heads=_CLASSES,
        confidence=0.75,
    ),
    _p(
        "signed_up_for",
        r"\bsign(?:ed|s)? up for\b|\bregistered for\b|\bentered\b",
        "ET",
        phrase=True,
        confidence=0.85,
    ),
    _p(
        "started",
        r"\bstart(?:ed|s)\b(?! to\b| on\b| at\b| in\b| by\b| with\b| as\b)",
        "ETO",
        phrase=True,
        confidence=0.75,
    ),
    _p("registered", r"\bregistered\b(?! for)", "OT", phrase=True),
    _p("owns", r"\b(?:owns?|owned|bought|buys)\b", "OT", phrase=True, confidence=0.65),
    _p("has_pet", r"\b(?:adopted|rescued|got)\b", phrase=True, heads=PETS),
    _p(
        "loves",
        r"(?<!would )(?<!'d )\b(?:loves?|loved)\b(?! to\b)",
        "PLOET",
        phrase=True,
        confidence=0.7,
    ),
    _p(
        "likes",
        r"(?<!would )\b(?:likes?|liked|enjoys?|enjoyed)\b(?! to\b)",
        "PLOET",
        phrase=True,
        confidence=0.7,
    ),
    _p("hates", r"\b(?:hates?|hated)\b(?! to\b)", "PLOET", phrase=True, confidence=0.7),
    _p(
        "visited",
        r"\b(?:visited|visits|went to|walked up|hiked up|climbed|travell?ed to|flew to|drove to|was in|were in|(?:is|are|got|came) back from)\b",
        "L",
        confidence=0.75,
    ),
    _p(
        "travelling_to",
        r"\b(?:is|are|am|will be) (?:going|flying|heading|travell?ing|off) to\b|\bwill (?:go|fly|travel) to\b|\b(?:will|to) visit\b",
        "L",
        confidence=0.75,
    ),
    _p("engaged_to", r"\b(?:is |are |got |was )?engaged to\b", "P", confidence=0.85),
    _p("married_to", r"\b(?:is |got |was )?married to\b", "P", confidence=0.85),
    _p("knows", r"\b(?:knows|met)\b", "P", confidence=0.7),
    _p("teaches", r"\bteach(?:es|ing)\b", "P"),
    _p(
        "is_a",
        r"\b(?:is|was|works as|worked as|became|got promoted to|was promoted to|trained as)\b",
        phrase=True,
        heads=OCCUPATIONS,
        confidence=0.75,
    ),
    _p("won", r"\bwon\b", "ET", phrase=True, any_subject=True, confidence=0.75),
)

__all__ = ["OWNING", "PATTERNS", "Found", "Pattern"]
