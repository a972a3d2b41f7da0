"""Third person: "He's 71" becomes "Jonas's dad is 71" when the episode says whose dad.

The episode keeps a short list of who was mentioned last (persons, relatives,
pets; most recent first). A he/she/him/her/his pronoun with no fitting name
earlier in its own sentence is replaced by the most recent entry whose gender
fits (gender comes from titles and kinship words, or from an earlier pronoun);
later pronouns in that sentence keep pointing at it. "It" is resolved only in
"It's called ..." / "Its name is ...", to the last thing that was got, adopted
or registered ("I registered the bakery! It's called Rise & Shine.").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from memfuse_server.extraction.rules.lexicon import NAMEABLE, PARTICIPLES, PETS, words
from memfuse_server.extraction.rules.mentions import Mention
from memfuse_server.extraction.rules.persons import possessive


@dataclass
class Referent:
    name: str  # "Jonas's cat", "Leo", "Priya's bakery"
    gender: str = ""
    owner: str | None = None
    noun: str | None = None  # "cat", "bakery" for things got, adopted or registered
    verb: str | None = None  # "adopted", "registered"


@dataclass
class Salience:
    """Who and what the episode mentioned last, most recent first."""

    referents: list[Referent] = field(default_factory=list)
    genders: dict[str, str] = field(default_factory=dict)

    def push(self, referent: Referent) -> None:
        self.referents = [r for r in self.referents if r.name != referent.name]
        self.referents.insert(0, referent)

    def find(self, gender: str, *, things: bool = False) -> Referent | None:
        for referent in self.referents:
            if things != (referent.noun in NAMEABLE):
                continue
            known = self.genders.get(referent.name, referent.gender)
            if not known or not gender or known == gender:
                return referent
        return None


_PRONOUN = re.compile(r"\b(he|she|him|her|his|hers)(?:'(s|d|ll))?\b", re.IGNORECASE)
_NOT_POSSESSED = words(
    """to for with at in on of and or but that this the a an as about from by up out off
    down back again too so now then there here when if because while"""
)
_GOT = re.compile(
    rf"\b(?P<owner>[A-Z][\w']*) (?:\w+ )?(?P<verb>adopted|got|bought|has|rescued|registered|"
    rf"opened|started|founded|set up|launched) (?:a|an|the|her|his|their) (?:[a-z]+ )?"
    rf"(?P<noun>{'|'.join(sorted(PETS | NAMEABLE))})\b"
)
_IT_NAMED = re.compile(r"^(?:It|She|He)(?:'s| is| was) (?:called|named)\b")


def _replacement(match: re.Match[str], name: str, text: str) -> str:
    word, contraction = match.group(1).lower(), (match.group(2) or "").lower()
    following = re.match(r"\s*([\w']+)", text[match.end() :])
    nxt = following.group(1).lower() if following else ""
    if contraction == "s":
        return f"{name} {'has' if nxt in PARTICIPLES else 'is'}"
    if contraction == "d":
        return f"{name} {'had' if nxt in PARTICIPLES or nxt.endswith('ed') else 'would'}"
    if contraction == "ll":
        return f"{name} will"
    if word in ("his", "hers") or (word == "her" and nxt and nxt not in _NOT_POSSESSED):
        return possessive(name)
    return name


def _fits(mention: Mention, gender: str, speakers: frozenset[str], genders: dict[str, str]) -> bool:
    known = genders.get(mention.name, mention.gender)
    return mention.animate and mention.name not in speakers and (not known or known == gender)


def resolve(
    text: str, mentions: list[Mention], salience: Salience, speakers: frozenset[str]
) -> tuple[str, bool]:
    """The sentence with its unanchored third-person pronouns replaced, and whether any was."""
    text = _name_it(text, salience)
    out, last, replaced, anchored = [], 0, False, set[str]()
    for match in _PRONOUN.finditer(text):
        gender = "f" if match.group(1).lower() in ("she", "her", "hers") else "m"
        earlier = [
            m
            for m in mentions
            if m.start < match.start() and _fits(m, gender, speakers, salience.genders)
        ]
        if earlier or gender in anchored:
            continue
        referent = salience.find(gender)
        if referent is None:
            continue
        salience.genders.setdefault(referent.name, gender)
        out += [text[last : match.start()], _replacement(match, referent.name, text)]
        last, replaced = match.end(), True
        anchored.add(gender)
    out.append(text[last:])
    result = "".join(out)
    return result[:1].upper() + result[1:], replaced


def _name_it(text: str, salience: Salience) -> str:
    """ "It's called Rise & Shine" -> "Priya's bakery is called Rise & Shine"."""
    if not _IT_NAMED.match(text):
        return text
    referent = salience.find("", things=True) or salience.find("")
    if referent is None or referent.noun is None:
        return text
    return re.sub(r"^\w+(?:'s| is| was)", f"{referent.name} is", text, count=1)


def remember(
    salience: Salience, text: str, mentions: list[Mention], speakers: frozenset[str]
) -> None:
    """Push this sentence's persons, pets and named things to the front of the list."""
    for m in _GOT.finditer(text):
        owner, noun = m["owner"], m["noun"].lower()
        salience.push(Referent(f"{possessive(owner)} {noun}", "", owner, noun, m["verb"]))
    animate = [m for m in mentions if m.animate and m.name not in speakers]
    for mention in sorted(animate, key=lambda m: (not m.descriptor, -m.start)):
        if mention.gender:
            salience.genders.setdefault(mention.name, mention.gender)
        noun = mention.relation if mention.relation in PETS else None
        salience.push(Referent(mention.name, mention.gender, mention.owner, noun))


__all__ = ["Referent", "Salience", "remember", "resolve"]
