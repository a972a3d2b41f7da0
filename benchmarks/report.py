"""Write one named section of docs/benchmarks.md, leaving the others as they are."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

HEADER = "# Benchmarks\n\nEach section is written by the script it names, with the command that produced it.\n"
# Below this line a section holds hand-written reading of its figures: a re-run keeps it.
KEEP = "<!-- reading: kept when the section is re-measured -->"


def publish(lines: list[str], out: Path | None, title: str, command: str) -> None:
    """Print a benchmark's lines; with ``out``, also write them as section ``title``, after
    the command that produced them."""
    print("\n".join(lines))
    if out:
        write_section(out, title, [f"`{command}`", "", *lines])


def write_section(path: Path, title: str, lines: list[str]) -> None:
    """Replace (or append) the ``## title`` section of ``path`` with ``lines``."""
    text = path.read_text() if path.exists() else HEADER
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    body = f"## {title}\n\nMeasured {stamp}.\n\n" + "\n".join(lines).rstrip() + "\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    old = pattern.search(text)
    if old and KEEP in old.group(0):
        body += "\n" + old.group(0)[old.group(0).index(KEEP) :].rstrip() + "\n"
    if old:
        text = pattern.sub(lambda _: body + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + body
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def upsert_row(path: Path, title: str, header: list[str], label: str, cells: list[str]) -> None:
    """Set the row named ``label`` of the one table in section ``title`` (rows accumulate)."""
    text = path.read_text() if path.exists() else HEADER
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    old = pattern.search(text)
    rows: dict[str, str] = {}
    if old:
        for line in old.group(0).splitlines()[4:]:
            if line.startswith("| ") and not line.startswith("| step"):
                rows[line.split(" | ")[0][2:]] = line
    rows[label] = "| " + " | ".join([label, *cells]) + " |"
    table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *rows.values()]
    lines = ["Each row is one step, measured by `benchmarks/locomo.py --label STEP`.", "", *table]
    write_section(path, title, lines)
