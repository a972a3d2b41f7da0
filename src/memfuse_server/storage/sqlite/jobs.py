"""The durable job queue (the outbox), in the same file as the memory it serves.

A job is inserted in the same transaction as the change that calls for it
(closing an episode), so no acknowledged episode can miss its processing. A
worker claims jobs with a lease; a job whose lease runs out (its worker
crashed) is claimed again. A failure is retried with exponential backoff, and
after ``max_attempts`` the job is parked as a dead letter with its last error,
until it is re-driven.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta

import orjson

from memfuse_server.models import JSON, Job, LayerTimings, QueueStats
from memfuse_server.storage.sqlite.rows import dt, param_marks, ts

PROCESS_EPISODE = "process_episode"


def enqueue(
    conn: sqlite3.Connection,
    kind: str,
    user_id: str,
    payload: JSON,
    now: datetime,
    request_id: str | None = None,
) -> None:
    conn.execute(
        "INSERT INTO jobs (kind, user_id, payload, run_after, request_id, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (kind, user_id, orjson.dumps(payload).decode(), ts(now), request_id, ts(now), ts(now)),
    )


def claim(
    conn: sqlite3.Connection, worker_id: str, limit: int, lease: timedelta, now: datetime
) -> list[Job]:
    """Take up to ``limit`` ready jobs (pending and due, or running with a lapsed lease)."""
    rows = conn.execute(
        "SELECT id FROM jobs WHERE (status = 'pending' AND run_after <= ?)"
        " OR (status = 'running' AND locked_until < ?) ORDER BY id LIMIT ?",
        (ts(now), ts(now), limit),
    ).fetchall()
    ids = [r[0] for r in rows]
    if not ids:
        return []
    claimed = conn.execute(
        f"UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = ?,"
        f" locked_until = ?, updated_at = ? WHERE id IN ({param_marks(len(ids))})"
        " RETURNING id, kind, user_id, payload, attempts, request_id",
        (worker_id, ts(now + lease), ts(now), *ids),
    ).fetchall()
    jobs = [Job(r[0], r[1], r[2], orjson.loads(r[3]), r[4], r[5]) for r in claimed]
    return sorted(jobs, key=lambda j: j.id)


def renew(
    conn: sqlite3.Connection, worker_id: str, ids: Sequence[int], lease: timedelta, now: datetime
) -> None:
    if ids:
        conn.execute(
            f"UPDATE jobs SET locked_until = ? WHERE locked_by = ? AND status = 'running'"
            f" AND id IN ({param_marks(len(ids))})",
            (ts(now + lease), worker_id, *ids),
        )


def complete(
    conn: sqlite3.Connection, job_id: int, timings: LayerTimings | None, now: datetime
) -> None:
    conn.execute(
        "UPDATE jobs SET status = 'done', locked_by = NULL, locked_until = NULL, last_error = NULL,"
        " mode = ?, m1_ms = ?, m2_ms = ?, finished_at = ?, updated_at = ? WHERE id = ?",
        (
            timings.mode if timings else None,
            timings.m1_ms if timings else None,
            timings.m2_ms if timings else None,
            ts(now),
            ts(now),
            job_id,
        ),
    )


def fail(
    conn: sqlite3.Connection, job_id: int, error: str, retry_at: datetime | None, now: datetime
) -> None:
    """Record a failure: back to pending at ``retry_at``, or dead when it is None."""
    status = "pending" if retry_at else "dead"
    conn.execute(
        "UPDATE jobs SET status = ?, run_after = ?, last_error = ?, locked_by = NULL,"
        " locked_until = NULL, updated_at = ? WHERE id = ?",
        (status, ts(retry_at or now), error[:2000], ts(now), job_id),
    )


def retry_dead(conn: sqlite3.Connection, ids: Sequence[int] | None, now: datetime) -> int:
    """Put dead letters (all, or these) back in the queue with fresh attempts."""
    where = "status = 'dead'"
    args: list[object] = [ts(now), ts(now)]
    if ids is not None:
        where += f" AND id IN ({param_marks(len(ids))})"
        args += list(ids)
    cur = conn.execute(
        "UPDATE jobs SET status = 'pending', attempts = 0, run_after = ?, updated_at = ?"
        f" WHERE {where}",
        args,
    )
    return cur.rowcount


def dead_letters(conn: sqlite3.Connection, limit: int) -> list[JSON]:
    rows = conn.execute(
        "SELECT id, kind, user_id, payload, attempts, last_error, updated_at FROM jobs"
        " WHERE status = 'dead' ORDER BY id LIMIT ?",
        (limit,),
    ).fetchall()
    return [
        {
            "id": r[0],
            "kind": r[1],
            "user_id": r[2],
            "payload": orjson.loads(r[3]),
            "attempts": r[4],
            "last_error": r[5],
            "failed_at": r[6],
        }
        for r in rows
    ]


def purge_done(conn: sqlite3.Connection, before: datetime) -> int:
    cur = conn.execute("DELETE FROM jobs WHERE status = 'done' AND finished_at < ?", (ts(before),))
    return cur.rowcount


def stats(conn: sqlite3.Connection, now: datetime) -> QueueStats:
    counts = dict.fromkeys(("pending", "running", "dead", "done"), 0)
    for status, n in conn.execute("SELECT status, count(*) FROM jobs GROUP BY status"):
        counts[status] = n
    retries, oldest = conn.execute(
        "SELECT coalesce(sum(max(attempts - 1, 0)), 0),"
        " (SELECT min(created_at) FROM jobs WHERE status = 'pending') FROM jobs"
    ).fetchone()
    m1, m2 = conn.execute(
        "SELECT avg(m1_ms), avg(m2_ms) FROM (SELECT m1_ms, m2_ms FROM jobs"
        " WHERE status = 'done' AND mode IS NOT NULL ORDER BY finished_at DESC LIMIT 100)"
    ).fetchone()
    last = conn.execute(
        "SELECT mode FROM jobs WHERE status = 'done' AND mode IS NOT NULL"
        " ORDER BY finished_at DESC LIMIT 1"
    ).fetchone()
    age = (now - dt(oldest)).total_seconds() if oldest else None
    return QueueStats(
        counts["pending"],
        counts["running"],
        counts["dead"],
        counts["done"],
        int(retries),
        age,
        m1,
        m2,
        last[0] if last else None,
    )


__all__ = [
    "PROCESS_EPISODE",
    "claim",
    "complete",
    "dead_letters",
    "enqueue",
    "fail",
    "purge_done",
    "renew",
    "retry_dead",
    "stats",
]
