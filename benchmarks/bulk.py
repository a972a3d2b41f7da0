"""Bulk insertion benchmark: the seed's two tables (seed 003) beaten, then the real server.

1. Injected latency. A loopback HTTP server (``tests/client/loopback.py``, its own process on
   uvloop, pinned to a CPU of its own with the client on the others) answers
   ``POST /api/v1/sessions/{sid}/messages`` after sleeping 50 ms; the latency lives in that
   test server, never in production code. Against it, with our ``AsyncClient``:
   batch sizes 10/20/50/100 one request after another vs ``bulk_add(max_concurrency=10)``; and
   50 items at concurrency 1/5/10/20/50 (and adaptive). Reference rows show the floor under
   the client: the same 50 requests fired with ``asyncio.gather`` and nothing else, by httpx
   with its default transport (httpcore), by aiohttp alone, and as raw bytes on asyncio
   streams over 50 open connections (no HTTP library at all).
2. The real server (``memfuse-server serve``, default settings, local MiniLM embedder, worker
   off so that only the M0 write path runs): the same two tables with real embedding, where the
   embedder is the limit, and adaptive mode (max 50) against the best fixed concurrency.
3. ``memfuse-server import`` of the dev set twice: the second run must add 0 messages.

The client side runs on uvloop when it is installed (it comes with ``uvicorn[standard]``; pass
``--asyncio`` for the standard event loop): a choice of this entry point, as the loopback
server's ``--uvloop`` is of its own; importing the client never installs an event loop policy.

Every figure is the median of ``--repeats`` runs (fresh texts each run). Prints the tables; with
``--out`` (the default for a full run) writes the "Bulk insertion" section of docs/benchmarks.md
and docs/bulk.png (throughput against concurrency).

Usage: ``python benchmarks/bulk.py [--quick] [--repeats N] [--asyncio] [--out docs/benchmarks.md]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.serverproc import ServerProcess  # noqa: E402

from benchmarks.report import write_section  # noqa: E402
from memfuse_server.client import AsyncClient, BulkItem  # noqa: E402

T = TypeVar("T")

TITLE = "Bulk insertion: client concurrency, adaptive mode, import"
LATENCY = 0.05
BATCH_SIZES = (10, 20, 50, 100)
LEVELS = (1, 5, 10, 20, 50)
SWEEP_ITEMS = 50
PARALLEL = 10
SESSIONS = 10
DEVSET = ROOT / "tests" / "extraction" / "data" / "devset.json"  # the public dev set
PLACES = ("Lisbon", "Porto", "Berlin", "Kyoto", "Oslo", "Lima", "Accra", "Quebec")
TOPICS = ("the marathon", "a new job", "the cello", "a sailing trip", "the garden", "a wedding")


@dataclass(frozen=True)
class Scale:
    repeats: int
    real_items: int  # items per concurrency level against the real server


FULL, QUICK = Scale(repeats=5, real_items=200), Scale(repeats=1, real_items=60)


@dataclass
class Tables:
    """One target's figures: seconds per batch size, per concurrency level, adaptive."""

    sequential: dict[int, float] = field(default_factory=dict)
    parallel: dict[int, float] = field(default_factory=dict)
    levels: dict[int, float] = field(default_factory=dict)
    level_items: int = SWEEP_ITEMS
    adaptive: float = 0.0
    adaptive_limits: list[int] = field(default_factory=list)  # the limit each run ended at
    # Per round: adaptive's throughput over the best fixed level's in the same round.
    adaptive_ratios: list[float] = field(default_factory=list)
    references: dict[str, float] = field(default_factory=dict)


@dataclass
class ImportRun:
    seconds: float
    new: str
    accepted: str
    rate: str


class Texts:
    """Distinct, sentence-like messages (fresh ones for every run: no idempotent replays)."""

    def __init__(self) -> None:
        self.n = 0

    def items(self, n: int, sessions: Sequence[str]) -> list[BulkItem]:
        out = []
        for _ in range(n):
            self.n += 1
            i = self.n
            text = (
                f"Note {i}: I was in {PLACES[i % len(PLACES)]} on day {i % 28 + 1} and we"
                f" talked about {TOPICS[i % len(TOPICS)]} for a while ({i})."
            )
            out.append(BulkItem(sessions[i % len(sessions)], [{"role": "user", "content": text}]))
        return out


