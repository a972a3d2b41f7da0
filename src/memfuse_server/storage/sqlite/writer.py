"""SQLite's writer thread: one write at a time, the requests' first.

SQLite has one writer, so every write transaction of the process queues for one thread.
Run first come, first served, an add's write could wait behind every background write
queued before it (the worker saving facts, entities and relations, claiming and finishing
jobs). ``PriorityWriter`` keeps two queues: a request's write runs before any background
write that waits, and one waits at most for the write running when it came. So that a
steady stream of requests cannot starve the background (its queue must still drain), one
background write goes after every ``every`` request writes while background writes wait.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
_Work = tuple[Callable[[], Any], "Future[Any]"]


class PriorityWriter:
    """One thread running submitted calls one at a time, requests' first."""

    def __init__(self, name: str, every: int = 4) -> None:
        self._every = every
        self._cond = threading.Condition()
        self._requests: deque[_Work] = deque()
        self._background: deque[_Work] = deque()
        self._streak = 0  # request writes run in a row while background writes waited
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, call: Callable[[], T], *, background: bool = False) -> Future[T]:
        """Queue ``call``; a background one runs after the requests' that wait."""
        future: Future[T] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the SQLite writer is shut down")
            (self._background if background else self._requests).append((call, future))
            self._cond.notify()
        return future

    def _next(self) -> _Work | None:
        with self._cond:
            while not (self._requests or self._background or self._closed):
                self._cond.wait()
            if self._background and (not self._requests or self._streak >= self._every):
                self._streak = 0
                return self._background.popleft()
            if self._requests:
                self._streak += bool(self._background)
                return self._requests.popleft()
            return None  # closed, and nothing left

    def _loop(self) -> None:
        while (work := self._next()) is not None:
            call, future = work
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = call()
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)

    def shutdown(self) -> None:
        """Run what is queued, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()


__all__ = ["PriorityWriter"]
