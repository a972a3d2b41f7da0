"""Sentences: splitting a message, stripping lead-ins, and telling statements from the rest.

A message is cut into sentences at ``.``, ``!`` and ``?`` (abbreviations such
as "Mr." and "St." do not end one). Each sentence gets a :class:`Kind`:
a statement worth a fact, a question, a tag question ("You played as a kid,
right?": a statement asked back), a fragment ("Twenty-four kilometres along
the Elbe."), filler ("Good for her!") or an imperative ("Bring him.").
"""

from __future__ import annotations

import re
from enum import StrEnum

from memfuse_server.extraction.rules.lexicon import (
    ADVERBS,
    AUXILIARIES,
    FILLER_STARTS,
    IMPERATIVE_STARTS,
    PAST_FORMS,
    words,
)


class Kind(StrEnum):
    STATEMENT = "statement"
    QUESTION = "question"
    TAG_QUESTION = "tag_question"
    FRAGMENT = "fragment"
    FILLER = "filler"
    IMPERATIVE = "imperative"


WORD = re.compile(r"[A-Za-zÀ-ÿ0-9]+(?:['’\-][A-Za-zÀ-ÿ0-9]+)*")
_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9À-Ý])")
_ABBREVIATION = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|St|Prof|Mt|Jr|Sr|vs|etc|e\.g|i\.e)\.$")
_TAG = re.compile(
    r",\s*(?:right|wasn't it|isn't it|weren't you|aren't you|didn't you|don't you|"
    r"haven't you|hasn't (?:he|she|it)|doesn't (?:he|she|it)|isn't (?:he|she)|"
    r"wasn't (?:he|she)|won't you|no|yes|correct|eh)\s*\?\s*$",
    re.IGNORECASE,
)
_LEAD_IN = re.compile(
    r"^(?:and|but|so|also|oh|well|anyway|honestly|actually|plus|besides|by the way|"
    r"on a (?:brighter|happier|sadder|different) note|in other news|"
    r"(?:big|good|bad|great|some|more|exciting) news|news from my side|"
    r"i have (?:some )?news(?: too)?|guess what|fun fact)\s*[,:!.]?\s+|"
    r"^(?:yes|yeah|yep|no|nope|(?:it|that|they|he|she|i) (?:is|was|did|does|do|has|had)"
    r"(?: not|n't)?)\s*[,!]\s+",
    re.IGNORECASE,
)
_SPEAKING_OF = re.compile(r"^speaking of ([a-z][\w' -]{0,30}?),\s+", re.IGNORECASE)
_COLON_LEAD = re.compile(r"^(?:[\w']+\s){0,3}[\w']+:\s+(?=\S)")
_TRAILER = re.compile(
    r",\s*(?:by the way|of course|honestly|though|finally|anyway|at least|too)(?=[.!?]*$)",
    re.IGNORECASE,
)
_SUBORDINATE = words("until because when if since unless although though while")
_SHORT_ANSWER = re.compile(
    r"^(?:yes|yeah|yep|no|nope|not|never|only|exactly|definitely|sure|that's the one)\b",
    re.IGNORECASE,
)


def normalise(text: str) -> str:
    """Straight quotes and apostrophes, single spaces."""
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return re.sub(r"\s+", " ", text).strip()


def split_sentences(text: str) -> list[str]:
    """Cut normalised text into sentences, keeping abbreviations inside them."""
    pieces = _SPLIT.split(text)
    merged: list[str] = []
    for piece in pieces:
        if merged and _ABBREVIATION.search(merged[-1]):
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return [p.strip() for p in merged if p.strip()]


def tokenize(text: str) -> list[str]:
    return WORD.findall(text)


def strip_lead_ins(sentence: str) -> tuple[str, str | None]:
    """Drop discourse openers ("By the way, ", "Big news: ") and return the topic of a
    "Speaking of bikes, ..." opener, which "mine"/"yours" then refer to."""
    topic = None
    for _ in range(4):
        match = _SPEAKING_OF.match(sentence)
        if match:
            topic = match.group(1)
            sentence = sentence[match.end() :]
            continue
        match = _LEAD_IN.match(sentence) or _COLON_LEAD.match(sentence)
        if not match or match.end() >= len(sentence):
            break
        sentence = sentence[match.end() :]
    sentence = _TRAILER.sub("", sentence)
    return sentence[:1].upper() + sentence[1:], topic


