"""The SDK's OpenAI wrapper (memfuse.llm.OpenAI) with a local fake model (FakeLLMServer)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from memfuse import AsyncMemFuse, MemFuse
from memfuse.llm import AsyncOpenAI, OpenAI

from memfuse_server.testing import FakeLLMServer
from tests.api.helpers import uniq
from tests.serverproc import ServerProcess

REPLY = "Canned reply from the fake model."
FACT = "The spare key is hidden under the blue ceramic flowerpot by the shed."


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(chat_reply=REPLY) as server:
        yield server


def _system_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m["content"]) for m in messages if m["role"] == "system")


def _turns(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in messages if m["role"] != "system"]


def _stored(listing: dict[str, Any]) -> list[tuple[str, str]]:
    """Messages of a list_messages answer (newest first) as (role, content), oldest first."""
    return [(m["role"], m["content"]) for m in reversed(listing["data"]["messages"])]


def test_memory_of_an_earlier_session_reaches_the_prompt(
    server: ServerProcess, fake: FakeLLMServer
) -> None:
    user, agent = uniq("wrapper user"), uniq("wrapper-agent")
    with MemFuse(base_url=server.base_url) as client:
        first = client.init(user=user, agent=agent, session=uniq("s1"))
        first.add([{"role": "user", "content": FACT}, {"role": "assistant", "content": "Noted."}])

        second = client.init(user=user, agent=agent, session=uniq("s2"))
        llm = OpenAI(memory=second, api_key="sk-test", base_url=fake.base_url)
        try:
            question = "Where is the spare key hidden?"
            answer = llm.chat.completions.create(
                model="stub-model", messages=[{"role": "user", "content": question}]
            )
            assert answer.choices[0].message.content == REPLY
            sent = fake.chat_messages()
            assert FACT in _system_text(sent)  # as long-term (cross-session) memory
            assert "long-term memory" in _system_text(sent)
            assert _turns(sent) == [("user", question)]  # the new session has no history
            assert _stored(second.list_messages(limit=10)) == [
                ("user", question),
                ("assistant", REPLY),
            ]

            # The next turn carries that exchange as history, once.
            follow_up = "And which shed was that?"
            llm.chat.completions.create(
                model="stub-model", messages=[{"role": "user", "content": follow_up}]
            )
            assert _turns(fake.chat_messages()) == [
                ("user", question),
                ("assistant", REPLY),
                ("user", follow_up),
            ]
        finally:
            llm.close()
        # Session 1 is untouched by the chat in session 2.
        assert _stored(first.list_messages(limit=10)) == [("user", FACT), ("assistant", "Noted.")]


async def test_async_wrapper_uses_and_stores_memory(
    server: ServerProcess, fake: FakeLLMServer
) -> None:
    user, agent = uniq("async wrapper"), uniq("wrapper-agent")
    async with AsyncMemFuse(base_url=server.base_url) as client:
        first = await client.init(user=user, agent=agent, session=uniq("s1"))
        await first.add([{"role": "user", "content": FACT}])
        second = await client.init(user=user, agent=agent, session=uniq("s2"))
        llm = AsyncOpenAI(memory=second, api_key="sk-test", base_url=fake.base_url)
        try:
            question = "Remind me where the spare key is."
            answer = await llm.chat.completions.create(
                model="stub-model", messages=[{"role": "user", "content": question}]
            )
            assert answer.choices[0].message.content == REPLY
        finally:
            await llm.close()
        assert FACT in _system_text(fake.chat_messages())
        assert _stored(await second.list_messages(limit=10)) == [
            ("user", question),
            ("assistant", REPLY),
        ]


def test_history_spanning_buffer_and_store_is_not_duplicated(
    fresh_server: ServerProcess, fake: FakeLLMServer
) -> None:
    """With one round per window, the wrapper's history comes from both buffer_only=true
    and buffer_only=false; each earlier turn must reach the model exactly once."""
    fresh_server.settings = {"buffer": {"max_rounds": 1}}
    fresh_server.start()
    with MemFuse(base_url=fresh_server.base_url) as client:
        mem = client.init(user=uniq("history"), agent=uniq("agent"), session=uniq("s"))
        llm = OpenAI(memory=mem, api_key="sk-test", base_url=fake.base_url)
        try:
            questions = [f"Question number {i} about lighthouses?" for i in range(3)]
            for q in questions:
                llm.chat.completions.create(
                    model="stub-model", messages=[{"role": "user", "content": q}]
                )
        finally:
            llm.close()
        assert mem.list_messages(limit=10, buffer_only=True)["data"]["messages"]
        assert mem.list_messages(limit=10, buffer_only=False)["data"]["messages"]
    assert _turns(fake.chat_messages()) == [
        ("user", questions[0]),
        ("assistant", REPLY),
        ("user", questions[1]),
        ("assistant", REPLY),
        ("user", questions[2]),
    ]
