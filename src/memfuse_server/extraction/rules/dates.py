"""Time expressions: find them in a sentence and resolve them against the message's date.

Resolved (``today`` is the local date of the message's ``created_at``):

- days: "yesterday", "today", "tonight", "tomorrow", "this morning", "last night",
  "the day before yesterday";
- weekdays: "last Friday" (the most recent one before today), "next Tuesday" (the
  first one after today), "on Thursday" / "Thursday" (the most recent one, or the
  next one when the sentence is in the future tense);
- periods: "last/this/next week|weekend|month|year";
- offsets: "3 days ago", "two weeks ago", "a couple of months ago", "in ten days"
  (future tense only), "two weeks from now";
- calendar dates: "the nineteenth of February", "19 February 2025", "March 3rd",
  "2024-03-01", "the first Saturday of March"; without a year, the nearest such date
  (the last one for past tense, the next one for future tense);
- months and seasons: "in October", "last June", "this summer", "in the summer
  holidays"; years: "in 2023", "since 2019".

Not resolved: durations ("for ten days", "six years"), habits ("Thursday evenings",
"on Monday, Wednesday and Friday", "every Saturday"), vague words ("recently",
"years ago", "soon"), times of day, and anything in another language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from memfuse_server.extraction.rules.daymath import (
    Tense,
    add_months,
    following_weekday,
    monday_of,
    nearest_date,
    previous_weekday,
    safe_date,
    tense_of,
    weekend_of,
)
from memfuse_server.extraction.rules.lexicon import EVENT_NOUNS, MONTHS, WEEKDAYS, ordered


class Grain(StrEnum):
    DAY = "day"
    WEEKEND = "weekend"
    WEEK = "week"
    MONTH = "month"
    SEASON = "season"
    YEAR = "year"


@dataclass(frozen=True)
class TimeRef:
    """One resolved time expression and where it stands in its sentence."""

    start: int
    end: int
    expression: str
    day: date  # the first day of the period
    grain: Grain
    approximate: bool = False
    explicit: bool = False  # the words already say the absolute date

    @property
    def occurred_at(self) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC)

    @property
    def label(self) -> str:
        """ "on 2024-03-01", "in the week of 2024-02-26", "in March 2024", "around 2022", ..."""
        iso, year = self.day.isoformat(), self.day.year
        if self.grain is Grain.WEEKEND:
            return f"on the weekend of {iso}"
        if self.grain is Grain.WEEK:
            return f"in the week of {iso}"
        if self.grain is Grain.SEASON:
            return f"in {_SEASON_NAMES.get(self.day.month, 'season')} {year}"
        prefix = "around " if self.approximate else ("on " if self.grain is Grain.DAY else "in ")
        if self.grain is Grain.DAY:
            return prefix + iso
        if self.grain is Grain.MONTH:
            return f"{prefix}{self.day.strftime('%B')} {year}"
        return f"{prefix}{year}"


_SEASON_NAMES = {3: "spring", 6: "summer", 9: "autumn", 12: "winter"}
_SEASON_START = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}

_ORDINALS = ordered(
    """first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth
    thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth"""
)
ORDINAL_DAYS = {word: i + 1 for i, word in enumerate(_ORDINALS)}
ORDINAL_DAYS |= {f"twenty-{w}": 20 + i + 1 for i, w in enumerate(_ORDINALS[:9])}
ORDINAL_DAYS |= {"thirtieth": 30, "thirty-first": 31}
_CARDINALS = ordered(
    """one two three four five six seven eight nine ten eleven twelve thirteen fourteen
    fifteen sixteen seventeen eighteen nineteen twenty"""
)
NUMBER_WORDS = {word: i + 1 for i, word in enumerate(_CARDINALS)}
NUMBER_WORDS |= {"a": 1, "an": 1, "a couple of": 2, "a few": 3, "thirty": 30}

_MONTH = r"(?P<month>" + "|".join(MONTHS) + ")"
_WEEKDAY = r"(?P<weekday>" + "|".join(WEEKDAYS) + ")"
_ORD = "|".join(sorted(ORDINAL_DAYS, key=len, reverse=True))
_DAY = rf"(?P<day>\d{{1,2}}(?:st|nd|rd|th)?|{_ORD})"
_YEAR = r"(?P<year>(?:19|20)\d{2})"
_NUMBER = r"(?P<n>\d{1,3}|a couple of|a few|an?|" + "|".join(_CARDINALS) + ")"
_UNIT = r"(?P<unit>day|week|month|year)s?"
_I = re.IGNORECASE

ISO = re.compile(r"\b(?P<year>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})\b")
NTH_WEEKDAY = re.compile(
    rf"\bthe\s+(?P<nth>first|second|third|fourth|last|1st|2nd|3rd|4th)\s+{_WEEKDAY}\s+"
    rf"(?:of|in)\s+{_MONTH}(?:\s+{_YEAR})?\b",
    _I,
)
DAY_MONTH = re.compile(rf"\b(?:the\s+)?{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+{_YEAR})?\b", _I)
MONTH_DAY = re.compile(rf"\b{_MONTH}\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+{_YEAR})?\b", _I)
MONTH_YEAR = re.compile(rf"\b{_MONTH}\s+{_YEAR}\b", _I)
AGO = re.compile(rf"\b{_NUMBER}\s+{_UNIT}\s+ago\b", _I)
IN_N = re.compile(rf"\bin\s+{_NUMBER}\s+{_UNIT}(?:'?\s+time)?\b", _I)
FROM_NOW = re.compile(rf"\b{_NUMBER}\s+{_UNIT}\s+from\s+now\b", _I)
DAY_WORD = re.compile(
    r"\b(?P<word>the\s+day\s+before\s+yesterday|the\s+day\s+after\s+tomorrow|yesterday|"
    r"today|tonight|tomorrow|this\s+(?:morning|afternoon|evening)|last\s+night)\b",
    _I,
)
REL_PERIOD = re.compile(r"\b(?P<rel>last|this|next)\s+(?P<unit>weekend|week|month|year)\b", _I)
SEASON = re.compile(
    r"\b(?:(?P<rel>last|this|next)\s+|(?:in|by|during|over|until|since)\s+(?:the\s+)?)"
    r"(?P<season>spring|summer|autumn|fall|winter)\b(?:\s+(?:holidays?|break|term|vacation))?",
    _I,
)
REL_MONTH = re.compile(rf"\b(?P<rel>last|this|next)\s+{_MONTH}\b", _I)
WEEKDAY = re.compile(
    rf"\b(?:(?P<rel>last|next|this(?:\s+past|\s+coming)?|on|as\s+of|since|by|until)\s+)?"
    rf"{_WEEKDAY}(?P<plural>s)?\b(?:\s+(?P<part>morning|afternoon|evening|night)(?P<parts>s)?)?",
    _I,
)
IN_MONTH = re.compile(
    rf"\b(?P<prep>in|since|until|by|during|early|late|mid|throughout|from)[\s-]+(?:early\s+|late\s+)?{_MONTH}\b(?!\s+\d)",
    _I,
)
YEAR = re.compile(rf"\b(?:in|since|during|from|until|by|of|around|circa)\s+{_YEAR}\b", _I)

_HABIT = re.compile(r"\b(?:every|each)\s+$|\bthe\s+$|\ba\s+$", _I)

Resolved = tuple[date, Grain, bool, bool] | None  # day, grain, approximate, explicit


def _number(text: str) -> int:
    text = re.sub(r"\s+", " ", text.lower())
    return int(text) if text.isdigit() else NUMBER_WORDS[text]


def _month(text: str) -> int:
    return MONTHS.index(text.lower()) + 1


def _iso(m: re.Match[str], today: date, tense: Tense) -> Resolved:
    day = safe_date(int(m["year"]), int(m["m"]), int(m["d"]))
    return (day, Grain.DAY, False, True) if day else None


def _day_of_month(text: str) -> int:
    low = text.lower()
    return ORDINAL_DAYS[low] if low in ORDINAL_DAYS else int(re.sub(r"\D", "", low))


def _calendar(m: re.Match[str], today: date, tense: Tense) -> Resolved:
    month, day = _month(m["month"]), _day_of_month(m["day"])
    if m["year"]:
        found = safe_date(int(m["year"]), month, day)
        return (found, Grain.DAY, False, True) if found else None
    found = nearest_date(today, month, day, tense)
    return (found, Grain.DAY, False, False) if found else None


_NTH = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3}
_NTH["last"] = -1


def _nth_weekday(m: re.Match[str], today: date, tense: Tense) -> Resolved:
    month, weekday = _month(m["month"]), WEEKDAYS.index(m["weekday"].lower())
    year = int(m["year"]) if m["year"] else today.year
    if not m["year"] and month < today.month and tense is not Tense.PAST:
        year += 1
    index = _NTH[m["nth"].lower()]
    if index < 0:
        last = add_months(date(year, month, 1), 1) - timedelta(days=1)
        return previous_weekday(last, weekday, inclusive=True), Grain.DAY, False, False
    first = following_weekday(date(year, month, 1), weekday, inclusive=True)
    found = first + timedelta(weeks=index)
    return (found, Grain.DAY, False, False) if found.month == month else None


def _month_year(m: re.Match[str], today: date, tense: Tense) -> Resolved:
    return date(int(m["year"]), _month(m["month"]), 1), Grain.MONTH, False, True


def _ago(m: re.Match[str], today: date, tense: Tense) -> Resolved:
    return _offset(today, -_number(m["n"]), m["unit"].lower(), m["n"])


def _in_n(m: re.Match[str], today: date, tense: Tense) -> Resolved:
    if tense is not Tense.FUTURE and "from now" not in m.group(0).lower():
        return None
    return _offset(today, _number(m["n"]), m["unit"].lower(), m["n"])


def _offset(today: date, n: int, unit: str, words: str) -> Resolved:
    vague = words.lower().startswith("a ") and words.lower() != "a"
    if unit == "day":
        return today + timedelta(days=n), Grain.DAY, vague, False
    if unit == "week":
        return today + timedelta(weeks=n), Grain.DAY, True, False
    if unit == "month":
        return add_months(today, n), Grain.MONTH, True, False
    return date(today.year + n, 1, 1), Grain.YEAR, True, False


_DAY_OFFSETS = {
    "the day before yesterday": -2,
    "the day after tomorrow": 2,
    "yesterday": -1,
    "last night": -1,
    "tomorrow": 1,
}


def _day_word(m: re.Match[str], today: date, tense: Tense) -> Resolved:
    word = re.sub(r"\s+", " ", m["word"].lower())
    return today + timedelta(days=_DAY_OFFSETS.get(word, 0)), Grain.DAY, False, False


def _rel_period(m: re.Match[str], today: date, tense: Tense) -> Resolved:
    step = {"last": -1, "this": 0, "next": 1}[m["rel"].lower()]
    unit = m["unit"].lower()
    if unit == "week":
        return monday_of(today) + timedelta(weeks=step), Grain.WEEK, False, False
    if unit == "weekend":
        return weekend_of(today, step), Grain.WEEKEND, False, False
    if unit == "month":
        return add_months(today, step), Grain.MONTH, False, False
    return date(today.year + step, 1, 1), Grain.YEAR, False, False


def _season(m: re.Match[str], today: date, tense: Tense) -> Resolved:
    start = _SEASON_START[m["season"].lower()]
    starts = [date(today.year + k, start, 1) for k in (-2, -1, 0, 1)]
    current = [s for s in starts if s <= today < add_months(s, 3)]
    rel = (m["rel"] or "").lower()
    if rel == "last":
        found = max(s for s in starts if add_months(s, 3) <= today)
    elif rel == "next":
        found = min(s for s in starts if s > today)
    elif current:
        found = current[0]
    elif tense is Tense.PAST:
        found = max(s for s in starts if s <= today)
    else:
        found = min(s for s in starts if s > today)
    return found, Grain.SEASON, False, False


def _rel_month(m: re.Match[str], today: date, tense: Tense) -> Resolved:
    month, rel = _month(m["month"]), m["rel"].lower()
    year = today.year
    if rel == "last" and month >= today.month:
        year -= 1
    elif rel == "next" and month <= today.month:
        year += 1
    return date(year, month, 1), Grain.MONTH, False, False


def _in_month(m: re.Match[str], today: date, tense: Tense, sentence: str) -> Resolved:
    month, year = _month(m["month"]), today.year
    before = sentence[: m.start()].lower().split()[-3:]
    upcoming = tense is Tense.FUTURE or any(w.strip(",") in EVENT_NOUNS for w in before)
    if upcoming and month < today.month:
        year += 1
    elif not upcoming and tense is Tense.PAST and month > today.month:
        year -= 1
    return date(year, month, 1), Grain.MONTH, False, False


def _weekday(m: re.Match[str], today: date, tense: Tense, sentence: str) -> Resolved:
    if m["plural"] or m["parts"] or _HABIT.search(sentence[: m.start()]):
        return None
    weekday = WEEKDAYS.index(m["weekday"].lower())
    rel = re.sub(r"\s+", " ", (m["rel"] or "").lower())
    if rel in ("last", "this past"):
        found = previous_weekday(today, weekday)
    elif rel in ("next", "this coming"):
        found = following_weekday(today, weekday)
    elif rel == "this":
        found = (previous_weekday if tense is Tense.PAST else following_weekday)(
            today, weekday, inclusive=True
        )
    elif tense is Tense.FUTURE or rel in ("by", "until"):
        found = following_weekday(today, weekday)
    else:
        found = previous_weekday(today, weekday)
    return found, Grain.DAY, False, False


def _year(m: re.Match[str], today: date, tense: Tense) -> Resolved:
    return date(int(m["year"]), 1, 1), Grain.YEAR, False, True


Handler = Callable[[re.Match[str], date, Tense], Resolved]
_PLAIN: tuple[tuple[re.Pattern[str], Handler], ...] = (
    (ISO, _iso),
    (NTH_WEEKDAY, _nth_weekday),
    (DAY_MONTH, _calendar),
    (MONTH_DAY, _calendar),
    (MONTH_YEAR, _month_year),
    (AGO, _ago),
    (IN_N, _in_n),
    (FROM_NOW, _in_n),
    (DAY_WORD, _day_word),
    (REL_PERIOD, _rel_period),
    (SEASON, _season),
    (REL_MONTH, _rel_month),
    (YEAR, _year),
)
_CONTEXTUAL = ((WEEKDAY, _weekday), (IN_MONTH, _in_month))


_ANY_TIME = re.compile(
    r"\d|yesterday|today|tonight|tomorrow|\bago\b|\b(?:last|this|next|in|since|until|by|"
    r"during|from|early|late|mid|throughout|of|around|circa)\b|" + "|".join(WEEKDAYS + MONTHS),
    _I,
)


def _is_habit(sentence: str) -> bool:
    """Two or more different weekdays ("on Monday, Wednesday and Friday") describe a habit."""
    found = {w.lower() for w in re.findall("|".join(WEEKDAYS), sentence, _I)}
    return len(found) > 1


def find_times(sentence: str, today: date) -> list[TimeRef]:
    """Every resolvable time expression in the sentence, left to right, without overlaps."""
    if not _ANY_TIME.search(sentence):
        return []
    tense = tense_of(sentence)
    found: list[TimeRef] = []
    candidates: list[tuple[re.Match[str], Resolved]] = []
    for pattern, handler in _PLAIN:
        candidates += [(m, handler(m, today, tense)) for m in pattern.finditer(sentence)]
    habit = _is_habit(sentence)
    for pattern, contextual in _CONTEXTUAL:
        if habit and pattern is WEEKDAY:
            continue
        candidates += [
            (m, contextual(m, today, tense, sentence)) for m in pattern.finditer(sentence)
        ]
    for m, resolved in candidates:
        if resolved is None or any(m.start() < t.end and t.start < m.end() for t in found):
            continue
        day, grain, approximate, explicit = resolved
        found.append(TimeRef(m.start(), m.end(), m.group(0), day, grain, approximate, explicit))
    return sorted(found, key=lambda t: t.start)


def annotate(sentence: str, times: list[TimeRef]) -> str:
    """Insert "(on 2024-03-01)" after each expression whose words do not already say it."""
    out, last = [], 0
    for time in times:
        out.append(sentence[last : time.end])
        if not _says_itself(time):
            out.append(f" ({time.label})")
        last = time.end
    out.append(sentence[last:])
    return "".join(out)


def _says_itself(time: TimeRef) -> bool:
    return time.explicit and (time.grain is not Grain.DAY or bool(ISO.fullmatch(time.expression)))


def local_date(moment: datetime) -> date:
    """The calendar date of a message where it was written (UTC for naive datetimes)."""
    return moment.date()


__all__ = ["Grain", "Tense", "TimeRef", "annotate", "find_times", "local_date", "tense_of"]
