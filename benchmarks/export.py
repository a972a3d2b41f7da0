"""Export benchmark: `memfuse-server export` of users of growing size, its time and peak memory.

Fills a store of the default engine (SQLite) through the storage layer: one user per size in
``--sizes`` (default 10,000 and 100,000 messages), in sessions of 200 messages of realistic
lengths (made up), with knowledge; the messages' vectors are random unit vectors (an export never
reads them). Then, for each user:

1. ``memfuse-server export --user U --out F``: the streamed export, a page of 500 rows at a time;
2. the same lines made by reading the user whole first (every line in a list, then written):
   what an export that loads a user would hold, as the reference, run the same way.

Peak memory is the largest resident set of the measured command's process (``ru_maxrss``):
the streamed export should stay flat as the user grows, the whole read should not. Prints the
table; with ``--out`` (the default for a full run) writes the "Export of a user" section of
docs/benchmarks.md.

Usage: ``python benchmarks/export.py [--quick] [--sizes 10000,100000] [--out F]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.import_export import Run, measured  # noqa: E402
from benchmarks.report import write_section  # noqa: E402
from benchmarks.texts import TextGen  # noqa: E402
from memfuse_server.buffer import RoundBuffer  # noqa: E402
from memfuse_server.config import load_settings  # noqa: E402
from memfuse_server.exporter.lines import Export, dumps  # noqa: E402
from memfuse_server.models import NewMessage, Role  # noqa: E402
from memfuse_server.storage import Store, open_store  # noqa: E402
from memfuse_server.storage.base import PreparedMessage  # noqa: E402

TITLE = "Export of a user"
SESSION = 200  # messages per session
BATCH = 100  # messages per write


def _vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, 384)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _turn(texts: TextGen, i: int) -> PreparedMessage:
    role = Role.USER if i % 2 == 0 else Role.ASSISTANT
    text = " ".join(texts.messages(texts.rng.randint(1, 4)))
    metadata = {"turn": i, "source": "benchmark"}
    message = NewMessage(role, text, "Maya" if role is Role.USER else None, metadata)
    return PreparedMessage(message, text, len(text.split()))


async def fill(store: Store, name: str, messages: int) -> None:
    """A user of ``messages`` messages in sessions of ``SESSION``, and some knowledge."""
    texts, vec = TextGen(messages), np.random.default_rng(messages)
    user, _ = await store.create_user(name, "a benchmark user")
    agent, _ = await store.create_agent("assistant", None)
    buffer = RoundBuffer(800, 5)
    for s in range(0, messages, SESSION):
        session = await store.create_session(user.id, agent.id, f"session-{s // SESSION:05d}")
        for start in range(s, min(s + SESSION, messages), BATCH):
            end = min(start + BATCH, s + SESSION, messages)
            turns = [_turn(texts, i) for i in range(start, end)]
            await store.add_messages(session, turns, _vectors(vec, len(turns)), buffer)
    facts = [f"Maya said: {text}" for text in texts.messages(50)]
    await store.add_knowledge(user.id, facts, _vectors(vec, len(facts)))


async def _fill_all(config: Path, sizes: Sequence[int]) -> None:
    store = open_store(load_settings(config, {}))
    await store.open()
    try:
        for size in sizes:
            await fill(store, f"user-{size}", size)
    finally:
        await store.close()


async def _whole(config: Path, name: str) -> bytes:
    """The reference: every line of the export in memory, then written."""
    store = open_store(load_settings(config, {}))
    await store.open()
    try:
        user = (await store.find_users(name))[0]
        lines = [line async for line in Export(store, user).lines(False)]
        return b"".join(dumps(line) for line in lines)
    finally:
        await store.close()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--whole"]:  # the reference, run as its own process to be measured
        Path(argv[3]).write_bytes(asyncio.run(_whole(Path(argv[1]), argv[2])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 and 20,000 messages")
    parser.add_argument("--sizes", default=None, help="comma-separated message counts")
    parser.add_argument("--out", type=Path, default=None, help="markdown file to update")
    args = parser.parse_args(argv)
    chosen = args.sizes or ("2000,20000" if args.quick else "10000,100000")
    sizes = [int(x) for x in chosen.split(",")]
    out: Path | None = args.out or (None if args.quick else ROOT / "docs" / "benchmarks.md")
    load_start = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="memfuse-bench-export-") as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(yaml.safe_dump({"database": {"url": f"sqlite:///{tmp}/memfuse.db"}}))
        asyncio.run(_fill_all(config, sizes))
        print(f"filled users of {sizes} messages", file=sys.stderr)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUSE_")}
        for size in sizes:
            file = Path(tmp) / f"export-{size}.jsonl"
            cli = [sys.executable, "-m", "memfuse_server", "export", "--config", str(config)]
            streamed = measured([*cli, "--user", f"user-{size}", "--out", str(file)], env)
            mb = file.stat().st_size / 1e6
            reference = [sys.executable, __file__, "--whole", str(config), f"user-{size}"]
            whole = measured([*reference, str(Path(tmp) / "whole.jsonl")], env)
            same = (Path(tmp) / "whole.jsonl").read_bytes() == file.read_bytes()
            rows.append((size, mb, streamed, whole, same))
            print(f"exported {size} messages", file=sys.stderr)
    command = shlex.join([".venv/bin/python", "benchmarks/export.py", *argv])
    lines = markdown(rows, command, load_start)
    print("\n".join(lines))
    if out is not None:
        write_section(out, TITLE, lines)
    return 0


def markdown(rows: list[tuple[int, float, Run, Run, bool]], command: str, load: float) -> list[str]:
    table = [
        "| Messages | File | `export` (streamed): time | peak RSS | Read whole first: time | peak RSS | Same file |",
        "|---|---|---|---|---|---|---|",
    ]
    for size, mb, streamed, whole, same in rows:
        table.append(
            f"| {size:,} | {mb:.1f} MB | {streamed.seconds:.1f} s | {streamed.peak_mb:.0f} MB"
            f" | {whole.seconds:.1f} s | {whole.peak_mb:.0f} MB | {'yes' if same else 'NO'} |"
        )
    return [
        f"Produced by `{command}` on 2 cores shared with other jobs (load average {load:.1f} at",
        f"the start, {os.getloadavg()[0]:.1f} at the end): one user per row in an SQLite store",
        f"(the default engine), in sessions of {SESSION} messages, with 50 knowledge items.",
        "",
        *table,
        "",
        "- Wall times include starting the command and opening the store (about 1 s).",
        '- "Read whole first" makes the same lines but keeps them all before writing: what an',
        "  export that loads a user would hold. Both run as their own process, measured alike.",
    ]


if __name__ == "__main__":
    raise SystemExit(main())
