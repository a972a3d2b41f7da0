"""The memory tools over MCP, driven by the ``mcp`` SDK's own client: streamable HTTP at
``/mcp`` on a real server (API keys off, then on) and stdio (``memfuse-server mcp``)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from memfuse_server.mcp_server.server import TOOLS
from tests.serverproc import ServerProcess

ADMIN = "admin-key-for-the-mcp-tests"


@asynccontextmanager
async def over_http(server: ServerProcess, key: str | None = None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        streamable_http_client(f"{server.base_url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def call(client: ClientSession, tool: str, /, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def refused(client: ClientSession, tool: str, /, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert isinstance(text, str)
    return text


@pytest.fixture
def open_server(server: ServerProcess) -> ServerProcess:
    """The run's shared server: API keys off."""
    return server


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    settings = {"server": {"api_key_validation": True, "admin_api_key": ADMIN}}
    proc = ServerProcess(tmp_path_factory.mktemp("mcp-keys"), settings=settings)
    proc.start()
    yield proc
    proc.stop()


async def test_every_tool_is_listed_with_a_description_and_a_schema(
    open_server: ServerProcess,
) -> None:
    async with over_http(open_server) as session:
        listed = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(listed) == set(TOOLS)
    for tool in listed.values():
        assert tool.description and len(tool.description) > 30, tool.name
        assert tool.input_schema["type"] == "object"
    assert listed["search_memory"].input_schema["required"] == ["query"]
    assert listed["search_memory"].annotations.read_only_hint  # type: ignore[union-attr]
    assert listed["delete_all_memories"].annotations.destructive_hint  # type: ignore[union-attr]


async def test_a_memory_is_added_found_changed_and_deleted(open_server: ServerProcess) -> None:
    async with over_http(open_server) as session:
        added = await call(
            session,
            "add_memory",
            user="mcp-alice",
            session="travel",
            messages=[
                {"role": "user", "content": "I am flying to Lisbon on May 3rd for a conference."},
                {"role": "assistant", "content": "Noted, Lisbon on May 3rd."},
            ],
            created_at="2026-04-20T10:00:00Z",
        )
        assert added["session"]["name"] == "travel" and len(added["ids"]) == 2
        first = added["ids"][0]

        found = await call(session, "search_memory", query="When is the trip?", user="mcp-alice")
        top = found["results"][0]
        assert top["id"] in added["ids"] and "Lisbon" in top["text"]
        assert top["session"]["name"] == "travel" and 0 < top["score"] <= 1

        listed = await call(session, "list_memories", user="mcp-alice")
        assert {m["id"] for m in listed["memories"]} == set(added["ids"])
        one = (await call(session, "get_memory", id=first, user="mcp-alice"))["memory"]
        assert one["created_at"].startswith("2026-04-20") and one["role"] == "user"

        await call(
            session, "update_memory", id=first, text="I fly to Porto on June 9th.", user="mcp-alice"
        )
        again = await call(session, "search_memory", query="Porto flight", user="mcp-alice")
        assert again["results"][0]["id"] == first and "Porto" in again["results"][0]["text"]

        await call(session, "delete_memory", id=first, user="mcp-alice")
        assert "no memory" in await refused(session, "get_memory", id=first, user="mcp-alice")


async def test_previews_are_short_and_get_memory_is_whole(open_server: ServerProcess) -> None:
    long = "The garden plan: " + "tomatoes, basil and beans along the south wall. " * 100
    async with over_http(open_server) as session:
        added = await call(session, "add_memory", text=long, user="mcp-long")
        found = await call(session, "search_memory", query="garden plan", user="mcp-long")
        assert len(found["results"][0]["text"]) <= 240
        whole = await call(session, "get_memory", id=added["ids"][0], user="mcp-long")
        assert whole["memory"]["text"] == long


async def test_bad_calls_are_refused_with_a_sentence(open_server: ServerProcess) -> None:
    async with over_http(open_server) as session:
        assert "either 'text' or 'messages'" in await refused(session, "add_memory", user="x")
        assert "No user is named" in await refused(
            session, "search_memory", query="q", user="mcp-nobody-at-all"
        )
        assert "top_k" in await refused(session, "search_memory", query="q", top_k=0)
        await call(session, "add_memory", text="Keep this.", user="mcp-careful")
        assert "confirm" in await refused(
            session, "delete_all_memories", user="mcp-careful", confirm=False
        )
        found = await call(session, "search_memory", query="Keep", user="mcp-careful")
        assert found["results"]


