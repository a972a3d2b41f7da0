"""The JSON exchanged with an extraction model: the episode it is sent, the reply it gives.

``render_episode`` writes the user message of a request: the episode's
messages (index, speaker, role, ISO timestamp, weekday, content) and, for the
graph, its facts.

A reply is read in two steps. ``FactsReply`` and ``GraphReply`` check its
outline (``{"facts": [...]}``, ``{"entities": [...], "relations": [...]}``);
a reply that fails that is the caller's error. Inside a good reply each item
is validated on its own against lenient models (blank strings are absent,
confidences are clamped, type and predicate spellings normalised) and invalid
items are dropped. Sources cited by index or by id map to the episode's
message ids; others are discarded, and an item left with none is attributed to
the whole episode (entities: to the messages that name them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar, TypeVar

import structlog
from pydantic import BaseModel, BeforeValidator, StringConstraints, ValidationError

from memfuse_server.models import (
    Entity,
    EntityType,
    EpisodeInput,
    EpisodeMessage,
    Fact,
    Graph,
    Relation,
)

DEFAULT_CONFIDENCE = 0.8
_TYPE_SYNONYMS = {"location": "place", "organisation": "organization", "company": "organization"}

log = structlog.get_logger(__name__)
_Model = TypeVar("_Model", bound=BaseModel)


# -- the request: the episode as the model sees it --------------------------------------------


def _speaker(message: EpisodeMessage, user_name: str) -> str:
    if message.name:
        return message.name
    return user_name if message.role == "user" else message.role.capitalize()


def render_episode(episode: EpisodeInput, facts: Sequence[Fact] | None = None) -> str:
    """The user message of a request: the episode (and facts, if any) as JSON."""
    messages = [
        {
            "index": i,
            "speaker": _speaker(m, episode.user_name),
            "role": m.role,
            "timestamp": m.created_at.isoformat(),
            "weekday": m.created_at.strftime("%A"),
            "content": m.content,
        }
        for i, m in enumerate(episode.messages)
    ]
    document: dict[str, Any] = {"user_name": episode.user_name, "messages": messages}
    if facts:
        index = {m.id: i for i, m in enumerate(episode.messages)}
        document["facts"] = [
            {
                "text": f.text,
                "occurred_at": f.occurred_at.date().isoformat() if f.occurred_at else None,
                "source_message_ids": [index[s] for s in f.source_message_ids if s in index],
            }
            for f in facts
        ]
    return json.dumps(document, ensure_ascii=False)


# -- the reply: its outline, then lenient item models ------------------------------------------


class ExtractionReply(BaseModel):
    """The outline of a reply; ``outline`` is what an error message says was expected."""

    outline: ClassVar[str]


class FactsReply(ExtractionReply):
    outline: ClassVar[str] = '{"facts": [...]}'
    facts: list[Any]

    def facts_for(self, episode: EpisodeInput) -> list[Fact]:
        """The valid facts, their sources mapped to ``episode``'s message ids."""
        sources = _Sources(episode)
        return [_fact(item, sources) for item in _valid_items(_FactItem, self.facts, "fact")]


class GraphReply(ExtractionReply):
    outline: ClassVar[str] = '{"entities": [...], "relations": [...]}'
    entities: list[Any]
    relations: list[Any] = []

    def graph_for(self, episode: EpisodeInput) -> Graph:
        """The valid entities and relations, their sources mapped to ``episode``'s message ids."""
        sources = _Sources(episode)
        entities = _valid_items(_EntityItem, self.entities, "entity")
        relations = _valid_items(_RelationItem, self.relations, "relation")
        return Graph(
            entities=tuple(_entity(item, sources) for item in entities),
            relations=tuple(_relation(item, sources) for item in relations),
        )


