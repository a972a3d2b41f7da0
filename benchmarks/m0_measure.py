"""The measurements of the M0 benchmark (``m0.py``): the raw embedder, HTTP ingest, seeding and
queries. Also used by ``postgres.py``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from benchmarks.texts import TextGen
from memfuse_server.buffer import RoundBuffer
from memfuse_server.config import Settings
from memfuse_server.embeddings import build_embedder, build_token_counter
from memfuse_server.embeddings.base import Embedder, TokenCounter
from memfuse_server.models import NewMessage, Role
from memfuse_server.service import search_text
from memfuse_server.storage import PreparedMessage, Store, open_store

Vectors = npt.NDArray[np.float32]
CLIENT_LEVELS = (1, 4, 16)
CONCURRENT_CALLS = 64
SESSION_SIZE = 100  # seeded messages per session (one add_messages call each)
NOISE_SIGMA = 0.01  # per dimension: cosine ~0.98 to the pooled vector
DRAIN_TIMEOUT = 900.0  # seconds a background may take to catch up after an ingest level
IDLE_SECONDS, SWEEP_SECONDS = 1.0, 0.2  # a session's last window closes this soon after it stops
IDLE_WINDOWS = {"buffer": {"idle_seconds": IDLE_SECONDS, "sweep_interval_seconds": SWEEP_SECONDS}}


@dataclass(frozen=True)
class Scale:
    name: str
    embed_rounds: int  # rounds of CONCURRENT_CALLS single-text calls
    latency_samples: int
    ingest_seconds: float
    pool_size: int
    stored: tuple[int, ...]  # message counts the query latency is measured at
    queries: int
    warmup: int = 5


FULL = Scale("full", 12, 100, 20.0, 3000, (10_000, 100_000), 200)
QUICK = Scale("quick", 2, 20, 3.0, 200, (1_000, 5_000), 30, warmup=3)


def ms(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of durations in seconds, in milliseconds."""
    return float(np.percentile(values, q)) * 1000.0


def check(response: httpx.Response, status: int) -> dict[str, Any]:
    if response.status_code != status:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text}")
    data: dict[str, Any] = response.json()["data"]
    return data


# ---------------------------------------------------------------- 1. raw embedder


@dataclass(frozen=True)
class EmbedderResult:
    sentences_per_s: float
    single_p50_ms: float
    mean_tokens: float
    pool_vectors: Vectors


async def _concurrent_rate(embedder: Embedder, texts: list[str], rounds: int) -> float:
    """Sentences/s with CONCURRENT_CALLS single-text calls in flight, ``rounds`` times."""
    start = time.perf_counter()
    for r in range(rounds):
        chunk = texts[r * CONCURRENT_CALLS : (r + 1) * CONCURRENT_CALLS]
        await asyncio.gather(*(embedder.embed([t]) for t in chunk))
    return rounds * CONCURRENT_CALLS / (time.perf_counter() - start)


async def _single_latencies(embedder: Embedder, texts: list[str]) -> list[float]:
    out = []
    for text in texts:
        start = time.perf_counter()
        await embedder.embed([text])
        out.append(time.perf_counter() - start)
    return out


async def measure_embedder(scale: Scale, pool_texts: list[str]) -> EmbedderResult:
    """Step 1, and the real vectors of the seeding pool (same embedder, loaded once)."""
    settings = Settings()
    embedder = build_embedder(settings.embedding)
    tokens = build_token_counter(settings.embedding)
    texts = TextGen(1).messages(scale.embed_rounds * CONCURRENT_CALLS + scale.latency_samples)
    try:
        await embedder.embed(texts[:CONCURRENT_CALLS])  # warm-up
        rate = await _concurrent_rate(embedder, texts, scale.embed_rounds)
        single = await _single_latencies(embedder, texts[-scale.latency_samples :])
        pool = await embedder.embed(pool_texts)
    finally:
        await embedder.aclose()
    mean_tokens = float(np.mean([tokens.count(t) for t in texts]))
    return EmbedderResult(rate, ms(single, 50), mean_tokens, pool)


# ---------------------------------------------------------------- 2. ingest over HTTP


@dataclass(frozen=True)
class IngestResult:
    clients: int
    messages: int
    seconds: float
    latencies: list[float]
    drain_seconds: float = 0.0  # after the level, until the server's job queue was empty

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


