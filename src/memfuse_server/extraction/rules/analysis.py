"""One pass over an episode that both ``facts()`` and ``graph()`` read.

For each message, in order: who is speaking and to whom; its sentences; each
sentence's kind, its first/second/third-person rewrite, mentions and time
expressions. Then the registry of entities and the relations. The analysis is a
pure function of the episode, so the parallel and the sequential mode (which
hands ``graph()`` the facts) produce the same graph.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from memfuse_server.extraction.rules.anaphora import Salience, remember, resolve
from memfuse_server.extraction.rules.dates import TimeRef, find_times, local_date
from memfuse_server.extraction.rules.entities import Registry
from memfuse_server.extraction.rules.lexicon import KINSHIP
from memfuse_server.extraction.rules.mentions import (
    MEDIUM,
    STRONG,
    WEAK,
    Context,
    Mention,
    find_mentions,
)
from memfuse_server.extraction.rules.patterns import Found
from memfuse_server.extraction.rules.persons import Voices, partner_of, rewrite
from memfuse_server.extraction.rules.relations import read_relations
from memfuse_server.extraction.rules.text import (
    Kind,
    classify,
    normalise,
    split_sentences,
    strip_lead_ins,
    strip_tag,
)
from memfuse_server.models import EntityType, EpisodeInput, EpisodeMessage

ASSISTANT = "the assistant"
ASSERTIVE = frozenset({Kind.STATEMENT, Kind.TAG_QUESTION, Kind.FRAGMENT})


@dataclass(frozen=True)
class Sentence:
    message_id: str
    speaker: str
    addressee: str | None
    index: int  # position in its message
    kind: Kind
    text: str  # names resolved; dates not yet annotated
    times: tuple[TimeRef, ...]
    mentions: tuple[Mention, ...]
    third_person: bool  # a he/she was resolved from an earlier sentence


@dataclass(frozen=True)
class Analysis:
    sentences: tuple[Sentence, ...]
    registry: Registry
    relations: tuple[tuple[Found, Sentence], ...]


def speaker_of(message: EpisodeMessage, episode: EpisodeInput) -> str | None:
    """The name behind "I": the message's name, the user's name, or "the assistant"."""
    if message.name:
        return message.name.strip()
    if message.role == "user":
        return episode.user_name
    if message.role == "assistant":
        return ASSISTANT
    return None


def _context(episode: EpisodeInput, speakers: list[str]) -> Context:
    lower, inner = set[str](), set[str]()
    for message in episode.messages:
        for sentence in split_sentences(normalise(message.content)):
            tokens = re.findall(r"[\w'\-]+", sentence)
            lower |= {t for t in tokens if t.islower()}
            inner |= {t.lower() for t in tokens[1:] if t[:1].isupper()}
    return Context(frozenset(speakers), frozenset(lower), frozenset(inner))


def _kind_and_body(raw: str) -> tuple[Kind, str, str | None]:
    kind = classify(raw)
    body = strip_tag(raw) if kind is Kind.TAG_QUESTION else raw
    body, topic = strip_lead_ins(body or raw)
    if kind is Kind.STATEMENT or kind is Kind.FRAGMENT:
        kind = classify(body)
    return kind, body, topic


@dataclass
class _Walk:
    """The state carried from sentence to sentence while reading an episode."""

    ctx: Context
    salience: Salience
    speakers: frozenset[str]

    def sentence(self, raw: str, index: int, message: EpisodeMessage, voices: Voices) -> Sentence:
        kind, body, topic = _kind_and_body(raw)
        voices = Voices(voices.speaker, voices.other, voices.partner, topic)
        text = rewrite(body, voices)
        mentions = find_mentions(text, self.ctx)
        text, third = resolve(text, mentions, self.salience, self.speakers)
        if third:
            mentions = find_mentions(text, self.ctx)
        times = tuple(find_times(text, local_date(message.created_at)))
        remember(self.salience, text, mentions, self.speakers)
        self.ctx.learn(mentions)
        return Sentence(
            message.id,
            voices.speaker,
            voices.other,
            index,
            kind,
            text,
            times,
            tuple(mentions),
            third,
        )


def read_sentences(episode: EpisodeInput) -> tuple[Sentence, ...]:
    named = [(m, speaker_of(m, episode)) for m in episode.messages]
    speakers = list(dict.fromkeys(s for _, s in named if s))
    walk = _Walk(_context(episode, speakers), Salience(), frozenset(speakers))
    out: list[Sentence] = []
    for message, speaker in named:
        if speaker is None:
            continue
        others = [s for s in speakers if s != speaker]
        other = others[0] if len(speakers) == 2 and len(others) == 1 else None
        voices = Voices(speaker, other, partner_of(message.content))
        for index, raw in enumerate(split_sentences(normalise(message.content))):
            out.append(walk.sentence(raw, index, message, voices))
    return tuple(out)


def _register_mentions(registry: Registry, s: Sentence) -> None:
    if s.speaker != ASSISTANT:
        registry.add(s.speaker, EntityType.PERSON, STRONG, s.message_id)
    for m in s.mentions:
        registry.add(m.name, m.type, m.strength, s.message_id, descriptor=m.descriptor)
        if m.owner:
            registry.add(m.owner, EntityType.PERSON, m.strength, s.message_id)
        if m.owner and m.relation in KINSHIP and not m.descriptor:
            registry.link(f"{m.owner}'s {m.relation}", m.name)


def _register_found(registry: Registry, f: Found, message_id: str) -> None:
    """Names a relation introduced (a phrase object, a name given to a thing)."""
    if not registry.knows(f.subject):
        registry.add(f.subject, EntityType.PERSON, MEDIUM, message_id)
    registry.add(f.object, f.object_type, STRONG if f.alias else WEAK, message_id)
    if f.alias:
        registry.link(f.alias, f.object)


def _register(registry: Registry, sentences: tuple[Sentence, ...]) -> list[tuple[Found, Sentence]]:
    found: list[tuple[Found, Sentence]] = []
    for s in sentences:
        _register_mentions(registry, s)
        if s.kind in ASSERTIVE:
            found += [(f, s) for f in read_relations(s.text, list(s.mentions))]
    for f, s in found:
        _register_found(registry, f, s.message_id)
    return found


def analyse(episode: EpisodeInput) -> Analysis:
    sentences = read_sentences(episode)
    registry = Registry()
    found = _register(registry, sentences)
    registry.entities()  # settle merges before canonical names are read
    return Analysis(sentences, registry, tuple(found))


__all__ = ["ASSERTIVE", "ASSISTANT", "Analysis", "Sentence", "analyse", "speaker_of"]
