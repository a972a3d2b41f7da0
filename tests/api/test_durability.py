"""Durability: a SIGKILL during concurrent ingestion loses no acknowledged message,
duplicates none, and leaves no half-written batch."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest

from tests.api.helpers import add_messages, create_agent, create_session, create_user, ok, uniq
from tests.serverproc import ServerProcess

CLIENTS = 8
MAX_PER_CLIENT = 300  # keeps each session under the list limit of 1000


@dataclass
class Attempt:
    session_id: str
    contents: list[str]
    ids: list[str] | None = None  # set when the POST answered 201


@dataclass
class Ledger:
    lock: threading.Lock = field(default_factory=threading.Lock)
    attempts: list[Attempt] = field(default_factory=list)
    acked: int = 0
    failures: list[str] = field(default_factory=list)

    def attempt(self, a: Attempt) -> None:
        with self.lock:
            self.attempts.append(a)

    def ack(self, a: Attempt, ids: list[str]) -> None:
        with self.lock:
            a.ids = ids
            self.acked += len(ids)


def _client_loop(
    base: str, index: int, session_id: str, ledger: Ledger, stop: threading.Event, seed: int
) -> None:
    rng = random.Random(seed + index)
    sent = 0
    with httpx.Client(base_url=base, timeout=30.0) as client:
        while not stop.is_set() and sent < MAX_PER_CLIENT:
            size = rng.randint(1, 4)
            texts = [
                f"client {index} message {sent + k} about topic {rng.random():.6f}"
                for k in range(size)
            ]
            roles = ["user" if (sent + k) % 2 == 0 else "assistant" for k in range(size)]
            attempt = Attempt(session_id, texts)
            ledger.attempt(attempt)
            body = {
                "messages": [{"role": r, "content": t} for r, t in zip(roles, texts, strict=True)]
            }
            try:
                resp = client.post(f"/sessions/{session_id}/messages", json=body)
            except httpx.HTTPError:
                return  # the server is gone
            if resp.status_code == 201:
                ids = resp.json()["data"]["message_ids"]
                if len(ids) != size:
                    ledger.failures.append(f"{size} messages sent, {len(ids)} ids returned")
                ledger.ack(attempt, ids)
            elif resp.status_code != 503:
                ledger.failures.append(f"unexpected answer {resp.status_code}: {resp.text}")
            sent += size


@pytest.mark.slow
def test_acknowledged_messages_survive_sigkill(fresh_server: ServerProcess) -> None:
    fresh_server.start()
    with httpx.Client(base_url=fresh_server.api, timeout=30.0) as api:
        uid, aid = create_user(api, uniq("durable")), create_agent(api)
        sessions = [create_session(api, uid, aid, f"s{i}") for i in range(CLIENTS)]

    seed = random.randrange(1 << 30)
    ledger, stop = Ledger(), threading.Event()
    threads = [
        threading.Thread(
            target=_client_loop, args=(fresh_server.api, i, sid, ledger, stop, seed), daemon=True
        )
        for i, sid in enumerate(sessions)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while ledger.acked < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ledger.acked >= 40, f"ingestion too slow (seed {seed})"
    time.sleep(random.Random(seed).uniform(0.0, 0.8))
    fresh_server.kill()  # SIGKILL, mid-ingestion
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not ledger.failures, ledger.failures
    in_flight = [a for a in ledger.attempts if a.ids is None]
    acked = {i: a for a in ledger.attempts if a.ids for i in a.ids}
    assert len(acked) == ledger.acked, "the server gave one id to two messages"

    fresh_server.start()
    with httpx.Client(base_url=fresh_server.api, timeout=60.0) as api:
        for sid in sessions:
            _check_session(api, sid, [a for a in ledger.attempts if a.session_id == sid], seed)
        # Still writable after the restart.
        assert len(add_messages(api, sessions[0], [{"role": "user", "content": "after"}])) == 1
    print(f"seed {seed}: {len(acked)} acknowledged, {len(in_flight)} batches in flight")


def _check_session(api: httpx.Client, sid: str, attempts: list[Attempt], seed: int) -> None:
    data = ok(api.get(f"/sessions/{sid}/messages", params={"limit": 1000, "order": "asc"}))
    stored = data["messages"]
    assert len(stored) < 1000
    ids = [m["id"] for m in stored]
    assert len(ids) == len(set(ids)), f"duplicated ids (seed {seed})"
    texts = [m["content"] for m in stored]
    assert len(texts) == len(set(texts)), f"a message was stored twice (seed {seed})"
    present = set(texts)

    acked_ids = [i for a in attempts if a.ids for i in a.ids]
    if acked_ids:
        read = ok(api.post(f"/sessions/{sid}/messages/read", json={"message_ids": acked_ids}))
        by_id = {m["id"]: m["content"] for m in read["messages"]}
        expected = {i: t for a in attempts if a.ids for i, t in zip(a.ids, a.contents, strict=True)}
        assert by_id == expected, f"acknowledged messages lost or changed (seed {seed})"

    sent = {t for a in attempts for t in a.contents}
    assert present <= sent, "messages nobody sent"
    for a in attempts:
        if a.ids is None:  # in flight at the kill: all or nothing
            kept = [t for t in a.contents if t in present]
            assert kept in ([], a.contents), f"half a batch was stored (seed {seed})"

    buffered = ok(
        api.get(f"/sessions/{sid}/messages", params={"limit": 1000, "buffer_only": "true"})
    )
    handed = ok(
        api.get(f"/sessions/{sid}/messages", params={"limit": 1000, "buffer_only": "false"})
    )
    b = {m["id"] for m in buffered["messages"]}
    h = {m["id"] for m in handed["messages"]}
    assert not b & h and b | h == set(ids)
