"""Past the in-flight bound the server answers 503 with Retry-After, and recovers."""

from __future__ import annotations

import asyncio

import httpx

from tests.serverproc import ServerProcess


async def burst(api: str, sid: str, n: int) -> list[httpx.Response]:
    body = {"messages": [{"role": "user", "content": "overload " * 200}] * 20}
    async with httpx.AsyncClient(base_url=api, timeout=120) as client:
        return list(
            await asyncio.gather(
                *(client.post(f"/sessions/{sid}/messages", json=body) for _ in range(n))
            )
        )


def test_requests_past_the_bound_get_503_with_retry_after(fresh_server: ServerProcess) -> None:
    fresh_server.settings = {"server": {"max_in_flight": 2}}
    fresh_server.start()
    with httpx.Client(base_url=fresh_server.api, timeout=60) as api:
        user = api.post("/users", json={"name": "overload"}).json()["data"]["user"]["id"]
        agent = api.post("/agents", json={"name": "a"}).json()["data"]["agent"]["id"]
        body = {"user_id": user, "agent_id": agent, "name": "s"}
        sid = api.post("/sessions", json=body).json()["data"]["session"]["id"]
        responses = asyncio.run(burst(fresh_server.api, sid, 12))
        codes = sorted(r.status_code for r in responses)
        assert set(codes) == {201, 503}, codes
        refused = next(r for r in responses if r.status_code == 503)
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["code"] == 503 and "capacity" in refused.json()["message"]
        stored = api.get(f"/sessions/{sid}/messages", params={"limit": 1000}).json()["data"]
        assert len(stored["messages"]) == 20 * codes.count(201)
        assert api.get("/health").status_code == 200
        ok = api.post(
            f"/sessions/{sid}/messages", json={"messages": [{"role": "user", "content": "after"}]}
        )
        assert ok.status_code == 201