def event_loop_name(use_uvloop: bool) -> str:
    """The loop the client side will run on: uvloop if wanted and installed, else asyncio."""
    return "uvloop" if use_uvloop and importlib.util.find_spec("uvloop") else "asyncio"


def run_client(main: Coroutine[Any, Any, T], loop: str) -> T:
    """``asyncio.run(main)``, on uvloop when ``loop`` says so (this entry point's choice)."""
    if loop == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


async def repeat(times: int, run: Callable[[], Awaitable[float]]) -> float:
    return median([await run() for _ in range(times)])


async def sequential(client: AsyncClient, items: Sequence[BulkItem]) -> float:
    """The seed's baseline: one request after another."""
    start = time.perf_counter()
    for item in items:
        await client.add_messages(item.session_id, item.messages)
    return time.perf_counter() - start


async def parallel(
    client: AsyncClient, items: Sequence[BulkItem], concurrency: int, adaptive: bool = False
) -> tuple[float, int]:
    """Wall time of one ``bulk_add`` call (its preparation of the items included)."""
    start = time.perf_counter()
    result = await client.bulk_add(items, max_concurrency=concurrency, adaptive=adaptive)
    seconds = time.perf_counter() - start
    if not result.ok:
        raise RuntimeError(f"{len(result.failed)} items failed: {result.failed[0].error}")
    return seconds, result.final_concurrency


REFERENCE_BODY = b'{"messages": [{"role": "user", "content": "reference"}]}'


