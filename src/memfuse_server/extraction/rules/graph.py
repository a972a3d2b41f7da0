"""The M2 graph of an episode: the registry's entities and the relations, canonical and merged."""

from __future__ import annotations

from memfuse_server.extraction.rules.analysis import Analysis
from memfuse_server.extraction.rules.facts import fact_text
from memfuse_server.models import Graph, Relation


def build_graph(analysis: Analysis) -> Graph:
    """Entities with aliases, and relations keyed by (subject, predicate, object)."""
    registry = analysis.registry
    entities = registry.entities()
    merged: dict[tuple[str, str, str], Relation] = {}
    for found, sentence in analysis.relations:
        subject, obj = registry.canonical(found.subject), registry.canonical(found.object)
        if subject == obj:
            continue
        triple = (subject, found.predicate, obj)
        first = sentence.times[0] if sentence.times and not found.timeless else None
        relation = Relation(
            subject=subject,
            predicate=found.predicate,
            object=obj,
            source_message_ids=(sentence.message_id,),
            valid_at=first.occurred_at if first else None,
            fact=fact_text(sentence),
            confidence=found.confidence,
        )
        merged[triple] = _merge(merged[triple], relation) if triple in merged else relation
    return Graph(entities=entities, relations=tuple(merged.values()))


def _merge(kept: Relation, new: Relation) -> Relation:
    sources = tuple(dict.fromkeys(kept.source_message_ids + new.source_message_ids))
    return Relation(
        subject=kept.subject,
        predicate=kept.predicate,
        object=kept.object,
        source_message_ids=sources,
        valid_at=kept.valid_at or new.valid_at,
        fact=kept.fact,
        confidence=max(kept.confidence, new.confidence),
    )


__all__ = ["build_graph"]
