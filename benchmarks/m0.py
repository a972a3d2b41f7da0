"""M0 benchmark: raw embedder throughput, HTTP ingest, query latency at 10k and 100k messages.

One run measures everything below on this machine and prints one table; with ``--out`` (the
default for a full run) it also replaces the M0 section of ``docs/benchmarks.md`` and writes
``docs/m0.png`` next to it.

1. Raw embedder: the server's default local embedder (``build_embedder``), fed as under load
   (64 concurrent ``embed([text])`` calls, coalesced by the micro-batcher), and one-text latency.
2. Ingest: 1, 4 and 16 concurrent HTTP clients, each posting one user message per request to its
   own session of one user, for a fixed time; messages/s and add latency p50/p95.
3. Query: ``POST /users/{uid}/query`` (top_k 5), distinct queries one after another, at 10k and
   100k stored messages of one user. The history is seeded straight through the store's write
   path (``store.add_messages``) before the server starts: embedding 100k texts over HTTP would
   take ~25 minutes at the embedder's ~75 texts/s. Seeded vectors are real embeddings of a pool
   of distinct texts; messages past the pool reuse a pool vector plus small noise.

The servers run with the background worker off (M1/M2 jobs): this is the M0 path alone.

Usage: ``python benchmarks/m0.py [--quick] [--out docs/benchmarks.md]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.serverproc import ServerProcess  # noqa: E402

from memfuse_server.buffer import RoundBuffer  # noqa: E402
from memfuse_server.config import DatabaseSettings, Settings  # noqa: E402
from memfuse_server.embeddings import build_embedder, build_token_counter  # noqa: E402
from memfuse_server.embeddings.base import Embedder, TokenCounter  # noqa: E402
from memfuse_server.models import NewMessage, Role  # noqa: E402
from memfuse_server.service import search_text  # noqa: E402
from memfuse_server.storage import PreparedMessage, Store, open_store  # noqa: E402

Vectors = npt.NDArray[np.float32]
CLIENT_LEVELS = (1, 4, 16)
CONCURRENT_CALLS = 64
SESSION_SIZE = 100  # seeded messages per session (one add_messages call each)
TARGET_STORED = 100_000  # the query latency targets hold at this size
NOISE_SIGMA = 0.01  # per dimension: cosine ~0.98 to the pooled vector
# The M0 path alone: no background worker, so the episodes' M1/M2 jobs (extraction, and the
# embedding of facts on the same embedder) neither compete with ingest nor chew through the
# seeded backlog while queries are timed. Everything else is the server's default settings.
M0_ONLY: dict[str, dict[str, Any]] = {"worker": {"enabled": False}}
SECTION_BEGIN, SECTION_END = "<!-- m0:begin -->", "<!-- m0:end -->"


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


# ---------------------------------------------------------------- deterministic texts

NAMES = (
    "Maria", "Tom", "Aiko", "Priya", "Lucas", "Fatima", "Jonas", "Elena", "Kwame", "Sofia",
    "Daniel", "Mei", "Omar", "Chloe", "Ravi", "Hannah", "Mateo", "Ingrid", "Yusuf", "Grace",
    "Leo", "Nadia", "Felix", "Amara", "Sven", "Lucia", "Kenji", "Zoe", "Tariq", "Beatriz",
)  # fmt: skip
PLACES = (
    "the old lighthouse in Porto", "a tiny ramen shop in Kyoto", "the farmers market downtown",
    "Lake Bled", "the climbing gym on Fifth Street", "my aunt's cabin near Tahoe",
    "the botanical garden", "that Ethiopian place on Mission Street", "the science museum",
    "a jazz bar in New Orleans", "the beach at Biarritz", "the bookshop by the canal",
    "Central Park", "the night market in Taipei", "a vineyard outside Mendoza",
    "the ice rink at Rockefeller Center", "my brother's new flat in Leeds", "the harbour in Oslo",
    "a hot spring in Hakone", "the community garden", "the stadium", "a cooking school in Bologna",
)  # fmt: skip
ACTIVITIES = (
    ("went kayaking", "go kayaking"), ("had dinner", "have dinner"),
    ("tried the tasting menu", "try the tasting menu"), ("went bouldering", "go bouldering"),
    ("watched a jazz concert", "watch a concert"), ("painted pottery", "paint pottery"),
    ("ran a half marathon", "run"), ("played chess for hours", "play chess"),
    ("took a pasta-making class", "make pasta"), ("went birdwatching", "go birdwatching"),
    ("celebrated her promotion", "celebrate"), ("looked at apartments", "look at apartments"),
    ("planned the wedding seating", "plan the wedding"), ("fixed my old bike", "fix the bike"),
    ("went ice skating", "go ice skating"), ("practised Spanish", "practise Spanish"),
)  # fmt: skip
WHEN = (
    "last Saturday", "on March 3rd", "yesterday evening", "two weeks ago",
    "over the long weekend", "on her birthday", "in early June", "this morning",
    "the Friday before Easter", "on New Year's Eve", "last autumn", "during the heatwave",
    "on the 14th of August", "right after work on Tuesday", "in the middle of the storm",
)  # fmt: skip
FOLLOWUPS = (
    "She said the food was amazing and we should bring my brother next time.",
    "I want to remember to book it again before the end of the summer.",
    "It rained the whole time, but honestly it was still one of the best days this year.",
    "He lost his phone there, so remind me to ask whether anyone handed it in.",
    "We agreed to go back every month if our schedules allow it.",
    "The tickets cost forty euros each, which felt expensive but fair.",
    "My knee started hurting afterwards, so maybe I should see a physio.",
    "They have a loyalty card now; I signed up with my work email address.",
    "Afterwards we argued about politics, which I would rather avoid next time.",
    "I promised to send her the photos by Sunday evening at the latest.",
)  # fmt: skip
OPENERS = ("Quick update:", "Guess what,", "By the way,", "Just so you know,", "Note to self:")
QUESTIONS = (
    "What did I do with {name} {when}?",
    "Where did {name} and I {base}?",
    "When did I last visit {place}?",
    "Who came with me to {place}?",
    "Have I ever {past} with {name}?",
    "What happened at {place} {when}?",
    "Did {name} like it when we {past}?",
)


class TextGen:
    """Varied, deterministic chat-like messages (~37 model tokens) and natural queries."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def message(self) -> str:
        c = self.rng.choice
        past = c(ACTIVITIES)[0]
        text = f"{c(OPENERS)} {c(NAMES)} and I {past} together at {c(PLACES)} {c(WHEN)}. {c(FOLLOWUPS)}"
        return text.strip()

    def messages(self, n: int) -> list[str]:
        return [self.message() for _ in range(n)]

    def distinct_messages(self, n: int) -> list[str]:
        seen: dict[str, None] = {}
        while len(seen) < n:
            seen[self.message()] = None
        return list(seen)

    def queries(self, n: int) -> list[str]:
        seen: dict[str, None] = {}
        c = self.rng.choice
        while len(seen) < n:
            past, base = c(ACTIVITIES)
            q = c(QUESTIONS).format(
                name=c(NAMES), when=c(WHEN), place=c(PLACES), past=past, base=base
            )
            seen[q] = None
        return list(seen)


