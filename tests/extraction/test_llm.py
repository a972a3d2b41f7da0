"""LLMExtractor against a real OpenAI-compatible server on loopback (FakeLLMServer)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import numpy as np
import pytest

from memfuse_server.config import EmbeddingSettings, LLMSettings, load_settings
from memfuse_server.embeddings.remote import RemoteEncoder
from memfuse_server.errors import ExtractionFailed
from memfuse_server.extraction.base import Extractor
from memfuse_server.extraction.llm import LLMExtractor, load_prompt
from memfuse_server.models import EntityType, EpisodeInput, EpisodeMessage, Fact
from memfuse_server.testing import FakeLLMServer, fake_embedding

MAY_8 = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(dimension=8) as server:
        yield server


def settings_for(fake: FakeLLMServer, **overrides: object) -> LLMSettings:
    values: dict[str, object] = {
        "base_url": fake.base_url,
        "model": "fake-model",
        "api_key": "sk-test",
        "timeout_seconds": 2.0,
        "max_retries": 3,
        "retry_backoff_seconds": 0.01,
        "temperature": 0.3,
        **overrides,
    }
    return LLMSettings.model_validate(values)


@pytest.fixture
async def extractor(fake: FakeLLMServer) -> AsyncIterator[LLMExtractor]:
    llm = LLMExtractor(settings_for(fake))
    yield llm
    await llm.aclose()


@pytest.fixture
def episode() -> EpisodeInput:
    return EpisodeInput(
        episode_id="ep-1",
        user_id="u-1",
        user_name="Caroline",
        session_id="s-1",
        messages=(
            EpisodeMessage("m-a", "user", None, "I went to Stockholm yesterday.", MAY_8),
            EpisodeMessage("m-b", "assistant", "Melanie", "How was Sweden?", MAY_8),
            EpisodeMessage("m-c", "user", None, "great", MAY_8.replace(minute=58)),
        ),
    )


def sent_episode(fake: FakeLLMServer) -> dict[str, object]:
    body = fake.requests[-1].body
    loaded: dict[str, object] = json.loads(body["messages"][1]["content"])
    return loaded


async def test_facts_parsed_and_mapped_to_message_ids(
    fake: FakeLLMServer, extractor: LLMExtractor, episode: EpisodeInput
) -> None:
    facts = await extractor.facts(episode)

    assert [f.text for f in facts] == [
        "Caroline said: I went to Stockholm yesterday.",
        "Melanie said: How was Sweden?",
        "Caroline said: great",
    ]
    assert [f.source_message_ids for f in facts] == [("m-a",), ("m-b",), ("m-c",)]
    assert facts[0].occurred_at == datetime(2023, 5, 8, tzinfo=UTC)
    assert facts[0].subject == "Caroline"
    assert facts[0].confidence == pytest.approx(0.9)


async def test_the_request_is_an_openai_chat_call_with_the_episode(
    fake: FakeLLMServer, extractor: LLMExtractor, episode: EpisodeInput
) -> None:
    await extractor.facts(episode)

    (request,) = fake.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body["model"] == "fake-model"
    assert request.body["temperature"] == pytest.approx(0.3)
    assert request.body["response_format"] == {"type": "json_object"}
    assert request.body["messages"][0] == {"role": "system", "content": load_prompt("facts.md")}
    sent = sent_episode(fake)
    assert sent["user_name"] == "Caroline"
    assert sent["messages"] == [
        {
            "index": 0,
            "speaker": "Caroline",
            "role": "user",
            "timestamp": "2023-05-08T13:56:00+00:00",
            "weekday": "Monday",
            "content": "I went to Stockholm yesterday.",
        },
        {
            "index": 1,
            "speaker": "Melanie",
            "role": "assistant",
            "timestamp": "2023-05-08T13:56:00+00:00",
            "weekday": "Monday",
            "content": "How was Sweden?",
        },
        {
            "index": 2,
            "speaker": "Caroline",
            "role": "user",
            "timestamp": "2023-05-08T13:58:00+00:00",
            "weekday": "Monday",
            "content": "great",
        },
    ]


async def test_no_authorization_header_without_a_key(
    fake: FakeLLMServer, episode: EpisodeInput
) -> None:
    llm = LLMExtractor(settings_for(fake, api_key=""))
    try:
        await llm.facts(episode)
    finally:
        await llm.aclose()
    assert "authorization" not in fake.requests[0].headers


async def test_graph_parsed_and_mapped_to_message_ids(
    fake: FakeLLMServer, extractor: LLMExtractor, episode: EpisodeInput
) -> None:
    graph = await extractor.graph(episode, None)

    types = {e.name: e.type for e in graph.entities}
    assert types == {
        "Caroline": EntityType.PERSON,
        "Melanie": EntityType.PERSON,
        "Stockholm": EntityType.THING,
        "Sweden": EntityType.THING,
    }
    by_name = {e.name: e for e in graph.entities}
    # no sources in the answer: the messages that name the entity
    assert by_name["Stockholm"].source_message_ids == ("m-a",)
    assert by_name["Caroline"].source_message_ids == ("m-a", "m-c")
    triples = [(r.subject, r.predicate, r.object, r.source_message_ids) for r in graph.relations]
    assert triples == [
        ("Caroline", "mentioned", "Stockholm", ("m-a",)),
        ("Melanie", "mentioned", "Sweden", ("m-b",)),
    ]
    assert graph.relations[0].valid_at == datetime(2023, 5, 8, tzinfo=UTC)
    assert fake.requests[0].body["messages"][0]["content"] == load_prompt("graph.md")
    assert "facts" not in sent_episode(fake)


async def test_graph_gets_the_facts_as_context(
    fake: FakeLLMServer, extractor: LLMExtractor, episode: EpisodeInput
) -> None:
    fact = Fact(
        "Caroline visited Stockholm on 2023-05-07.",
        source_message_ids=("m-a", "m-elsewhere"),
        occurred_at=datetime(2023, 5, 7, tzinfo=UTC),
    )
    await extractor.graph(episode, [fact])

    assert sent_episode(fake)["facts"] == [
        {
            "text": "Caroline visited Stockholm on 2023-05-07.",
            "occurred_at": "2023-05-07",
            "source_message_ids": [0],
        }
    ]


async def test_invalid_facts_are_dropped_and_sources_checked(
    fake: FakeLLMServer, extractor: LLMExtractor, episode: EpisodeInput
) -> None:
    fake.reply_next(
        json.dumps(
            {
                "facts": [
                    {
                        "text": "Caroline visited Stockholm on 2023-05-07.",
                        "occurred_at": "2023-05-07",
                        "time_expression": "yesterday",
                        "confidence": 1.7,
                        "source_message_ids": [0, "m-b", "2", 99, "m-unknown", -1],
                    },
                    {"text": "   ", "source_message_ids": [0]},
                    {"text": 42},
                    "a bare string",
                    {"occurred_at": "2023-05-07"},
                    {"text": "Melanie asked about Sweden.", "occurred_at": "soon"},
                ]
            }
        )
    )
    facts = await extractor.facts(episode)

    assert [f.text for f in facts] == [
        "Caroline visited Stockholm on 2023-05-07.",
        "Melanie asked about Sweden.",
    ]
    first, second = facts
    assert first.source_message_ids == ("m-a", "m-b", "m-c")
    assert first.occurred_at == datetime(2023, 5, 7, tzinfo=UTC)
    assert first.time_expression == "yesterday"
    assert first.confidence == 1.0
    # an unreadable date is dropped, not the fact; no valid source: the whole episode
    assert second.occurred_at is None
    assert second.source_message_ids == ("m-a", "m-b", "m-c")


async def test_invalid_graph_items_are_dropped(
    fake: FakeLLMServer, extractor: LLMExtractor, episode: EpisodeInput
) -> None:
    fake.reply_next(
        "```json\n"
        + json.dumps(
            {
                "entities": [
                    {"name": "Caroline", "type": "Person", "aliases": ["Caro", "caroline", 3]},
                    {"name": "Stockholm", "type": "location", "source_message_ids": [0]},
                    {"name": "Blob", "type": "feeling"},
                    {"type": "person"},
                ],
                "relations": [
                    {
                        "subject": "Caroline",
                        "predicate": "Visited City",
                        "object": "Stockholm",
                        "valid_at": "2023-05-07",
                        "fact": "Caroline visited Stockholm on 2023-05-07.",
                        "source_message_ids": [0],
                    },
                    {"subject": "Caroline", "predicate": "likes"},
                    {"subject": "Caroline", "predicate": "!!!", "object": "Sweden"},
                ],
            }
        )
        + "\n```"
    )
    graph = await extractor.graph(episode, None)

    assert [(e.name, e.type, e.aliases) for e in graph.entities] == [
        ("Caroline", EntityType.PERSON, ("Caro",)),
        ("Stockholm", EntityType.PLACE, ()),
    ]
    (relation,) = graph.relations
    assert relation.predicate == "visited_city"
    assert relation.valid_at == datetime(2023, 5, 7, tzinfo=UTC)
    assert relation.source_message_ids == ("m-a",)
    assert relation.confidence == pytest.approx(0.8)


@pytest.mark.parametrize(
    "content",
    ["this is not JSON at all", "[]", '{"items": []}', '{"facts": "none"}', "null"],
)
async def test_a_reply_that_is_not_json_of_the_right_shape_raises(
    fake: FakeLLMServer, extractor: LLMExtractor, episode: EpisodeInput, content: str
) -> None:
    fake.reply_next(content)
    with pytest.raises(ExtractionFailed, match="fake-model"):
        await extractor.facts(episode)
    assert len(fake.requests) == 1  # not retried here: the job layer retries the episode


async def test_a_graph_reply_without_entities_raises(
    fake: FakeLLMServer, extractor: LLMExtractor, episode: EpisodeInput
) -> None:
    fake.reply_next('{"facts": []}')
    with pytest.raises(ExtractionFailed, match="wrong shape"):
        await extractor.graph(episode, None)


async def test_retries_after_503_then_succeeds(
    fake: FakeLLMServer, extractor: LLMExtractor, episode: EpisodeInput
) -> None:
    fake.fail_next(2, status=503)
    facts = await extractor.facts(episode)
    assert len(facts) == 3
    assert len(fake.requests) == 3


async def test_429_retry_after_is_honoured(
    fake: FakeLLMServer, extractor: LLMExtractor, episode: EpisodeInput
) -> None:
    fake.fail_next(1, status=429, retry_after=1)
    facts = await extractor.facts(episode)

    assert len(facts) == 3
    first, second = fake.requests
    # the backoff alone would wait 0.01 s
    assert second.at - first.at >= 0.95


async def test_a_400_fails_fast_naming_the_status_and_endpoint(
    fake: FakeLLMServer, extractor: LLMExtractor, episode: EpisodeInput
) -> None:
    fake.fail_next(1, status=400)
    with pytest.raises(ExtractionFailed) as caught:
        await extractor.facts(episode)
    assert "HTTP 400" in caught.value.message
    assert f"{fake.base_url}/chat/completions" in caught.value.message
    assert len(fake.requests) == 1


async def test_5xx_every_time_gives_up_after_max_retries(
    fake: FakeLLMServer, episode: EpisodeInput
) -> None:
    fake.fail_always(500)
    llm = LLMExtractor(settings_for(fake, max_retries=2))
    try:
        with pytest.raises(ExtractionFailed, match=r"failed 3 time\(s\), last with HTTP 500"):
            await llm.facts(episode)
    finally:
        await llm.aclose()
    assert len(fake.requests) == 3


def test_the_backoff_comes_from_the_settings() -> None:
    settings = load_settings(
        environ={"MEMFUSE_EXTRACTION__LLM__RETRY_BACKOFF_SECONDS": "0.25"}
    ).extraction.llm
    assert settings.retry_backoff_seconds == 0.25
    assert LLMSettings().retry_backoff_seconds == 0.5


async def test_timeouts_are_retried_then_fail_clearly(episode: EpisodeInput) -> None:
    with FakeLLMServer(latency_seconds=1.0) as slow:
        llm = LLMExtractor(settings_for(slow, timeout_seconds=0.2, max_retries=2))
        started = time.monotonic()
        try:
            with pytest.raises(ExtractionFailed) as caught:
                await llm.facts(episode)
        finally:
            await llm.aclose()
        elapsed = time.monotonic() - started
        assert len(slow.requests) == 3
    assert "failed 3 time(s)" in caught.value.message
    assert "ReadTimeout: no answer within 0.2 s (extraction.llm.timeout_seconds)" in (
        caught.value.message
    )
    assert 0.6 <= elapsed < 1.5


async def test_the_semaphore_bounds_calls_in_flight(episode: EpisodeInput) -> None:
    with FakeLLMServer(latency_seconds=0.2) as fake:
        llm = LLMExtractor(settings_for(fake, max_concurrency=3))
        started = time.monotonic()
        try:
            results = await asyncio.gather(*(llm.facts(episode) for _ in range(10)))
        finally:
            await llm.aclose()
        elapsed = time.monotonic() - started
        assert fake.max_in_flight == 3
        assert len(fake.requests) == 10
    assert all(len(facts) == 3 for facts in results)
    # ceil(10 / 3) = 4 waves of 0.2 s; unbounded it would take one
    assert 0.8 <= elapsed < 2.0


async def test_an_empty_episode_makes_no_call(
    fake: FakeLLMServer, extractor: LLMExtractor, episode: EpisodeInput
) -> None:
    empty = EpisodeInput("ep-0", "u-1", "Caroline", "s-1", ())
    assert await extractor.facts(empty) == []
    assert (await extractor.graph(empty, None)).entities == ()
    assert fake.requests == []


def test_the_extractor_meets_the_protocol(fake: FakeLLMServer) -> None:
    extractor: Extractor = LLMExtractor(settings_for(fake))
    assert callable(extractor.facts)
    asyncio.run(extractor.aclose())


async def test_the_fake_serves_embeddings_too(fake: FakeLLMServer) -> None:
    settings = EmbeddingSettings(
        provider="openai", base_url=fake.base_url, dimension=8, model="fake-embedder"
    )
    encoder = RemoteEncoder(settings)
    try:
        vectors = await encoder.encode_batch(["hello", "world", "hello"])
    finally:
        await encoder.aclose()
    assert vectors.shape == (3, 8)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(vectors[0], vectors[2])
    np.testing.assert_allclose(vectors[0], fake_embedding("hello", 8), rtol=1e-5)
    assert fake.requests[0].path == "/v1/embeddings"
