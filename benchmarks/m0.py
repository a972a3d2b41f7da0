"""M0 benchmark: raw embedder throughput, HTTP ingest, query latency at 10k and 100k messages,
for the server as users run it (default settings: the background worker on) beside the same
server with the worker off, in one run.

One run measures everything below on this machine and prints one table; with ``--out`` (the
default for a full run) it also replaces the M0 section of ``docs/benchmarks.md`` and writes
``docs/m0.png`` next to it.

1. Raw embedder: the server's default local embedder (``build_embedder``), fed as under load
   (64 concurrent ``embed([text])`` calls, coalesced by the micro-batcher), and one-text latency.
2. Ingest: 1, 4 and 16 concurrent HTTP clients, each posting one user message per request to its
   own session of one user, for a fixed time; messages/s and add latency p50/p95. Both servers
   run side by side and take turns level by level; after each level the default server's
   background (the M1/M2 jobs of the episodes the level closed) drains before the other runs.
3. Query: ``POST /users/{uid}/query`` (top_k 5), distinct queries one after another, at 10k and
   100k stored messages of one user. The history is seeded straight through the store's write
   path (``store.add_messages``) before the servers start: embedding 100k texts over HTTP would
   take ~25 minutes at the embedder's ~75 texts/s. Seeded vectors are real embeddings of a pool
   of distinct texts; messages past the pool reuse a pool vector plus small noise. The seeded
   episodes' jobs are pending, so the default server's background is busy deriving them while
   the queries are timed (the worker-off server runs first, and leaves them pending).

Usage: ``python benchmarks/m0.py [--quick] [--out docs/benchmarks.md]``
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.serverproc import ServerProcess  # noqa: E402

from benchmarks.m0_measure import (  # noqa: E402
    CONCURRENT_CALLS,
    FULL,
    IDLE_WINDOWS,
    NOISE_SIGMA,
    QUICK,
    EmbedderResult,
    IngestResult,
    QueryResult,
    Scale,
    Seeder,
    Vectors,
    measure_embedder,
    measure_ingest,
    measure_queries,
    ms,
    queue_counts,
)
from benchmarks.texts import TextGen  # noqa: E402
from memfuse_server.config import DatabaseSettings, Settings  # noqa: E402

TARGET_STORED = 100_000  # the query latency targets hold at this size
SECTION_BEGIN, SECTION_END = "<!-- m0:begin -->", "<!-- m0:end -->"


@dataclass(frozen=True)
class Variant:
    name: str
    settings: dict[str, dict[str, Any]]


DEFAULT = Variant("default (worker on)", {})
WORKER_OFF = Variant("worker off", {"worker": {"enabled": False}})
VARIANTS = (DEFAULT, WORKER_OFF)


def idle(variant: Variant) -> Variant:
    """``variant`` whose sessions' last windows close 1 s after their last message, not 60."""
    return replace(variant, settings={**variant.settings, **IDLE_WINDOWS})


@contextmanager
def running_server(
    data_dir: Path, variant: Variant, partition_rows: int = 0
) -> Iterator[ServerProcess]:
    settings = {**variant.settings, "database": {"vector_partition_rows": partition_rows}}
    proc = ServerProcess(data_dir, settings=settings).start(timeout=120.0)
    try:
        yield proc
    finally:
        proc.stop()


def ingest_both(scale: Scale, tmp: Path) -> dict[str, list[IngestResult]]:
    """Both servers up at once, taking turns level by level (``measure_ingest``)."""
    with ExitStack() as stack:
        apis = {
            v.name: stack.enter_context(running_server(tmp / f"ingest-{i}", idle(v))).api
            for i, v in enumerate(VARIANTS)
        }
        return asyncio.run(measure_ingest(apis, scale))


async def _busy_queries(
    api: str, user_id: str, queries: list[str], warmup: int
) -> tuple[tuple[float, list[float], int], int, int]:
    done_before, _ = await queue_counts(api)
    measured = await measure_queries(api, user_id, queries, warmup)
    done_after, left = await queue_counts(api)
    return measured, done_after - done_before, left


