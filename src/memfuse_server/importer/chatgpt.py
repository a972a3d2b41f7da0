"""ChatGPT's export (``conversations.json``): each conversation a tree of message nodes.

A conversation is ``{"id" | "conversation_id", "title", "create_time", "current_node",
"mapping": {node_id: {"id", "parent", "children", "message"}}}``; a message is ``{"id",
"author": {"role"}, "create_time", "content": {"content_type", "parts"}, "metadata",
"recipient"}``. Editing a prompt or regenerating an answer adds a branch: the conversation as
ChatGPT shows it is the path from ``current_node`` up through the parents, read from the root.

What is kept of that path: user and assistant messages with text (``content_type`` ``text`` or
``multimodal_text``), addressed to everyone. Left out: nodes without a message, system messages
(custom instructions included), tool messages and an assistant's calls to tools (code, browsing,
images), hidden messages (``metadata.is_visually_hidden_from_conversation``), reasoning
(``thoughts``, ``reasoning_recap``) and other non-text content. Of a multimodal message the text
parts are kept (a voice message's transcription too) and the kinds of the others (an image) are
listed in ``metadata.omitted``.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from memfuse_server.importer.conversation import Conversation, Defaults
from memfuse_server.importer.exports import (
    ExportedMessage,
    epoch_time,
    exported_conversation,
    opened,
)

SOURCE = "chatgpt"
TEXT_CONTENT = ("text", "multimodal_text")
ROLES = ("user", "assistant")


def is_chatgpt(value: Any) -> bool:
    return isinstance(value, dict) and "mapping" in value


def current_branch(mapping: dict[str, Any], current: Any) -> list[tuple[str, dict[str, Any]]]:
    """(id, node) from the root to ``current`` (else to the newest message), through parents."""
    if not isinstance(current, str) or current not in mapping:
        current = _newest(mapping)
    path: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    while isinstance(current, str) and current in mapping and current not in seen:
        seen.add(current)
        node = mapping[current]
        if not isinstance(node, dict):
            break
        path.append((current, node))
        current = node.get("parent")
    return path[::-1]


def _newest(mapping: dict[str, Any]) -> str | None:
    def time_of(item: tuple[str, Any]) -> float:
        message = item[1].get("message") if isinstance(item[1], dict) else None
        when = message.get("create_time") if isinstance(message, dict) else None
        return float(when) if isinstance(when, int | float) else float("-inf")

    return max(mapping.items(), key=time_of)[0] if mapping else None


def _text(content: dict[str, Any]) -> tuple[str, list[str]]:
    """The text of a message's parts, and the kinds of the parts that are not text."""
    texts: list[str] = []
    omitted: list[str] = []
    for part in content.get("parts") or []:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            texts.append(part["text"])  # e.g. a voice message's audio_transcription
        elif isinstance(part, dict):
            omitted.append(str(part.get("content_type") or "unknown"))
    return "\n\n".join(t for t in texts if t.strip()).strip(), omitted


def _shown(message: Any) -> TypeGuard[dict[str, Any]]:
    """A user or assistant message to everyone, not hidden, with text content."""
    if not isinstance(message, dict):
        return False
    author = message.get("author")
    metadata = message.get("metadata")
    content = message.get("content")
    return (
        isinstance(author, dict)
        and author.get("role") in ROLES
        and message.get("recipient", "all") in ("all", None)
        and not (
            isinstance(metadata, dict) and metadata.get("is_visually_hidden_from_conversation")
        )
        and isinstance(content, dict)
        and content.get("content_type") in TEXT_CONTENT
    )


def message(
    node_id: str, node: dict[str, Any], fallback_time: str | None
) -> ExportedMessage | None:
    """The message of a node on the branch, or None when it is left out; without a time of its
    own it takes ``fallback_time`` (the message before it, or the conversation's start)."""
    raw = node.get("message")
    if not _shown(raw):
        return None
    text, omitted = _text(raw["content"])
    if not text:
        return None
    metadata: dict[str, Any] = {"source": SOURCE, "message_id": str(raw.get("id") or node_id)}
    extra = raw.get("metadata")
    model = extra.get("model_slug") if isinstance(extra, dict) else None
    if isinstance(model, str):
        metadata["model"] = model
    if omitted:
        metadata["omitted"] = omitted
    created = epoch_time(raw.get("create_time")) or fallback_time
    return ExportedMessage(metadata["message_id"], raw["author"]["role"], text, created, metadata)


def conversation(where: str, value: dict[str, Any], defaults: Defaults) -> Conversation:
    mapping, conversation_id = opened(
        where, value, "ChatGPT", ("mapping", dict), ("conversation_id", "id")
    )
    last_time = epoch_time(value.get("create_time"))  # for a message without a time of its own
    messages = []
    for node_id, node in current_branch(mapping, value.get("current_node")):
        kept = message(node_id, node, last_time)
        if kept is not None:
            messages.append(kept)
            last_time = kept.created_at
    return exported_conversation(SOURCE, conversation_id, value.get("title"), messages, defaults)


__all__ = ["SOURCE", "conversation", "current_branch", "is_chatgpt", "message"]