async def _make_owner(http: httpx.AsyncClient, name: str) -> tuple[str, str]:
    user = check(await http.post("/users", json={"name": name}), 201)["user"]
    agent = check(await http.post("/agents", json={"name": f"{name}-agent"}), 201)["agent"]
    return user["id"], agent["id"]


async def _new_session(http: httpx.AsyncClient, user_id: str, agent_id: str) -> str:
    body = {"user_id": user_id, "agent_id": agent_id, "name": None}
    return str(check(await http.post("/sessions", json=body), 201)["session"]["id"])


async def _client(api: str, session_id: str, seed: int, deadline: float) -> list[float]:
    """One client: post one user message per request until ``deadline``; its latencies."""
    gen, latencies = TextGen(seed), []
    async with httpx.AsyncClient(base_url=api, timeout=60.0) as http:
        await http.get("/health")  # connect before the clock starts mattering
        while time.perf_counter() < deadline:
            body = {"messages": [{"role": "user", "content": gen.message()}]}
            start = time.perf_counter()
            response = await http.post(f"/sessions/{session_id}/messages", json=body)
            latencies.append(time.perf_counter() - start)
            check(response, 201)
    return latencies


async def _ingest_level(api: str, sessions: list[str], seconds: float) -> IngestResult:
    start = time.perf_counter()
    runs = [_client(api, sid, 1000 + i, start + seconds) for i, sid in enumerate(sessions)]
    per_client = await asyncio.gather(*runs)
    elapsed = time.perf_counter() - start
    latencies = [x for run in per_client for x in run]
    return IngestResult(len(sessions), len(latencies), elapsed, latencies)


async def _warm_owner(http: httpx.AsyncClient) -> tuple[str, str]:
    """The user and agent of the ingest, after a few warm-up requests (first batches)."""
    user_id, agent_id = await _make_owner(http, "bench-ingest")
    warm = await _new_session(http, user_id, agent_id)
    for text in TextGen(7).messages(5):
        body = {"messages": [{"role": "user", "content": text}]}
        check(await http.post(f"/sessions/{warm}/messages", json=body), 201)
    return user_id, agent_id


async def background_idle(http: httpx.AsyncClient) -> float:
    """Wait until the server's background has nothing pending or running; seconds waited.

    A server without a worker returns at once (its jobs wait for a worker elsewhere). The
    sessions' last windows close ``IDLE_SECONDS`` after their last message, so this waits
    for that first (the benchmark's servers run with that idle time)."""
    start = time.perf_counter()
    if not check(await http.get("/stats"), 200)["worker"]["in_process"]:
        return 0.0
    await asyncio.sleep(IDLE_SECONDS + SWEEP_SECONDS)
    async with asyncio.timeout(DRAIN_TIMEOUT):
        while True:
            queue = check(await http.get("/stats"), 200)["queue"]
            if queue["pending"] + queue["running"] == 0:
                return time.perf_counter() - start
            await asyncio.sleep(0.2)  # the database's queue is what is waited on


async def measure_ingest(apis: dict[str, str], scale: Scale) -> dict[str, list[IngestResult]]:
    """Each level on each server in turn; every server's background drains before the next runs.

    Levels interleave so that a change in the machine's load falls on all servers alike. A
    server's ``drain_seconds`` is how long its background took to catch up after the level.
    """
    clients = {name: httpx.AsyncClient(base_url=api, timeout=60.0) for name, api in apis.items()}
    try:
        owners = {name: await _warm_owner(http) for name, http in clients.items()}
        for http in clients.values():
            await background_idle(http)
        results: dict[str, list[IngestResult]] = {name: [] for name in apis}
        for n in CLIENT_LEVELS:
            for name, http in clients.items():
                sessions = [await _new_session(http, *owners[name]) for _ in range(n)]
                level = await _ingest_level(apis[name], sessions, scale.ingest_seconds)
                drained = await background_idle(http)
                results[name].append(replace(level, drain_seconds=drained))
        return results
    finally:
        for http in clients.values():
            await http.aclose()


# ---------------------------------------------------------------- 3. seeding + query


