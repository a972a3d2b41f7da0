"""Deterministic chat-like texts for the benchmarks: messages of ~37 model tokens and questions."""

from __future__ import annotations

import random

NAMES = (
    "Maria", "Tom", "Aiko", "Priya", "Lucas", "Fatima", "Jonas", "Elena", "Kwame", "Sofia",
    "Daniel", "Mei", "Omar", "Chloe", "Ravi", "Hannah", "Mateo", "Ingrid", "Yusuf", "Grace",
    "Leo", "Nadia", "Felix", "Amara", "Sven", "Lucia", "Kenji", "Zoe", "Tariq", "Beatriz",
)  # fmt: skip
PLACES = (
    "the old lighthouse in Porto", "a tiny ramen shop in Kyoto", "the farmers market downtown",
    "Lake Bled", "the climbing gym on Fifth Street", "my aunt's cabin near Tahoe",
    "the botanical garden", "that Ethiopian place on Mission Street", "the science museum",
    "a jazz bar in New Orleans", "the beach at Biarritz", "the bookshop by the canal",
    "Central Park", "the night market in Taipei", "a vineyard outside Mendoza",
    "the ice rink at Rockefeller Center", "my brother's new flat in Leeds", "the harbour in Oslo",
    "a hot spring in Hakone", "the community garden", "the stadium", "a cooking school in Bologna",
)  # fmt: skip
ACTIVITIES = (
    ("went kayaking", "go kayaking"), ("had dinner", "have dinner"),
    ("tried the tasting menu", "try the tasting menu"), ("went bouldering", "go bouldering"),
    ("watched a jazz concert", "watch a concert"), ("painted pottery", "paint pottery"),
    ("ran a half marathon", "run"), ("played chess for hours", "play chess"),
    ("took a pasta-making class", "make pasta"), ("went birdwatching", "go birdwatching"),
    ("celebrated her promotion", "celebrate"), ("looked at apartments", "look at apartments"),
    ("planned the wedding seating", "plan the wedding"), ("fixed my old bike", "fix the bike"),
    ("went ice skating", "go ice skating"), ("practised Spanish", "practise Spanish"),
)  # fmt: skip
WHEN = (
    "last Saturday", "on March 3rd", "yesterday evening", "two weeks ago",
    "over the long weekend", "on her birthday", "in early June", "this morning",
    "the Friday before Easter", "on New Year's Eve", "last autumn", "during the heatwave",
    "on the 14th of August", "right after work on Tuesday", "in the middle of the storm",
)  # fmt: skip
FOLLOWUPS = (
    "She said the food was amazing and we should bring my brother next time.",
    "I want to remember to book it again before the end of the summer.",
    "It rained the whole time, but honestly it was still one of the best days this year.",
    "He lost his phone there, so remind me to ask whether anyone handed it in.",
    "We agreed to go back every month if our schedules allow it.",
    "The tickets cost forty euros each, which felt expensive but fair.",
    "My knee started hurting afterwards, so maybe I should see a physio.",
    "They have a loyalty card now; I signed up with my work email address.",
    "Afterwards we argued about politics, which I would rather avoid next time.",
    "I promised to send her the photos by Sunday evening at the latest.",
)  # fmt: skip
OPENERS = ("Quick update:", "Guess what,", "By the way,", "Just so you know,", "Note to self:")
QUESTIONS = (
    "What did I do with {name} {when}?",
    "Where did {name} and I {base}?",
    "When did I last visit {place}?",
    "Who came with me to {place}?",
    "Have I ever {past} with {name}?",
    "What happened at {place} {when}?",
    "Did {name} like it when we {past}?",
)


class TextGen:
    """Varied, deterministic chat-like messages (~37 model tokens) and natural queries."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def message(self) -> str:
        c = self.rng.choice
        past = c(ACTIVITIES)[0]
        text = f"{c(OPENERS)} {c(NAMES)} and I {past} together at {c(PLACES)} {c(WHEN)}. {c(FOLLOWUPS)}"
        return text.strip()

    def messages(self, n: int) -> list[str]:
        return [self.message() for _ in range(n)]

    def distinct_messages(self, n: int) -> list[str]:
        seen: dict[str, None] = {}
        while len(seen) < n:
            seen[self.message()] = None
        return list(seen)

    def queries(self, n: int) -> list[str]:
        seen: dict[str, None] = {}
        c = self.rng.choice
        while len(seen) < n:
            past, base = c(ACTIVITIES)
            q = c(QUESTIONS).format(
                name=c(NAMES), when=c(WHEN), place=c(PLACES), past=past, base=base
            )
            seen[q] = None
        return list(seen)


__all__ = ["TextGen"]
