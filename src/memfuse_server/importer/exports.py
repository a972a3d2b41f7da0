"""What the ChatGPT and Claude export readers share: one session per exported conversation.

An export's conversation becomes a ``Conversation`` with one ``ImportSession`` named
``"<title> (<conversation id>)"``, so a re-run finds it by name, and by the id alone when the
conversation was renamed since (``ImportSession.ref``). Each message's idempotency key is made
from the export (which product, the conversation's id, the message's own id), not from the
file's name or the message's position: a newer export of the same account, saved anywhere under
any name, adds only what is new, and a conversation continued or edited since keeps the keys of
the messages it still shows.

A message longer than the API takes (``MAX_CONTENT_CHARS``) is sent as consecutive parts, each
with ``metadata.part`` = ``"i/n"``, rather than refused or cut.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from memfuse_server.importer.conversation import (
    Conversation,
    Defaults,
    ImportFormatError,
    ImportSession,
    message_key,
)

MAX_CONTENT_CHARS = 100_000  # the API's limit on one message's content (api/schemas.py)
MAX_NAME_CHARS = 255  # the API's limit on a session's name


@dataclass
class ExportedMessage:
    """One turn of an export, as it will be sent."""

    id: str
    role: str  # user or assistant
    text: str
    created_at: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def epoch_time(value: Any) -> str | None:
    """A Unix time in seconds (ChatGPT's ``create_time``) as ISO-8601 UTC; None if absent."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def iso_time(value: Any) -> str | None:
    """An ISO-8601 time (Claude's ``created_at``) as given, if it reads as one."""
    if not isinstance(value, str):
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return None
    return value


def session_name(title: Any, conversation_id: str) -> str:
    """``"<title> (<id>)"`` on one line, the title shortened to fit the API's limit."""
    words = " ".join(str(title).split()) if isinstance(title, str) else ""
    suffix = f" ({conversation_id})"
    room = MAX_NAME_CHARS - len(suffix)
    return (words or "Untitled")[:room].rstrip() + suffix


def _parts(text: str) -> list[str]:
    return [text[i : i + MAX_CONTENT_CHARS] for i in range(0, len(text), MAX_CONTENT_CHARS)]


def _requests(source: str, conversation_id: str, m: ExportedMessage) -> Iterator[tuple[str, Any]]:
    """(key, request JSON) of one message: several for a message over the API's limit."""
    parts = _parts(m.text)
    for i, text in enumerate(parts):
        metadata = {**m.metadata, "part": f"{i + 1}/{len(parts)}"} if len(parts) > 1 else m.metadata
        body: dict[str, Any] = {"role": m.role, "content": text, "metadata": metadata}
        if m.created_at is not None:
            body["created_at"] = m.created_at
        message_id = m.id if i == 0 else f"{m.id}#{i + 1}"
        yield message_key(source, conversation_id, message_id), body


def exported_conversation(
    source: str,
    conversation_id: str,
    title: Any,
    messages: Sequence[ExportedMessage],
    defaults: Defaults,
) -> Conversation:
    """The conversation to import: one session, or none when no message has text."""
    if not messages:
        return Conversation(conversation_id, defaults.user, defaults.agent, [])
    keys, bodies = [], []
    for m in messages:
        for key, body in _requests(source, conversation_id, m):
            keys.append(key)
            bodies.append(body)
    name = session_name(title, conversation_id)
    session = ImportSession(name, bodies, keys=keys, ref=conversation_id)
    return Conversation(conversation_id, defaults.user, defaults.agent, [session])


def opened(
    where: str,
    value: dict[str, Any],
    product: str,
    body: tuple[str, type],
    id_fields: tuple[str, ...],
) -> tuple[Any, str]:
    """A conversation's messages (field ``body[0]``, checked to be a ``body[1]``) and its id
    (the first of ``id_fields`` present, named by the last); ``ImportFormatError`` otherwise."""
    field, kind = body
    messages = value[field]
    if not isinstance(messages, kind):
        shape = "an object" if kind is dict else "a list"
        raise ImportFormatError(f"{where}: a {product} conversation's {field} must be {shape}.")
    ident = next((value[f] for f in id_fields if value.get(f) is not None), None)
    if ident is None:
        raise ImportFormatError(f"{where}: a {product} conversation needs its {id_fields[-1]}.")
    return messages, text_of(ident, where, id_fields[-1])


def text_of(value: Any, where: str, what: str) -> str:
    """An id or a title that must be a string (or a number) when present."""
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    raise ImportFormatError(f"{where}: {what} must be a string, not {type(value).__name__}.")


__all__ = [
    "MAX_CONTENT_CHARS",
    "ExportedMessage",
    "epoch_time",
    "exported_conversation",
    "iso_time",
    "opened",
    "session_name",
    "text_of",
]
