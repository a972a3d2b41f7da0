"""Import benchmark: a year of ChatGPT history (a generated export) into the real server.

Generates a ChatGPT-shaped ``conversations.json`` (``--conversations``, default 2000, of
``--turns`` user/assistant exchanges each, with what real exports carry besides: hidden system
nodes, an abandoned regeneration, a tool call and its output, an image part; texts of realistic
lengths, made up), then against ``memfuse-server serve`` with default settings (worker on, local
MiniLM embedder):

1. ``memfuse-server import --dry-run``: the file parsed and checked, nothing sent; its wall time
   and peak memory, beside ``json.load`` of the same file (what reading it whole would take);
2. ``memfuse-server import``: every message sent (default concurrency 10), wall time and rate;
3. the same command again: 0 new messages expected, and how long finding that out takes.

Peak memory is the largest resident set of the measured command's process (``ru_maxrss``).
Prints the table; with ``--out`` (the default for a full run) writes the "Import of a ChatGPT
export" section of docs/benchmarks.md.

Usage: ``python benchmarks/import_export.py [--quick] [--conversations N] [--turns T] [--out F]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.serverproc import ServerProcess  # noqa: E402

from benchmarks.report import write_section  # noqa: E402

TITLE = "Import of a ChatGPT export: a year of history"
YEAR_START = 1704067200.0  # 2024-01-01T00:00:00Z
PLACES = ("Lisbon", "Porto", "Berlin", "Kyoto", "Oslo", "Lima", "Accra", "Quebec", "Hanoi")
TOPICS = ("the marathon", "a new job", "the cello", "a sailing trip", "the garden", "a wedding")
PEOPLE = ("Ana", "Jonas", "Maya", "Kofi", "Ines", "Tomas", "Priya", "Lena")
FILLER = (
    "It depends on the season and on how much time you have.",
    "A good first step is to write down what matters most to you.",
    "Many people find it easier to start small and build a routine.",
    "Check the opening hours before you go, they change in winter.",
    "If the budget is tight, the train is usually the cheaper option.",
    "Keep a short list and review it again after a week.",
)


def _sentence(rng: random.Random) -> str:
    person, place, topic = rng.choice(PEOPLE), rng.choice(PLACES), rng.choice(TOPICS)
    return f"{person} mentioned {topic} while we talked about {place} on day {rng.randint(1, 28)}."


def _text(rng: random.Random, sentences: int) -> str:
    return " ".join(_sentence(rng) if i % 3 == 0 else rng.choice(FILLER) for i in range(sentences))


def _node(nid: str, parent: str | None, message: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": nid, "parent": parent, "children": [], "message": message}


def _message(
    nid: str, role: str, content: dict[str, Any], t: float, recipient: str = "all"
) -> dict[str, Any]:
    return {
        "id": nid,
        "author": {"role": role, "name": None, "metadata": {}},
        "create_time": t,
        "update_time": None,
        "content": content,
        "status": "finished_successfully",
        "end_turn": True,
        "weight": 1.0,
        "metadata": {  # what a real export carries besides (a few hundred bytes a node)
            "finish_details": {"type": "stop", "stop_tokens": [200002]},
            "citations": [],
            "content_references": [],
            "request_id": f"{nid}-request-0123456789abcdef",
            "message_source": None,
            "timestamp_": "absolute",
            "message_type": None,
            "default_model_slug": "gpt-4o",
            "parent_id": f"{nid}-parent",
            "is_complete": True,
        },
        "recipient": recipient,
    }


def _conversation(rng: random.Random, index: int, turns: int) -> dict[str, Any]:
    """One conversation: a hidden system root, ``turns`` exchanges, one regenerated answer,
    one tool call, one image; the current branch ends at the last answer."""
    cid = f"conv-{index:06d}"
    t = YEAR_START + index * (365 * 86400 / 3000) + rng.random() * 3600
    nodes = [_node(f"{cid}-root", None, None)]
    hidden = {"is_visually_hidden_from_conversation": True}
    system = _message(f"{cid}-sys", "system", {"content_type": "text", "parts": [""]}, t)
    system["metadata"].update(hidden)
    nodes.append(_node(f"{cid}-sys", nodes[-1]["id"], system))
    for turn in range(turns):
        t += 30 + rng.random() * 300
        parts: list[Any] = [_text(rng, rng.randint(1, 4))]
        if turn == 1:
            parts.insert(0, {"content_type": "image_asset_pointer", "asset_pointer": "file-x"})
        content = {"content_type": "multimodal_text" if turn == 1 else "text", "parts": parts}
        user = _node(
            f"{cid}-u{turn}", nodes[-1]["id"], _message(f"{cid}-u{turn}", "user", content, t)
        )
        nodes.append(user)
        if turn == 2:  # a tool call and its output between the question and the answer
            call = {"content_type": "code", "language": "python", "text": "sum(range(10))"}
            nodes.append(
                _node(
                    f"{cid}-c{turn}",
                    user["id"],
                    _message(f"{cid}-c{turn}", "assistant", call, t + 1, recipient="python"),
                )
            )
            output = {"content_type": "execution_output", "text": "45"}
            nodes.append(
                _node(
                    f"{cid}-o{turn}",
                    nodes[-1]["id"],
                    _message(f"{cid}-o{turn}", "tool", output, t + 2),
                )
            )
        answer = {"content_type": "text", "parts": [_text(rng, rng.randint(4, 12))]}
        asked = nodes[-1]["id"]
        if turn == 0:  # an answer regenerated: the first attempt stays in the tree, unused
            first = _message(f"{cid}-a{turn}-old", "assistant", answer, t + 5)
            nodes.append(_node(first["id"], asked, first))
        reply = _message(f"{cid}-a{turn}", "assistant", answer, t + 20)
        reply["metadata"]["model_slug"] = "gpt-4o"
        nodes.append(_node(reply["id"], asked, reply))
    mapping = {n["id"]: n for n in nodes}
    for n in nodes:
        if n["parent"] is not None:
            mapping[n["parent"]]["children"].append(n["id"])
    return {
        "title": f"Chat {index}: {rng.choice(TOPICS)} in {rng.choice(PLACES)}",
        "create_time": nodes[1]["message"]["create_time"],
        "update_time": t + 20,
        "mapping": mapping,
        "current_node": nodes[-1]["id"],
        "conversation_id": cid,
        "id": cid,
        "is_archived": False,
        "safe_urls": [],
    }


def generate(path: Path, conversations: int, turns: int) -> int:
    """Write the export (one conversation at a time); the number of messages to import."""
    rng = random.Random(19)
    with path.open("w") as out:
        out.write("[")
        for i in range(conversations):
            out.write(("," if i else "") + json.dumps(_conversation(rng, i, turns)))
        out.write("]")
    return conversations * turns * 2


@dataclass
class Run:
    seconds: float
    peak_mb: float
    rows: dict[str, str]


def measured(command: Sequence[str], env: dict[str, str]) -> Run:
    """Wall time and peak RSS of ``command`` (run through a tiny wrapper that reports it)."""
    wrapper = (
        "import resource, subprocess, sys;"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        "sys.stdout.write(done.stdout); sys.stderr.write(done.stderr);"
        "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);"
        "sys.exit(done.returncode)"
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *command], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed: {done.stderr[-2000:]}")
    peak = int(done.stdout.rsplit("PEAK_KB", 1)[1].split()[0]) / 1024
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in done.stdout.splitlines()
        if line.count("│") == 3
    }
    return Run(seconds, peak, rows)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 conversations")
    parser.add_argument("--conversations", type=int, default=None)
    parser.add_argument("--turns", type=int, default=5, help="exchanges per conversation")
    parser.add_argument("--out", type=Path, default=None, help="markdown file to update")
    args = parser.parse_args(argv)
    count = args.conversations or (200 if args.quick else 2000)
    out: Path | None = args.out or (None if args.quick else ROOT / "docs" / "benchmarks.md")
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="memfuse-bench-import-") as tmp:
        export = Path(tmp) / "conversations.json"
        messages = generate(export, count, args.turns)
        size_mb = export.stat().st_size / 1e6
        print(
            f"generated {count} conversations, {messages} messages, {size_mb:.1f} MB",
            file=sys.stderr,
        )
        server = ServerProcess(Path(tmp) / "server").start()
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUSE_")}
            cli = [
                sys.executable,
                "-m",
                "memfuse_server",
                "import",
                str(export),
                "--url",
                server.base_url,
            ]
            whole = measured(
                [sys.executable, "-c", f"import json; json.load(open({str(export)!r}))"], env
            )
            dry = measured([*cli, "--dry-run"], env)
            print("parsed; importing", file=sys.stderr)
            first = measured(cli, env)
            print("imported; again", file=sys.stderr)
            again = measured(cli, env)
        finally:
            server.stop()
    command = shlex.join([".venv/bin/python", "benchmarks/import_export.py", *argv])
    lines = markdown(count, messages, size_mb, whole, dry, first, again, command, load_start)
    print("\n".join(lines))
    if out is not None:
        write_section(out, TITLE, lines)
    return 0


def markdown(
    count: int,
    messages: int,
    size_mb: float,
    whole: Run,
    dry: Run,
    first: Run,
    again: Run,
    command: str,
    load_start: float,
) -> list[str]:
    new_again = again.rows.get("new on the server", "?")
    return [
        f"Produced by `{command}` on 2 cores shared with other jobs (load average"
        f" {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end): a generated",
        f"ChatGPT export of {count} conversations ({messages} messages to import, {size_mb:.1f} MB),",
        "the server with default settings (worker on).",
        "",
        "| Step | Wall time | Peak memory (RSS) | Result |",
        "|---|---|---|---|",
        f"| `json.load` of the file (reference: read whole) | {whole.seconds:.1f} s | {whole.peak_mb:.0f} MB | |",
        f"| `import --dry-run` (streamed parse and check) | {dry.seconds:.1f} s | {dry.peak_mb:.0f} MB | {messages} messages planned |",
        f"| `import` | {first.seconds:.1f} s | {first.peak_mb:.0f} MB | {first.rows.get('accepted by the server')} accepted, {first.rows.get('new on the server')} new, {first.rows.get('throughput')} |",
        f"| `import` again | {again.seconds:.1f} s | {again.peak_mb:.0f} MB | {new_again} new (goal: 0) |",
        "",
        "- Wall times include starting the command (~1 s of imports). The rate is the summary's",
        "  (messages accepted per second while sending). One request per message, each with its",
        "  idempotency key; the conversations go in parallel, the messages of one in order.",
        "- The export carries, as real ones do, nodes that are not imported (hidden system",
        "  messages, a regenerated answer, a tool call and its output, an image part).",
    ]


if __name__ == "__main__":
    raise SystemExit(main())
