"""M1 facts: idempotent writes keyed by a per-user content hash, with provenance."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from memfuse_server.embeddings.base import Vectors
from memfuse_server.models import Fact, ItemKind
from memfuse_server.storage.sqlite.documents import add_documents, bump_memory_version
from memfuse_server.storage.sqlite.rows import param_marks, ts

_SPACE = re.compile(r"\s+")


def content_hash(*parts: object) -> str:
    """A stable key for "the same" item: parts joined, case and spacing folded."""
    text = "\x1f".join("" if p is None else _SPACE.sub(" ", str(p)).strip().lower() for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()


def existing_messages(conn: sqlite3.Connection, ids: Iterable[str]) -> list[str]:
    """Those of ``ids`` that are still stored (a source may be deleted meanwhile)."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    rows = conn.execute(
        f"SELECT id FROM messages WHERE id IN ({param_marks(len(wanted))})", wanted
    ).fetchall()
    return [r[0] for r in rows]


def link_sources(
    conn: sqlite3.Connection, table: str, column: str, item_id: str, message_ids: Sequence[str]
) -> None:
    conn.executemany(
        f"INSERT OR IGNORE INTO {table} ({column}, message_id) VALUES (?, ?)",
        [(item_id, m) for m in message_ids],
    )


def _upsert_fact(
    conn: sqlite3.Connection, user_id: str, fact: Fact, now: datetime
) -> tuple[str, bool]:
    digest = content_hash(fact.text)
    row = conn.execute(
        "SELECT id FROM facts WHERE user_id = ? AND content_hash = ?", (user_id, digest)
    ).fetchone()
    if row is not None:
        return row[0], False
    fact_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO facts (id, user_id, content, content_hash, subject, occurred_at,"
        " time_expression, confidence, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            fact_id,
            user_id,
            fact.text,
            digest,
            fact.subject,
            ts(fact.occurred_at) if fact.occurred_at else None,
            fact.time_expression,
            fact.confidence,
            ts(now),
            ts(now),
        ),
    )
    return fact_id, True


def save_facts(
    conn: sqlite3.Connection, user_id: str, facts: Sequence[Fact], vectors: Vectors, now: datetime
) -> int:
    """Store facts not seen before, add provenance to all; returns how many were new."""
    new = 0
    for fact, vector in zip(facts, vectors, strict=True):
        sources = existing_messages(conn, fact.source_message_ids)
        if not sources:
            continue
        fact_id, created = _upsert_fact(conn, user_id, fact, now)
        if created:
            add_documents(conn, user_id, ItemKind.FACT, [(fact_id, fact.text)], vector[None, :])
            new += 1
        link_sources(conn, "fact_sources", "fact_id", fact_id, sources)
    if new:
        bump_memory_version(conn, user_id)
    return new


__all__ = ["content_hash", "existing_messages", "link_sources", "save_facts"]
