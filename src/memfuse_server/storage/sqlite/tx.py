"""A transaction on one SQLite connection, speaking the operations' SQL and values.

The operations are written in PostgreSQL's spelling; each statement is parsed once
(cached) for SQLite: ``$n`` becomes ``?n`` (numbered parameters), and a list
parameter ``= ANY($n::text[])`` becomes ``IN (?, ?, ...)`` of the list's length (one
text per length, cached), so the planner sees a short list as short; a long one is
bound as JSON text read by ``json_each``.
Values are encoded on the way in: timestamps as fixed-width ISO-8601 text in UTC
(text order is time order), lists and dicts as JSON text, vectors as float32
blobs. On the way out they stay as SQLite has them; ``ops/rows.py`` decodes.

The methods are coroutines that never suspend: they call ``sqlite3`` at once. So a
runner thread can drive an operation's coroutine to its end by itself (``drive``),
and a whole transaction runs on that thread, as SQLite's single writer wants.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

import numpy as np
import orjson

from memfuse_server.storage.tx import Dialect, IndexChanges, Row

T = TypeVar("T")

_PARAM = re.compile(r"=\s*ANY\(\$(\d+)::\w+\[\]\)|\$(\d+)")
_PLAIN = frozenset((str, int, float, type(None), bytes))
LONG_LIST = 200  # a list longer than this is bound as one JSON text (json_each)


@dataclass(frozen=True)
class _Statement:
    """A statement split at its parameters: ``parts[i]`` comes before parameter ``refs[i]``
    (its number, from 0, and whether it is a list: ``= ANY($n::type[])``)."""

    parts: tuple[str, ...]
    refs: tuple[tuple[int, bool], ...]
    plain: str | None  # the whole statement when it has no list: ``$n`` as ``?n``


@lru_cache(maxsize=2048)
def _parse(sql: str) -> _Statement:
    parts: list[str] = []
    refs: list[tuple[int, bool]] = []
    at = 0
    for m in _PARAM.finditer(sql):
        parts.append(sql[at : m.start()])
        refs.append((int(m.group(1)) - 1, True) if m.group(1) else (int(m.group(2)) - 1, False))
        at = m.end()
    parts.append(sql[at:])
    lists = any(is_list for _, is_list in refs)
    plain = None if lists else _PARAM.sub(lambda m: f"?{m.group(2)}", sql)
    return _Statement(tuple(parts), tuple(refs), plain)


@lru_cache(maxsize=4096)
def _render(sql: str, sizes: tuple[int, ...]) -> str:
    """The statement with each list as ``IN (?, ...)`` of its size (or ``json_each`` for a
    long one: ``-1``), every parameter positional."""
    st = _parse(sql)
    out = [st.parts[0]]
    lists = iter(sizes)
    for (_, is_list), after in zip(st.refs, st.parts[1:], strict=True):
        if not is_list:
            out.append("?")
        else:
            size = next(lists)
            out.append(
                "IN (SELECT value FROM json_each(?))" if size < 0 else f"IN ({_marks(size)})"
            )
        out.append(after)
    return "".join(out)


def _marks(n: int) -> str:
    return ",".join("?" * n)


def bind(sql: str, args: Sequence[object]) -> tuple[str, Sequence[object]]:
    """A statement of the operations and its values, as SQLite takes them: ``$n`` as ``?n``;
    a list parameter as a literal ``IN (?, ...)``, so the planner sees how short it is."""
    st = _parse(sql)
    if st.plain is not None:
        return st.plain, encode_all(args)
    sizes: list[int] = []
    values: list[object] = []
    for index, is_list in st.refs:
        value = args[index]
        if not is_list:
            values.append(encode(value))
        elif isinstance(value, list | tuple) and len(value) <= LONG_LIST:
            sizes.append(len(value))
            values.extend(value)
        else:
            sizes.append(-1)
            values.append(encode(value))
    return _render(sql, tuple(sizes)), values


def encode(value: object) -> object:
    """A Python value as SQLite stores it."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, list | tuple | dict):
        return orjson.dumps(value).decode()
    if isinstance(value, np.ndarray):
        return np.asarray(value, dtype=np.float32).tobytes()
    return value


def encode_all(values: Sequence[object]) -> Sequence[object]:
    for value in values:
        if type(value) not in _PLAIN:
            return [encode(v) for v in values]
    return values


class SqliteTx:
    """One transaction (the runner has begun it and ends it)."""

    def __init__(self, conn: sqlite3.Connection, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect
        self.changes = IndexChanges()

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        rows: list[Row] = self.conn.execute(*bind(sql, args)).fetchall()
        return rows

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        row: Row | None = self.conn.execute(*bind(sql, args)).fetchone()
        return row

    async def fetchval(self, sql: str, *args: object) -> Any:
        row = self.conn.execute(*bind(sql, args)).fetchone()
        return None if row is None else row[0]

    async def execute(self, sql: str, *args: object) -> int:
        return self.conn.execute(*bind(sql, args)).rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        plain = _parse(sql).plain
        if plain is None:
            raise ValueError("executemany takes no list parameters")
        batch = [encode_all(r) for r in rows]
        if len(batch) == 1:
            self.conn.execute(plain, batch[0])
        else:
            self.conn.executemany(plain, batch)


def drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends to its end, here, on this thread."""
    try:
        coro.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coro.close()
    raise RuntimeError("A storage operation waited on something other than SQLite.")


__all__ = ["LONG_LIST", "SqliteTx", "bind", "drive", "encode"]
