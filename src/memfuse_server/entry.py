"""The ``memfuse-server`` command's entry point.

Importing the command line takes a second on a busy machine; Ctrl-C or SIGTERM
then is a stop asked for before anything opened, so the process exits 0 quietly
instead of dying of the signal. Once imported, the usual handlers are back (each
command decides what a stop means: ``serve`` in ``startup.py``).
"""

from __future__ import annotations

import signal
from types import FrameType


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def stop_quietly() -> None:
    """From now on Ctrl-C or SIGTERM exits 0 at once (while nothing is open yet)."""
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)


def main() -> None:
    stop_quietly()
    from memfuse_server.cli import app

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    app()


__all__ = ["main", "stop_quietly"]
