"""``AsyncClosing``: ``async with thing:`` closes it with ``await thing.aclose()`` at the end."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class AsyncClosing:
    """Mixed into what holds connections (the clients, the transports)."""

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


__all__ = ["AsyncClosing"]
