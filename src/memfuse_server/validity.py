"""What holds when: attributes, single-valued or not, and the timeline of their statements.

A fact or relation may state an **attribute** of a subject ("Maya works at Zalando":
subject Maya, attribute ``works_at``, value Zalando), or that one no longer holds
("Maya no longer works at Siemens": ``ends``). Statements of one (subject, attribute)
form a timeline ordered by ``valid_from`` (when each became true, not when the server
learned it), and each is closed by the first later statement that contradicts it:

- a **single-valued** attribute (where one works, the job title, where one lives, the
  partner, the car, the phone, the age, a favourite) holds one value at a time: a new
  value closes the old one;
- a **multi-valued** one (likes, visited, friends, hobbies, ...) accumulates; only a
  statement that it ended ("no longer likes X") closes the value it names;
- an ending closes what it names, or every value when it names none ("Maya quit her
  job"); a later statement of that value ("back at Siemens") closes the ending.

An older statement arriving later takes its place in the timeline: it never ends a
newer one, and is itself closed by the newer one. Everything here is a pure function;
storage keeps the results (``valid_until``, ``superseded_by``) and recomputes a
timeline whenever one of its statements comes or goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

WORKS_AT = "works_at"
JOB_TITLE = "job_title"
LIVES_IN = "lives_in"
PARTNER = "partner"
CAR = "car"
PHONE = "phone"
AGE = "age"
FAVOURITE = "favourite_"  # a prefix: favourite_food, favourite_band, ...

SINGLE_VALUED = frozenset({WORKS_AT, JOB_TITLE, LIVES_IN, PARTNER, CAR, PHONE, AGE})

# Relation predicates and the attribute they state; the second item says the predicate
# itself ends the value (moving away from a place ends living there).
_PREDICATES: dict[str, tuple[str, bool]] = {
    "works_at": (WORKS_AT, False),
    "lives_in": (LIVES_IN, False),
    "moved_to": (LIVES_IN, False),
    "moved_from": (LIVES_IN, True),
    "married_to": (PARTNER, False),
    "engaged_to": (PARTNER, False),
    "dating": (PARTNER, False),
    "has_partner": (PARTNER, False),
    "has_husband": (PARTNER, False),
    "has_wife": (PARTNER, False),
    "has_job_title": (JOB_TITLE, False),
    "drives": (CAR, False),
    "owns_car": (CAR, False),
    "owns_phone": (PHONE, False),
}
# Multi-valued predicates whose values can end ("stopped playing the cello").
MULTI_VALUED = frozenset(
    {"likes", "loves", "hates", "plays", "member_of", "attends", "volunteers_at", "studies_at"}
)


def is_single_valued(attribute: str) -> bool:
    return attribute in SINGLE_VALUED or attribute.startswith(FAVOURITE)


def attribute_of(predicate: str) -> tuple[str | None, bool]:
    """The attribute a relation predicate states (None: it states none that changes), and
    whether the predicate itself says the value ended."""
    if predicate in _PREDICATES:
        return _PREDICATES[predicate]
    if predicate.startswith(FAVOURITE) or predicate in MULTI_VALUED:
        return predicate, False
    return None, False


def ends_value(predicate: str, negated: bool) -> bool:
    """Whether a relation ends the value it names: it is negated ("no longer works at"), or
    its predicate says so ("moved_from")."""
    return negated or _PREDICATES.get(predicate, ("", False))[1]


def valid_from(stated: datetime | None, said_at: datetime, *, stateful: bool) -> datetime:
    """When a statement became true: the date it states when that is not after the turn
    ("moved to Porto last month"), or a coming change of state ("starts at Zalando on
    July 1"); otherwise the turn's time (a plan is true from when it is said)."""
    if stated is None:
        return said_at
    return stated if stated <= said_at or stateful else said_at


def value_key(value: str | None) -> str | None:
    """How values are compared: case and spacing folded, a leading article dropped."""
    if value is None or not value.strip():
        return None
    words = value.lower().split()
    if len(words) > 1 and words[0] in ("a", "an", "the"):
        words = words[1:]
    return " ".join(words)


@dataclass(frozen=True)
class Statement:
    """One fact or relation in a (subject, attribute) timeline."""

    id: str
    valid_from: datetime
    recorded_at: datetime
    value: str | None  # ``value_key``'d; None: unnamed ("quit her job")
    ends: bool = False


@dataclass(frozen=True)
class Closed:
    valid_until: datetime
    superseded_by: str


def _closes(old: Statement, new: Statement, single_valued: bool) -> bool:
    if new.ends:
        return not old.ends and (new.value is None or old.value == new.value)
    if old.ends:
        return old.value is None or old.value == new.value
    return single_valued and old.value != new.value


def timeline(statements: Sequence[Statement], single_valued: bool) -> dict[str, Closed | None]:
    """How each statement of one (subject, attribute) ends: closed by which, from when;
    None while it holds."""
    ordered = sorted(statements, key=lambda s: (s.valid_from, s.recorded_at, s.id))
    result: dict[str, Closed | None] = {s.id: None for s in ordered}
    holding: list[Statement] = []
    for new in ordered:
        closed = [old for old in holding if _closes(old, new, single_valued)]
        for old in closed:
            result[old.id] = Closed(new.valid_from, new.id)
        holding = [old for old in holding if old not in closed] + [new]
    return result


def holds_at(valid_from: datetime | None, valid_until: datetime | None, moment: datetime) -> bool:
    """Whether something valid over [valid_from, valid_until) holds at ``moment``."""
    started = valid_from is None or valid_from <= moment
    return started and (valid_until is None or valid_until > moment)


__all__ = [
    "AGE",
    "CAR",
    "FAVOURITE",
    "JOB_TITLE",
    "LIVES_IN",
    "MULTI_VALUED",
    "PARTNER",
    "PHONE",
    "SINGLE_VALUED",
    "WORKS_AT",
    "Closed",
    "Statement",
    "attribute_of",
    "ends_value",
    "holds_at",
    "is_single_valued",
    "timeline",
    "valid_from",
    "value_key",
]