def _to_time(value: object) -> datetime | None:
    """An ISO date or date-time as an aware datetime (UTC when unstated); else None."""
    if isinstance(value, date):  # a datetime too
        value = value.isoformat()
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _to_confidence(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return DEFAULT_CONFIDENCE
    return min(1.0, max(0.0, float(value)))


def _to_refs(value: object) -> list[int | str]:
    items = value if isinstance(value, list) else [value]
    return [v for v in items if isinstance(v, int | str) and not isinstance(v, bool)]


def _to_strings(value: object) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return list(dict.fromkeys(v.strip() for v in items if isinstance(v, str) and v.strip()))


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _to_type(value: object) -> object:
    if not isinstance(value, str):
        return value
    key = value.strip().lower()
    return _TYPE_SYNONYMS.get(key, key)


def _to_predicate(value: object) -> object:
    if not isinstance(value, str):
        return value
    return re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_")


_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
_OptionalText = Annotated[str | None, BeforeValidator(_blank_to_none)]
_Time = Annotated[datetime | None, BeforeValidator(_to_time)]
_Confidence = Annotated[float, BeforeValidator(_to_confidence)]
_Refs = Annotated[list[int | str], BeforeValidator(_to_refs)]


class _FactItem(BaseModel):
    text: _Text
    subject: _OptionalText = None
    occurred_at: _Time = None
    time_expression: _OptionalText = None
    confidence: _Confidence = DEFAULT_CONFIDENCE
    source_message_ids: _Refs = []


class _EntityItem(BaseModel):
    name: _Text
    type: Annotated[EntityType, BeforeValidator(_to_type)]
    aliases: Annotated[list[str], BeforeValidator(_to_strings)] = []
    source_message_ids: _Refs = []


class _RelationItem(BaseModel):
    subject: _Text
    predicate: Annotated[_Text, BeforeValidator(_to_predicate)]
    object: _Text
    valid_at: _Time = None
    fact: _OptionalText = None
    confidence: _Confidence = DEFAULT_CONFIDENCE
    source_message_ids: _Refs = []


def _valid_items(model: type[_Model], items: list[Any], kind: str) -> list[_Model]:
    """The items that validate against ``model``; the others are logged and dropped."""
    valid: list[_Model] = []
    for item in items:
        try:
            valid.append(model.model_validate(item))
        except ValidationError:
            log.debug("dropped an invalid extraction item", kind=kind, item=repr(item)[:200])
    if len(valid) < len(items):
        log.warning("dropped invalid extraction items", kind=kind, dropped=len(items) - len(valid))
    return valid


# -- the reply mapped back to the episode ------------------------------------------------------


class _Sources:
    """Maps the model's source references (indexes or ids) to the episode's message ids."""

    def __init__(self, episode: EpisodeInput) -> None:
        self._ids = [m.id for m in episode.messages]
        self._known = set(self._ids)
        self._texts = [
            f"{_speaker(m, episode.user_name)} {m.content}".lower() for m in episode.messages
        ]

    def resolve(self, refs: Sequence[int | str], fallback: tuple[str, ...]) -> tuple[str, ...]:
        found = dict.fromkeys(i for i in map(self._one, refs) if i is not None)
        return tuple(found) or fallback

    @property
    def everything(self) -> tuple[str, ...]:
        return tuple(self._ids)

    def naming(self, names: Sequence[str]) -> tuple[str, ...]:
        """The ids of the messages whose speaker or content contains one of ``names``."""
        lowered = [n.lower() for n in names]
        return tuple(
            i
            for i, text in zip(self._ids, self._texts, strict=True)
            if any(n in text for n in lowered)
        )

    def _one(self, ref: int | str) -> str | None:
        if isinstance(ref, str):
            if ref in self._known:
                return ref
            ref = ref.strip().strip("[]#")
            if not ref.isdigit():
                return None
            ref = int(ref)
        return self._ids[ref] if 0 <= ref < len(self._ids) else None


def _fact(item: _FactItem, sources: _Sources) -> Fact:
    return Fact(
        text=item.text,
        source_message_ids=sources.resolve(item.source_message_ids, sources.everything),
        subject=item.subject,
        occurred_at=item.occurred_at,
        time_expression=item.time_expression,
        confidence=item.confidence,
    )


def _entity(item: _EntityItem, sources: _Sources) -> Entity:
    aliases = tuple(a for a in item.aliases if a.lower() != item.name.lower())
    named = sources.naming([item.name, *aliases])
    return Entity(
        name=item.name,
        type=item.type,
        aliases=aliases,
        source_message_ids=sources.resolve(item.source_message_ids, named),
    )


def _relation(item: _RelationItem, sources: _Sources) -> Relation:
    return Relation(
        subject=item.subject,
        predicate=item.predicate,
        object=item.object,
        source_message_ids=sources.resolve(item.source_message_ids, sources.everything),
        valid_at=item.valid_at,
        fact=item.fact,
        confidence=item.confidence,
    )


__all__ = [
    "DEFAULT_CONFIDENCE",
    "ExtractionReply",
    "FactsReply",
    "GraphReply",
    "render_episode",
]
