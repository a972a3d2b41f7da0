"""The published MemFuse SDK (memfuse==0.3.3), sync and async, against a real server."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from memfuse import AsyncMemFuse, MemFuse
from memfuse.utils import MemFuseHTTPError

from tests.api.helpers import contents, ok, uniq
from tests.serverproc import ServerProcess

# Six rounds: with the default window (5 rounds) the first five are handed on.
ROUNDS = [
    m
    for i in range(6)
    for m in (
        {"role": "user", "content": f"Question {i} about migrating {i} pelicans"},
        {"role": "assistant", "content": f"Answer {i}: pelicans fly in formation {i}"},
    )
]


def _ids(resp: dict[str, Any], key: str = "messages") -> list[str]:
    return [m["id"] for m in resp["data"][key]]


def _check_buffer_split(everything: list[str], buffered: list[str], handed: list[str]) -> None:
    """buffer_only true/false: disjoint, and together all messages."""
    assert not set(buffered) & set(handed), (buffered, handed)
    assert sorted(buffered + handed) == sorted(everything)
    assert buffered and handed


# --------------------------------------------------------------------------- sync


def test_sync_init_is_get_or_create(server: ServerProcess) -> None:
    user, agent, session = uniq("José Müller"), uniq("sdk-agent"), uniq("sdk session")
    with MemFuse(base_url=server.base_url) as client:
        first = client.init(user=user, agent=agent, session=session)
        again = client.init(user=user, agent=agent, session=session)
        assert (again.user_id, again.agent_id, again.session_id) == (
            first.user_id,
            first.agent_id,
            first.session_id,
        )
        # Without a session name, a new session (with a generated name) each time.
        fresh = client.init(user=user, agent=agent)
        assert fresh.session_id != first.session_id and fresh.session
        assert fresh.user_id == first.user_id and fresh.agent_id == first.agent_id
        # The same session name for another user is another session.
        other = client.init(user=uniq("sdk user"), agent=agent, session=session)
        assert other.session_id != first.session_id
        found = client.users.get_by_name_sync(user)["data"]["users"]
        assert [u["id"] for u in found] == [first.user_id]


def test_sync_messages(server: ServerProcess) -> None:
    with MemFuse(base_url=server.base_url) as client:
        mem = client.init(user=uniq("sdk-user"), agent=uniq("sdk-agent"), session=uniq("s"))
        added = mem.add(ROUNDS)
        ids = added["data"]["message_ids"]
        assert len(ids) == len(ROUNDS) == len(set(ids))

        everything = _ids(mem.list_messages(limit=100))
        assert everything == ids[::-1]  # newest first
        assert _ids(mem.list_messages(limit=100, order="asc")) == ids
        buffered = _ids(mem.list_messages(limit=100, buffer_only=True))
        handed = _ids(mem.list_messages(limit=100, buffer_only=False))
        _check_buffer_split(everything, buffered, handed)
        assert buffered == ids[-2:][::-1]  # the sixth round is still open
        assert len(_ids(mem.list_messages(limit=3))) == 3

        read = mem.read([ids[3], ids[0]])["data"]["messages"]
        assert [m["id"] for m in read] == [ids[3], ids[0]]
        assert [m["content"] for m in read] == [ROUNDS[3]["content"], ROUNDS[0]["content"]]
        assert read[0]["role"] == "assistant" and read[0]["session_id"] == mem.session_id

        new = {"role": "user", "content": "Question 0 was really about flamingos"}
        assert mem.update([ids[0]], [new])["data"]["message_ids"] == [ids[0]]
        (updated,) = mem.read([ids[0]])["data"]["messages"]
        assert updated["content"] == new["content"]

        assert mem.delete([ids[1]])["data"]["message_ids"] == [ids[1]]
        with pytest.raises(MemFuseHTTPError) as info:
            mem.read([ids[1]])
        assert info.value.status_code == 404
        assert ids[1] not in _ids(mem.list_messages(limit=100))


def test_sync_knowledge_and_query(server: ServerProcess) -> None:
    with MemFuse(base_url=server.base_url) as client:
        mem = client.init(user=uniq("sdk-user"), agent=uniq("sdk-agent"), session=uniq("s"))
        kids = mem.add_knowledge(["The user's favourite cheese is Roquefort.", "The user rows."])[
            "data"
        ]["knowledge_ids"]
        assert len(kids) == 2
        listed = client.knowledge.list_sync(user_id=mem.user_id)["data"]["knowledge"]
        assert [k["id"] for k in listed] == kids
        read = mem.read_knowledge(kids)["data"]["knowledge"]
        assert read[0]["content"] == "The user's favourite cheese is Roquefort."
        assert read[0]["user_id"] == mem.user_id

        results = mem.query("which cheese does the user like?")["data"]["results"]
        assert results[0]["type"] == "knowledge"
        assert "Roquefort" in results[0]["content"]

        mem.update_knowledge([kids[0]], ["The user's favourite cheese is Gouda."])
        assert mem.read_knowledge([kids[0]])["data"]["knowledge"][0]["content"].endswith("Gouda.")
        text = contents(mem.query("which cheese does the user like?")["data"]["results"])
        assert "Gouda" in text and "Roquefort" not in text

        assert mem.delete_knowledge([kids[1]])["data"]["knowledge_ids"] == [kids[1]]
        listed = client.knowledge.list_sync(user_id=mem.user_id)["data"]["knowledge"]
        assert [k["id"] for k in listed] == [kids[0]]
        with pytest.raises(MemFuseHTTPError) as info:
            mem.read_knowledge([kids[1]])
        assert info.value.status_code == 404

        mem.add([{"role": "user", "content": "I sail a small boat called Kestrel."}])
        hits = mem.query_session("what is my boat called?")["data"]["results"]
        boat = [h for h in hits if "Kestrel" in h["content"]]
        assert boat and boat[0]["metadata"]["scope"] == "in_session"
        assert boat[0]["metadata"]["session_id"] == mem.session_id


def test_sync_users_agents_sessions_crud(server: ServerProcess) -> None:
    with MemFuse(base_url=server.base_url) as client:
        name = uniq("crud user")
        user = client.users.create_sync(name=name, description="first")["data"]["user"]
        uid = user["id"]
        assert client.users.get_sync(uid)["data"]["user"] == user
        assert client.users.get_by_name_sync(name)["data"]["users"] == [user]
        assert uid in [u["id"] for u in client.users.list_sync()["data"]["users"]]
        renamed = client.users.update_sync(uid, name=name + "-2", description="second")
        assert renamed["data"]["user"]["name"] == name + "-2"
        kept = client.users.update_sync(uid, description="third")["data"]["user"]
        assert kept["name"] == name + "-2" and kept["description"] == "third"
        with pytest.raises(MemFuseHTTPError) as info:
            client.users.create_sync(name=name + "-2")
        assert info.value.status_code == 409

        agent_name = uniq("crud-agent")
        agent = client.agents.create_sync(name=agent_name)["data"]["agent"]
        aid = agent["id"]
        assert client.agents.create_sync(name=agent_name)["data"]["agent"]["id"] == aid
        assert client.agents.get_sync(aid)["data"]["agent"]["name"] == agent_name
        assert client.agents.get_by_name_sync(agent_name)["data"]["agents"][0]["id"] == aid
        assert aid in [a["id"] for a in client.agents.list_sync()["data"]["agents"]]
        updated = client.agents.update_sync(aid, description="helps")["data"]["agent"]
        assert updated["description"] == "helps" and updated["name"] == agent_name

        sname = uniq("crud session")
        session = client.sessions.create_sync(user_id=uid, agent_id=aid, name=sname)["data"][
            "session"
        ]
        sid = session["id"]
        assert session["user_id"] == uid and session["agent_id"] == aid
        assert client.sessions.get_sync(sid)["data"]["session"] == session
        found = client.sessions.get_by_name_sync(sname, user_id=uid)["data"]["sessions"]
        assert [s["id"] for s in found] == [sid]
        assert [s["id"] for s in client.sessions.list_sync(user_id=uid)["data"]["sessions"]] == [
            sid
        ]
        by_agent = client.sessions.list_sync(agent_id=aid)["data"]["sessions"]
        assert [s["id"] for s in by_agent] == [sid]
        renamed_s = client.sessions.update_sync(sid, name=sname + "-2")["data"]["session"]
        assert renamed_s["name"] == sname + "-2"
        with pytest.raises(MemFuseHTTPError) as info:
            client.sessions.get_by_name_sync(sname, user_id=uid)
        assert info.value.status_code == 404

        assert client.sessions.delete_sync(sid)["data"]["session_id"] == sid
        with pytest.raises(MemFuseHTTPError) as info:
            client.sessions.get_sync(sid)
        assert info.value.status_code == 404
        assert client.agents.delete_sync(aid)["data"]["agent_id"] == aid
        with pytest.raises(MemFuseHTTPError) as info:
            client.agents.get_sync(aid)
        assert info.value.status_code == 404
        assert client.users.delete_sync(uid)["data"]["user_id"] == uid
        with pytest.raises(MemFuseHTTPError) as info:
            client.users.get_sync(uid)
        assert info.value.status_code == 404
        assert "not found" in str(info.value).lower()


# -------------------------------------------------------------------------- async


async def test_async_memory_flow(server: ServerProcess) -> None:
    async with AsyncMemFuse(base_url=server.base_url) as client:
        user, agent, session = uniq("async user"), uniq("async-agent"), uniq("async session")
        mem = await client.init(user=user, agent=agent, session=session)
        again = await client.init(user=user, agent=agent, session=session)
        assert (again.user_id, again.agent_id, again.session_id) == (
            mem.user_id,
            mem.agent_id,
            mem.session_id,
        )

        ids = (await mem.add(ROUNDS))["data"]["message_ids"]
        assert len(ids) == len(ROUNDS)
        everything = _ids(await mem.list_messages(limit=100))
        assert everything == ids[::-1]
        buffered = _ids(await mem.list_messages(limit=100, buffer_only=True))
        handed = _ids(await mem.list_messages(limit=100, buffer_only=False))
        _check_buffer_split(everything, buffered, handed)

        read = (await mem.read(ids[:2]))["data"]["messages"]
        assert [m["content"] for m in read] == [r["content"] for r in ROUNDS[:2]]
        new = {"role": "assistant", "content": "Answer 0 revised: storks, not pelicans"}
        await mem.update([ids[1]], [new])
        assert (await mem.read([ids[1]]))["data"]["messages"][0]["content"] == new["content"]
        await mem.delete([ids[2]])
        with pytest.raises(MemFuseHTTPError) as info:
            await mem.read([ids[2]])
        assert info.value.status_code == 404

        kids = (await mem.add_knowledge(["The user owns a tortoise named Basil."]))["data"][
            "knowledge_ids"
        ]
        assert (await mem.read_knowledge(kids))["data"]["knowledge"][0]["id"] == kids[0]
        results = (await mem.query("what pet does the user have?"))["data"]["results"]
        assert "Basil" in contents(results)
        await mem.update_knowledge(kids, ["The user owns a tortoise named Sage."])
        text = contents((await mem.query("what pet does the user have?"))["data"]["results"])
        assert "Sage" in text and "Basil" not in text
        await mem.delete_knowledge(kids)
        assert (await client.knowledge.list(user_id=mem.user_id))["data"]["knowledge"] == []

        hits = (await mem.query_session("pelicans formation"))["data"]["results"]
        assert hits and all(h["metadata"]["scope"] == "in_session" for h in hits)


async def test_async_users_agents_sessions_crud(server: ServerProcess) -> None:
    async with AsyncMemFuse(base_url=server.base_url) as client:
        name = uniq("async crud")
        uid = (await client.users.create(name=name))["data"]["user"]["id"]
        assert (await client.users.get(uid))["data"]["user"]["name"] == name
        assert (await client.users.get_by_name(name))["data"]["users"][0]["id"] == uid
        await client.users.update(uid, description="d")
        assert (await client.users.get(uid))["data"]["user"]["description"] == "d"
        assert uid in [u["id"] for u in (await client.users.list())["data"]["users"]]

        aname = uniq("async-agent")
        aid = (await client.agents.create(name=aname))["data"]["agent"]["id"]
        assert (await client.agents.get_by_name(aname))["data"]["agents"][0]["id"] == aid
        await client.agents.update(aid, name=aname + "-2")
        assert (await client.agents.get(aid))["data"]["agent"]["name"] == aname + "-2"

        sid = (await client.sessions.create(user_id=uid, agent_id=aid))["data"]["session"]["id"]
        listed = (await client.sessions.list(user_id=uid))["data"]["sessions"]
        assert [s["id"] for s in listed] == [sid]
        await client.sessions.update(sid, name="renamed session")
        found = (await client.sessions.get_by_name("renamed session", user_id=uid))["data"]
        assert found["sessions"][0]["id"] == sid
        added = await client.messages.add(
            session_id=sid, messages=[{"role": "user", "content": "hello"}]
        )
        (mid,) = added["data"]["message_ids"]
        got = await client.messages.read(session_id=sid, message_ids=[mid])
        assert got["data"]["messages"][0]["content"] == "hello"

        assert (await client.sessions.delete(sid))["data"]["session_id"] == sid
        with pytest.raises(MemFuseHTTPError) as info:
            await client.sessions.get(sid)
        assert info.value.status_code == 404
        assert (await client.agents.delete(aid))["data"]["agent_id"] == aid
        assert (await client.users.delete(uid))["data"]["user_id"] == uid
        with pytest.raises(MemFuseHTTPError) as info:
            await client.users.get(uid)
        assert info.value.status_code == 404


async def test_async_concurrent_inits_share_one_agent(server: ServerProcess) -> None:
    """Eight clients (no shared singleflight) init at once with one new agent name."""
    agent = uniq("shared-agent")
    clients = [AsyncMemFuse(base_url=server.base_url) for _ in range(8)]
    try:
        mems = await asyncio.gather(
            *(c.init(user=uniq("u"), agent=agent, session=uniq("s")) for c in clients)
        )
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    assert len({m.agent_id for m in mems}) == 1
    async with httpx.AsyncClient(base_url=server.api, timeout=30.0) as api:
        found = ok(await api.get("/agents", params={"name": agent}))["agents"]
    assert [a["id"] for a in found] == [mems[0].agent_id]
