"""Names held by a process, beside the SQLite file: a worker's identity across restarts.

``hold("host/serve")`` takes the first of ``host/serve/0``, ``host/serve/1``, ... that no
live process holds: an exclusive ``flock`` on a small file next to the database, which the
operating system lets go when the process ends, however it ends. So a process that starts
again after a SIGKILL holds the same name as before (with one process of a kind, or all of
them restarted), and knows that whatever was held under that name belongs to nobody alive.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from pathlib import Path

MAX_SLOTS = 1024


class FileSlots:
    def __init__(self, database: Path) -> None:
        self._database = database
        self._held: list[int] = []  # open file descriptors, one per name held

    def _file(self, name: str, slot: int) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
        return self._database.with_name(f"{self._database.name}.{safe}.{slot}.lock")

    def hold(self, name: str) -> str:
        """The first free ``name/N``, held until ``release``."""
        for slot in range(MAX_SLOTS):
            fd = os.open(self._file(name, slot), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._held.append(fd)
            return f"{name}/{slot}"
        raise RuntimeError(f"{MAX_SLOTS} processes already hold {name!r}")

    def release(self) -> None:
        for fd in self._held:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._held.clear()


__all__ = ["FileSlots"]
