"""LoCoMo-format conversations and questions, read into plain records.

The format (Maharana et al., ACL 2024, ``snap-research/locomo``): a list of
samples, each ``{sample_id, conversation: {speaker_a, speaker_b, session_N:
[{speaker, dia_id, text, blip_caption?}], session_N_date_time}, qa: [{question,
evidence, category}]}``. A turn is indexed as its text plus `` [shares
<caption>]`` when it shares an image; its time is its session's date and time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
_TURN_ID = re.compile(r"D\d+:\d+")
_SESSION = re.compile(r"session_(\d+)$")


@dataclass(frozen=True)
class Turn:
    id: str  # "D3:14": session 3, turn 14
    speaker: str
    text: str


@dataclass(frozen=True)
class Session:
    number: int
    created_at: datetime
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class Conversation:
    id: str
    speakers: tuple[str, str]
    sessions: tuple[Session, ...]


@dataclass(frozen=True)
class Question:
    conversation: str
    text: str
    evidence: frozenset[str]
    category: int

    @property
    def category_name(self) -> str:
        return CATEGORIES.get(self.category, str(self.category))


def session_time(text: str) -> datetime:
    """``"1:56 pm on 8 May, 2023"`` as an aware datetime (the data carries no zone: UTC)."""
    return datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)


def turn_text(raw: dict[str, Any]) -> str:
    caption = raw.get("blip_caption")
    return f"{raw['text']} [shares {caption}]" if caption else str(raw["text"])


def evidence_ids(raw: list[str]) -> frozenset[str]:
    """Evidence turn ids; a few entries hold several ("D8:6; D9:17")."""
    return frozenset(m for entry in raw for m in _TURN_ID.findall(entry))


def _sessions(conversation: dict[str, Any]) -> tuple[Session, ...]:
    sessions = []
    for key, turns in conversation.items():
        match = _SESSION.match(key)
        if not match or not turns:
            continue
        when = session_time(conversation[f"{key}_date_time"])
        parsed = tuple(Turn(t["dia_id"], t["speaker"], turn_text(t)) for t in turns)
        sessions.append(Session(int(match.group(1)), when, parsed))
    return tuple(sorted(sessions, key=lambda s: s.number))


def load(path: Path) -> tuple[list[Conversation], list[Question]]:
    """The conversations of a LoCoMo-format file and their questions with evidence."""
    conversations, questions = [], []
    for sample in json.loads(path.read_text()):
        body = sample["conversation"]
        cid = str(sample["sample_id"])
        conversations.append(
            Conversation(cid, (body["speaker_a"], body["speaker_b"]), _sessions(body))
        )
        for qa in sample["qa"]:
            evidence = evidence_ids(qa.get("evidence") or [])
            if evidence:
                questions.append(Question(cid, qa["question"], evidence, int(qa["category"])))
    return conversations, questions


__all__ = [
    "CATEGORIES",
    "Conversation",
    "Question",
    "Session",
    "Turn",
    "evidence_ids",
    "load",
    "session_time",
    "turn_text",
]
