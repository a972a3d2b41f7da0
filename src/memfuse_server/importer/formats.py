"""The files ``memfuse-server import`` reads (docs/import.md), as conversations to insert.

Shapes of conversation, in a JSON file (one conversation, a list of them, or an object with a
``conversations`` list) or a JSONL file (one conversation per line):

- chat: ``{"user"?, "agent"?, "session"?, "id"?, "messages": [message, ...]}``, one session;
  a bare list of messages is a chat conversation too (OpenAI's format);
- multi-session: ``{"id"?, "user"?, "agent"?, "sessions": [{"session"|"name"?, "date"?,
  "turns"|"messages": [...]}, ...]}``; a turn is a message, or ``{"speaker", "text", "id"?}``;
- exports: a conversation of ChatGPT's export (``chatgpt``) or of Claude's (``claude``);
- an export of this server (``memfuse``: ``memfuse-server export``, docs/export.md).

A file that is one JSON array (as both exports are) is read one item at a time, so an export of
years of conversations is never held whole in memory: only the text to send is kept. The zip
file of an export is read as it was downloaded (its ``conversations.json``, unpacked as it is
read).

A message is ``{"role", "content", "name"?, "created_at"?, "metadata"?}``. Nothing here talks to
the server: a file is checked completely (``--dry-run``) before anything is sent.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import ijson

from memfuse_server.importer import chatgpt, claude, memfuse
from memfuse_server.importer.conversation import (
    Conversation,
    Defaults,
    ImportFormatError,
    ImportSession,
)

ROLES = ("user", "assistant", "system", "tool")
NEEDS_CONTENT = ("user", "system")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
EXPORT_FILE = "conversations.json"  # in the zip file of a ChatGPT or Claude export


def load(path: Path, defaults: Defaults | None = None) -> list[Conversation]:
    """Every conversation of the file, checked; ``ImportFormatError`` says where it is wrong."""
    parse = _Parser(path.stem, defaults or Defaults())
    try:
        if memfuse.is_export(path):  # an export of this server (docs/export.md)
            return memfuse.load(path)
        conversations = [parse.conversation(where, value) for where, value in _records(path)]
    except OSError as exc:
        raise ImportFormatError(f"Cannot read {path}: {exc.strerror}.") from exc
    except UnicodeDecodeError as exc:
        raise ImportFormatError(f"{path} is not UTF-8 text: {exc.reason}.") from exc
    if not conversations:
        raise ImportFormatError(f"{path} holds no conversations.")
    return conversations


def _records(path: Path) -> Iterator[tuple[str, Any]]:
    if path.suffix.lower() == ".zip":
        yield from _zipped(path)
        return
    if path.suffix.lower() in JSONL_SUFFIXES:
        with path.open(encoding="utf-8") as lines:
            yield from _lines(lines)
        return
    items = _array_items(path)
    if items is not None:
        yield from items
        return
    text = path.read_text(encoding="utf-8")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            raise ImportFormatError(f"{path} is not valid JSON: {exc}.") from exc
        yield from _lines(text.splitlines())  # several JSON values: JSON Lines by another name
        return
    yield from _top(value)


def _array_items(path: Path) -> Iterator[tuple[str, Any]] | None:
    """The items of a file that is a JSON array of conversations, parsed one at a time; None
    for any other file (an object, a list of messages: read whole, they are small)."""
    with path.open("rb") as file:
        if not file.read(4096).lstrip().startswith(b"["):
            return None
    first = next(_streamed(path), None)
    if first is None or (isinstance(first[1], dict) and "role" in first[1]):
        return None
    return _streamed(path)


def _streamed(path: Path) -> Iterator[tuple[str, Any]]:
    with path.open("rb") as file:
        yield from _items(file, str(path))


def _items(file: IO[bytes], name: str) -> Iterator[tuple[str, Any]]:
    try:
        for i, item in enumerate(ijson.items(file, "item", use_float=True)):
            yield f"[{i}]", item
    except ijson.JSONError as exc:
        raise ImportFormatError(f"{name} is not valid JSON: {exc}.") from exc


def _zipped(path: Path) -> Iterator[tuple[str, Any]]:
    """The conversations of an export's zip file as downloaded: its ``conversations.json``."""
    try:
        with zipfile.ZipFile(path) as archive:
            inside = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == EXPORT_FILE]
            if not inside:
                raise ImportFormatError(
                    f"{path} holds no {EXPORT_FILE} (the file of a ChatGPT or Claude export)."
                )
            with archive.open(inside[0]) as file:
                yield from _items(file, f"{path}: {inside[0]}")
    except zipfile.BadZipFile as exc:
        raise ImportFormatError(f"{path} is not a zip file that can be read: {exc}.") from exc


