"""API keys in the store: a key whose hash another key has is refused with a ``Conflict``
that names nothing of the other key (on PostgreSQL the unique violation aborts the
transaction; on SQLite it is an IntegrityError: neither may reach the API as a 500)."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from memfuse_server.errors import Conflict
from memfuse_server.storage import Store

DIGEST = hashlib.sha256(b"a custom key that two users want, at least 32 chars").hexdigest()


async def test_a_key_that_exists_is_a_conflict_that_tells_nothing(store: Store) -> None:
    owner, _ = await store.create_user("owner", None)
    other, _ = await store.create_user("other", None)
    first = await store.create_api_key(owner.id, "mine", DIGEST, [], None)
    with pytest.raises(Conflict) as refused:
        await store.create_api_key(other.id, "theirs", DIGEST, [], None)
    for secret in (owner.id, first.id, "owner", "mine", DIGEST):
        assert secret not in refused.value.message
    assert [k.id for k in await store.list_api_keys(other.id)] == []
    assert (await store.find_api_key(DIGEST)) == first


async def test_two_at_once_make_one_key_and_one_conflict(store: Store) -> None:
    a, _ = await store.create_user("a", None)
    b, _ = await store.create_user("b", None)
    outcomes = await asyncio.gather(
        store.create_api_key(a.id, None, DIGEST, [], None),
        store.create_api_key(b.id, None, DIGEST, [], None),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["ApiKey", "Conflict"], outcomes
