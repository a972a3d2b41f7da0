"""``memfuse-server export --user NAME``: the lines of ``lines`` written to a file (``NAME.part``
first, renamed when complete, so a file of that name is always whole) or to standard output,
with a progress bar on stderr. ``export_user`` is what the command calls; it returns the exit
status: 0 exported, 1 the user or the store could not be read, 130 interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from rich.console import Console

from memfuse_server.config import Settings
from memfuse_server.errors import MemFuseError, NotFound
from memfuse_server.exporter.lines import PAGE, Export, dumps
from memfuse_server.importer.display import ProgressBar
from memfuse_server.importer.run import Progress
from memfuse_server.storage import Store

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


async def write_export(
    store: Store,
    user_name: str,
    sink: BinaryIO,
    with_derived: bool,
    progress: Progress,
    page: int = PAGE,
) -> Counter[str]:
    """Write the export of the user named ``user_name`` to ``sink``; what was written."""
    found = await store.find_users(user_name)
    if not found:
        raise NotFound(
            f"No user is named {user_name!r}; check the name (memfuse-server uses it as given)."
        )
    export = Export(store, found[0], page)
    try:
        async for line in export.lines(with_derived):
            if line["type"] == "header":
                progress.start(line["counts"]["messages"])
            sink.write(dumps(line))
            if line["type"] == "message":
                progress.advance(True)
    finally:
        progress.stop()
    return export.written


@contextlib.contextmanager
def _sink(out: Path | None) -> Iterator[BinaryIO]:
    """The file (written as ``<out>.part``, renamed once whole), or standard output."""
    if out is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    part = out.with_name(out.name + ".part")
    try:
        with part.open("wb") as file:
            yield file
        part.replace(out)
    finally:
        part.unlink(missing_ok=True)


_NAMES = {  # line type: (one, many)
    "session": ("session", "sessions"),
    "message": ("message", "messages"),
    "knowledge": ("knowledge item", "knowledge items"),
    "fact": ("fact", "facts"),
    "entity": ("entity", "entities"),
    "relation": ("relation", "relations"),
}


def _summary(written: Counter[str], out: Path | None) -> str:
    where = str(out) if out else "standard output"
    parts = [f"{written[k]} {_NAMES[k][written[k] != 1]}" for k in _NAMES if k in written]
    return f"exported {', '.join(parts) or 'nothing'} to {where}"


def export_user(
    settings: Settings,
    user_name: str,
    out: Path | None = None,
    *,
    with_derived: bool = False,
    err: Console | None = None,
) -> int:
    """Export the user named ``user_name`` to ``out`` (None: standard output); the exit status."""
    from memfuse_server.commands import with_store

    err = err or Console(stderr=True)

    async def run(store: Store) -> Counter[str]:
        with _sink(out) as sink:
            bar = ProgressBar(err, "exporting", errors=False)
            return await write_export(store, user_name, sink, with_derived, bar)

    try:
        written = asyncio.run(with_store(settings, run))
    except KeyboardInterrupt:
        err.print("interrupted: nothing was kept; run the command again.")
        return EXIT_INTERRUPTED
    except MemFuseError as exc:
        err.print(f"error: {exc.message}", markup=False)
        return EXIT_FAILED
    except OSError as exc:
        err.print(f"error: cannot write {out}: {exc.strerror}.", markup=False)
        return EXIT_FAILED
    err.print(_summary(written, out), markup=False)
    return EXIT_OK


__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "export_user",
    "write_export",
]
