"""Calendar arithmetic and tense for the date resolver: pure functions of dates.

``tense_of`` decides which way an underspecified date goes ("on Thursday" is the
last Thursday in a past-tense sentence, the next one in a future-tense one).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from enum import StrEnum

from memfuse_server.extraction.rules.lexicon import PAST_FORMS, words

_I = re.IGNORECASE


class Tense(StrEnum):
    PAST = "past"
    FUTURE = "future"
    UNKNOWN = "unknown"


_FUTURE = re.compile(
    r"\b(?:will|shall|going to|gonna|about to|plan(?:s|ning)? to|hop(?:e|es|ing) to|"
    r"want(?:s)? to|booked for|scheduled|due|tomorrow|next|upcoming|coming up)\b|'ll\b|"
    r"\b(?:am|is|are)\s+(?!being\b)\w+ing\b",
    _I,
)
_PAST_WORDS = words("was were did had ago yesterday last")
_BE = words("is are am be been being 's 're 'm get gets")


def tense_of(sentence: str) -> Tense:
    """Future if a future marker is present, else past if a past form is, else unknown."""
    if _FUTURE.search(sentence):
        return Tense.FUTURE
    tokens = re.findall(r"[a-z']+", sentence.lower())
    for i, token in enumerate(tokens):
        if token in _PAST_WORDS:
            return Tense.PAST
        if (token in PAST_FORMS or (token.endswith("ed") and len(token) > 4)) and (
            i == 0 or tokens[i - 1] not in _BE
        ):
            return Tense.PAST
    return Tense.UNKNOWN


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def previous_weekday(today: date, weekday: int, *, inclusive: bool = False) -> date:
    back = (today.weekday() - weekday) % 7
    return today - timedelta(days=back if back or inclusive else 7)


def following_weekday(today: date, weekday: int, *, inclusive: bool = False) -> date:
    ahead = (weekday - today.weekday()) % 7
    return today + timedelta(days=ahead if ahead or inclusive else 7)


def safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def nearest_date(today: date, month: int, day: int, tense: Tense) -> date | None:
    """The date with this month and day nearest to today, in the direction of the tense."""
    options = [safe_date(today.year + k, month, day) for k in (-1, 0, 1)]
    candidates = [d for d in options if d is not None]
    if tense is Tense.PAST:
        candidates = [d for d in candidates if d <= today]
    elif tense is Tense.FUTURE:
        candidates = [d for d in candidates if d >= today]
    if not candidates:
        return None
    return min(candidates, key=lambda d: (abs((d - today).days), d < today))


def weekend_of(today: date, step: int) -> date:
    """The Saturday of the weekend ``step`` weekends away from the current or coming one."""
    if today.weekday() >= 5:
        this = today - timedelta(days=today.weekday() - 5)
        return this + timedelta(weeks=step)
    coming = today + timedelta(days=5 - today.weekday())
    return coming + timedelta(weeks=step) if step >= 0 else coming - timedelta(weeks=1)


__all__ = [
    "Tense",
    "add_months",
    "following_weekday",
    "monday_of",
    "nearest_date",
    "previous_weekday",
    "safe_date",
    "tense_of",
    "weekend_of",
]