def query_levels(
    scale: Scale, data_dir: Path, pool: list[str], vectors: Vectors, partition_rows: int = 0
) -> dict[str, list[QueryResult]]:
    """Seed, then query each server in turn: worker off first, so the seeded jobs stay pending."""
    url = f"sqlite:///{data_dir / 'memfuse.db'}"  # the file ServerProcess points the server at
    data_dir.mkdir(parents=True)
    seeder = Seeder(Settings(database=DatabaseSettings(url=url)), pool, vectors)
    results: dict[str, list[QueryResult]] = {v.name: [] for v in VARIANTS}
    for i, total in enumerate(scale.stored):
        seconds = asyncio.run(seeder.grow_to(total))
        queries = TextGen(100 + i).queries(scale.warmup + scale.queries)
        for variant in reversed(VARIANTS):
            with running_server(data_dir, variant, partition_rows) as proc:
                run = _busy_queries(proc.api, seeder.user_id, queries, scale.warmup)
                measured, done, left = asyncio.run(run)
            result = QueryResult(total, seconds, *measured, jobs_done=done, jobs_left=left)
            results[variant.name].append(result)
    return results


# ---------------------------------------------------------------- report


@dataclass(frozen=True)
class Report:
    scale: Scale
    embedder: EmbedderResult
    ingest: dict[str, list[IngestResult]]
    queries: dict[str, list[QueryResult]]


Row = tuple[str, str, str, str, str]  # metric, default, worker off, target, verdict
ON, OFF = DEFAULT.name, WORKER_OFF.name


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def embedder_rows(e: EmbedderResult) -> list[Row]:
    return [
        ("Message length (model tokens, mean)", f"{e.mean_tokens:.1f}", "", "~37", ""),
        (f"Raw embedder, {CONCURRENT_CALLS} concurrent embed([text])", f"{e.sentences_per_s:.1f} sentences/s", "", "", ""),
        ("Raw embedder, one text, p50", f"{e.single_p50_ms:.1f} ms", "", "", ""),
    ]  # fmt: skip


def _latency(r: IngestResult) -> str:
    return f"{ms(r.latencies, 50):.1f} / {ms(r.latencies, 95):.1f} ms"


def _add_target(on: IngestResult, off: IngestResult) -> tuple[str, str]:
    p95_on, p95_off = ms(on.latencies, 95), ms(off.latencies, 95)
    if on.clients == 1:
        ok = p95_on <= 50.0 and p95_on <= 1.5 * p95_off
        return f"p95 ≤ 50 ms and ≤ 1.5x worker off ({p95_on / p95_off:.2f}x)", verdict(ok)
    if on.clients == 16:
        return "p95 ≤ 100 ms", verdict(p95_on <= 100.0)
    return "", ""


def ingest_rows(ingest: dict[str, list[IngestResult]], raw: float) -> list[Row]:
    rows: list[Row] = []
    for on, off in zip(ingest[ON], ingest[OFF], strict=True):
        n = on.clients
        rate = f"{on.rate:.1f} msg/s", f"{off.rate:.1f} msg/s"
        rows.append((f"Ingest, {n} client(s)", *rate, "", ""))
        rows.append((f"Add latency, {n} client(s), p50 / p95", _latency(on), _latency(off), *_add_target(on, off)))  # fmt: skip
        rows.append((f"Background drained after the {n}-client level", f"{on.drain_seconds:.1f} s", "", "", ""))  # fmt: skip
    on, off = ingest[ON][-1], ingest[OFF][-1]
    share_on, share_off = on.rate / raw * 100.0, off.rate / raw * 100.0
    rows.append((f"Ingest at {on.clients} clients / raw embedder", f"{share_on:.0f} %", f"{share_off:.0f} %", "≥ 90 %", verdict(share_on >= 90.0)))  # fmt: skip
    return rows


def _query_cells(q: QueryResult) -> str:
    return f"{ms(q.latencies, 50):.1f} / {ms(q.latencies, 95):.1f} ms"


