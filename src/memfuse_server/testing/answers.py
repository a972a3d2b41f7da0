"""What the fake OpenAI-compatible server answers when nothing else is scripted.

``fake_embedding`` gives each text a deterministic unit vector;
``canned_extraction`` reads the episode a chat request carries and answers
both extraction prompts (facts, entities, relations) from it;
``chat_completion`` and ``embedding_list`` wrap those in OpenAI's bodies.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

_NAME_INSIDE_SENTENCE = re.compile(r"(?<=[a-z0-9,;:] )[A-Z][a-zA-Z-]+")


def fake_embedding(text: str, dimension: int) -> list[float]:
    """A deterministic unit vector for ``text``, seeded by its SHA-256."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    vector = np.random.default_rng(seed).standard_normal(dimension)
    return [float(x) for x in vector / np.linalg.norm(vector)]


def embedding_list(model: str, texts: Sequence[str], dimension: int) -> dict[str, Any]:
    """An OpenAI ``/embeddings`` answer: one ``fake_embedding`` per text, in order."""
    data = [
        {"object": "embedding", "index": i, "embedding": fake_embedding(t, dimension)}
        for i, t in enumerate(texts)
    ]
    return {"object": "list", "model": model, "data": data}


def chat_completion(model: str, content: str) -> dict[str, Any]:
    """An OpenAI ``/chat/completions`` answer whose one message says ``content``."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


class _Turn(NamedTuple):
    position: int
    speaker: str
    content: str
    date: str | None  # YYYY-MM-DD of the timestamp, when given


def _turns(body: Mapping[str, Any]) -> list[_Turn]:
    """The episode's messages from the last user message (JSON, or ``speaker: text`` lines)."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    content = str(users[-1].get("content", "")) if users else ""
    try:
        items = json.loads(content)["messages"]
        return [
            _Turn(int(t["index"]), str(t["speaker"]), str(t["content"]), _date(t.get("timestamp")))
            for t in items
        ]
    except (ValueError, LookupError, TypeError):
        lines = [line.partition(": ") for line in content.splitlines() if ": " in line]
        return [_Turn(i, s, c, None) for i, (s, _, c) in enumerate(lines)]


def _date(timestamp: object) -> str | None:
    return timestamp[:10] if isinstance(timestamp, str) and timestamp else None


def _mentions(turn: _Turn, speakers: list[str]) -> list[str]:
    """The first capitalised word inside a sentence that is not a speaker's name (or none)."""
    words = [w for w in _NAME_INSIDE_SENTENCE.findall(turn.content) if w not in speakers]
    return words[:1]


def canned_extraction(body: Mapping[str, Any]) -> dict[str, Any]:
    """A valid answer to both extraction prompts, derived from the request's messages.

    One fact per message ("<speaker> said: <content>"); the speakers as persons;
    in each message, the first capitalised word inside a sentence that is not a
    speaker as a thing, with a relation (speaker, "mentioned", thing).
    """
    turns = _turns(body)
    speakers = list(dict.fromkeys(t.speaker for t in turns))
    facts = [
        dict(
            text=f"{t.speaker} said: {t.content}",
            occurred_at=t.date,
            subject=t.speaker,
            confidence=0.9,
            source_message_ids=[t.position],
        )
        for t in turns
    ]
    mentions = [(t, word) for t in turns for word in _mentions(t, speakers)]
    relations = [
        dict(
            subject=t.speaker,
            predicate="mentioned",
            object=word,
            valid_at=t.date,
            fact=f"{t.speaker} mentioned {word}.",
            confidence=0.7,
            source_message_ids=[t.position],
        )
        for t, word in mentions
    ]
    entities = [dict(name=s, type="person", aliases=[]) for s in speakers] + [
        dict(name=w, type="thing", aliases=[]) for w in dict.fromkeys(w for _, w in mentions)
    ]
    return {"facts": facts, "entities": entities, "relations": relations}


__all__ = ["canned_extraction", "chat_completion", "embedding_list", "fake_embedding"]
