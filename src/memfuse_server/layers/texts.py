"""How derived items read as text: what is embedded, indexed and shown for them."""

from __future__ import annotations

from memfuse_server.models import Entity


def alias_key(name: str) -> str:
    """An alias as it is matched: lower case, single spaces."""
    return " ".join(name.lower().split())


def entity_text(entity: Entity) -> str:
    aliases = [a for a in entity.aliases if alias_key(a) != alias_key(entity.name)]
    extra = f" (also {', '.join(aliases)})" if aliases else ""
    return f"{entity.name}{extra}, {entity.type.value}"


def relation_text(subject: str, predicate: str, obj: str, *, ends: bool = False) -> str:
    """ "Maya works at Zalando"; "Maya no longer works at Siemens" when it ended."""
    return f"{subject} {'no longer ' if ends else ''}{predicate.replace('_', ' ')} {obj}"


__all__ = ["alias_key", "entity_text", "relation_text"]
