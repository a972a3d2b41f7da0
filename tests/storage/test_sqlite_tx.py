"""SQLite speaks the operations' SQL: statements rewritten once, values encoded, and a whole
operation driven to its end on the runner's thread."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest

from memfuse_server.storage.sqlite.tx import LONG_LIST, SqliteTx, bind, drive, encode
from memfuse_server.storage.tx import Tx


def test_statements_are_rewritten_for_sqlite() -> None:
    assert bind("SELECT id FROM t WHERE a = $1 AND b = $2", ("x", 2)) == (
        "SELECT id FROM t WHERE a = ?1 AND b = ?2",
        ("x", 2),
    )
    listed = "SELECT id FROM t WHERE a = $1 AND id = ANY($2::text[]) AND b = $1"
    assert bind(listed, ("x", ["p", "q"])) == (
        "SELECT id FROM t WHERE a = ? AND id IN (?,?) AND b = ?",
        ["x", "p", "q", "x"],
    )
    text, values = bind(listed, ("x", [str(i) for i in range(LONG_LIST + 1)]))
    assert "id IN (SELECT value FROM json_each(?))" in text
    assert values[1] == encode([str(i) for i in range(LONG_LIST + 1)])


def test_values_are_encoded_as_stored() -> None:
    local = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert encode(local) == "2024-05-01T12:00:00.000000+00:00"
    assert encode(["a", 1]) == '["a",1]'
    assert encode({"k": None}) == '{"k":null}'
    assert encode("plain") == "plain"


def test_an_operation_runs_to_its_end_on_one_connection() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("CREATE TABLE t (id TEXT PRIMARY KEY, at TEXT, meta TEXT)")

    async def op(tx: Tx) -> list[str]:
        when = datetime(2024, 1, 1, tzinfo=UTC)
        await tx.executemany(
            "INSERT INTO t (id, at, meta) VALUES ($1, $2, $3)",
            [("a", when, {"n": 1}), ("b", when, {"n": 2}), ("c", when, {"n": 3})],
        )
        changed = await tx.execute("DELETE FROM t WHERE id = ANY($1::text[])", ["a", "zz"])
        assert changed == 1
        many = ["b", *(str(i) for i in range(LONG_LIST))]
        assert await tx.fetchval("SELECT count(*) FROM t WHERE id = ANY($1::text[])", many) == 1
        rows = await tx.fetch("SELECT id, meta FROM t WHERE at = $1 ORDER BY id", when)
        return [r["id"] + r["meta"] for r in rows]

    assert drive(op(SqliteTx(conn, None))) == ['b{"n":2}', 'c{"n":3}']  # type: ignore[arg-type]


def test_an_operation_that_waits_on_anything_else_is_refused() -> None:
    async def op() -> None:
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="waited on something other than SQLite"):
        drive(op())
