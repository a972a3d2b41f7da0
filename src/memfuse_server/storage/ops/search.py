"""Candidates for a query, as the engines find them: full text for chosen terms, and the
graph around the entities a query names. Which terms, and how candidates rank against
each other, is ``retrieval/``'s policy; only the finding is here."""

from __future__ import annotations

from collections.abc import Sequence

from memfuse_server.embeddings.base import Vectors
from memfuse_server.models import Hit, ItemKind
from memfuse_server.retrieval.terms import MATCH_BUDGET, MAX_NAMES, needs_counts, selective
from memfuse_server.storage.ops.resolve import aliases
from memfuse_server.storage.tx import Tx


async def vector_hits(
    tx: Tx, user_id: str, vector: Vectors, per_kind: int
) -> dict[ItemKind, list[Hit]]:
    """The user's nearest items of each kind (cosine similarity), best first."""
    return await tx.dialect.vector_candidates(tx, user_id, vector, per_kind)


async def text_hits(tx: Tx, user_id: str, terms: Sequence[str], limit: int) -> list[Hit]:
    """Full-text candidates among the user's documents: any of the terms worth matching."""
    scope = await tx.dialect.match_scope(tx, user_id, MATCH_BUDGET + 1)
    matches = await tx.dialect.term_matches(tx, terms) if needs_counts(terms, scope) else {}
    chosen = selective(terms, scope, matches)
    if not chosen:
        return []
    return await tx.dialect.text_candidates(tx, user_id, chosen, limit)


async def named_entities(tx: Tx, user_id: str, phrases: Sequence[str]) -> list[str]:
    """Ids of the user's entities that go by any of these phrases."""
    if not phrases:
        return []
    rows = await tx.fetch(
        "SELECT DISTINCT entity_id FROM entity_aliases WHERE user_id = $1"
        " AND alias_key = ANY($2::text[])",
        user_id,
        list(phrases),
    )
    return [r[0] for r in rows]


async def facts_naming(tx: Tx, user_id: str, entity_ids: Sequence[str], limit: int) -> list[Hit]:
    """Facts whose text names any of these entities (any alias, as a phrase)."""
    names = [a for found in (await aliases(tx, user_id, entity_ids)).values() for a in found]
    quoted = ['"' + a.replace('"', " ") + '"' for a in names[:MAX_NAMES]]
    if not quoted:
        return []
    return await tx.dialect.text_candidates(tx, user_id, quoted, limit, ItemKind.FACT)


async def graph_candidates(
    tx: Tx, user_id: str, phrases: Sequence[str], limit: int
) -> tuple[list[tuple[str, float]], list[Hit]]:
    """The relations (id, confidence) of the entities the phrases name, most confident and
    newest first, and the facts naming those entities."""
    entity_ids = await named_entities(tx, user_id, phrases)
    if not entity_ids:
        return [], []
    rows = await tx.fetch(
        "SELECT id, confidence FROM relations WHERE user_id = $1 AND (subject_id = ANY($2::text[])"
        " OR object_id = ANY($2::text[])) ORDER BY confidence DESC, created_at DESC LIMIT $3",
        user_id,
        entity_ids,
        limit,
    )
    relations = [(str(r[0]), float(r[1])) for r in rows]
    return relations, await facts_naming(tx, user_id, entity_ids, limit)


__all__ = ["facts_naming", "graph_candidates", "named_entities", "text_hits", "vector_hits"]
