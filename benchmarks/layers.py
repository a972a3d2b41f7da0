"""M1/M2 background processing: parallel vs sequential layers, worker concurrency, keeping up.

1. Parallel vs sequential layers: episodes processed by the real pipeline and
   worker with the LLM extractor behind a local OpenAI-compatible test server
   answering each call after 200 ms (the fake also serves embeddings, so the
   LLM latency is what is measured). Ideal: 2x.
2. Worker concurrency 1 vs 8, same setup, parallel layers. Ideal: 8x.
3. The rules extractor keeping up with ingestion: a real server (real
   embedder, in-process worker) fed by 16 clients for a while; the queue depth
   is sampled every second and must not grow without bound.

    .venv/bin/python benchmarks/layers.py [--episodes 40] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.serverproc import ServerProcess

from benchmarks.report import write_section
from benchmarks.texts import TextGen
from memfuse_server.background import build_background
from memfuse_server.buffer import RoundBuffer
from memfuse_server.config import Settings, load_settings
from memfuse_server.embeddings import build_embedder
from memfuse_server.models import NewMessage, Role
from memfuse_server.service import search_text
from memfuse_server.storage import PreparedMessage, Store, open_store
from memfuse_server.testing import FakeLLMServer

LATENCY = 0.2


def llm_settings(
    db: Path, llm: FakeLLMServer, embed: FakeLLMServer, parallel: bool, concurrency: int
) -> Settings:
    overrides = {
        "database": {"url": f"sqlite:///{db}"},
        "memory": {"parallel_enabled": parallel},
        "worker": {"concurrency": concurrency, "poll_interval_seconds": 0.05},
        "extraction": {"provider": "llm", "llm": {"base_url": llm.base_url, "max_concurrency": 64}},
        "embedding": {"provider": "openai", "base_url": embed.base_url},
    }
    return load_settings(environ={}, overrides=overrides)


async def seed_episodes(store: Store, episodes: int) -> None:
    """``episodes`` closed episodes of 4 messages each (their jobs queued by the closing)."""
    gen = TextGen(11)
    user, _ = await store.create_user("layers", None)
    agent, _ = await store.create_agent("layers", None)
    session = await store.create_session(user.id, agent.id, "s")
    buffer = RoundBuffer(max_tokens=10_000, max_rounds=4)
    when = datetime(2024, 5, 1, tzinfo=UTC)
    for i in range(episodes * 4 + 1):
        message = NewMessage(
            Role.USER, gen.message(), name="Maya", created_at=when + timedelta(minutes=i)
        )
        text = search_text(message)
        vector = np.zeros((1, 384), dtype=np.float32)
        await store.add_messages(session, [PreparedMessage(message, text, 30)], vector, buffer)


async def drain_time(settings: Settings, episodes: int) -> float:
    store = open_store(settings)
    await store.open()
    embedder = build_embedder(settings.embedding)
    try:
        await seed_episodes(store, episodes)
        background = build_background(settings, store, embedder)
        start = time.perf_counter()
        async with background.running():
            while (q := await store.queue_stats()).pending + q.running > 0:  # noqa: ASYNC110
                await asyncio.sleep(0.02)  # polling the database is what is being waited on
        return time.perf_counter() - start
    finally:
        await embedder.aclose()
        await store.close()


def measure(
    servers: tuple[FakeLLMServer, FakeLLMServer], episodes: int, parallel: bool, concurrency: int
) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        settings = llm_settings(Path(tmp) / "m.db", *servers, parallel, concurrency)
        seconds = asyncio.run(drain_time(settings, episodes))
    return episodes / seconds


def llm_tables(episodes: int) -> list[str]:
    with FakeLLMServer(latency_seconds=LATENCY) as llm, FakeLLMServer() as embed:
        servers = (llm, embed)
        seq = measure(servers, episodes, parallel=False, concurrency=4)
        par = measure(servers, episodes, parallel=True, concurrency=4)
        one = measure(servers, episodes // 2, parallel=True, concurrency=1)
        eight = measure(servers, episodes * 2, parallel=True, concurrency=8)
    return [
        f"LLM extractor behind a local test server at {LATENCY * 1000:.0f} ms per call,"
        f" {episodes} episodes of 4 messages ({episodes * 2} at concurrency 8), one run."
        " Embeddings come from a second, instant test server, so the LLM latency is what"
        " is measured.",
        "",
        "| layers | worker.concurrency | episodes/s | speedup | target |",
        "|---|---|---|---|---|",
        f"| sequential (M1 then M2) | 4 | {seq:.2f} | 1.00x | |",
        f"| parallel (gather) | 4 | {par:.2f} | {par / seq:.2f}x | ≥ 1.8x |",
        f"| parallel | 1 | {one:.2f} | 1.00x | |",
        f"| parallel | 8 | {eight:.2f} | {eight / one:.2f}x | ≥ 6x |",
    ]


async def feed(api: str, clients: int, seconds: float) -> tuple[int, list[int]]:
    """16 clients posting for ``seconds``; returns messages added and the queue depth per second."""
    gen = TextGen(5)
    async with httpx.AsyncClient(base_url=api, timeout=60) as http:
        user = (await http.post("/users", json={"name": "keepup"})).json()["data"]["user"]["id"]
        agent = (await http.post("/agents", json={"name": "keepup"})).json()["data"]["agent"]["id"]
        sessions = []
        for i in range(clients):
            body = {"user_id": user, "agent_id": agent, "name": f"s{i}"}
            sessions.append(
                (await http.post("/sessions", json=body)).json()["data"]["session"]["id"]
            )
        deadline = time.monotonic() + seconds
        added = 0

        async def one(sid: str) -> None:
            nonlocal added
            while time.monotonic() < deadline:
                body = {"messages": [{"role": "user", "name": "Maya", "content": gen.message()}]}
                if (await http.post(f"/sessions/{sid}/messages", json=body)).status_code == 201:
                    added += 1

        async def sample() -> list[int]:
            depths = []
            while time.monotonic() < deadline + 30:
                queue = (await http.get("/stats")).json()["data"]["queue"]
                depths.append(queue["pending"] + queue["running"])
                if time.monotonic() > deadline and depths[-1] == 0:
                    break
                await asyncio.sleep(1.0)
            return depths

        results: list[Any] = await asyncio.gather(sample(), *(one(s) for s in sessions))
        return added, results[0]


def keepup_table(seconds: float) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        proc = ServerProcess(Path(tmp)).start()
        try:
            start = time.monotonic()
            added, depths = asyncio.run(feed(proc.api, 16, seconds))
            drained = time.monotonic() - start - seconds
        finally:
            proc.stop()
    during = depths[: int(seconds)]
    half = len(during) // 2
    return [
        f"Rules extractor, real server and embedder, 16 clients for {seconds:.0f} s:"
        f" {added} messages ({added / seconds:.1f}/s).",
        "",
        "| queue depth (pending + running) | value |",
        "|---|---|",
        f"| median, first half | {statistics.median(during[:half] or [0]):.0f} |",
        f"| median, second half | {statistics.median(during[half:] or [0]):.0f} |",
        f"| max while ingesting | {max(during or [0])} |",
        f"| drained after ingestion stopped | {'yes' if depths and depths[-1] == 0 else 'no'}"
        f" ({max(drained, 0):.1f} s) |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--keepup-seconds", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    lines = llm_tables(args.episodes)
    print("\n".join(lines), flush=True)
    keep = keepup_table(args.keepup_seconds)
    print("\n".join(keep))
    if args.out:
        command = (
            f"`.venv/bin/python benchmarks/layers.py --episodes {args.episodes} --out {args.out}`"
        )
        write_section(args.out, "Layers: M1/M2 in the background", [command, "", *lines, "", *keep])


if __name__ == "__main__":
    main()
