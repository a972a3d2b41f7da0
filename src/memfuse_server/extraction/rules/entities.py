"""The entity registry of one episode: mentions merged into entities with aliases.

Names are compared case-insensitively with a trailing possessive dropped
("Dev's" is Dev). Two names are one entity when:

- one is the other with a title ("Okafor" and "Mr Okafor");
- one is a person's first or last name and exactly one longer person name in
  the episode starts or ends with it ("Joplin" and "Scott Joplin");
- a rule tied them ("Tom's daughter" and Claire in "Tom's daughter Claire";
  "Priya's bakery" and Rise & Shine).

The canonical name is the longest real name (not a description such as "Jonas's
dad"), first seen on a tie; the type is the one with the strongest evidence,
then the most mentions. Same input, same output: nothing depends on hash order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memfuse_server.extraction.rules.lexicon import KIN_SYNONYMS, PERSON_TITLES
from memfuse_server.models import Entity, EntityType

_TYPE_ORDER = (
    EntityType.PERSON,
    EntityType.ORGANIZATION,
    EntityType.PLACE,
    EntityType.EVENT,
    EntityType.THING,
)


def key(name: str) -> str:
    """The case-normalised lookup key of a name."""
    low = " ".join(name.lower().split())
    low = low.removeprefix("the ")
    return low.removesuffix("'s") if not low.startswith(("st ", "saint ")) else low


@dataclass
class _Group:
    order: int
    names: list[str] = field(default_factory=list)
    descriptors: set[str] = field(default_factory=set)
    votes: dict[EntityType, tuple[int, int]] = field(default_factory=dict)  # strength, count
    sources: list[str] = field(default_factory=list)


class Registry:
    """Collects names, types and sources; ``entities()`` returns the merged result."""

    def __init__(self) -> None:
        self._groups: list[_Group] = []
        self._by_key: dict[str, int] = {}
        self._parent: dict[int, int] = {}

    def _find(self, index: int) -> int:
        while self._parent.get(index, index) != index:
            index = self._parent[index]
        return index

    def _group_of(self, name: str) -> _Group:
        k = key(name)
        if k not in self._by_key:
            self._by_key[k] = len(self._groups)
            self._groups.append(_Group(order=len(self._groups)))
        return self._groups[self._find(self._by_key[k])]

    def add(
        self,
        name: str,
        kind: EntityType,
        strength: int,
        source: str | None = None,
        *,
        descriptor: bool = False,
    ) -> None:
        group = self._group_of(name)
        if name not in group.names:
            group.names.append(name)
        if descriptor:
            group.descriptors.add(name)
        best, count = group.votes.get(kind, (0, 0))
        group.votes[kind] = (max(best, strength), count + 1)
        if source and source not in group.sources:
            group.sources.append(source)

    def link(self, alias: str, name: str) -> None:
        """Make ``alias`` another name of ``name``'s entity (merging if it had its own)."""
        self._group_of(name)
        if key(alias) in self._by_key:
            self._merge(self._by_key[key(alias)], self._by_key[key(name)])
        else:
            group = self._group_of(name)
            self._by_key[key(alias)] = group.order
            group.names.append(alias)
            group.descriptors.add(alias)

    def _merge(self, a: int, b: int) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra == rb:
            return
        keep, gone = (ra, rb) if ra < rb else (rb, ra)
        target, source = self._groups[keep], self._groups[gone]
        target.names += [n for n in source.names if n not in target.names]
        target.descriptors |= source.descriptors
        for kind, (strength, count) in source.votes.items():
            best, seen = target.votes.get(kind, (0, 0))
            target.votes[kind] = (max(best, strength), seen + count)
        target.sources += [s for s in source.sources if s not in target.sources]
        self._parent[gone] = keep

    def canonical(self, name: str) -> str:
        return _canonical(self._groups[self._find(self._by_key[key(name)])])

    def knows(self, name: str) -> bool:
        return key(name) in self._by_key

    def _merge_short_names(self) -> None:
        persons = [g for g in self._roots() if _type(g) is EntityType.PERSON]
        for group in persons:
            name = _canonical(group)
            if len(name.split()) != 1 or name in group.descriptors:
                continue
            longer = [g for g in persons if g is not group and _shortens(name, _canonical(g))]
            if len(longer) == 1:
                self._merge(longer[0].order, group.order)

    def _roots(self) -> list[_Group]:
        return [g for g in self._groups if self._find(g.order) == g.order]

    def entities(self) -> tuple[Entity, ...]:
        self._merge_short_names()
        return tuple(_entity(g) for g in self._roots())


def _shortens(short: str, full: str) -> bool:
    words = full.split()
    if len(words) < 2:
        return False
    if words[0].lower().rstrip(".") in PERSON_TITLES:
        return short.lower() == words[-1].lower()
    return short.lower() in (words[0].lower(), words[-1].lower())


def _canonical(group: _Group) -> str:
    real = [n for n in group.names if n not in group.descriptors] or group.names
    return max(real, key=lambda n: (len(n.split()), -real.index(n)))


def _type(group: _Group) -> EntityType:
    return max(
        group.votes,
        key=lambda t: (*group.votes[t], -_TYPE_ORDER.index(t)),
        default=EntityType.THING,
    )


def _aliases(group: _Group, canonical: str) -> tuple[str, ...]:
    names = {n.lower(): n for n in group.names}
    for name in list(names.values()):
        words = name.split()
        if len(words) > 1 and words[0].lower().rstrip(".") in PERSON_TITLES:
            names.setdefault(words[-1].lower(), words[-1])
        owner, _, relation = name.rpartition("'s ")
        if owner and relation in KIN_SYNONYMS:
            other = f"{owner}'s {KIN_SYNONYMS[relation]}"
            names.setdefault(other.lower(), other)
    names.pop(canonical.lower(), None)
    return tuple(sorted(names.values(), key=str.lower))


def _entity(group: _Group) -> Entity:
    canonical = _canonical(group)
    return Entity(canonical, _type(group), _aliases(group, canonical), tuple(group.sources))


__all__ = ["Registry", "key"]
