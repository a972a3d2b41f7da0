"""What a mention is: a typed span of a sentence, and the episode context names are read in."""

from __future__ import annotations

from dataclasses import dataclass, field

from memfuse_server.extraction.rules.lexicon import PETS
from memfuse_server.models import EntityType

# How sure a type guess is: a title or suffix, an article or apposition, a nearby word.
STRONG, MEDIUM, WEAK = 3, 2, 1


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    name: str
    type: EntityType
    strength: int
    gender: str = ""  # "m", "f" or "" (unknown)
    owner: str | None = None  # "Tom" for "Tom's daughter Claire" and "Tom's daughter"
    relation: str | None = None  # "daughter", "cat"
    descriptor: bool = False  # named by a relation only ("Jonas's dad")

    @property
    def animate(self) -> bool:
        """A person or a pet that he/she may point back to (a bare capital is not enough)."""
        return (self.type is EntityType.PERSON and self.strength > 0) or self.relation in PETS


@dataclass(frozen=True)
class Context:
    """What the whole episode says about capitalised words."""

    speakers: frozenset[str] = frozenset()
    lower_words: frozenset[str] = frozenset()  # words seen in lower case
    inner_capitals: frozenset[str] = frozenset()  # words seen capitalised mid-sentence
    # names read with evidence earlier in the episode (lower case -> type): "Asha" opening
    # a sentence after "Asha's recital" is Asha, even without a verb that proves it
    known: dict[str, EntityType] = field(default_factory=dict)

    def learn(self, mentions: list[Mention]) -> None:
        for m in mentions:
            if m.strength > 0 and not m.descriptor:
                self.known.setdefault(m.name.lower(), m.type)


__all__ = ["MEDIUM", "STRONG", "WEAK", "Context", "Mention"]
