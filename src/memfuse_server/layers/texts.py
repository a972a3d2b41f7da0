"""How derived items read as text: what is embedded, indexed and shown for them."""

from __future__ import annotations

from memfuse_server.extraction.rules.lexicon import KINSHIP
from memfuse_server.models import Entity


def alias_key(name: str) -> str:
    """An alias as it is matched: lower case, single spaces."""
    return " ".join(name.lower().split())


def turn_text(name: str | None, content: str) -> str:
    """What is embedded and indexed for a message: ``speaker: content``."""
    return f"{name}: {content}" if name else content


def entity_text(entity: Entity) -> str:
    aliases = [a for a in entity.aliases if alias_key(a) != alias_key(entity.name)]
    extra = f" (also {', '.join(aliases)})" if aliases else ""
    return f"{entity.name}{extra}, {entity.type.value}"


def relation_text(subject: str, predicate: str, obj: str, *, ends: bool = False) -> str:
    """ "Maya works at Zalando"; "Maya no longer works at Siemens" when it ended."""
    return f"{subject} {'no longer ' if ends else ''}{predicate.replace('_', ' ')} {obj}"


def degenerate(subject: str, predicate: str, obj: str) -> bool:
    """A relation that says nothing: its object is its subject ("Jolene has partner Jolene"),
    or only restates the subject and the predicate ("Jolene has partner Jolene's partner",
    "Caroline has father Caroline's dad"): a role word of the predicate, owned by the subject.
    """
    subject_key, object_key = alias_key(subject), alias_key(obj)
    if object_key == subject_key:
        return True
    owned = object_key.removeprefix(f"{subject_key}'s ").removeprefix(f"{subject_key}' ")
    if owned == object_key or " " in owned:
        return False
    role = KINSHIP.get(owned)
    return owned in predicate.lower().split("_") or (role is not None and role[0] == predicate)


__all__ = ["alias_key", "degenerate", "entity_text", "relation_text", "turn_text"]