class Seeder:
    """Grows one user's history straight through the store's write path (no HTTP, no model)."""

    def __init__(self, settings: Settings, pool_texts: list[str], pool_vectors: Vectors) -> None:
        self.settings = settings
        self.pool_texts, self.pool_vectors = pool_texts, pool_vectors
        self.gen = TextGen(3)
        self.rng = np.random.default_rng(3)
        self.stored = 0
        self.user_id = self.agent_id = ""
        self.clock = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
        self.buffer = RoundBuffer(settings.buffer.max_tokens, settings.buffer.max_rounds)

    def _batch(self, n: int, tokens: TokenCounter) -> tuple[list[PreparedMessage], Vectors]:
        texts, vectors = [], np.empty((n, self.pool_vectors.shape[1]), dtype=np.float32)
        for i in range(n):
            k = self.stored + i
            if k < len(self.pool_texts):
                texts.append(self.pool_texts[k])
                vectors[i] = self.pool_vectors[k]
            else:
                texts.append(self.gen.message())
                vectors[i] = self._noisy(int(self.rng.integers(len(self.pool_vectors))))
        return [self._prepared(self.stored + i, t, tokens) for i, t in enumerate(texts)], vectors

    def _noisy(self, j: int) -> Vectors:
        noise = self.rng.normal(0.0, NOISE_SIGMA, self.pool_vectors.shape[1])
        v: Vectors = (self.pool_vectors[j] + noise).astype(np.float32)
        return v / np.float32(np.linalg.norm(v))

    def _prepared(self, k: int, text: str, tokens: TokenCounter) -> PreparedMessage:
        self.clock += timedelta(minutes=7)
        role = Role.USER if k % 2 == 0 else Role.ASSISTANT
        message = NewMessage(role=role, content=text, created_at=self.clock)
        searchable = search_text(message)
        return PreparedMessage(message, searchable, tokens.count(searchable))

    async def _owner(self, store: Store) -> None:
        if not self.user_id:
            self.user_id = (await store.create_user("bench-query", None))[0].id
            self.agent_id = (await store.create_agent("bench-query-agent", None))[0].id

    async def grow_to(self, total: int) -> float:
        """Add messages until ``total`` are stored, close every open window; seconds taken."""
        start = time.perf_counter()
        store, tokens = open_store(self.settings), build_token_counter(self.settings.embedding)
        await store.open()
        try:
            await self._owner(store)
            while self.stored < total:
                n = min(SESSION_SIZE, total - self.stored)
                session = await store.create_session(self.user_id, self.agent_id, f"s{self.stored}")
                prepared, vectors = self._batch(n, tokens)
                await store.add_messages(session, prepared, vectors, self.buffer)
                self.stored += n
            await store.close_idle_windows(datetime.now(UTC) + timedelta(days=1))
        finally:
            await store.close()
        return time.perf_counter() - start


@dataclass(frozen=True)
class QueryResult:
    stored: int
    seed_seconds: float
    cold_ms: float
    latencies: list[float]
    empty: int  # queries that returned no result (a sanity check)
    jobs_done: int = 0  # background jobs the server finished while the queries were timed
    jobs_left: int = 0  # background jobs pending or running when they ended


async def _timed_query(http: httpx.AsyncClient, user_id: str, text: str) -> tuple[float, int]:
    start = time.perf_counter()
    response = await http.post(f"/users/{user_id}/query", json={"query": text, "top_k": 5})
    elapsed = time.perf_counter() - start
    return elapsed, int(check(response, 200)["total"])


async def measure_queries(
    api: str, user_id: str, queries: list[str], warmup: int
) -> tuple[float, list[float], int]:
    async with httpx.AsyncClient(base_url=api, timeout=120.0) as http:
        cold, _ = await _timed_query(http, user_id, queries[0])
        for text in queries[1:warmup]:
            await _timed_query(http, user_id, text)
        timed = [await _timed_query(http, user_id, text) for text in queries[warmup:]]
    return cold * 1000.0, [t for t, _ in timed], sum(1 for _, n in timed if n == 0)


async def queue_counts(api: str) -> tuple[int, int]:
    """The server's (finished, pending + running) background jobs."""
    async with httpx.AsyncClient(base_url=api, timeout=60.0) as http:
        queue = check(await http.get("/stats"), 200)["queue"]
    return int(queue["done_kept"]), int(queue["pending"]) + int(queue["running"])
