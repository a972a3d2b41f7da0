"""Facts and a graph from an OpenAI-compatible chat model (``extraction.provider: llm``).

``LLMExtractor`` sends one ``POST {base_url}/chat/completions`` per call: the
system message is a prompt from ``extraction/prompts/`` (``facts.md`` or
``graph.md``), the user message the episode as JSON (each message with its
index, speaker name, role, ISO timestamp and weekday; for ``graph`` also the
episode's facts when given), and ``response_format`` asks for a JSON object.

The answer is checked in two steps. A reply that is not a chat completion, not
JSON, or not an object of the right shape (``{"facts": [...]}``,
``{"entities": [...], "relations": [...]}``) fails the call with
``ExtractionFailed``, so the job layer retries the episode. Inside a good
reply, each item is validated on its own and invalid ones are dropped.
Sources cited by index or by id map to the episode's message ids; others are
discarded, and an item left with none is attributed to the whole episode
(entities: to the messages that name them).

Connection errors, timeouts, 429 and 5xx are retried up to
``extraction.llm.max_retries`` times with exponential backoff (a
``Retry-After`` header wins); other 4xx answers fail at once. At most
``extraction.llm.max_concurrency`` requests of one extractor are in flight.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from importlib import resources
from typing import Annotated, Any, TypeVar

import httpx
import structlog
from pydantic import BaseModel, BeforeValidator, StringConstraints, ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from memfuse_server.config import LLMSettings
from memfuse_server.embeddings.remote import (
    MAX_BACKOFF_SECONDS,
    MAX_RETRY_AFTER_SECONDS,
    _excerpt,
    _retry_after,
    _Retryable,
)
from memfuse_server.errors import ExtractionFailed
from memfuse_server.extraction.base import (
    Entity,
    EntityType,
    EpisodeInput,
    EpisodeMessage,
    Fact,
    Graph,
    Relation,
)

DEFAULT_BACKOFF_SECONDS = 0.5
DEFAULT_CONFIDENCE = 0.8
_TYPE_SYNONYMS = {"location": "place", "organisation": "organization", "company": "organization"}
_FENCE = re.compile(r"^```[a-zA-Z]*\s*(.*?)\s*```$", re.DOTALL)

log = structlog.get_logger(__name__)
_Model = TypeVar("_Model", bound=BaseModel)


def load_prompt(name: str) -> str:
    """The text of ``extraction/prompts/<name>`` (package data)."""
    folder = resources.files("memfuse_server") / "extraction" / "prompts"
    return (folder / name).read_text(encoding="utf-8")


# -- the reply's schema: lenient normalisers, then strict models ---------------------------


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


class _FactsReply(BaseModel):
    facts: list[Any]


class _GraphReply(BaseModel):
    entities: list[Any]
    relations: list[Any] = []


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


# -- the episode as the model sees it, and its answers mapped back -------------------------


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


def _strip_fence(content: str) -> str:
    """The JSON inside a Markdown code fence, for models that add one anyway."""
    match = _FENCE.match(content.strip())
    return match.group(1) if match else content


# -- the extractor ----------------------------------------------------------------------------


class LLMExtractor:
    """An ``Extractor`` calling an OpenAI-compatible ``/chat/completions`` endpoint."""

    def __init__(
        self, settings: LLMSettings, *, retry_backoff_seconds: float = DEFAULT_BACKOFF_SECONDS
    ) -> None:
        api_key = settings.api_key.get_secret_value()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._url = settings.base_url.rstrip("/") + "/chat/completions"
        self._client = httpx.AsyncClient(headers=headers, timeout=settings.timeout_seconds)
        self._timeout = settings.timeout_seconds
        self._model = settings.model
        self._temperature = settings.temperature
        self._attempts = settings.max_retries + 1
        self._backoff = retry_backoff_seconds
        self._semaphore = asyncio.Semaphore(settings.max_concurrency)
        self._facts_prompt = load_prompt("facts.md")
        self._graph_prompt = load_prompt("graph.md")

    async def facts(self, episode: EpisodeInput) -> list[Fact]:
        if not episode.messages:
            return []
        data = await self._complete(self._facts_prompt, render_episode(episode))
        reply = self._shape(_FactsReply, data, '{"facts": [...]}')
        sources = _Sources(episode)
        return [_fact(item, sources) for item in _valid_items(_FactItem, reply.facts, "fact")]

    async def graph(self, episode: EpisodeInput, facts: Sequence[Fact] | None) -> Graph:
        if not episode.messages:
            return Graph()
        data = await self._complete(self._graph_prompt, render_episode(episode, facts))
        reply = self._shape(_GraphReply, data, '{"entities": [...], "relations": [...]}')
        sources = _Sources(episode)
        entities = _valid_items(_EntityItem, reply.entities, "entity")
        relations = _valid_items(_RelationItem, reply.relations, "relation")
        return Graph(
            entities=tuple(_entity(item, sources) for item in entities),
            relations=tuple(_relation(item, sources) for item in relations),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _complete(self, system: str, user: str) -> Any:
        """The JSON value the model answers to one system + user message pair."""
        body = {
            "model": self._model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "temperature": self._temperature,
            "response_format": {"type": "json_object"},
        }
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    response = await self._post(body)
        except _Retryable as exc:
            raise ExtractionFailed(
                f"The extraction model at {self._url} failed {self._attempts} time(s), last "
                f"with {exc}. Check that it is up and extraction.llm.base_url is right."
            ) from exc
        return self._content(response)

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, _Retryable) and error.retry_after is not None:
            return min(error.retry_after, MAX_RETRY_AFTER_SECONDS)
        backoff: float = self._backoff * 2.0 ** (state.attempt_number - 1)
        return min(backoff, MAX_BACKOFF_SECONDS)

    async def _post(self, body: dict[str, Any]) -> httpx.Response:
        async with self._semaphore:
            try:
                response = await self._client.post(self._url, json=body)
            except httpx.TimeoutException as exc:
                raise _Retryable(
                    f"{type(exc).__name__}: no answer within {self._timeout:g} s "
                    "(extraction.llm.timeout_seconds)"
                ) from exc
            except httpx.TransportError as exc:  # connection errors
                raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}: {_excerpt(response)}", _retry_after(response))
        if response.is_error:
            raise ExtractionFailed(
                f"The extraction model at {self._url} answered HTTP {status}: "
                f"{_excerpt(response)}. Check extraction.llm.api_key, extraction.llm.model "
                "and extraction.llm.base_url."
            )
        return response

    def _content(self, response: httpx.Response) -> Any:
        """The message content of a chat completion, parsed as JSON."""
        try:
            content = response.json()["choices"][0]["message"]["content"]
            if not isinstance(content, str):
                raise TypeError(f"the message content is {type(content).__name__}, not text")
        except (ValueError, LookupError, TypeError) as exc:
            raise ExtractionFailed(
                f"The extraction model at {self._url} sent a body that is not a chat completion "
                f"({_excerpt(response)}); extraction.llm.base_url must point at an "
                "OpenAI-compatible API (ending in /v1)."
            ) from exc
        try:
            return json.loads(_strip_fence(content))
        except ValueError as exc:
            raise ExtractionFailed(
                f"The extraction model {self._model!r} at {self._url} answered with text that "
                f"is not JSON ({content[:300]!r}). Use a model that supports "
                'response_format {"type": "json_object"}.'
            ) from exc

    def _shape(self, model: type[_Model], data: Any, expected: str) -> _Model:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise ExtractionFailed(
                f"The extraction model {self._model!r} at {self._url} answered JSON of the wrong "
                f"shape ({json.dumps(data)[:300]}); expected {expected}."
            ) from exc


__all__ = ["DEFAULT_BACKOFF_SECONDS", "LLMExtractor", "load_prompt", "render_episode"]
