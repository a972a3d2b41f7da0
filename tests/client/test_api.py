"""Round trips of every resource through the client: async (in-process and over HTTP) and sync."""

from __future__ import annotations

import uuid

import pytest

from memfuse_server.client import (
    AsyncClient,
    ChatMessage,
    Client,
    ConflictError,
    InvalidRequestError,
    Message,
    NotFoundError,
    QueryResult,
    Session,
    User,
)
from memfuse_server.errors import MemFuseError
from tests.serverproc import ServerProcess


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def test_users_and_agents(aclient: AsyncClient) -> None:
    name = uniq("alice")
    user = await aclient.create_user(name, "a tester")
    assert isinstance(user, User) and user.name == name and user.description == "a tester"
    assert (await aclient.get_user(user.id)) == user
    assert [u.id for u in await aclient.list_users(name)] == [user.id]
    assert (await aclient.find_user(name)) == user
    assert await aclient.find_user(uniq("nobody")) is None
    assert (await aclient.get_or_create_user(name)).id == user.id
    with pytest.raises(ConflictError) as taken:
        await aclient.create_user(name)
    assert taken.value.status == 409 and "taken" in taken.value.server_message
    renamed = await aclient.update_user(user.id, description="renamed")
    assert renamed.description == "renamed" and renamed.name == name

    agent = await aclient.create_agent(uniq("agent"))
    assert (await aclient.create_agent(agent.name)).id == agent.id  # idempotent on the server
    assert (await aclient.get_or_create_agent(agent.name)).id == agent.id
    assert (await aclient.get_agent(agent.id)).name == agent.name
    assert (await aclient.update_agent(agent.id, description="d")).description == "d"

    assert await aclient.delete_user(user.id) == user.id
    with pytest.raises(NotFoundError) as gone:
        await aclient.get_user(user.id)
    assert isinstance(gone.value, MemFuseError) and gone.value.status == 404
    assert await aclient.delete_agent(agent.id) == agent.id


async def test_sessions_and_messages(aclient: AsyncClient) -> None:
    user = await aclient.create_user(uniq("bob"))
    agent = await aclient.get_or_create_agent("assistant")
    session = await aclient.get_or_create_session(user.id, agent.id, "trip")
    assert isinstance(session, Session) and session.user_id == user.id
    assert (await aclient.get_or_create_session(user.id, agent.id, "trip")).id == session.id
    assert (await aclient.find_session(user.id, "trip")) == session
    assert await aclient.find_session(user.id, "nothing") is None
    assert [s.id for s in await aclient.list_sessions(user_id=user.id)] == [session.id]

    turns = [
        ChatMessage(role="user", content="I fly to Lisbon on May 3rd.", name="Bob"),
        {"role": "assistant", "content": "Noted, a window seat?", "metadata": {"k": 1}},
    ]
    ids = await aclient.add_messages(session.id, turns, idempotency_key="turn-1")
    assert len(ids) == 2
    assert await aclient.add_messages(session.id, turns, idempotency_key="turn-1") == ids
    listed = await aclient.list_messages(session.id, limit=10, order="asc")
    assert [m.id for m in listed] == ids and all(isinstance(m, Message) for m in listed)
    assert listed[0].name == "Bob" and listed[1].metadata == {"k": 1}
    buffered = {m.id for m in await aclient.list_messages(session.id, buffer_only=True)}
    handed_on = {m.id for m in await aclient.list_messages(session.id, buffer_only=False)}
    assert buffered | handed_on == set(ids) and not buffered & handed_on

    read = await aclient.read_messages(session.id, [ids[1]])
    assert [m.content for m in read] == ["Noted, a window seat?"]
    new = [{"role": "assistant", "content": "Aisle seat booked."}]
    assert await aclient.update_messages(session.id, [ids[1]], new) == [ids[1]]
    assert (await aclient.read_messages(session.id, [ids[1]]))[0].content == "Aisle seat booked."
    assert await aclient.delete_messages(session.id, [ids[1]]) == [ids[1]]
    assert [m.id for m in await aclient.list_messages(session.id)] == [ids[0]]

    renamed = await aclient.update_session(session.id, "trip-2024")
    assert renamed.name == "trip-2024"
    assert await aclient.delete_session(session.id) == session.id
    with pytest.raises(NotFoundError):
        await aclient.get_session(session.id)


async def test_knowledge_query_layers_and_stats(aclient: AsyncClient) -> None:
    user = await aclient.create_user(uniq("carol"))
    agent = await aclient.get_or_create_agent("assistant")
    session = await aclient.create_session(user.id, agent.id, None)
    assert session.name  # generated
    await aclient.add_messages(session.id, [{"role": "user", "content": "My cat is called Miso."}])

    kid = (await aclient.add_knowledge(user.id, ["Carol is allergic to peanuts."]))[0]
    assert [k.id for k in await aclient.list_knowledge(user.id)] == [kid]
    assert (await aclient.read_knowledge(user.id, [kid]))[0].content.startswith("Carol")
    assert await aclient.update_knowledge(user.id, [kid], ["Carol is allergic to cashews."]) == [
        kid
    ]

    hits = await aclient.query(user.id, "What is the cat called?", top_k=3)
    assert hits and all(isinstance(h, QueryResult) for h in hits)
    assert any("Miso" in (h.content or "") for h in hits)
    assert all(0 <= h.score <= 1 for h in hits)
    assert await aclient.delete_knowledge(user.id, [kid]) == [kid]

    assert isinstance(await aclient.list_facts(user.id), list)
    assert isinstance(await aclient.list_entities(user.id, limit=5), list)
    assert isinstance(await aclient.list_relations(user.id, offset=0), list)
    assert (await aclient.health()).status == "ok"
    stats = await aclient.stats()
    assert "pending" in stats.queue


async def test_invalid_requests_carry_the_servers_field_errors(aclient: AsyncClient) -> None:
    user = await aclient.create_user(uniq("dave"))
    agent = await aclient.get_or_create_agent("assistant")
    session = await aclient.create_session(user.id, agent.id, "s")
    with pytest.raises(InvalidRequestError) as bad:
        await aclient.add_messages(session.id, [{"role": "user", "content": "  "}])
    assert bad.value.status == 422
    assert bad.value.errors and "content" in bad.value.errors[0].message
    with pytest.raises(NotFoundError):
        await aclient.add_messages(str(uuid.uuid4()), [{"role": "user", "content": "hi"}])


def test_the_blocking_client_round_trip(server: ServerProcess) -> None:
    with Client(server.base_url) as client:
        assert client.base_url == f"{server.base_url}/api/v1"
        user = client.get_or_create_user(uniq("erin"))
        agent = client.get_or_create_agent("assistant")
        session = client.get_or_create_session(user.id, agent.id, "s")
        ids = client.add_messages(session.id, [{"role": "user", "content": "I play the cello."}])
        assert [m.id for m in client.list_messages(session.id)] == ids
        assert client.read_messages(session.id, ids)[0].content == "I play the cello."
        kid = client.add_knowledge(user.id, ["Erin lives in Porto."])
        assert [k.id for k in client.list_knowledge(user.id)] == kid
        assert any("cello" in (h.content or "") for h in client.query(user.id, "instrument?"))
        assert client.stats().worker["in_process"] is True
        with pytest.raises(NotFoundError):
            client.get_session(str(uuid.uuid4()))
        assert client.delete_user(user.id) == user.id


async def test_the_blocking_client_works_inside_a_running_loop(server: ServerProcess) -> None:
    with Client(server.base_url) as client:  # its own loop: no "loop already running"
        assert client.health().status == "ok"
