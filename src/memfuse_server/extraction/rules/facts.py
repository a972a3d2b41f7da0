"""Facts: one short, self-contained statement per informative sentence, plus question-answer pairs.

A sentence becomes a fact when it is a statement (or a tag question asked back:
"You played as a kid, right?"), has at least four words, is not filler or an
evaluation ("That is the sweetest thing."), and is anchored: it names an entity
other than just its speaker, or carries a date, or is long enough to say
something about its speaker. A reply that only makes sense next to its question
("Twenty-four kilometres along the Elbe.") becomes one fact with the question:
'Jonas asked: "How did the long run go yesterday (on 2024-03-22)?" Maya
answered: "Twenty-four kilometres along the Elbe."'.

Confidence: 0.85 for a speaker's own statement, 0.75 for one about others, less
when a he/she had to be resolved from an earlier sentence (-0.1), the date is
approximate (-0.1), it is a tag question (0.6), a question-answer pair (0.55),
or a pronoun is left unresolved (0.4).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from memfuse_server.extraction.rules.analysis import Analysis, Sentence
from memfuse_server.extraction.rules.dates import Grain, annotate
from memfuse_server.extraction.rules.text import Kind, is_short_answer, tokenize
from memfuse_server.models import Fact

_EVALUATION = re.compile(
    r"^(?:that|this|it|there|which)(?:'s| is| was| must| sounds| seems| looks| would)\b",
    re.IGNORECASE,
)
_UNRESOLVED = re.compile(r"^(?:he|she|they|it|him|her|them|you)\b", re.IGNORECASE)


def fact_text(sentence: Sentence) -> str:
    """The sentence with its dates annotated and a full stop."""
    text = annotate(sentence.text, list(sentence.times)).strip()
    text = re.sub(r"[.!?]+$", "", text).rstrip(" ,;:")
    return text[:1].upper() + text[1:] + "."


def _others(sentence: Sentence) -> list[str]:
    """Names in the sentence besides the two people talking."""
    talking = (sentence.speaker, sentence.addressee)
    return [m.name for m in sentence.mentions if m.name not in talking]


def is_informative(sentence: Sentence, related: bool = False) -> bool:
    """Whether a sentence says something worth keeping (see the module docstring)."""
    if sentence.kind not in (Kind.STATEMENT, Kind.TAG_QUESTION):
        return False
    count = len(tokenize(sentence.text))
    if count < 4 and not related:
        return False
    if _EVALUATION.match(sentence.text) and not _others(sentence) and not sentence.times:
        return False
    if related or _others(sentence) or sentence.times:
        return True
    talking = any(name and name in sentence.text for name in (sentence.speaker, sentence.addressee))
    return count >= (5 if talking else 6)


def _anchored(sentence: Sentence) -> bool:
    return bool(sentence.mentions or sentence.times)


def confidence(sentence: Sentence) -> float:
    if _UNRESOLVED.match(sentence.text):
        return 0.4
    if sentence.kind is Kind.TAG_QUESTION or not _anchored(sentence):
        return 0.6
    score = 0.85 if sentence.text.startswith(sentence.speaker) else 0.75
    if sentence.third_person:
        score -= 0.1
    if any(
        t.approximate or (t.grain in (Grain.MONTH, Grain.SEASON) and not t.explicit)
        for t in sentence.times
    ):
        score -= 0.1
    return round(score, 2)


def _subject(sentence: Sentence, analysis: Analysis) -> str | None:
    mentions = list(sentence.mentions)
    if not mentions:
        return None
    first = mentions[0]
    for m in mentions:
        if m.descriptor and m.owner == first.name and sentence.text[first.end :].startswith("'"):
            first = m
            break
    return analysis.registry.canonical(first.name)


def _fact(sentence: Sentence, analysis: Analysis) -> Fact:
    first = sentence.times[0] if sentence.times else None
    return Fact(
        text=fact_text(sentence),
        source_message_ids=(sentence.message_id,),
        subject=_subject(sentence, analysis),
        occurred_at=first.occurred_at if first else None,
        time_expression=first.expression if first else None,
        confidence=confidence(sentence),
    )


def _quoted(sentences: list[Sentence]) -> str:
    parts = []
    for s in sentences:
        text = annotate(s.text, list(s.times)).strip()
        if s.kind is Kind.TAG_QUESTION:
            text = text.rstrip(".") + "?"
        parts.append(text if text[-1:] in ".!?" else text + ".")
    return " ".join(parts)


def _qa_fact(question: list[Sentence], answer: list[Sentence], analysis: Analysis) -> Fact | None:
    asker, answerer = question[0].speaker, answer[0].speaker
    times = [t for s in (*question, *answer) for t in s.times]
    mentions = [
        m for s in (*question, *answer) for m in s.mentions if m.name not in (asker, answerer)
    ]
    said = sum(len(tokenize(s.text)) for s in answer)
    if not times and not mentions and said < 3:
        return None
    text = f'{asker.capitalize() if asker[:1].islower() else asker} asked: "{_quoted(question)}" {answerer} answered: "{_quoted(answer)}"'
    subject = analysis.registry.canonical(mentions[0].name) if mentions else answerer
    return Fact(
        text=text,
        source_message_ids=tuple(dict.fromkeys([question[0].message_id, answer[0].message_id])),
        subject=subject,
        occurred_at=times[0].occurred_at if times else None,
        time_expression=times[0].expression if times else None,
        confidence=0.55,
    )


def _messages(analysis: Analysis) -> list[list[Sentence]]:
    grouped: list[list[Sentence]] = []
    for sentence in analysis.sentences:
        if grouped and grouped[-1][0].message_id == sentence.message_id:
            grouped[-1].append(sentence)
        else:
            grouped.append([sentence])
    return grouped


def _trailing_questions(message: list[Sentence]) -> list[Sentence]:
    """The (at most two) questions a message ends with, one-word ones ("So?") dropped."""
    asked: list[Sentence] = []
    for sentence in reversed(message):
        if sentence.kind not in (Kind.QUESTION, Kind.TAG_QUESTION) or len(asked) == 2:
            break
        asked.insert(0, sentence)
    worded = [s for s in asked if len(tokenize(s.text)) > 1]
    return worded or asked


def _answer(message: list[Sentence]) -> list[Sentence]:
    first = message[0]
    if first.kind in (Kind.QUESTION, Kind.IMPERATIVE, Kind.FILLER) or not is_short_answer(
        first.text, tokenize(first.text)
    ):
        return []
    short = (
        len(tokenize(first.text)) <= 3 and len(message) > 1 and message[1].kind is not Kind.QUESTION
    )
    return message[:2] if short else message[:1]


def qa_facts(analysis: Analysis) -> Iterator[tuple[int, Fact]]:
    """Question-answer facts, each with the index of the answering message."""
    messages = _messages(analysis)
    for i in range(1, len(messages)):
        previous, current = messages[i - 1], messages[i]
        if previous[0].speaker == current[0].speaker:
            continue
        question, answer = _trailing_questions(previous), _answer(current)
        fact = _qa_fact(question, answer, analysis) if question and answer else None
        if fact:
            yield i, fact


def build_facts(analysis: Analysis) -> list[Fact]:
    """All facts of the episode in message order, duplicates (same text) merged."""
    pairs = dict(qa_facts(analysis))
    related = {(s.message_id, s.index) for _, s in analysis.relations}
    ordered: list[Fact] = []
    for i, message in enumerate(_messages(analysis)):
        if i in pairs:
            ordered.append(pairs[i])
        for s in message:
            if is_informative(s, (s.message_id, s.index) in related):
                ordered.append(_fact(s, analysis))
    unique: dict[str, Fact] = {}
    for fact in ordered:
        unique.setdefault(fact.text.lower(), fact)
    return list(unique.values())


__all__ = ["build_facts", "fact_text", "is_informative"]
