"""The query cache: results keyed by the user's memory version.

Every write to a user's memory bumps that user's version in the same
transaction, so a query after a write misses the cache (read-your-writes)
without any invalidation message.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

from cachetools import TTLCache

V = TypeVar("V")


class QueryCache(Generic[V]):
    def __init__(self, size: int, ttl_seconds: float) -> None:
        self._enabled = size > 0 and ttl_seconds > 0
        self._cache: TTLCache[Hashable, V] = TTLCache(
            maxsize=max(size, 1), ttl=max(ttl_seconds, 1e-9)
        )
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> V | None:
        value = self._cache.get(key) if self._enabled else None
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def put(self, key: Hashable, value: V) -> None:
        if self._enabled:
            self._cache[key] = value


__all__ = ["QueryCache"]
