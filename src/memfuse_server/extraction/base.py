"""What extraction produces from one episode, and the Protocol every extractor meets.

An extractor reads the messages of one closed episode and returns:

- **facts** (M1): short self-contained statements about the speakers and what
  they mention, each with the time it refers to where one is stated, and the
  messages it came from;
- **a graph** (M2): entities (people, places, organisations, things, ...) with
  aliases, and relations (subject, predicate, object) with the time they hold.

``graph`` may be given the episode's facts (the sequential mode runs M1 first
and hands its facts to M2); in the parallel mode it gets ``None`` and works
from the messages alone. Extractors never touch storage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class EpisodeMessage:
    id: str
    role: str
    name: str | None  # the speaker's name when the client sent one
    content: str
    created_at: datetime  # when the turn happened (aware); relative dates resolve against it


@dataclass(frozen=True)
class EpisodeInput:
    episode_id: str
    user_id: str
    user_name: str  # the user's display name: who "I" is in a ``user`` turn without ``name``
    session_id: str
    messages: tuple[EpisodeMessage, ...]


class EntityType(StrEnum):
    PERSON = "person"
    PLACE = "place"
    ORGANIZATION = "organization"
    EVENT = "event"
    THING = "thing"


@dataclass(frozen=True)
class Fact:
    text: str  # self-contained: names resolved, relative dates made absolute
    source_message_ids: tuple[str, ...]
    subject: str | None = None  # the entity the fact is about, when known
    occurred_at: datetime | None = None  # the time it refers to, when stated
    time_expression: str | None = None  # the words that gave it ("last week")
    confidence: float = 0.8


@dataclass(frozen=True)
class Entity:
    name: str  # canonical name
    type: EntityType
    aliases: tuple[str, ...] = ()
    source_message_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Relation:
    subject: str  # an entity name (canonical or alias)
    predicate: str  # lower_snake_case verb phrase: "lives_in", "plays", "works_at"
    object: str  # an entity name
    source_message_ids: tuple[str, ...] = ()
    valid_at: datetime | None = None  # when it started to hold / happened, when stated
    fact: str | None = None  # the statement it was read from
    confidence: float = 0.8


@dataclass(frozen=True)
class Graph:
    entities: tuple[Entity, ...] = ()
    relations: tuple[Relation, ...] = ()


@dataclass(frozen=True)
class Extraction:
    facts: tuple[Fact, ...] = ()
    graph: Graph = field(default_factory=Graph)


class Extractor(Protocol):
    """Derives M1 facts and the M2 graph from one episode."""

    async def facts(self, episode: EpisodeInput) -> list[Fact]: ...

    async def graph(self, episode: EpisodeInput, facts: Sequence[Fact] | None) -> Graph: ...

    async def aclose(self) -> None: ...


__all__ = [
    "Entity",
    "EntityType",
    "EpisodeInput",
    "EpisodeMessage",
    "Extraction",
    "Extractor",
    "Fact",
    "Graph",
    "Relation",
]
