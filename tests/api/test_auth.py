"""API keys bound to users: 401 without a valid key, 403 for another user's data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from memfuse import MemFuse
from memfuse.utils import MemFuseHTTPError

from tests.api.helpers import err, ok, uniq
from tests.serverproc import ServerProcess

ADMIN = "admin-key-for-tests-0123456789"


def test_sdk_manages_api_keys(server: ServerProcess) -> None:
    with MemFuse(base_url=server.base_url) as client:
        uid = client.users.create_sync(name=uniq("key user"))["data"]["user"]["id"]
        created = client.api_keys.create_sync(user_id=uid, name="laptop")["data"]["api_key"]
        assert created["id"] and created["key"] and "*" not in created["key"]
        listed = client.api_keys.list_sync(user_id=uid)["data"]["api_keys"]
        assert [k["id"] for k in listed] == [created["id"]]
        assert listed[0]["key"] == "********" and listed[0]["name"] == "laptop"
        assert {"permissions", "created_at", "expires_at"} <= set(listed[0])
        gone = client.api_keys.delete_sync(user_id=uid, api_key_id=created["id"])
        assert gone["data"]["key_id"] == created["id"]
        assert client.api_keys.list_sync(user_id=uid)["data"]["api_keys"] == []


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    settings = {"server": {"api_key_validation": True, "admin_api_key": ADMIN}}
    proc = ServerProcess(tmp_path_factory.mktemp("secured"), settings=settings).start()
    yield proc
    proc.stop()


def admin(proc: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=proc.api, timeout=30, headers={"Authorization": f"Bearer {ADMIN}"})


def user_with_key(proc: ServerProcess, **key: object) -> tuple[str, str]:
    with admin(proc) as api:
        uid = ok(api.post("/users", json={"name": uniq("u")}), 201)["user"]["id"]
        secret = ok(api.post(f"/users/{uid}/api-keys", json={"name": "k", **key}), 201)
    return uid, secret["api_key"]["key"]


def test_keys_are_needed_except_for_health(secured: ServerProcess) -> None:
    with httpx.Client(base_url=secured.api, timeout=30) as api:
        ok(api.get("/health"))
        body = err(api.get("/users"), 401)
        assert "Authorization" in body["message"]
        err(api.get("/users", headers={"Authorization": "Bearer not-a-key"}), 401)
        err(api.get("/agents", headers={"Authorization": "Basic abc"}), 401)


def test_a_user_key_reaches_only_its_user(secured: ServerProcess) -> None:
    alice, key = user_with_key(secured)
    bob, _ = user_with_key(secured)
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=secured.api, timeout=30, headers=auth) as api:
        assert ok(api.get(f"/users/{alice}"))["user"]["id"] == alice
        assert [u["id"] for u in ok(api.get("/users"))["users"]] == [alice]
        err(api.get(f"/users/{bob}"), 403)
        err(api.post(f"/users/{bob}/query", json={"query": "x"}), 403)
        err(api.get(f"/users/{bob}/knowledge"), 403)
        err(api.post("/users", json={"name": uniq("x")}), 403)
        agent = api.post("/agents", json={"name": "shared"}).json()["data"]["agent"]["id"]
        err(api.post("/sessions", json={"user_id": bob, "agent_id": agent, "name": "s"}), 403)


def test_expired_and_deleted_keys_stop_working(secured: ServerProcess) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    uid, expired = user_with_key(secured, expires_at=past)
    with httpx.Client(base_url=secured.api, timeout=30) as api:
        err(api.get(f"/users/{uid}", headers={"Authorization": f"Bearer {expired}"}), 401)
    uid, key = user_with_key(secured)
    with admin(secured) as api:
        key_id = ok(api.get(f"/users/{uid}/api-keys"))["api_keys"][0]["id"]
        ok(api.delete(f"/users/{uid}/api-keys/{key_id}"))
        err(api.get(f"/users/{uid}", headers={"Authorization": f"Bearer {key}"}), 401)


def test_the_sdk_works_with_a_key_from_the_environment(
    secured: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    with admin(secured) as api:
        name = uniq("sdk user")
        uid = ok(api.post("/users", json={"name": name}), 201)["user"]["id"]
        key = ok(api.post(f"/users/{uid}/api-keys", json={}), 201)["api_key"]["key"]
        other = ok(api.post("/users", json={"name": uniq("other")}), 201)["user"]["id"]
    monkeypatch.setenv("MEMFUSE_API_KEY", key)
    with MemFuse(base_url=secured.base_url) as client:
        memory = client.init(user=name, agent="helper", session="s1")
        memory.add([{"role": "user", "content": "I keep my passport in the blue drawer."}])
        results = memory.query("Where is my passport?", top_k=3)["data"]["results"]
        assert "blue drawer" in results[0]["content"]
        with pytest.raises(MemFuseHTTPError) as info:
            client.users.get_sync(other)
        assert info.value.status_code == 403
    monkeypatch.delenv("MEMFUSE_API_KEY")
    with MemFuse(base_url=secured.base_url) as client, pytest.raises(MemFuseHTTPError) as info:
        client.users.get_sync(uid)
    assert info.value.status_code == 401


def test_health_and_config_never_show_secrets(secured: ServerProcess) -> None:
    with httpx.Client(base_url=secured.api, timeout=30) as api:
        assert ADMIN not in api.get("/health").text
    shown = secured.cli("config").stdout
    assert ADMIN not in shown and "********" in shown
