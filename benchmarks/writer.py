"""SQLite's one writer: an add's write beside the background's, first come first served or
requests first, in one run.

The store alone (no HTTP, no model): the background is ``--jobs`` tasks (``worker.concurrency``,
4) saving the facts, entities and relations the rules extractor derives from the LoCoMo dev
split's episodes, each pausing ``--gap`` seconds between episodes (the time the worker would
spend embedding); meanwhile one client adds a message every ``--every`` seconds, and each
add's write is timed. The background writes through the store's background view (requests
first, the default) or through the store itself (first come, first served). The two modes
alternate over ``--rounds`` rounds, each over a fresh copy of the data; medians are quoted.

    .venv/bin/python benchmarks/writer.py [--gap 0.03] [--rounds 3] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.locomo_data import Conversation, load
from benchmarks.report import publish
from memfuse_server.buffer import RoundBuffer
from memfuse_server.config import load_settings
from memfuse_server.extraction.rules import RuleExtractor
from memfuse_server.models import EpisodeInput, NewMessage, Role
from memfuse_server.service import search_text
from memfuse_server.storage import PreparedMessage, SqlStore, Store, open_store

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo-dev" / "locomo_dev.json"
DIM = 384
MODES = {"first come, first served": False, "requests first (default)": True}


def vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def prepared(speaker: str, text: str) -> PreparedMessage:
    message = NewMessage(Role.USER, text, name=speaker)
    return PreparedMessage(message, search_text(message), 20)


async def seed(store: Store, conversations: list[Conversation], tag: str) -> list[EpisodeInput]:
    """Every conversation as a user of its own, closed into episodes of five turns."""
    rng, episodes = np.random.default_rng(7), []
    agent, _ = await store.create_agent("bench", None)
    for c in conversations:
        user, _ = await store.create_user(f"{c.id}-{tag}", None)
        for s in c.sessions:
            session = await store.create_session(user.id, agent.id, f"s{s.number}")
            turns = [prepared(t.speaker, t.text) for t in s.turns]
            for start in range(0, len(turns), 5):
                part = turns[start : start + 5]
                await store.add_messages(session, part, vectors(len(part), rng), RoundBuffer())
                episode_id = await store.flush_window(session)
                found = await store.episode_input(episode_id) if episode_id else None
                episodes += [found] if found else []
    return episodes


async def derive(
    store: Store, episodes: list[EpisodeInput], gap: float, stop: asyncio.Event
) -> int:
    """Save what the extractor finds in each episode until ``stop``; writes made."""
    extractor, rng, writes = RuleExtractor(), np.random.default_rng(11), 0
    for episode in episodes:
        if stop.is_set():
            break
        await asyncio.sleep(gap)
        facts = await extractor.facts(episode)
        graph = await extractor.graph(episode, facts)
        user, read = episode.user_id, episode.messages
        await store.save_facts(user, facts, vectors(len(facts), rng), read)
        n = len(graph.entities)
        await asyncio.gather(
            store.save_entities(user, graph.entities, vectors(n, rng), read),
            store.save_relations(user, graph.relations, vectors(len(graph.relations), rng), read),
        )
        writes += 3
    return writes


async def adds(store: Store, count: int, every: float) -> list[float]:
    """One client adding a message every ``every`` seconds; each add's write in ms."""
    rng = np.random.default_rng(3)
    user, _ = await store.create_user(f"client-{time.monotonic_ns()}", None)
    agent, _ = await store.create_agent("client", None)
    session = await store.create_session(user.id, agent.id, "s")
    buffer, took = RoundBuffer(), []
    for i in range(count):
        start = time.perf_counter()
        await store.add_messages(
            session, [prepared("Ann", f"message {i}")], vectors(1, rng), buffer
        )
        took.append((time.perf_counter() - start) * 1000)
        await asyncio.sleep(max(0.0, every - took[-1] / 1000))
    return took


@dataclass
class Round:
    p50: float
    p95: float
    writes_per_s: float


async def one_round(
    store: SqlStore, episodes: list[EpisodeInput], prioritised: bool, args: argparse.Namespace
) -> Round:
    background = store.background if prioritised else store
    stop = asyncio.Event()
    share = [episodes[i :: args.jobs] for i in range(args.jobs)]
    jobs = [asyncio.create_task(derive(background, part, args.gap, stop)) for part in share]
    await asyncio.sleep(0.5)  # the background under way
    start = time.perf_counter()
    took = await adds(store, args.adds, args.every)
    seconds = time.perf_counter() - start
    stop.set()
    writes = sum(await asyncio.gather(*jobs))
    p95 = float(np.percentile(took, 95))
    return Round(statistics.median(took), p95, writes / seconds)


async def run(args: argparse.Namespace) -> dict[str, list[Round]]:
    conversations, _ = load(args.data)
    results: dict[str, list[Round]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            environ={}, overrides={"database": {"url": f"sqlite:///{tmp}/w.db"}}
        )
        store = open_store(settings)
        await store.open()
        try:
            for r in range(args.rounds):
                for mode, prioritised in MODES.items():
                    episodes = await seed(store, conversations, f"{r}-{prioritised}")
                    results[mode].append(await one_round(store, episodes, prioritised, args))
                    print(mode, results[mode][-1], flush=True)
        finally:
            await store.close()
    return results


def table(results: dict[str, list[Round]], args: argparse.Namespace) -> list[str]:
    lines = [
        f"{args.jobs} background tasks saving LoCoMo episodes ({args.gap:g} s between"
        f" episodes), one client adding a message every {args.every:g} s, {args.adds} adds"
        f" a round, medians of {args.rounds} rounds.",
        "",
        "| background writes | add write p50 ms | add write p95 ms | background writes/s |",
        "|---|---|---|---|",
    ]
    for mode, rounds in results.items():
        med = [statistics.median(getattr(r, f) for r in rounds) for f in ("p50", "p95")]
        rate = statistics.median(r.writes_per_s for r in rounds)
        lines.append(f"| {mode} | {med[0]:.1f} | {med[1]:.1f} | {rate:.0f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--jobs", type=int, default=4, help="background tasks (worker.concurrency)")
    parser.add_argument("--gap", type=float, default=0.03, help="seconds between episodes")
    parser.add_argument("--adds", type=int, default=150)
    parser.add_argument("--every", type=float, default=0.02, help="seconds between adds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    report(parser.parse_args())


def report(args: argparse.Namespace) -> None:
    """Run, print the table, and write it to ``--out`` when given."""
    command = f".venv/bin/python benchmarks/writer.py --gap {args.gap:g} --out {args.out}"
    publish(table(asyncio.run(run(args)), args), args.out, "SQLite writer: requests first", command)


if __name__ == "__main__":
    main()
