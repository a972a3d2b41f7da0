"""Load test: concurrent clients doing a mix of adds and queries against a real server.

Bounded and self-stopping: ``--clients`` clients (default 50) for ``--duration``
seconds (default 60) on loopback, each in its own session (spread over ten
users), each request an add (one message) or, with probability ``--query-share``,
a query. Reports throughput, errors (anything but 2xx; 503s from the overload
bound are counted apart) and p50/p95/p99 latency per kind, and the background
queue afterwards.

    .venv/bin/python benchmarks/load.py [--clients 50] [--duration 60] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.serverproc import ServerProcess

from benchmarks.report import write_section
from benchmarks.texts import TextGen

USERS = 10


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"add": [], "query": []})
    errors: dict[str, int] = field(default_factory=lambda: {"add": 0, "query": 0})
    refused: int = 0  # 503 from the overload bound

    def record(self, kind: str, seconds: float, status: int) -> None:
        if 200 <= status < 300:
            self.latencies[kind].append(seconds * 1000)
        elif status == 503:
            self.refused += 1
        else:
            self.errors[kind] += 1


async def setup(api: httpx.AsyncClient, clients: int) -> list[tuple[str, str]]:
    agent = (await api.post("/agents", json={"name": "load"})).json()["data"]["agent"]["id"]
    users = []
    for i in range(USERS):
        r = await api.post("/users", json={"name": f"load-user-{i}"})
        users.append(r.json()["data"]["user"]["id"])
    pairs = []
    for c in range(clients):
        user = users[c % USERS]
        body = {"user_id": user, "agent_id": agent, "name": f"load-{c}"}
        r = await api.post("/sessions", json=body)
        pairs.append((user, r.json()["data"]["session"]["id"]))
    return pairs


async def client(
    api: str, user: str, sid: str, deadline: float, share: float, seed: int, tally: Tally
) -> None:
    rng, gen = random.Random(seed), TextGen(seed)
    async with httpx.AsyncClient(base_url=api, timeout=60) as http:
        while time.monotonic() < deadline:
            if rng.random() < share:
                kind, url, body = (
                    "query",
                    f"/users/{user}/query",
                    {"query": gen.queries(1)[0], "top_k": 5},
                )
            else:
                kind, url = "add", f"/sessions/{sid}/messages"
                body = {"messages": [{"role": "user", "content": gen.message()}]}
            start = time.perf_counter()
            try:
                status = (await http.post(url, json=body)).status_code
            except httpx.HTTPError:
                status = 0
            tally.record(kind, time.perf_counter() - start, status)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else float("nan")


def table(tally: Tally, seconds: float, clients: int, queue: dict[str, object]) -> list[str]:
    lines = [
        f"{clients} clients, {seconds:.0f} s, loopback, default settings (worker in-process).",
        "",
        "| kind | requests | throughput (req/s) | errors | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, values in tally.latencies.items():
        lines.append(
            f"| {kind} | {len(values)} | {len(values) / seconds:.1f} | {tally.errors[kind]} |"
            f" {pct(values, 50):.0f} | {pct(values, 95):.0f} | {pct(values, 99):.0f} |"
        )
    lines += [
        "",
        f"Refused by the overload bound (503): {tally.refused}. Queue afterwards: {queue}.",
    ]
    return lines


async def run(proc: ServerProcess, clients: int, duration: float, share: float) -> list[str]:
    async with httpx.AsyncClient(base_url=proc.api, timeout=60) as api:
        pairs = await setup(api, clients)
        tally = Tally()
        deadline = time.monotonic() + duration
        start = time.monotonic()
        await asyncio.gather(
            *(client(proc.api, u, s, deadline, share, i, tally) for i, (u, s) in enumerate(pairs))
        )
        elapsed = time.monotonic() - start
        queue = (await api.get("/stats")).json()["data"]["queue"]
    return table(tally, elapsed, clients, queue)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--query-share", type=float, default=0.3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc = ServerProcess(Path(tmp)).start()
        try:
            lines = asyncio.run(run(proc, args.clients, args.duration, args.query_share))
        finally:
            proc.stop()
    print("\n".join(lines))
    if args.out:
        command = f"`.venv/bin/python benchmarks/load.py --clients {args.clients} --duration {args.duration:.0f} --out {args.out}`"
        write_section(args.out, "Load: mixed adds and queries", [command, "", *lines])


if __name__ == "__main__":
    main()
