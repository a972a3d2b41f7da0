"""Registering a custom API key that exists answers 409 in the envelope (it was a 500, which
told any tenant whether a key string was in use), and the refusal names no other key."""

from __future__ import annotations

import httpx

from tests.api.helpers import err, ok, uniq

KEY = "mf_a-custom-key-of-our-own-that-is-long-enough-" + uniq("k")


def test_a_custom_key_that_exists_answers_409(api: httpx.Client) -> None:
    owner = ok(api.post("/users", json={"name": uniq("owner")}), 201)["user"]["id"]
    other = ok(api.post("/users", json={"name": uniq("other")}), 201)["user"]["id"]
    ok(api.post(f"/users/{owner}/api-keys", json={"name": "mine", "key": KEY}), 201)
    refused = err(api.post(f"/users/{other}/api-keys", json={"key": KEY}), 409)
    assert owner not in refused["message"] and "mine" not in refused["message"]
    assert ok(api.get(f"/users/{other}/api-keys"))["api_keys"] == []
