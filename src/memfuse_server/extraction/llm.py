"""Facts and a graph from an OpenAI-compatible chat model (``extraction.provider: llm``).

``LLMExtractor`` sends one ``POST {base_url}/chat/completions`` per call: the
system message is a prompt from ``extraction/prompts/`` (``facts.md`` or
``graph.md``), the user message the episode as JSON (``render_episode``; for
``graph`` also the episode's facts when given), and ``response_format`` asks
for a JSON object.

A reply that is not a chat completion, not JSON, or not an object of the right
outline fails the call with ``ExtractionFailed``, so the job layer retries the
episode; inside a good reply invalid items are dropped (``llm_schema``).

Connection errors, timeouts, 429 and 5xx are retried up to
``extraction.llm.max_retries`` times with exponential backoff from
``extraction.llm.retry_backoff_seconds``, as ``memfuse_server.http_retry``
says (a ``Retry-After`` header wins); other 4xx answers fail at once. At most
``extraction.llm.max_concurrency`` requests of one extractor are in flight.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from memfuse_server.config import LLMSettings
from memfuse_server.errors import ExtractionFailed
from memfuse_server.extraction.llm_schema import (
    ExtractionReply,
    FactsReply,
    GraphReply,
    render_episode,
)
from memfuse_server.http_retry import (
    RetryableError,
    RetryPolicy,
    excerpt,
    json_client,
    post_json,
)
from memfuse_server.models import EpisodeInput, Fact, Graph

_FENCE = re.compile(r"^```[a-zA-Z]*\s*(.*?)\s*```$", re.DOTALL)
_Reply = TypeVar("_Reply", bound=ExtractionReply)


def load_prompt(name: str) -> str:
    """The text of ``extraction/prompts/<name>`` (package data)."""
    folder = resources.files("memfuse_server") / "extraction" / "prompts"
    return (folder / name).read_text(encoding="utf-8")


class LLMExtractor:
    """An ``Extractor`` calling an OpenAI-compatible ``/chat/completions`` endpoint."""

    def __init__(self, settings: LLMSettings) -> None:
        self._url = settings.base_url.rstrip("/") + "/chat/completions"
        self._client = json_client(settings.api_key.get_secret_value(), settings.timeout_seconds)
        self._timeout_hint = (
            f"no answer within {settings.timeout_seconds:g} s (extraction.llm.timeout_seconds)"
        )
        self._model = settings.model
        self._temperature = settings.temperature
        self._retry = RetryPolicy(settings.max_retries, settings.retry_backoff_seconds)
        self._semaphore = asyncio.Semaphore(settings.max_concurrency)
        self._facts_prompt = load_prompt("facts.md")
        self._graph_prompt = load_prompt("graph.md")

    async def facts(self, episode: EpisodeInput) -> list[Fact]:
        if not episode.messages:
            return []
        data = await self._complete(self._facts_prompt, render_episode(episode))
        return self._shape(FactsReply, data).facts_for(episode)

    async def graph(self, episode: EpisodeInput, facts: Sequence[Fact] | None) -> Graph:
        if not episode.messages:
            return Graph()
        data = await self._complete(self._graph_prompt, render_episode(episode, facts))
        return self._shape(GraphReply, data).graph_for(episode)

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
        try:
            response = await self._retry.run(lambda: self._post(body))
        except RetryableError as exc:
            raise ExtractionFailed(
                f"The extraction model at {self._url} failed {self._retry.attempts} time(s), "
                f"last with {exc}. Check that it is up and extraction.llm.base_url is right."
            ) from exc
        return self._content(response)

    async def _post(self, body: dict[str, Any]) -> httpx.Response:
        async with self._semaphore:
            response = await post_json(
                self._client, self._url, body, timeout_hint=self._timeout_hint
            )
        if response.is_error:
            raise ExtractionFailed(
                f"The extraction model at {self._url} answered HTTP {response.status_code}: "
                f"{excerpt(response)}. Check extraction.llm.api_key, extraction.llm.model "
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
                f"({excerpt(response)}); extraction.llm.base_url must point at an "
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

    def _shape(self, reply: type[_Reply], data: Any) -> _Reply:
        try:
            return reply.model_validate(data)
        except ValidationError as exc:
            raise ExtractionFailed(
                f"The extraction model {self._model!r} at {self._url} answered JSON of the wrong "
                f"shape ({json.dumps(data)[:300]}); expected {reply.outline}."
            ) from exc


def _strip_fence(content: str) -> str:
    """The JSON inside a Markdown code fence, for models that add one anyway."""
    match = _FENCE.match(content.strip())
    return match.group(1) if match else content


__all__ = ["LLMExtractor", "load_prompt", "render_episode"]
