"""An export of this server (``memfuse-server export``, docs/export.md), read back.

The file is JSON Lines, read one line at a time: its user, with its description; each session
(with its agent) becomes one ``ImportSession`` holding its messages in file order; the user's
knowledge travels with the first conversation. Lines of derived memory (facts, entities,
relations) are not sent: the server derives them again from the messages it is given.

Each message's idempotency key is made from what the message is (its session's name, time,
role, speaker, text and metadata, and which of identical ones it is), not from its place in the
file: the same file imported again adds nothing, and so does a later export of the same user
for the messages the server already has, even when earlier ones were deleted in between.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from memfuse_server.exporter.format import DERIVED_TYPES, FORMAT, VERSION
from memfuse_server.importer.conversation import (
    Conversation,
    ImportFormatError,
    ImportSession,
    message_key,
)

KEY_SOURCE = "memfuse-export"
SNIFF_BYTES = 1 << 16


def is_export(path: Path) -> bool:
    """Whether the file starts with the header line of an export."""
    try:
        with path.open("rb") as file:
            first = file.readline(SNIFF_BYTES).strip()
        value = json.loads(first)
    except (OSError, ValueError):
        return False
    return isinstance(value, dict) and value.get("format") == FORMAT


@dataclass
class _Session:
    agent: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    seen: Counter[str] = field(default_factory=Counter)


def _text(value: Any, where: str, what: str, empty: bool = False) -> str:
    if not isinstance(value, str) or not (empty or value.strip()):
        raise ImportFormatError(f"{where}: {what} must be a non-empty string.")
    return value


class _Reader:
    """The export's lines, checked and gathered into sessions."""

    def __init__(self) -> None:
        self.header: dict[str, Any] | None = None
        self.user: str | None = None
        self.description: str | None = None
        self.agents: dict[str, str | None] = {}
        self.sessions: dict[str, _Session] = {}
        self.knowledge: list[str] = []
        self.ended = False

    def line(self, where: str, value: Any) -> None:
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            raise ImportFormatError(f"{where}: each line of an export is an object with a type.")
        kind = value["type"]
        if self.ended:
            raise ImportFormatError(f"{where}: a {kind} line after the end line.")
        if self.header is None and kind != "header":
            raise ImportFormatError(f"{where}: an export starts with its header line.")
        read = getattr(self, f"_{kind}", None)
        if kind in DERIVED_TYPES:
            return  # derived again by the server from the messages
        if read is None:
            raise ImportFormatError(f"{where}: {kind!r} is not a line of the export format.")
        read(where, value)

    def _header(self, where: str, value: dict[str, Any]) -> None:
        version = value.get("version")
        if not isinstance(version, int) or version > VERSION:
            raise ImportFormatError(
                f"{where}: this is version {version} of the export format; this memfuse-server"
                f" reads up to version {VERSION}: upgrade it to import the file."
            )
        self.header = value

    def _user(self, where: str, value: dict[str, Any]) -> None:
        self.user = _text(value.get("name"), where, "the user's name")
        self.description = value.get("description")

    def _agent(self, where: str, value: dict[str, Any]) -> None:
        self.agents[_text(value.get("name"), where, "an agent's name")] = value.get("description")

    def _session(self, where: str, value: dict[str, Any]) -> None:
        name = _text(value.get("name"), where, "a session's name")
        agent = _text(value.get("agent"), where, "a session's agent")
        if agent not in self.agents:
            raise ImportFormatError(f"{where}: agent {agent!r} has no agent line before it.")
        self.sessions.setdefault(name, _Session(agent))

    def _message(self, where: str, value: dict[str, Any]) -> None:
        from memfuse_server.importer.formats import message  # formats reads exports through here

        name = _text(value.get("session"), where, "a message's session")
        session = self.sessions.get(name)
        if session is None:
            raise ImportFormatError(f"{where}: session {name!r} has no session line before it.")
        body = message(where, {k: v for k, v in value.items() if k not in ("type", "session", "n")})
        identity = json.dumps([name, body], sort_keys=True)
        session.seen[identity] += 1
        session.keys.append(message_key(KEY_SOURCE, identity, session.seen[identity]))
        session.messages.append(body)

    def _knowledge(self, where: str, value: dict[str, Any]) -> None:
        self.knowledge.append(_text(value.get("content"), where, "knowledge's content"))

    def _end(self, where: str, value: dict[str, Any]) -> None:
        self.ended = True

    def conversations(self, path: Path) -> list[Conversation]:
        if not self.ended:
            raise ImportFormatError(
                f"{path} has no end line: the export was cut short. Export the user again."
            )
        if self.user is None:
            raise ImportFormatError(f"{path} has no user line.")
        out = [
            Conversation(
                name,
                self.user,
                s.agent,
                [ImportSession(name, s.messages, keys=s.keys)],
                user_description=self.description,
                agent_description=self.agents[s.agent],
            )
            for name, s in self.sessions.items()
        ]
        if not out:  # a user with knowledge only
            out = [Conversation(self.user, self.user, "", [], user_description=self.description)]
        out[0] = replace(out[0], knowledge=tuple(self.knowledge))
        return out


def _lines(lines: Iterable[str]) -> Iterator[tuple[str, Any]]:
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            yield f"line {number}", json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportFormatError(f"line {number}: not valid JSON: {exc.msg}.") from exc


def load(path: Path) -> list[Conversation]:
    """The conversations (one per session) of an export, checked line by line."""
    reader = _Reader()
    with path.open(encoding="utf-8") as lines:
        for where, value in _lines(lines):
            reader.line(where, value)
    return reader.conversations(path)


__all__ = ["KEY_SOURCE", "is_export", "load"]