def _lines(lines: Iterable[str]) -> Iterator[tuple[str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ImportFormatError(f"line {number}: not valid JSON: {exc.msg}.") from exc
        yield f"line {number}", {"messages": value} if isinstance(value, list) else value


def _top(value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict) and isinstance(value.get("conversations"), list):
        return [(f"conversations[{i}]", c) for i, c in enumerate(value["conversations"])]
    if isinstance(value, list):
        if value and all(isinstance(m, dict) and "role" in m for m in value):
            return [("the file", {"messages": value})]
        return [(f"[{i}]", c) for i, c in enumerate(value)]
    return [("the file", value)]


def _text(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str | int) or not str(value).strip():
        raise ImportFormatError(f"{where}: {what} must be a non-empty string.")
    return str(value).strip()


def _timestamp(value: Any, where: str) -> str:
    try:
        datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise ImportFormatError(
            f"{where}: {value!r} is not an ISO-8601 time (e.g. 2024-03-02T18:20:00+00:00)."
        ) from exc
    return str(value)


class _Parser:
    def __init__(self, stem: str, defaults: Defaults) -> None:
        self.stem = stem
        self.defaults = defaults
        self.count = 0

    def conversation(self, where: str, value: Any) -> Conversation:
        self.count += 1
        if not isinstance(value, dict):
            raise ImportFormatError(
                f"{where}: a conversation must be an object with messages or sessions."
            )
        if chatgpt.is_chatgpt(value):
            return chatgpt.conversation(where, value, self.defaults)
        if claude.is_claude(value):
            return claude.conversation(where, value, self.defaults)
        key = str(value.get("id") or f"{self.stem}-{self.count}")
        user = _text(value.get("user") or self.defaults.user, where, "user")
        agent = _text(value.get("agent") or self.defaults.agent, where, "agent")
        if isinstance(value.get("sessions"), list):
            sessions = [
                self.session(f"{where}.sessions[{i}]", s, key, i)
                for i, s in enumerate(value["sessions"])
            ]
        elif isinstance(value.get("messages"), list):
            name = _text(value.get("session") or key, where, "session")
            sessions = [ImportSession(name, self.messages(where, value["messages"], None))]
        else:
            raise ImportFormatError(f"{where}: a conversation needs a messages or sessions list.")
        return Conversation(key, user, agent, sessions)

    def session(self, where: str, value: Any, key: str, index: int) -> ImportSession:
        if not isinstance(value, dict):
            raise ImportFormatError(f"{where}: a session must be an object with turns or messages.")
        turns = value.get("turns", value.get("messages"))
        if not isinstance(turns, list):
            raise ImportFormatError(f"{where}: a session needs a turns or messages list.")
        date = _timestamp(value["date"], f"{where}.date") if value.get("date") else None
        name = value.get("name") or f"{key}-session-{value.get('session', index + 1)}"
        return ImportSession(_text(name, where, "name"), self.messages(where, turns, date))

    def messages(self, where: str, values: list[Any], date: str | None) -> list[dict[str, Any]]:
        if not values:
            raise ImportFormatError(f"{where}: the message list is empty.")
        return [message(f"{where}[{i}]", v, date) for i, v in enumerate(values)]


def message(where: str, value: Any, date: str | None = None) -> dict[str, Any]:
    """The request JSON of one message or turn (a turn's id goes to ``metadata.turn_id``)."""
    if not isinstance(value, dict):
        raise ImportFormatError(f"{where}: a message must be an object.")
    out: dict[str, Any] = {"role": value.get("role", "user" if "speaker" in value else None)}
    if out["role"] not in ROLES:
        raise ImportFormatError(f"{where}: role must be one of {', '.join(ROLES)}.")
    content = value.get("content", value.get("text"))
    if content is not None and not isinstance(content, str):
        raise ImportFormatError(f"{where}: content must be a string.")
    if out["role"] in NEEDS_CONTENT and not (content or "").strip():
        raise ImportFormatError(f"{where}: a {out['role']} message needs non-empty content.")
    out["content"] = content
    name = value.get("name", value.get("speaker"))
    if name is not None:
        out["name"] = _text(name, where, "name")
    when = value.get("created_at", value.get("timestamp", date))
    if when is not None:
        out["created_at"] = _timestamp(when, where)
    out.update(_metadata(where, value))
    return out


def _metadata(where: str, value: dict[str, Any]) -> dict[str, Any]:
    metadata = value.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ImportFormatError(f"{where}: metadata must be an object.")
    metadata = dict(metadata or {})
    if "speaker" in value and value.get("id") is not None:
        metadata.setdefault("turn_id", str(value["id"]))
    return {"metadata": metadata} if metadata else {}


__all__ = [
    "Conversation",
    "Defaults",
    "ImportFormatError",
    "ImportSession",
    "load",
    "message",
]
