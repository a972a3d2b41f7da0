"""Evidence recall on LoCoMo-format conversations, through the REST API as a client would.

Starts a server with default settings (worker on), posts each conversation as
one user (one session per LoCoMo session; each turn a ``user`` message with
``name`` = the speaker and ``created_at`` = the session's date and time), waits
until every episode's facts and graph are derived, asks every question with
evidence, and maps each result to turn ids (a message for itself; a chunk, fact
or relation for its ``source_message_ids``). Prints R@1/5/10/20, All@10 and MRR
per category and overall (categories 1-4; 5, adversarial, apart), and the query
latency. ``--compare`` runs a plain BM25 + MiniLM reciprocal-rank fusion over
the same turns beside it, in the same run.

    .venv/bin/python benchmarks/locomo.py [--data FILE] [--compare] [--label STEP] [--out docs/benchmarks.md]

The only setting changed from the defaults is ``buffer.idle_seconds`` (1 s),
so that the last window of each session closes without a minute's wait.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.serverproc import ServerProcess

from benchmarks import locomo_baseline
from benchmarks.locomo_data import CATEGORIES, Conversation, Question, load
from benchmarks.recall import HEADER, Table, markdown, ranked_turns, score
from benchmarks.report import upsert_row, write_section

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "locomo-dev" / "locomo_dev.json"
HEADLINE = [CATEGORIES[c] for c in (1, 2, 3, 4)]
ORDER = [*HEADLINE, CATEGORIES[5]]
TOP_K = 50  # results asked for: enough to fill 20 turn places
SETTINGS = {"buffer": {"idle_seconds": 1.0, "sweep_interval_seconds": 0.2}}


def ingest(client: httpx.Client, conversation: Conversation) -> tuple[str, dict[str, str]]:
    """Post one conversation as one user; return the user id and message id -> turn id."""
    user = client.post("/users", json={"name": f"{conversation.id}-{uuid.uuid4().hex[:6]}"})
    user.raise_for_status()
    user_id = user.json()["data"]["user"]["id"]
    agent_id = client.post("/agents", json={"name": "locomo"}).json()["data"]["agent"]["id"]
    turns: dict[str, str] = {}
    for session in conversation.sessions:
        body = {"user_id": user_id, "agent_id": agent_id, "name": f"session-{session.number}"}
        sid = client.post("/sessions", json=body).json()["data"]["session"]["id"]
        messages = [
            {
                "role": "user",
                "name": turn.speaker,
                "content": turn.text,
                "created_at": session.created_at.isoformat(),
                "metadata": {"turn_id": turn.id},
            }
            for turn in session.turns
        ]
        r = client.post(f"/sessions/{sid}/messages", json={"messages": messages})
        r.raise_for_status()
        ids = r.json()["data"]["message_ids"]
        turns.update(zip(ids, (t.id for t in session.turns), strict=True))
    return user_id, turns


def drain(client: httpx.Client, idle: float, timeout: float = 600.0) -> None:
    """Wait for the idle windows to close and the background to derive every episode."""
    time.sleep(idle + 1.0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queue = client.get("/stats").json()["data"]["queue"]
        if queue["pending"] == 0 and queue["running"] == 0:
            return
        time.sleep(0.2)
    raise RuntimeError("the background did not drain")


def result_turns(results: list[dict[str, Any]], turns: dict[str, str]) -> list[str]:
    ids = (r["metadata"].get("source_message_ids") or [r["id"]] for r in results)
    return ranked_turns([turns[i] for i in group if i in turns] for group in ids)


def ask_server(
    client: httpx.Client, users: dict[str, tuple[str, dict[str, str]]]
) -> Callable[[Question], list[str]]:
    def ask(q: Question) -> list[str]:
        user_id, turns = users[q.conversation]
        r = client.post(f"/users/{user_id}/query", json={"query": q.text, "top_k": TOP_K})
        r.raise_for_status()
        return result_turns(r.json()["data"]["results"], turns)

    return ask


def evaluate(name: str, questions: list[Question], ask: Callable[[Question], list[str]]) -> Table:
    table = Table(name)
    for q in questions:
        start = time.perf_counter()
        turns = ask(q)
        table.latencies_ms.append((time.perf_counter() - start) * 1000)
        table.scores.append(score(q.category_name, q.evidence, turns))
    return table


def run_server(
    conversations: list[Conversation], questions: list[Question], env: dict[str, str]
) -> tuple[Table, float]:
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp), settings=SETTINGS, env=env).start()
        try:
            with httpx.Client(base_url=server.api, timeout=120) as client:
                start = time.perf_counter()
                users = {c.id: ingest(client, c) for c in conversations}
                drain(client, SETTINGS["buffer"]["idle_seconds"])
                ingest_s = time.perf_counter() - start
                return evaluate("memfuse-server", questions, ask_server(client, users)), ingest_s
        finally:
            server.stop()


def report(tables: list[Table], ingest_s: float, turns: int) -> list[str]:
    lines: list[str] = []
    for table in tables:
        p50, p95 = table.latency()
        lines += [f"**{table.name}** (query p50 {p50:.1f} ms, p95 {p95:.1f} ms)", ""]
        lines += markdown(HEADER, table.rows(ORDER, HEADLINE))
        lines.append("")
    lines.append(
        f"{turns} turns posted and every episode derived (facts and graph) in {ingest_s:.0f} s."
        " `overall` is categories 1-4; adversarial (5) is shown apart."
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a LoCoMo-format JSON file")
    parser.add_argument("--compare", action="store_true", help="also run BM25 + MiniLM fusion")
    parser.add_argument("--label", help="record the overall figures as a row of the steps table")
    parser.add_argument("--out", type=Path, default=None, help="update this markdown file")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE server environment")
    args = parser.parse_args()
    if not args.data.exists():
        parser.error(f"{args.data} does not exist; pass --data with a LoCoMo-format file")
    conversations, questions = load(args.data)
    env = dict(item.split("=", 1) for item in args.env)
    server_table, ingest_s = run_server(conversations, questions, env)
    tables = [server_table]
    if args.compare:
        tables.append(
            evaluate("BM25 + MiniLM fusion", questions, locomo_baseline.asker(conversations))
        )
    lines = report(tables, ingest_s, sum(len(s.turns) for c in conversations for s in c.sessions))
    print("\n".join(lines))
    if args.out:
        write_docs(args, lines, server_table)


def write_docs(args: argparse.Namespace, lines: list[str], table: Table) -> None:
    flags = " --compare" if args.compare else ""
    command = f"`.venv/bin/python benchmarks/locomo.py{flags} --out docs/benchmarks.md`"
    data = f"Data: `{args.data.name}` ({'the LoCoMo dev split' if args.data == DEFAULT_DATA else 'given by --data'})."
    write_section(args.out, "Retrieval: LoCoMo evidence recall", [command, "", data, "", *lines])
    if args.label:
        overall = table.overall(HEADLINE)
        by_category = {row[0]: row[4] for row in table.rows(ORDER, HEADLINE)}
        p50, _ = table.latency()
        cells = [
            *(overall[k] for k in ("R@5", "R@10", "R@20")),
            *(by_category.get(c, "") for c in HEADLINE),
            f"{p50:.1f}",
        ]
        header = ["step", "R@5", "R@10", "R@20", *(f"R@10 {c}" for c in HEADLINE), "query p50 ms"]
        upsert_row(
            args.out,
            "Retrieval: LoCoMo steps",
            header,
            args.label,
            [f"{c:.1f}" if isinstance(c, float) else c for c in cells],
        )


if __name__ == "__main__":
    main()
