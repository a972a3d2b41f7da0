"""M1 facts: idempotent writes keyed by a per-user content hash, with provenance.

``INSERT ... ON CONFLICT DO NOTHING`` on ``(user_id, content_hash)`` makes
concurrent jobs of one user agree on one row per fact.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg

from memfuse_server.embeddings.base import Vectors
from memfuse_server.models import Fact, ItemKind
from memfuse_server.storage.postgres.documents import add_documents, bump_memory_version
from memfuse_server.storage.postgres.rows import utc
from memfuse_server.storage.sqlite.facts import content_hash

Connection = asyncpg.Connection


async def existing_messages(conn: Connection, ids: Iterable[str]) -> list[str]:
    """Those of ``ids`` that are still stored (a source may be deleted meanwhile)."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    rows = await conn.fetch("SELECT id FROM messages WHERE id = ANY($1::text[])", wanted)
    return sorted(r[0] for r in rows)


async def link_sources(
    conn: Connection, table: str, column: str, item_id: str, message_ids: Sequence[str]
) -> None:
    await conn.execute(
        f"INSERT INTO {table} ({column}, message_id) SELECT $1, unnest($2::text[])"
        " ON CONFLICT DO NOTHING",
        item_id,
        list(message_ids),
    )


_INSERT_FACTS = """
INSERT INTO facts (id, user_id, content, content_hash, subject, occurred_at, time_expression,
    confidence, created_at, updated_at)
SELECT f.id, $1, f.content, f.hash, f.subject, f.occurred_at, f.time_expression, f.confidence,
    $2, $2
FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::text[],
    $9::float8[]) AS f(id, content, hash, subject, occurred_at, time_expression, confidence)
ON CONFLICT (user_id, content_hash) DO NOTHING
RETURNING id, content_hash
"""


async def _upsert_facts(
    conn: Connection, user_id: str, facts: Sequence[Fact], now: datetime
) -> tuple[list[str], set[str]]:
    """One insert for all facts: their ids (in order), and which of them are new."""
    digests = [content_hash(f.text) for f in facts]
    created = await conn.fetch(
        _INSERT_FACTS,
        user_id,
        now,
        [str(uuid.uuid4()) for _ in facts],
        [f.text for f in facts],
        digests,
        [f.subject for f in facts],
        [utc(f.occurred_at) if f.occurred_at else None for f in facts],
        [f.time_expression for f in facts],
        [f.confidence for f in facts],
    )
    rows = await conn.fetch(
        "SELECT content_hash, id FROM facts WHERE user_id = $1 AND content_hash = ANY($2::text[])",
        user_id,
        digests,
    )
    by_hash = {r[0]: str(r[1]) for r in rows}
    return [by_hash[d] for d in digests], {str(r[0]) for r in created}


def _first_of_each(
    keep: Sequence[int], ids: Sequence[str], created: set[str]
) -> list[tuple[int, str]]:
    """(input index, id) of each new fact, once (the first of duplicates in one batch)."""
    seen: set[str] = set()
    out = []
    for i, fact_id in zip(keep, ids, strict=True):
        if fact_id in created and fact_id not in seen:
            seen.add(fact_id)
            out.append((i, fact_id))
    return out


async def save_facts(
    conn: Connection, user_id: str, facts: Sequence[Fact], vectors: Vectors, now: datetime
) -> int:
    """Store facts not seen before, add provenance to all; returns how many were new."""
    if len(facts) != len(vectors):
        raise ValueError(f"{len(facts)} facts but {len(vectors)} vectors")
    stored = set(await existing_messages(conn, (m for f in facts for m in f.source_message_ids)))
    keep = [i for i, f in enumerate(facts) if stored.intersection(f.source_message_ids)]
    if not keep:
        return 0
    kept = [facts[i] for i in keep]
    ids, created = await _upsert_facts(conn, user_id, kept, now)
    new = _first_of_each(keep, ids, created)
    items = [(fid, facts[i].text) for i, fid in new]
    await add_documents(conn, user_id, ItemKind.FACT, items, vectors[[i for i, _ in new]])
    pairs = sorted(
        {
            (fid, m)
            for f, fid in zip(kept, ids, strict=True)
            for m in f.source_message_ids
            if m in stored
        }
    )
    await conn.execute(
        "INSERT INTO fact_sources (fact_id, message_id)"
        " SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
        [p[0] for p in pairs],
        [p[1] for p in pairs],
    )
    if new:
        await bump_memory_version(conn, user_id)
    return len(new)


__all__ = ["existing_messages", "link_sources", "save_facts"]
