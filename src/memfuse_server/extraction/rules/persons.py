"""First and second person: "I teach" becomes "Priya teaches", "your dad" becomes "Tom's dad".

``I``/``me``/``my``/``mine`` become the speaker's name and the verb after a
replaced subject is put in the third person ("I have" -> "Priya has", "I'm" ->
"Priya is", "you still like" -> "Maya still likes"). ``you``/``your`` become
the other speaker's name when an episode has exactly two speakers; generic
"you" ("you need to write a letter", "nothing prepares you") is left alone.
``we``/``us`` become "<speaker> and others" (or "Claire and Tom" after "Claire
and I"), ``our`` becomes "<speaker>'s". A leading or trailing vocative
("Tom, you can't bake.") is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from memfuse_server.extraction.rules.lexicon import (
    ADVERBS,
    AUXILIARIES,
    PARTICIPLES,
    PAST_FORMS,
    words,
)


@dataclass(frozen=True)
class Voices:
    """Who the pronouns of one message point at."""

    speaker: str
    other: str | None = None  # the addressee, when there are exactly two speakers
    partner: str | None = None  # "Claire" in "Claire and I ..." earlier in the message
    topic: str | None = None  # "bikes" in "Speaking of bikes, mine ..."


_THIRD_PERSON = {
    "am": "is",
    "are": "is",
    "have": "has",
    "do": "does",
    "don't": "doesn't",
    "haven't": "hasn't",
    "aren't": "isn't",
    "were": "was",
    "weren't": "wasn't",
    "go": "goes",
}
_ED_BASE = words("need feed proceed succeed bleed breed exceed speed seed shed wed embed heed")
_NOT_VERBS = words(
    """the a an to for with at in on of and or but that this there here too so guys all
    both again back now then know see yet either as about from by"""
)
_GENERIC_YOU = re.compile(
    r"\byou (?:need|have|ought) to\b|\b(?:prepares?|makes?|gets?|lets?|tells?) you\b|"
    r"\bthank you\b|\byou know\b|\bmind you\b|\byou never know\b|\bif you ask me\b",
    re.IGNORECASE,
)
# After these verbs "you" is an object with a bare infinitive: "I recommend you visit".
_OBJECT_OF = "".join(
    f"(?<!{verb} )"
    for verb in sorted(words("recommend suggest want let help make watch saw heard"))
)
_ADVERB = r"(?:(?:" + "|".join(sorted(ADVERBS)) + r")\s+)*"


def possessive(name: str) -> str:
    return f"{name}'" if name.endswith("'s") else f"{name}'s"


def third_person(verb: str) -> str:
    """The third-person singular present of a verb after I/you; other forms unchanged."""
    low = verb.lower()
    if low in _THIRD_PERSON:
        return _THIRD_PERSON[low]
    if low in AUXILIARIES or low in PAST_FORMS or not low.isalpha():
        return verb
    if low.endswith(("ed", "n't")) and low not in _ED_BASE:
        return verb
    if low.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if len(low) > 2 and low.endswith("y") and low[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _would_or_had(following: str) -> str:
    low = following.lower()
    return "had" if low in PARTICIPLES or low.endswith("ed") else "would"


def _singular(noun: str) -> str:
    noun = noun.strip()
    return noun[:-1] if noun.endswith("s") and not noun.endswith("ss") else noun


Rule = tuple[re.Pattern[str], Callable[[re.Match[str], str], str]]


def _subject_rules(pronoun: str) -> list[Rule]:
    """Contractions and verb agreement after a subject pronoun ("I", "you")."""
    p = pronoun
    flags = 0 if p == "I" else re.IGNORECASE
    return [
        (
            re.compile(rf"\b((?-i:[A-Z])[\w']*) (and|or) {p}\b", flags),
            lambda m, n: f"{m[1]} {m[2]} {n}",
        ),
        (re.compile(rf"\b{p}'re not\b|\b{p}'m not\b", flags), lambda m, n: f"{n} is not"),
        (re.compile(rf"\b{p}'(?:m|re)\b", flags), lambda m, n: f"{n} is"),
        (re.compile(rf"\b{p}'ve\b", flags), lambda m, n: f"{n} has"),
        (re.compile(rf"\b{p}'ll\b", flags), lambda m, n: f"{n} will"),
        (re.compile(rf"\b{p}'d (\w+)", flags), lambda m, n: f"{n} {_would_or_had(m[1])} {m[1]}"),
        (
            re.compile(rf"{_OBJECT_OF}\b{p} ({_ADVERB})([\w']+)", flags),
            lambda m, n: f"{n} {m[1]}{_verb_after(m[2])}",
        ),
        (re.compile(rf"\b{p}\b", flags), lambda m, n: n),
    ]


def _verb_after(word: str) -> str:
    return word if word.lower() in _NOT_VERBS else third_person(word)


def _inverted(pronoun: str) -> Rule:
    """Questions: "are you" -> "is Maya", "do you" -> "does Maya"."""
    aux = "am|are|aren't|were|weren't|have|haven't|do|don't"
    pattern = re.compile(rf"\b({aux}) {pronoun}\b", 0 if pronoun == "I" else re.IGNORECASE)
    return pattern, lambda m, n: f"{_match_case(third_person(m[1]), m[1])} {n}"


def _modal_inverted(pronoun: str) -> Rule:
    """ "will you keep" -> "will Priya keep": no agreement after a modal."""
    modals = (
        "will|would|can|could|should|shall|did|didn't|might|must|may|won't|can't|wouldn't|couldn't"
    )
    pattern = re.compile(rf"\b({modals}) {pronoun}\b", 0 if pronoun == "I" else re.IGNORECASE)
    return pattern, lambda m, n: f"{m[1]} {n}"


def _match_case(word: str, model: str) -> str:
    return word[:1].upper() + word[1:] if model[:1].isupper() else word


_FIRST = [
    _modal_inverted("I"),
    _inverted("I"),
    *_subject_rules("I"),
    (re.compile(r"\b(?:my|mine)self\b[,]?", re.IGNORECASE), lambda m, n: ""),
    (re.compile(r"\bme\b", re.IGNORECASE), lambda m, n: n),
    (re.compile(r"\bmy\b", re.IGNORECASE), lambda m, n: possessive(n)),
]
_SECOND = [
    _modal_inverted("you"),
    _inverted("you"),
    *_subject_rules("you"),
    (re.compile(r"\byourself\b[,]?", re.IGNORECASE), lambda m, n: ""),
    (re.compile(r"\byour\b", re.IGNORECASE), lambda m, n: possessive(n)),
]
_MINE = re.compile(r"\bmine\b", re.IGNORECASE)
_YOURS = re.compile(r"\byours\b", re.IGNORECASE)
_WE = [
    (re.compile(r"\ball of us\b", re.IGNORECASE), "everyone"),
    (re.compile(r"\bwe're\b", re.IGNORECASE), "{g} are"),
    (re.compile(r"\bwe've\b", re.IGNORECASE), "{g} have"),
    (re.compile(r"\bwe'll\b", re.IGNORECASE), "{g} will"),
    (re.compile(r"\bwe'd\b", re.IGNORECASE), "{g} would"),
    (re.compile(r"\b(?:we|us)\b", re.IGNORECASE), "{g}"),
    (re.compile(r"\bours\b|\bour\b", re.IGNORECASE), "{p}"),
    (re.compile(r"\bourselves\b[,]?", re.IGNORECASE), ""),
]
_PARTNER = re.compile(r"\b([A-Z][a-z]+) and I\b")


_ANY_PRONOUN = re.compile(
    r"\b(?:I|me|my|mine|myself|you|your|yours|yourself|we|us|our|ours|ourselves)\b|\bI'",
    re.IGNORECASE,
)


def partner_of(message: str) -> str | None:
    """ "Claire" when the message says "Claire and I"."""
    match = _PARTNER.search(message)
    return match.group(1) if match else None


def _apply(text: str, rules: list[Rule], name: str) -> str:
    for pattern, replace in rules:
        text = pattern.sub(lambda m, r=replace: r(m, name), text)  # type: ignore[misc]
    return text


def _strip_vocative(text: str, names: tuple[str, ...]) -> str:
    for name in names:
        text = re.sub(rf"^{re.escape(name)},\s+", "", text)
        text = re.sub(rf",\s+{re.escape(name)}(?=[.!?]*$)", "", text)
    return text


def rewrite(sentence: str, voices: Voices) -> str:
    """The sentence with first- and second-person words replaced by names."""
    names = tuple(n for n in (voices.speaker, voices.other) if n)
    text = _strip_vocative(sentence, names)
    if not _ANY_PRONOUN.search(text):
        return text[:1].upper() + text[1:]
    owned = f" {_singular(voices.topic)}" if voices.topic else ""
    text = _MINE.sub(possessive(voices.speaker) + owned, text)
    if voices.other and not _GENERIC_YOU.search(text):
        text = _YOURS.sub(possessive(voices.other) + owned, text)
        text = _apply(text, _SECOND, voices.other)
    text = _apply(text, _FIRST, voices.speaker)
    group = (
        f"{voices.partner} and {voices.speaker}"
        if voices.partner
        else f"{voices.speaker} and others"
    )
    for pattern, template in _WE:
        text = pattern.sub(template.format(g=group, p=possessive(voices.speaker)), text)
    text = re.sub(r"\s+([,.!?])", r"\1", re.sub(r"\s{2,}", " ", text)).strip()
    return text[:1].upper() + text[1:]


__all__ = ["Voices", "partner_of", "possessive", "rewrite", "third_person"]