async def test_facts_and_entities_derived_in_the_background(open_server: ServerProcess) -> None:
    async with over_http(open_server) as session:
        turns = [
            {
                "role": "user",
                "content": f"My sister Maria lives in Berlin and works as a nurse. ({i})",
            }
            for i in range(6)  # more rounds than a window holds: an episode closes
        ]
        await call(session, "add_memory", messages=turns, user="mcp-facts")
        facts: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while not facts and time.monotonic() < deadline:
            facts = (await call(session, "get_facts", user="mcp-facts"))["facts"]
            await asyncio.sleep(0.5)
        assert facts and facts[0]["source_message_ids"]
        entity = await call(session, "get_entity", entity="Maria", user="mcp-facts")
        assert entity["entity"]["type"] == "entity" and "Maria" in entity["entity"]["text"]

        await call(session, "delete_all_memories", user="mcp-facts", confirm=True)
        assert (await call(session, "get_facts", user="mcp-facts"))["facts"] == []
        found = await call(session, "search_memory", query="Maria", user="mcp-facts")
        assert found["results"] == []


def _key_for(server: ServerProcess, user: str) -> str:
    with httpx.Client(base_url=server.api, headers={"Authorization": f"Bearer {ADMIN}"}) as api:
        uid = api.post("/users", json={"name": user}).json()["data"]["user"]["id"]
        created = api.post(f"/users/{uid}/api-keys", json={"name": "mcp"})
        key = created.json()["data"]["api_key"]["key"]
        assert isinstance(key, str)
        return key


async def test_keys_a_user_key_acts_for_its_user_only(keyed_server: ServerProcess) -> None:
    alice, bob = _key_for(keyed_server, "key-alice"), _key_for(keyed_server, "key-bob")
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    async with httpx.AsyncClient(base_url=keyed_server.base_url) as plain:
        answer = await plain.post("/mcp", json=ping)
        assert answer.status_code == 401 and answer.json()["status"] == "error"
        wrong = await plain.post("/mcp", json=ping, headers={"Authorization": "Bearer mf_nokey"})
        assert wrong.status_code == 401

    async with over_http(keyed_server, alice) as session:
        added = await call(session, "add_memory", text="My locker code is 4711.")
        assert added["user"] == "key-alice"
        found = await call(session, "search_memory", query="locker code")
        assert found["results"][0]["id"] == added["ids"][0]
        assert "another user" in await refused(session, "search_memory", query="x", user="key-bob")
    async with over_http(keyed_server, bob) as session:
        found = await call(session, "search_memory", query="locker code")
        assert found["user"] == "key-bob" and found["results"] == []
        assert (await call(session, "list_memories"))["memories"] == []
        assert "no memory" in await refused(session, "get_memory", id=added["ids"][0])
        assert "no memory" in await refused(session, "delete_memory", id=added["ids"][0])
    async with over_http(keyed_server, ADMIN) as session:
        found = await call(session, "search_memory", query="locker code", user="key-alice")
        assert found["results"][0]["id"] == added["ids"][0]


async def test_stdio_server_adds_and_finds(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'memfuse.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUSE_")}
    env["MEMFUSE_DATABASE__URL"] = url
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "memfuse_server", "mcp", "--user", "stdio-user"],
        env=env,
    )
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            added = await call(session, "add_memory", text="The spare key is under the blue pot.")
            assert added["user"] == "stdio-user"
            found = await call(session, "search_memory", query="Where is the spare key?")
            assert found["results"][0]["id"] == added["ids"][0]
            assert "another user" in await refused(session, "list_memories", user="someone-else")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_stdio_server_stops_quietly(tmp_path: Path, stop: signal.Signals) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUSE_")}
    env["MEMFUSE_DATABASE__URL"] = f"sqlite:///{tmp_path / 'memfuse.db'}"
    env["MEMFUSE_SERVER__LOG_FORMAT"] = "json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "memfuse_server", "mcp"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # the worker starts once the store and the model are open
        if "worker started" in line:
            break
    os.killpg(proc.pid, stop)  # a terminal's Ctrl-C reaches the embedder process too
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert out == "" and "Traceback" not in err
