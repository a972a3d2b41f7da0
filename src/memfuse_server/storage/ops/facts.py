"""M1 facts: idempotent writes keyed by a per-user content hash, with provenance.

``INSERT ... ON CONFLICT DO NOTHING`` on ``(user_id, content_hash)`` makes
concurrent jobs of one user agree on one row per fact; the ids are read back
afterwards, so a fact another writer stored first is linked, not duplicated.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from memfuse_server.embeddings.base import Vectors
from memfuse_server.layers.texts import alias_key
from memfuse_server.models import EpisodeMessage, Fact, ItemKind
from memfuse_server.storage.ops.forgetting import forgotten
from memfuse_server.storage.ops.locks import lock_memory
from memfuse_server.storage.ops.rows import utc
from memfuse_server.storage.ops.sources import current_sources
from memfuse_server.storage.ops.validity import FACTS, Key, settle, source_times
from memfuse_server.storage.ops.version import bump_memory_version
from memfuse_server.storage.tx import Tx

_SPACE = re.compile(r"\s+")

_INSERT_FACT = """
INSERT INTO facts (id, user_id, content, content_hash, subject, occurred_at, time_expression,
    confidence, created_at, updated_at, recorded_at, valid_from, subject_key, attribute, value,
    ends)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $9, $10, $11, $12, $13, $14)
ON CONFLICT (user_id, content_hash) DO NOTHING
"""


def content_hash(*parts: object) -> str:
    """A stable key for "the same" item: parts joined, case and spacing folded."""
    text = "\x1f".join("" if p is None else _SPACE.sub(" ", str(p)).strip().lower() for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()


async def insert_each(tx: Tx, sql: str, rows: Iterable[Sequence[object]]) -> int:
    """Run an ``INSERT ... ON CONFLICT DO NOTHING`` once per row; how many rows it added
    (a save that adds nothing a query shows leaves the memory version, and the cache, be)."""
    added = 0
    for row in rows:
        added += await tx.execute(sql, *row)
    return added


def _linking(table: str, column: str) -> str:
    return f"INSERT INTO {table} ({column}, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"


async def link_sources(
    tx: Tx, table: str, column: str, item_id: str, message_ids: Sequence[str]
) -> int:
    """Tie an item to these source messages; how many ties are new."""
    return await insert_each(tx, _linking(table, column), [(item_id, m) for m in message_ids])


async def _upsert_facts(
    tx: Tx, user_id: str, facts: Sequence[Fact], said: Mapping[str, datetime], now: datetime
) -> tuple[list[str], set[str]]:
    """The facts' ids (in order), and which of them this call created."""
    digests = [content_hash(f.text) for f in facts]
    fresh = [str(uuid.uuid4()) for _ in facts]
    await tx.executemany(
        _INSERT_FACT,
        [
            (
                fid,
                user_id,
                f.text,
                digest,
                f.subject,
                _when(f),
                f.time_expression,
                f.confidence,
                now,
                *_validity(f, said),
            )
            for fid, f, digest in zip(fresh, facts, digests, strict=True)
        ],
    )
    rows = await tx.fetch(
        "SELECT content_hash, id FROM facts WHERE user_id = $1 AND content_hash = ANY($2::text[])",
        user_id,
        digests,
    )
    by_hash = {r[0]: str(r[1]) for r in rows}
    return [by_hash[d] for d in digests], set(fresh).intersection(by_hash.values())


def _when(fact: Fact) -> datetime | None:
    return utc(fact.occurred_at) if fact.occurred_at else None


def _validity(fact: Fact, said: Mapping[str, datetime]) -> tuple[object, ...]:
    """valid_from (stated, or when its first source was said), and its timeline's key."""
    first = min(said[m] for m in fact.source_message_ids if m in said)
    attribute = fact.attribute if fact.subject and fact.attribute else None
    return (
        utc(fact.valid_from) if fact.valid_from else first,
        alias_key(fact.subject) if attribute and fact.subject else None,
        attribute,
        fact.value if attribute else None,
        fact.ends and attribute is not None,
    )


def timeline_keys(facts: Iterable[Fact]) -> set[Key]:
    """The (subject, attribute) timelines these facts are on."""
    return {(alias_key(f.subject), f.attribute) for f in facts if f.subject and f.attribute}


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


async def _not_forgotten(
    tx: Tx, user_id: str, facts: Sequence[Fact], keep: Sequence[int]
) -> list[int]:
    """Those of ``keep`` the user has not deleted a fact of (``ops/forgetting.py``)."""
    digests = {i: content_hash(facts[i].text) for i in keep}
    gone = await forgotten(tx, user_id, ItemKind.FACT, digests.values())
    return [i for i in keep if digests[i] not in gone]


async def save_facts(
    tx: Tx,
    user_id: str,
    facts: Sequence[Fact],
    vectors: Vectors,
    now: datetime,
    read: Sequence[EpisodeMessage] | None = None,
) -> int:
    """Store facts not seen before, add provenance to all; returns how many were new. Only
    sources still stored (and as ``read``, when given) count: ``sources.current_sources``;
    a fact the user deleted is not stored again: ``forgetting``."""
    if len(facts) != len(vectors):
        raise ValueError(f"{len(facts)} facts but {len(vectors)} vectors")
    stored = await current_sources(tx, (m for f in facts for m in f.source_message_ids), read)
    said = await source_times(tx, stored)
    keep = [i for i, f in enumerate(facts) if stored.intersection(f.source_message_ids)]
    if not keep:
        return 0
    await lock_memory(tx, [user_id])
    keep = await _not_forgotten(tx, user_id, facts, keep)
    if not keep:
        return 0
    kept = [facts[i] for i in keep]
    keys = timeline_keys(kept)
    ids, created = await _upsert_facts(tx, user_id, kept, said, now)
    new = _first_of_each(keep, ids, created)
    items = [(fid, facts[i].text) for i, fid in new]
    await tx.dialect.add_documents(tx, user_id, ItemKind.FACT, items, vectors[[i for i, _ in new]])
    pairs = sorted(
        {
            (fid, m)
            for f, fid in zip(kept, ids, strict=True)
            for m in f.source_message_ids
            if m in stored
        }
    )
    linked = await insert_each(tx, _linking("fact_sources", "fact_id"), pairs)
    changed = await settle(tx, FACTS, user_id, keys)
    if new or linked or changed:  # new facts, new sources, or timelines moved: answers change
        await bump_memory_version(tx, user_id)
    return len(new)


__all__ = ["content_hash", "insert_each", "link_sources", "save_facts", "timeline_keys"]