def query_rows(queries: dict[str, list[QueryResult]], embed_p50_ms: float) -> list[Row]:
    rows: list[Row] = []
    before = 0
    for on, off in zip(queries[ON], queries[OFF], strict=True):
        p50, p95 = ms(on.latencies, 50), ms(on.latencies, 95)
        target = on.stored >= TARGET_STORED
        label = f"{on.stored // 1000}k messages"
        rows.append((f"Seed to {label} via store write path", f"+{on.stored - before} in {on.seed_seconds:.1f} s", "", "", ""))  # fmt: skip
        rows.append((f"Query at {label}, first (cold)", f"{on.cold_ms:.1f} ms", f"{off.cold_ms:.1f} ms", "", ""))  # fmt: skip
        rows.append((
            f"Query at {label}, p50 / p95 ({len(on.latencies)} queries, {on.empty + off.empty} empty)",
            _query_cells(on),
            _query_cells(off),
            "p50 ≤ 20, p95 ≤ 40 ms" if target else "p95 ≤ 40 ms",
            verdict(p50 <= 20.0 and p95 <= 40.0) if target else verdict(p95 <= 40.0),
        ))  # fmt: skip
        rows.append((f"Background jobs done while the {label} queries ran (left)", f"{on.jobs_done} ({on.jobs_left})", "", "", ""))  # fmt: skip
        rows.append((f"Query at {label}, p50 minus one-text embed p50 (≈ search)", f"{p50 - embed_p50_ms:.1f} ms", f"{ms(off.latencies, 50) - embed_p50_ms:.1f} ms", "", ""))  # fmt: skip
        before = on.stored
    return rows


def all_rows(report: Report) -> list[Row]:
    raw = report.embedder.sentences_per_s
    return (
        embedder_rows(report.embedder)
        + ingest_rows(report.ingest, raw)
        + query_rows(report.queries, report.embedder.single_p50_ms)
    )


COLUMNS = ("Metric", ON, OFF, "Target", "Result")


def print_table(rows: list[Row], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in COLUMNS:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console(width=170).print(table)


def markdown(rows: list[Row], command: str, report: Report) -> str:
    s = report.scale
    lines = [
        SECTION_BEGIN,
        "## M0: embedder, ingest and query latency",
        "",
        f"Produced by `{command}` on {datetime.now(UTC):%Y-%m-%d} (run size: {s.name}; 2 cores,",
        "timings vary ±30% between runs: compare ratios within one run).",
        "",
        f"| {' | '.join(COLUMNS)} |",
        "|---|---|---|---|---|",
        *(f"| {' | '.join(r)} |" for r in rows),
        "",
        "- Two servers in one run: the default settings (the background worker on, as users run",
        "  it) and the same with `worker.enabled: false` (the M0 path alone).",
        f"- Raw embedder: default settings (`build_embedder`), {CONCURRENT_CALLS} concurrent one-text",
        f"  calls × {s.embed_rounds} rounds, coalesced by the micro-batcher; latency: one call at a time.",
        f"- Ingest: {s.ingest_seconds:.0f} s per level; each client has its own HTTP connection and",
        "  session of one user and posts one user message per request; latency is the client's.",
        "  Both servers are up at once and take turns level by level; after each level the default",
        "  server's background derives the episodes the level closed before the other server runs",
        "  (the drain rows), so with the worker on the background works during its own level only.",
        "  For that, a session's last window closes 1 s after its last message",
        "  (`buffer.idle_seconds: 1` on both servers, instead of 60 s).",
        "- Query: top_k 5, distinct generated questions one at a time, after",
        f"  {s.warmup} warm-up queries. The first, cold one is sent as soon as the server answers;",
        "  it waits for the user's vectors, which the server loads at startup in the background",
        "  (`database.vector_warmup_rows`) or, past that budget, on the first search. The seeded",
        "  episodes' jobs are pending when the default server starts: its background works through",
        "  them while the queries are timed (the jobs-done row).",
        "- Seeding bypasses HTTP embedding: the history is written with `store.add_messages` (the",
        "  server's own write transaction, episodes included) before the server starts, because",
        "  embedding 100k texts at the measured rate would take ~25 minutes. Vectors are real",
        f"  embeddings of {s.pool_size} distinct texts; later messages reuse one of them plus",
        f"  gaussian noise (σ {NOISE_SIGMA} per dimension), renormalised.",
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
    rates = [r.rate for results in report.ingest.values() for r in results]
    for name, results in report.ingest.items():
        clients = [r.clients for r in results]
        ax.plot(clients, [r.rate for r in results], "o-", label=f"HTTP ingest, {name}")
    ax.axhline(raw, color="grey", linestyle="--", label=f"raw embedder ({raw:.0f}/s)")
    ax.axhline(0.9 * raw, color="grey", linestyle=":", label="90 % of raw (target at 16)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(clients, [str(c) for c in clients])
    ax.set_ylim(0, 1.2 * max(raw, *rates))
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
    log("2/3 ingest over HTTP, both servers")
    ingest = ingest_both(scale, tmp)
    log("3/3 seeding and queries, both servers")
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
