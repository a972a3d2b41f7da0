"""Local embedding backends compared: throughput, latency, CPU and start-up cost.

    python benchmarks/embedder.py [--seconds 3] [--rounds 3] [--threads 1,2] [--backends onnx,onnx-int8,numpy,torch]

Prints a markdown table: sentences/s when the encoder is called with batches
of 1, 8 and 32 texts; through the ``MicroBatcher`` with 256 concurrent
single-text calls (max_batch_size 32); the median latency and CPU time of one
message alone; and the import + model load time. The messages are varied
chat-like sentences of about 37 tokens, generated deterministically.

Every configuration runs in a fresh subprocess: the load time is real, and
torch, onnxruntime and numpy's BLAS never share a process. The configurations take turns
for ``--rounds`` rounds and each number is the best of its rounds, so a
burst of other work on the machine spoils one round, not the comparison. The torch rows appear when
torch is importable (``pip install torch==2.13.0 sentence-transformers``;
always pin torch, an unpinned one pulls gigabytes of CUDA).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import statistics
import subprocess
import sys
import time
from typing import Any

PEOPLE = ["I", "My sister", "Caroline", "Our team", "The doctor", "Melanie", "My landlord", "We"]
ACTIONS = [
    "went to",
    "talked about",
    "is planning",
    "finally finished",
    "keeps forgetting",
    "recommended",
    "complained about",
    "signed up for",
]
THINGS = [
    "the pottery class downtown",
    "a trip to Lisbon in October",
    "the quarterly budget review",
    "her grandmother's apple pie recipe",
    "a 10k charity run next spring",
    "the broken dishwasher in the kitchen",
    "an online course on machine learning",
    "the adoption agency meeting",
]
ENDINGS = [
    "and honestly it was more fun than I expected.",
    "because the weather was terrible all week.",
    "so I need to remember to call them back on Tuesday.",
    "which reminded me of our summer camping trip in 2019.",
    "but nobody could agree on a date that works for everyone.",
    "although the prices went up by almost twenty percent this year.",
]
ASIDES = [
    "Do you think that makes sense?",
    "Anyway, how was your weekend?",
    "It's been a long week, to be honest.",
    "Let me know what you think!",
]
BATCHES = (1, 8, 32)


def messages(count: int, seed: int = 7) -> list[str]:
    """Varied chat messages, about 37 tokens each, the same on every run."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        text = f"{rng.choice(PEOPLE)} {rng.choice(ACTIONS)} {rng.choice(THINGS)} "
        text += rng.choice(ENDINGS)
        if rng.random() < 0.8:
            text += f" {rng.choice(PEOPLE)} {rng.choice(ACTIONS)} {rng.choice(THINGS)}."
        if rng.random() < 0.8:
            text += " " + rng.choice(ASIDES)
        out.append(text)
    return out


def throughput(encoder: Any, texts: list[str], batch: int, seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        first = done % (len(texts) - batch)
        encoder.encode(texts[first : first + batch])
        done += batch
    return done / (time.perf_counter() - start)


def one_message(encoder: Any, texts: list[str]) -> tuple[float, float]:
    """Median wall and CPU milliseconds of encoding one message alone."""
    walls, cpus = [], []
    for text in texts:
        wall, cpu = time.perf_counter(), time.process_time()
        encoder.encode([text])
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


async def through_batcher(encoder: Any, texts: list[str]) -> float:
    from memfuse_server.embeddings.batcher import MicroBatcher

    batcher = MicroBatcher.for_encoder(encoder, max_batch_size=32)
    start = time.perf_counter()
    await asyncio.gather(*(batcher.embed([t]) for t in texts))
    elapsed = time.perf_counter() - start
    await batcher.aclose()
    return len(texts) / elapsed


def measure(backend: str, threads: int, seconds: float) -> dict[str, float]:
    """All numbers of one configuration; run in a fresh process."""
    start = time.perf_counter()
    from memfuse_server.config import EmbeddingSettings
    from memfuse_server.embeddings.local import load_encoder

    name, _, precision = backend.partition("-")  # onnx-int8: embedding.precision int8
    settings = {"backend": name, "threads": threads, "precision": precision or "float32"}
    encoder = load_encoder(EmbeddingSettings.model_validate(settings))
    result = {"load_s": time.perf_counter() - start}
    texts = messages(512)
    encoder.encode(texts[:32])  # warm-up
    for batch in BATCHES:
        result[f"batch_{batch}"] = throughput(encoder, texts, batch, seconds)
    result["batcher"] = asyncio.run(through_batcher(encoder, texts[:256]))
    result["p50_ms"], result["cpu_ms"] = one_message(encoder, texts[:100])
    return result


def mean_tokens() -> float:
    from memfuse_server.embeddings.local import resolve_model_path
    from memfuse_server.embeddings.tokens import ModelTokenCounter

    counter = ModelTokenCounter(resolve_model_path(""))
    return statistics.mean(counter.count(t) + 2 for t in messages(512))  # + [CLS] [SEP]


def run_child(backend: str, threads: int, seconds: float) -> dict[str, float]:
    command = [
        sys.executable,
        __file__,
        "--child",
        backend,
        str(threads),
        "--seconds",
        str(seconds),
    ]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{backend} with {threads} thread(s) failed:\n{proc.stderr}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def best(runs: list[dict[str, float]]) -> dict[str, float]:
    """The best of each number over rounds: highest rate, lowest time."""
    lowest = {"load_s", "p50_ms", "cpu_ms"}
    return {k: (min if k in lowest else max)(r[k] for r in runs) for k in runs[0]}


def table(rows: list[tuple[str, int, dict[str, float]]]) -> str:
    head = "| backend | threads | batch 1 /s | batch 8 /s | batch 32 /s | batcher 256x1 /s "
    head += "| one message p50 ms | CPU ms per message | import + load s |"
    lines = [head, "|---" * 9 + "|"]
    for backend, threads, r in rows:
        lines.append(
            f"| {backend} | {threads} | {r['batch_1']:.0f} | {r['batch_8']:.0f} "
            f"| {r['batch_32']:.0f} | {r['batcher']:.0f} | {r['p50_ms']:.1f} "
            f"| {r['cpu_ms']:.1f} | {r['load_s']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per batch size")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument(
        "--backends", default="onnx,onnx-int8,numpy,torch", help="onnx-int8: precision int8"
    )
    parser.add_argument("--child", nargs=2, metavar=("BACKEND", "THREADS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]), args.seconds)))
        return
    backends = args.backends.split(",")
    if "torch" in backends and importlib.util.find_spec("torch") is None:
        print("torch is not installed: torch rows skipped")
        backends.remove("torch")
    configs = [(b, int(t)) for b in backends for t in args.threads.split(",")]
    print(f"messages: about {mean_tokens():.1f} tokens each; {args.seconds:g} s per batch size;")
    print(f"best of {args.rounds} rounds; load average before: {os.getloadavg()[0]:.2f}\n")
    runs: dict[tuple[str, int], list[dict[str, float]]] = {c: [] for c in configs}
    for _ in range(args.rounds):
        for backend, threads in configs:
            runs[backend, threads].append(run_child(backend, threads, args.seconds))
    print(table([(b, t, best(runs[b, t])) for b, t in configs]))
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
