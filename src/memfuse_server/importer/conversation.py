"""What ``memfuse-server import`` reads a file into: conversations of sessions of messages, each
message with the idempotency key that makes a re-run add nothing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from memfuse_server.errors import InvalidInput

KEY_PREFIX = "import-"


class ImportFormatError(InvalidInput):
    """The file is not in a format ``memfuse-server import`` reads (see docs/import.md)."""


@dataclass(frozen=True)
class ImportSession:
    """A session's messages (request JSON). ``keys``: each message's idempotency key, when the
    file gives stable ids (an export); otherwise they come from the file's name and positions.
    ``ref``: the id that finds the session again when its name changed (an export's
    conversation id, the name's ``(...)`` suffix)."""

    name: str
    messages: list[dict[str, Any]]
    keys: list[str] | None = None
    ref: str | None = None


@dataclass(frozen=True)
class Conversation:
    key: str  # its id, or where it is in the file: part of each message's idempotency key
    user: str
    agent: str
    sessions: list[ImportSession] = field(default_factory=list)
    # from an export of this server: the descriptions a new user or agent gets, the user's knowledge
    user_description: str | None = None
    agent_description: str | None = None
    knowledge: tuple[str, ...] = ()

    @property
    def message_count(self) -> int:
        return sum(len(s.messages) for s in self.sessions)


@dataclass(frozen=True)
class Defaults:
    user: str = "default"
    agent: str = "assistant"


def message_key(*parts: str | int) -> str:
    """An idempotency key from what identifies a message (the file's name, the conversation,
    the session and its position; or an export's conversation and message ids): the same on
    every run."""
    raw = "\x1f".join(str(p) for p in parts)
    return KEY_PREFIX + hashlib.sha256(raw.encode()).hexdigest()[:40]


__all__ = [
    "KEY_PREFIX",
    "Conversation",
    "Defaults",
    "ImportFormatError",
    "ImportSession",
    "message_key",
]
