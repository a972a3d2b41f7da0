"""Run independent operations together, every failure kept and reported.

The seeds' ``write_to_all``: when one logical step goes to independent places
(the M1 and M2 layers of an episode; facts, entities and relations; several
stores), run them at once, let each finish or fail on its own, and report
every failure by name instead of dropping any. ``parallel=False`` keeps the
sequential path (one after the other, in the order given), with the same
failure reporting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from memfuse_server.errors import WritesFailed

T = TypeVar("T")


async def run_all(
    steps: Mapping[str, Callable[[], Awaitable[T]]], *, parallel: bool = True
) -> dict[str, T]:
    """Run every step; return their results by name, or raise ``WritesFailed`` naming each failure."""
    names = list(steps)
    if parallel:
        outcomes = await asyncio.gather(*(steps[n]() for n in names), return_exceptions=True)
    else:
        outcomes = []
        for name in names:
            try:
                outcomes.append(await steps[name]())
            except Exception as exc:
                outcomes.append(exc)
    for outcome in outcomes:
        if isinstance(outcome, asyncio.CancelledError):
            raise outcome
    failures = {n: o for n, o in zip(names, outcomes, strict=True) if isinstance(o, BaseException)}
    if failures:
        raise WritesFailed(failures)
    return {n: o for n, o in zip(names, outcomes, strict=True)}  # type: ignore[misc]


__all__ = ["run_all"]