async def gathered(n: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Seconds for ``n`` calls of ``one`` at once, after a first round that opens connections."""
    await asyncio.gather(*(one(i) for i in range(n)))
    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - start


async def bare_httpx(url: str, n: int) -> float:
    """``n`` requests by ``httpx.AsyncClient`` (default transport) and nothing else."""
    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:

        async def one(i: int) -> None:
            path = f"/api/v1/sessions/s{i}/messages"
            (await http.post(path, content=REFERENCE_BODY, headers=headers)).raise_for_status()

        return await gathered(n, one)


async def bare_aiohttp(url: str, n: int) -> float:
    """``n`` requests by ``aiohttp.ClientSession`` and nothing else."""
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(raise_for_status=True) as http:

        async def one(i: int) -> None:
            path = f"{url}/api/v1/sessions/s{i}/messages"
            async with http.post(path, data=REFERENCE_BODY, headers=headers) as answer:
                await answer.read()

        return await gathered(n, one)


async def raw_sockets(url: str, n: int) -> float:
    """``n`` requests written as bytes on ``n`` open connections: the floor, no HTTP library."""
    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port
    streams = [await asyncio.open_connection(host, port) for _ in range(n)]

    async def one(i: int) -> None:
        reader, writer = streams[i]
        writer.write(
            f"POST /api/v1/sessions/s{i}/messages HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(REFERENCE_BODY)}\r\n\r\n".encode()
            + REFERENCE_BODY
        )
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)

    try:
        return await gathered(n, one)
    finally:
        for _, writer in streams:
            writer.close()


async def batch_table(
    client: AsyncClient, texts: Texts, sessions: Sequence[str], tables: Tables, repeats: int
) -> None:
    for n in BATCH_SIZES:
        tables.sequential[n] = await repeat(
            repeats, lambda n=n: sequential(client, texts.items(n, sessions))
        )
        tables.parallel[n] = await repeat(
            repeats, lambda n=n: _seconds(parallel(client, texts.items(n, sessions), PARALLEL))
        )


async def _seconds(run: Awaitable[tuple[float, int]]) -> float:
    return (await run)[0]


async def level_table(
    client: AsyncClient,
    texts: Texts,
    sessions: Sequence[str],
    tables: Tables,
    repeats: int,
    warm: bool,
) -> None:
    """Each level and adaptive, interleaved round by round so drift hits all of them alike.

    With ``warm``, every measured run follows an unmeasured one at the same level, as the
    reference rows do (``gathered``): the figures are then the steady state of a long import,
    not the first burst after the 2.5 s c=1 run, when both processes and the connections that
    pause left idle are cold (0-4 ms more at c=50, at random). Against the real server a run
    lasts over a second and the embedder sets the pace, so it is not warmed."""
    runs: dict[int, list[float]] = {c: [] for c in LEVELS}
    adaptive: list[float] = []
    for _ in range(repeats):
        for c in LEVELS:
            if warm:
                await parallel(client, texts.items(tables.level_items, sessions), c)
            items = texts.items(tables.level_items, sessions)
            runs[c].append((await parallel(client, items, c))[0])
        if warm:
            await parallel(client, texts.items(tables.level_items, sessions), max(LEVELS), True)
        items = texts.items(tables.level_items, sessions)
        seconds, limit = await parallel(client, items, max(LEVELS), adaptive=True)
        adaptive.append(seconds)
        tables.adaptive_limits.append(limit)
        tables.adaptive_ratios.append(min(v[-1] for v in runs.values()) / seconds)
    tables.levels = {c: median(v) for c, v in runs.items()}
    tables.adaptive = median(adaptive)


async def latency_tables(url: str, repeats: int) -> Tables:
    texts, sessions, tables = Texts(), [f"s{i}" for i in range(SESSIONS)], Tables()
    async with AsyncClient(url) as client:
        await parallel(client, texts.items(100, sessions), max(LEVELS))  # warm connections
        await batch_table(client, texts, sessions, tables, repeats)
        await level_table(client, texts, sessions, tables, repeats, warm=True)
    references = {"httpx": bare_httpx, "aiohttp": bare_aiohttp, "raw sockets": raw_sockets}
    for name, reference in references.items():
        tables.references[name] = await repeat(repeats, lambda r=reference: r(url, SWEEP_ITEMS))
    return tables


async def real_tables(url: str, scale: Scale) -> Tables:
    texts, tables = Texts(), Tables(level_items=scale.real_items)
    async with AsyncClient(url) as client:
        user = await client.create_user(f"bench-{time.time_ns()}")
        agent = await client.get_or_create_agent("bench")
        sessions = [
            (await client.create_session(user.id, agent.id, f"s{i}")).id for i in range(SESSIONS)
        ]
        await parallel(client, texts.items(100, sessions), PARALLEL)  # warm the embedder
        await batch_table(client, texts, sessions, tables, 1)
        await level_table(client, texts, sessions, tables, scale.repeats, warm=False)
    return tables


@contextlib.contextmanager
def latency_server() -> Iterator[str]:
    """The loopback server in its own process; on a CPU of its own, the client on the others."""
    command = [sys.executable, "-m", "tests.client.loopback", "--latency", str(LATENCY)]
    proc = subprocess.Popen([*command, "--uvloop"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        with separate_cpus(proc.pid):
            yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def separate_cpus(server_pid: int) -> Iterator[None]:
    """Pin ``server_pid`` to the last CPU this process may use and this thread to the others.

    The loopback server stands for a remote endpoint, which never takes the client's CPU. Left
    to the scheduler on two cores, both processes sometimes share one and the 50 sends of a
    c=50 run stretch from ~3.5 to ~7 ms. With a single CPU nothing is pinned."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        yield
        return
    os.sched_setaffinity(server_pid, {cpus[-1]})
    os.sched_setaffinity(0, set(cpus[:-1]))
    try:
        yield
    finally:
        os.sched_setaffinity(0, set(cpus))


def import_twice(server: ServerProcess) -> list[ImportRun]:
    runs = []
    for _ in range(2):
        start = time.perf_counter()
        done = server.cli("import", str(DEVSET), "--url", server.base_url, "--concurrency", "10")
        if done.returncode != 0:
            raise RuntimeError(f"import failed ({done.returncode}): {done.stderr}")
        rows = {
            line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in done.stdout.splitlines()
            if line.count("│") == 3
        }
        runs.append(
            ImportRun(
                time.perf_counter() - start,
                rows["new on the server"],
                rows["accepted by the server"],
                rows["throughput"],
            )
        )
    return runs


# ---------------------------------------------------------------- tables


def rate(items: int, seconds: float) -> str:
    return f"{items / seconds:.1f} items/s"


def batch_rows(t: Tables) -> list[str]:
    rows = [
        "| Batch size | Sequential | Parallel (c=10) | Speedup | Throughput |",
        "|---|---|---|---|---|",
    ]
    for n in BATCH_SIZES:
        seq, par = t.sequential[n], t.parallel[n]
        rows.append(f"| {n} | {seq:.2f} s | {par:.3f} s | {seq / par:.2f}x | {rate(n, par)} |")
    return rows


def level_rows(t: Tables) -> list[str]:
    n, base = t.level_items, t.levels[1]
    rows = [
        f"| Concurrency | Time ({n} items) | Throughput | Speedup vs c=1 |",
        "|---|---|---|---|",
    ]
    for c in LEVELS:
        s = t.levels[c]
        rows.append(f"| {c} | {s:.3f} s | {rate(n, s)} | {base / s:.2f}x |")
    ends = "/".join(str(x) for x in t.adaptive_limits)
    rows.append(
        f"| adaptive (max 50; ended at {ends}) | {t.adaptive:.3f} s | {rate(n, t.adaptive)} |"
        f" {base / t.adaptive:.2f}x |"
    )
    for name, s in t.references.items():
        rows.append(
            f"| reference: {name} alone, 50 at once | {s:.3f} s | {rate(n, s)} | {base / s:.2f}x |"
        )
    return rows


def verdicts(fake: Tables, real: Tables, imports: list[ImportRun]) -> list[str]:
    at10 = fake.levels[1] / fake.levels[10]
    at50 = fake.levels[1] / fake.levels[50]
    alone = fake.levels[1] / fake.references["aiohttp"]
    over_library = 100 * (fake.levels[50] / fake.references["aiohttp"] - 1)
    batches = [n for n in BATCH_SIZES if n >= 20]  # the seed's average: batches >= 20
    mean = statistics.mean(fake.sequential[n] / fake.parallel[n] for n in batches)
    best_c = min(LEVELS, key=lambda c: real.levels[c])
    ratio = real.levels[best_c] / real.adaptive
    rounds = ", ".join(f"{100 * r:.0f}" for r in real.adaptive_ratios)
    checks = [
        ("50 ms latency: mean speedup, batches ≥ 20, c=10", f"{mean:.2f}x", "≥ 9.5x", mean >= 9.5),
        ("50 ms latency: speedup at c=10 over c=1", f"{at10:.2f}x", "≥ 9.5x", at10 >= 9.5),
        (
            "50 ms latency: c=50 time over aiohttp alone (the reference row), same run",
            f"{over_library:+.1f} % ({at50:.2f}x vs {alone:.2f}x over c=1)",
            "≤ +10 %",
            over_library <= 10,
        ),
        (
            f"real server: adaptive / best fixed (c={best_c}), medians",
            f"{100 * ratio:.0f} % (per round vs that round's best: {rounds} %)",
            "≥ 90 %",
            ratio >= 0.9,
        ),
    ]
    if imports:
        new = imports[1].new
        checks.append(("re-run import: new messages", new, "0", new == "0"))
    rows = ["| Target | Measured | Goal | Result |", "|---|---|---|---|"]
    rows += [f"| {a} | {b} | {c} | {'PASS' if ok else 'FAIL'} |" for a, b, c, ok in checks]
    return rows


def import_rows(imports: list[ImportRun]) -> list[str]:
    rows = [
        "| Run | Accepted | New on the server | Throughput | Wall time |",
        "|---|---|---|---|---|",
    ]
    for name, run in zip(("first", "again"), imports, strict=True):
        rows.append(f"| {name} | {run.accepted} | {run.new} | {run.rate} | {run.seconds:.1f} s |")
    return rows


def markdown(
    fake: Tables,
    real: Tables,
    imports: list[ImportRun],
    command: str,
    load: str,
    scale: Scale,
    loop: str,
) -> list[str]:
    lines = [
        f"Produced by `{command}`: medians of {scale.repeats} runs, on 2 cores shared with other",
        f"jobs (load average {load}): compare ratios within one run. The client ran on {loop}.",
        "",
        *verdicts(fake, real, imports),
        "",
        "### 50 ms injected latency (loopback test server in its own process)",
        "",
        *batch_rows(fake),
        "",
        *level_rows(fake),
        "",
        "### Real server, real embedding (local MiniLM; the embedder is the limit)",
        "",
        *batch_rows(real),
        "",
        *level_rows(real),
        "",
    ]
    if imports:
        lines += [
            f"### `memfuse-server import` of the dev set ({DEVSET.name}), run twice",
            "",
            *import_rows(imports),
            "",
        ]
    lines += [*NOTES, "", "![bulk insertion throughput vs concurrency](bulk.png)"]
    return lines


NOTES = [
    "- Sequential: `add_messages` one item after another (the seed's loop). Parallel:",
    "  `AsyncClient.bulk_add` (semaphore-bounded, per-item timeout, retries, idempotency keys).",
    "- The loopback server runs on a CPU of its own and the client on the others (as a remote",
    "  endpoint would); the real server and the import are not pinned.",
    "- Each item is one message in one request. The real server runs with default settings",
    "  and `worker.enabled: false` (the M0 write path; M1/M2 extraction would share the embedder).",
    "- Adaptive: AIMD from a limit of 1, up to 50, never told the best level. The levels and",
    "  adaptive run interleaved, round by round, so drift in the machine's load hits all alike;",
    '  "per round" compares adaptive with the best fixed level of its own round.',
    "  Against 50 ms latency and only 50 items, adaptive spends the run in slow start",
    "  (1, 2, 4, 8, 16, 32 in flight: one round trip each); it is meant for long imports.",
    "- Times are wall time around the `bulk_add` call (preparing the items included). Against",
    "  the loopback server each measured run follows an unmeasured one at the same level (the",
    "  reference rows likewise fire one round before the measured one): the steady state of a",
    "  long import, not the first burst after the 2.5 s c=1 run. The real server is not warmed.",
    "- The reference rows fire the same 50 requests with `asyncio.gather` and nothing else: by",
    "  httpx with its default transport (httpcore: its pool's bookkeeping grows with the",
    "  connections in flight), by aiohttp alone, and as raw bytes on 50 open asyncio streams.",
    "  The client sends through its default `AiohttpTransport` (aiohttp, the requests and",
    "  answers as plain records), so its c=50 row is held against aiohttp's own: what the",
    "  client adds (envelope, retries, idempotency keys, bulk bookkeeping) must stay within",
    "  10 %. At c=50 the time is one round trip plus the CPU it takes to send 50 requests one",
    "  after another on one event loop, so each microsecond the client spends per request",
    "  costs 50 of them; the raw-socket row is the floor under any HTTP library.",
]


def plot(fake: Tables, real: Tables, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    panels = ((fake, "50 ms injected latency"), (real, "real server (embedder-bound)"))
    for ax, (t, title) in zip(axes, panels, strict=True):
        throughput = [t.level_items / t.levels[c] for c in LEVELS]
        ax.plot(LEVELS, throughput, "o-", label="fixed concurrency")
        ax.axhline(t.level_items / t.adaptive, color="tab:orange", linestyle="--", label="adaptive")
        ax.set_xscale("log")
        ax.set_xticks(LEVELS, [str(c) for c in LEVELS])
        ax.set_ylim(0, 1.15 * max(*throughput, t.level_items / t.adaptive))
        ax.set(xlabel="max concurrency", ylabel="items / s", title=title)
        ax.legend(loc="lower right")
    fake_ideal = [c / LATENCY for c in LEVELS]
    axes[0].plot(LEVELS, fake_ideal, ":", color="grey", label="ideal (c / 50 ms)")
    axes[0].set_ylim(0, 1.1 * fake_ideal[-1])
    axes[0].legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run each, fewer items")
    parser.add_argument("--repeats", type=int, default=None, help="runs per figure (median)")
    parser.add_argument("--out", type=Path, default=None, help="markdown file to update")
    parser.add_argument(
        "--asyncio", action="store_true", help="run the client on asyncio's loop, not uvloop"
    )
    args = parser.parse_args(argv)
    loop = event_loop_name(not args.asyncio)
    scale = QUICK if args.quick else FULL
    if args.repeats:
        scale = Scale(args.repeats, scale.real_items)
    out: Path | None = args.out or (None if args.quick else ROOT / "docs" / "benchmarks.md")
    started = time.perf_counter()
    load_start = os.getloadavg()[0]

    def log(step: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {step}", file=sys.stderr, flush=True)

    log(f"1/3 injected 50 ms latency (client on {loop})")
    with latency_server() as url:
        fake = run_client(latency_tables(url, scale.repeats), loop)
    with tempfile.TemporaryDirectory(prefix="memfuse-bench-bulk-") as tmp:
        server = ServerProcess(Path(tmp), settings={"worker": {"enabled": False}}).start()
        try:
            log("2/3 real server")
            real = run_client(real_tables(server.base_url, scale), loop)
            log("3/3 import twice")
            imports = import_twice(server)
        finally:
            server.stop()
    command = shlex.join([".venv/bin/python", "benchmarks/bulk.py", *argv])
    load = f"{load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    lines = markdown(fake, real, imports, command, load, scale, loop)
    print("\n".join(lines))
    if out is not None:
        write_section(out, TITLE, lines)
        plot(fake, real, out.parent / "bulk.png")
        log(f"wrote {out} and {out.parent / 'bulk.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
