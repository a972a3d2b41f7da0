"""Evidence recall@k of the query path on the public dev set.

Posts each conversation of ``devset.json`` as one user (one session per
session, each turn a ``user`` message with ``name`` = speaker, ``created_at``
= the session date, the turn id in ``metadata``), waits for the round
windows to close, asks every question, and maps every result back to turn
ids (a message's own id, or the ``source_message_ids`` of a chunk, fact or
relation). Prints recall@1/5/10 per category and overall, and the query
latency.

    .venv/bin/python benchmarks/retrieval.py [--devset PATH] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.serverproc import ServerProcess

from benchmarks.report import write_section

# The public dev set (a copy of shared/data/devset.json kept with the tests).
DEFAULT_DEVSET = (
    Path(__file__).resolve().parents[1] / "tests" / "extraction" / "data" / "devset.json"
)
KS = (1, 5, 10)


def ingest(client: httpx.Client, conversation: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """Post one conversation; return the user id and message id -> turn id."""
    user = client.post("/users", json={"name": f"{conversation['id']}-{uuid.uuid4().hex[:6]}"})
    user_id = user.json()["data"]["user"]["id"]
    agent_id = client.post("/agents", json={"name": "devset"}).json()["data"]["agent"]["id"]
    turns: dict[str, str] = {}
    for session in conversation["sessions"]:
        body = {"user_id": user_id, "agent_id": agent_id, "name": f"session-{session['session']}"}
        sid = client.post("/sessions", json=body).json()["data"]["session"]["id"]
        for turn in session["turns"]:
            message = {
                "role": "user",
                "content": turn["text"],
                "name": turn["speaker"],
                "created_at": session["date"],
                "metadata": {"turn_id": turn["id"]},
            }
            r = client.post(f"/sessions/{sid}/messages", json={"messages": [message]})
            r.raise_for_status()
            turns[r.json()["data"]["message_ids"][0]] = turn["id"]
    return user_id, turns


def drain(client: httpx.Client, timeout: float = 120.0) -> None:
    """Wait until the background has derived every episode's facts and graph."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queue = client.get("/stats").json()["data"]["queue"]
        if queue["pending"] == 0 and queue["running"] == 0:
            return
        time.sleep(0.2)
    raise RuntimeError("the background did not drain")


def result_turns(results: list[dict[str, Any]], turns: dict[str, str]) -> list[str]:
    """Turn ids of the results, deduplicated, in rank order."""
    seen: list[str] = []
    for result in results:
        for message_id in result["metadata"].get("source_message_ids") or [result["id"]]:
            turn = turns.get(message_id)
            if turn and turn not in seen:
                seen.append(turn)
    return seen


def evaluate(client: httpx.Client, questions: list[dict[str, Any]], users: dict[str, Any]) -> Any:
    rows, latencies = [], []
    for q in questions:
        user_id, turns = users[q["conversation"]]
        start = time.perf_counter()
        r = client.post(f"/users/{user_id}/query", json={"query": q["question"], "top_k": max(KS)})
        latencies.append((time.perf_counter() - start) * 1000)
        results = r.json()["data"]["results"]
        evidence = set(q["evidence"])
        recall = {}
        for k in KS:
            found = result_turns(results[:k], turns)
            recall[k] = len(evidence & set(found)) / len(evidence)
        rows.append((q["category"], recall))
    return rows, latencies


def table(rows: list[tuple[str, dict[int, float]]], latencies: list[float]) -> list[str]:
    categories = sorted({c for c, _ in rows})
    lines = ["| questions | n | R@1 | R@5 | R@10 |", "|---|---|---|---|---|"]
    for name in [*categories, "overall"]:
        sel = [r for c, r in rows if name in (c, "overall")]
        cells = " | ".join(f"{100 * statistics.mean(r[k] for r in sel):.1f}" for k in KS)
        lines.append(f"| {name} | {len(sel)} | {cells} |")
    p50 = statistics.median(latencies)
    p95 = sorted(latencies)[int(0.95 * (len(latencies) - 1))]
    lines.append("")
    lines.append(f"Query latency over HTTP: p50 {p50:.1f} ms, p95 {p95:.1f} ms.")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devset", type=Path, default=DEFAULT_DEVSET)
    parser.add_argument("--out", type=Path, default=None, help="update this markdown file")
    parser.add_argument(
        "--env", action="append", default=[], help="KEY=VALUE server environment (repeatable)"
    )
    args = parser.parse_args()
    data = json.loads(args.devset.read_text())
    settings = {"buffer": {"idle_seconds": 1.0, "sweep_interval_seconds": 0.2}}
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(item.split("=", 1) for item in args.env)
        server = ServerProcess(Path(tmp), settings=settings, env=env).start()
        try:
            with httpx.Client(base_url=server.api, timeout=60) as client:
                users = {c["id"]: ingest(client, c) for c in data["conversations"]}
                time.sleep(2.0)  # let the idle sweeper close the last windows
                drain(client)
                rows, latencies = evaluate(client, data["questions"], users)
        finally:
            server.stop()
    lines = table(rows, latencies)
    print("\n".join(lines))
    if args.out:
        command = "`.venv/bin/python benchmarks/retrieval.py --out docs/benchmarks.md`"
        write_section(args.out, "Retrieval: evidence recall on the dev set", [command, "", *lines])


if __name__ == "__main__":
    main()