# ---------------------------------------------------------------- small helpers


def ms(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of durations in seconds, in milliseconds."""
    return float(np.percentile(values, q)) * 1000.0


def check(response: httpx.Response, status: int) -> dict[str, Any]:
    if response.status_code != status:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text}")
    data: dict[str, Any] = response.json()["data"]
    return data


@contextmanager
def running_server(data_dir: Path, partition_rows: int = 0) -> Iterator[ServerProcess]:
    settings = {**M0_ONLY, "database": {"vector_partition_rows": partition_rows}}
    proc = ServerProcess(data_dir, settings=settings).start(timeout=120.0)
    try:
        yield proc
    finally:
        proc.stop()


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


async def measure_ingest(api: str, scale: Scale) -> list[IngestResult]:
    async with httpx.AsyncClient(base_url=api, timeout=60.0) as http:
        user_id, agent_id = await _make_owner(http, "bench-ingest")
        warm = await _new_session(http, user_id, agent_id)
        for text in TextGen(7).messages(5):  # warm-up: first requests, first batches
            body = {"messages": [{"role": "user", "content": text}]}
            check(await http.post(f"/sessions/{warm}/messages", json=body), 201)
        results = []
        for n in CLIENT_LEVELS:
            sessions = [await _new_session(http, user_id, agent_id) for _ in range(n)]
            results.append(await _ingest_level(api, sessions, scale.ingest_seconds))
    return results


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


def query_levels(
    scale: Scale, data_dir: Path, pool: list[str], vectors: Vectors, partition_rows: int = 0
) -> list[QueryResult]:
    url = f"sqlite:///{data_dir / 'memfuse.db'}"  # the file ServerProcess points the server at
    data_dir.mkdir(parents=True)
    seeder = Seeder(Settings(database=DatabaseSettings(url=url)), pool, vectors)
    results = []
    for i, total in enumerate(scale.stored):
        seconds = asyncio.run(seeder.grow_to(total))
        queries = TextGen(100 + i).queries(scale.warmup + scale.queries)
        with running_server(data_dir, partition_rows) as proc:
            measured = asyncio.run(measure_queries(proc.api, seeder.user_id, queries, scale.warmup))
        results.append(QueryResult(total, seconds, *measured))
    return results


# ---------------------------------------------------------------- report


@dataclass(frozen=True)
class Report:
    scale: Scale
    embedder: EmbedderResult
    ingest: list[IngestResult]
    queries: list[QueryResult]


Row = tuple[str, str, str, str]  # metric, value, target, verdict


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def embedder_rows(e: EmbedderResult) -> list[Row]:
    return [
        ("Message length (model tokens, mean)", f"{e.mean_tokens:.1f}", "~37", ""),
        (f"Raw embedder, {CONCURRENT_CALLS} concurrent embed([text])", f"{e.sentences_per_s:.1f} sentences/s", "", ""),
        ("Raw embedder, one text, p50", f"{e.single_p50_ms:.1f} ms", "", ""),
    ]  # fmt: skip


def ingest_rows(results: list[IngestResult], raw: float) -> list[Row]:
    rows: list[Row] = []
    p95_targets = {1: 50.0, 16: 100.0}
    for r in results:
        p50, p95 = ms(r.latencies, 50), ms(r.latencies, 95)
        target = p95_targets.get(r.clients)
        rows.append(
            (
                f"Ingest, {r.clients} client(s)",
                f"{r.rate:.1f} msg/s ({r.messages} in {r.seconds:.1f} s)",
                "",
                "",
            )
        )
        rows.append((
            f"Add latency, {r.clients} client(s), p50 / p95",
            f"{p50:.1f} / {p95:.1f} ms",
            f"p95 ≤ {target:.0f} ms" if target else "",
            verdict(p95 <= target) if target else "",
        ))  # fmt: skip
    share = results[-1].rate / raw * 100.0
    rows.append((f"Ingest at {results[-1].clients} clients / raw embedder", f"{share:.0f} %", "≥ 90 %", verdict(share >= 90.0)))  # fmt: skip
    return rows


def query_rows(results: list[QueryResult], embed_p50_ms: float) -> list[Row]:
    rows: list[Row] = []
    before = 0
    for q in results:
        p50, p95 = ms(q.latencies, 50), ms(q.latencies, 95)
        target = q.stored >= TARGET_STORED
        label = f"{q.stored // 1000}k messages"
        rows.append((f"Seed to {label} via store write path", f"+{q.stored - before} in {q.seed_seconds:.1f} s", "", ""))  # fmt: skip
        rows.append((f"Query at {label}, first (cold)", f"{q.cold_ms:.1f} ms", "", ""))
        rows.append((
            f"Query at {label}, p50 / p95 ({len(q.latencies)} queries, {q.empty} empty)",
            f"{p50:.1f} / {p95:.1f} ms",
            "p50 ≤ 20, p95 ≤ 40 ms" if target else "",
            verdict(p50 <= 20.0 and p95 <= 40.0) if target else "",
        ))  # fmt: skip
        rows.append((f"Query at {label}, p50 minus one-text embed p50 (≈ search)", f"{p50 - embed_p50_ms:.1f} ms", "", ""))  # fmt: skip
        before = q.stored
    return rows


def all_rows(report: Report) -> list[Row]:
    raw = report.embedder.sentences_per_s
    return (
        embedder_rows(report.embedder)
        + ingest_rows(report.ingest, raw)
        + query_rows(report.queries, report.embedder.single_p50_ms)
    )


def print_table(rows: list[Row], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("Metric", "Value", "Target", "Result"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console(width=150).print(table)


def markdown(rows: list[Row], command: str, report: Report) -> str:
    s = report.scale
    lines = [
        SECTION_BEGIN,
        "## M0: embedder, ingest and query latency",
        "",
        f"Produced by `{command}` on {datetime.now(UTC):%Y-%m-%d} (run size: {s.name}; 2 cores,",
        "timings vary ±30% between runs: compare ratios within one run).",
        "",
        "| Metric | Value | Target | Result |",
        "|---|---|---|---|",
        *(f"| {' | '.join(r)} |" for r in rows),
        "",
        f"- Raw embedder: default settings (`build_embedder`), {CONCURRENT_CALLS} concurrent one-text",
        f"  calls × {s.embed_rounds} rounds, coalesced by the micro-batcher; latency: one call at a time.",
        f"- Ingest: {s.ingest_seconds:.0f} s per level; each client has its own HTTP connection and",
        "  session of one user and posts one user message per request; latency is the client's.",
        "- Query: top_k 5, distinct generated questions one at a time, after",
        f"  {s.warmup} warm-up queries. The first, cold one is sent as soon as the server answers;",
        "  it waits for the user's vectors, which the server loads at startup in the background",
        "  (`database.vector_warmup_rows`) or, past that budget, on the first search.",
        "- Seeding bypasses HTTP embedding: the history is written with `store.add_messages` (the",
        "  server's own write transaction, episodes included) before the server starts, because",
        "  embedding 100k texts at the measured rate would take ~25 minutes. Vectors are real",
        f"  embeddings of {s.pool_size} distinct texts; later messages reuse one of them plus",
        f"  gaussian noise (σ {NOISE_SIGMA} per dimension), renormalised.",
        "- The server runs with default settings except `worker.enabled: false`: this measures the",
        "  M0 path alone; with the worker on, each closed episode's M1/M2 jobs (extraction, and",
        "  embedding of facts on the same embedder) would compete with ingest and would work through",
        "  the seeded backlog while queries are timed.",
        "",
        "![ingest throughput vs clients](m0.png)",
        SECTION_END,
    ]
    return "\n".join(lines) + "\n"


def write_section(out: Path, section: str) -> None:
    text = out.read_text(encoding="utf-8") if out.exists() else "# Benchmarks\n\n"
    if SECTION_BEGIN in text and SECTION_END in text:
        head, rest = text.split(SECTION_BEGIN, 1)
        text = head + section + rest.split(SECTION_END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


def plot(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    raw = report.embedder.sentences_per_s
    fig, ax = plt.subplots(figsize=(6, 4))
    clients = [r.clients for r in report.ingest]
    ax.plot(clients, [r.rate for r in report.ingest], "o-", label="HTTP ingest")
    ax.axhline(raw, color="grey", linestyle="--", label=f"raw embedder ({raw:.0f}/s)")
    ax.axhline(0.9 * raw, color="grey", linestyle=":", label="90 % of raw (target at 16)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(clients, [str(c) for c in clients])
    ax.set_ylim(0, 1.2 * max(raw, *(r.rate for r in report.ingest)))
    ax.set(xlabel="concurrent clients", ylabel="messages / s", title="M0 ingest throughput")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- main


def run(scale: Scale, tmp: Path, log: Callable[[str], None], partition_rows: int = 0) -> Report:
    pool_texts = TextGen(2).distinct_messages(scale.pool_size)
    log("1/3 raw embedder")
    embedder = asyncio.run(measure_embedder(scale, pool_texts))
    log("2/3 ingest over HTTP")
    with running_server(tmp / "ingest") as proc:
        ingest = asyncio.run(measure_ingest(proc.api, scale))
    log("3/3 seeding and queries")
    queries = query_levels(scale, tmp / "query", pool_texts, embedder.pool_vectors, partition_rows)
    return Report(scale, embedder, ingest, queries)


def command_line(argv: Sequence[str]) -> str:
    def rel(path: str) -> str:
        p = Path(path).absolute()
        return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else path

    return shlex.join([rel(sys.executable), rel(sys.argv[0]), *argv])


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (< 1 minute)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="markdown file whose M0 section is replaced (default: docs/benchmarks.md for a "
        "full run, none for --quick); the plot m0.png goes next to it",
    )
    parser.add_argument(
        "--partition-rows",
        type=int,
        default=0,
        help="database.vector_partition_rows of the query servers (0: exact search, the default)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    scale = QUICK if args.quick else FULL
    out: Path | None = args.out or (None if args.quick else ROOT / "docs" / "benchmarks.md")
    started = time.perf_counter()

    def log(step: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {step}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="memfuse-bench-") as tmp:
        report = run(scale, Path(tmp), log, args.partition_rows)
    rows = all_rows(report)
    print_table(rows, f"M0 benchmark ({scale.name}, {time.perf_counter() - started:.0f} s)")
    if out is not None:
        write_section(out, markdown(rows, command_line(argv), report))
        plot(report, out.parent / "m0.png")
        log(f"wrote {out} and {out.parent / 'm0.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