def strip_tag(sentence: str) -> str | None:
    """The statement inside a tag question, or None when it is not one."""
    match = _TAG.search(sentence)
    if not match or match.start() == 0:
        return None
    return sentence[: match.start()] + "."


def has_finite_verb(tokens: list[str]) -> bool:
    """A rough test for a clause: an auxiliary, a contraction, a past form, or a subject
    followed by a verb ("I finally signed", "Leo comes")."""
    for i, token in enumerate(tokens):
        low = token.lower()
        previous = tokens[i - 1].lower() if i else ""
        if low in AUXILIARIES or _contracted(low):
            return True
        if (
            (low in PAST_FORMS or (low.endswith("ed") and len(low) > 4))
            and i
            and previous not in _MODIFIERS
        ):
            return True
        if _after_subject(tokens, i) and low not in ADVERBS:
            return True
        if i > 1 and _third_person_verb(token) and _noun_subject(tokens, i):
            return True
    return False


_SUBJECTS = words("i you he she we they it")
_CONTRACTED_SUBJECTS = words("it that he she there what who here")
_MODIFIERS = words("a an the very so too more most his her my your their our its")


def _third_person_verb(token: str) -> bool:
    """ "plays" after a name ("Tom plays"): lower case, -s but not -ss/-us/-is."""
    return (
        token.islower()
        and len(token) > 3
        and token.endswith("s")
        and not token.endswith(("ss", "us", "is"))
    )


def _noun_subject(tokens: list[str], i: int) -> bool:
    """ "Tom plays", "Maya's sister lives", "the team plays": a name or a determined noun."""
    previous, before = tokens[i - 1], tokens[i - 2].lower()
    return previous[:1].isupper() or before in _DETERMINERS or before.endswith("'s")


_DETERMINERS = words("the a an my your his her our their this that")


def _contracted(low: str) -> bool:
    if low.endswith("'s"):
        return low[:-2] in _CONTRACTED_SUBJECTS
    return "'" in low[1:]


def _after_subject(tokens: list[str], i: int) -> bool:
    """Whether token i is the verb of a pronoun subject, adverbs allowed between."""
    j = i - 1
    while j >= 0 and tokens[j].lower() in ADVERBS:
        j -= 1
    return j >= 0 and tokens[j].lower() in _SUBJECTS


_FILLER = re.compile(
    r"^(?:" + "|".join(re.escape(f) for f in FILLER_STARTS) + r")(?:$|[ ,])", re.IGNORECASE
)


def is_filler(sentence: str) -> bool:
    return bool(_FILLER.match(sentence.strip(" .!")))


def is_imperative(tokens: list[str]) -> bool:
    return bool(tokens) and tokens[0].lower() in IMPERATIVE_STARTS


def is_short_answer(sentence: str, tokens: list[str]) -> bool:
    """A reply that only makes sense next to the question it answers."""
    if not tokens:
        return False
    if tokens[0].lower() in _SUBORDINATE:
        return True
    return len(tokens) <= 3 or bool(_SHORT_ANSWER.match(sentence)) or not has_finite_verb(tokens)


def classify(sentence: str) -> Kind:
    """The kind of a raw sentence (before any rewriting)."""
    tokens = tokenize(sentence)
    if sentence.rstrip().endswith("?"):
        return Kind.TAG_QUESTION if strip_tag(sentence) else Kind.QUESTION
    if not tokens or is_filler(sentence):
        return Kind.FILLER
    if is_imperative(tokens):
        return Kind.IMPERATIVE
    if tokens[0].lower() in _SUBORDINATE or not has_finite_verb(tokens):
        return Kind.FRAGMENT
    return Kind.STATEMENT


__all__ = [
    "WORD",
    "Kind",
    "classify",
    "has_finite_verb",
    "is_short_answer",
    "normalise",
    "split_sentences",
    "strip_lead_ins",
    "strip_tag",
    "tokenize",
]
