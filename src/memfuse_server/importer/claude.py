"""Claude's export (``conversations.json``): each conversation a list of chat messages.

A conversation is ``{"uuid", "name", "created_at", "chat_messages": [...]}``; a message is
``{"uuid", "sender": "human" | "assistant", "text", "content": [block, ...], "created_at",
"attachments", "files", "parent_message_uuid"?}``. Older exports give the text in ``text``;
newer ones in ``content`` blocks (``{"type": "text", "text"}``, beside ``thinking``,
``tool_use``, ``tool_result``, ...), with ``text`` often empty.

What is kept: human (as ``user``) and assistant messages with text, in the export's order, the
text of their ``text`` blocks (else their ``text``). Left out: thinking, tool calls and their
results, and the contents of attachments and files, whose names are listed in
``metadata.attachments`` / ``metadata.files``. When messages name their parent
(``parent_message_uuid``) and an edit or a retry made a branch, only the branch shown last is
kept: the path through the parents to the conversation's ``current_leaf_message_uuid``, or
else to its newest message. Messages that branch off that path are left out; messages whose
parents lead nowhere near it (a broken chain) are kept.
"""

from __future__ import annotations

from typing import Any

from memfuse_server.importer.conversation import Conversation, Defaults
from memfuse_server.importer.exports import (
    ExportedMessage,
    exported_conversation,
    iso_time,
    opened,
)

SOURCE = "claude"
ROLES = {"human": "user", "assistant": "assistant"}


def is_claude(value: Any) -> bool:
    return isinstance(value, dict) and "chat_messages" in value


def _text(raw: dict[str, Any]) -> str:
    blocks = raw.get("content")
    texts = [
        b["text"]
        for b in blocks or []
        if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
    ]
    text = "\n\n".join(t for t in texts if t.strip())
    if not text.strip() and isinstance(raw.get("text"), str):
        text = raw["text"]
    return text.strip()


def _names(items: Any) -> list[str]:
    return [str(i.get("file_name") or "unnamed") for i in items or [] if isinstance(i, dict)]


def message(raw: Any, index: int, fallback_time: str | None) -> ExportedMessage | None:
    """One chat message as sent, or None when it has no text or no known sender."""
    if not isinstance(raw, dict) or raw.get("sender") not in ROLES:
        return None
    text = _text(raw)
    if not text:
        return None
    ident = str(raw.get("uuid") or f"#{index}")
    metadata: dict[str, Any] = {"source": SOURCE, "message_id": ident}
    for field in ("attachments", "files"):
        if names := _names(raw.get(field)):
            metadata[field] = names
    created = iso_time(raw.get("created_at")) or fallback_time
    return ExportedMessage(ident, ROLES[raw["sender"]], text, created, metadata)


def shown_branch(messages: list[Any], leaf: Any) -> list[Any]:
    """The messages not on a branch other than the one shown: the path to ``leaf`` (or to the
    newest message), and those whose parents never reach that path; in the export's order."""
    by_id = {m["uuid"]: m for m in messages if isinstance(m, dict) and m.get("uuid")}
    if not any(isinstance(m, dict) and m.get("parent_message_uuid") for m in messages):
        return messages
    if not isinstance(leaf, str) or leaf not in by_id:
        leaf = max(by_id, key=lambda u: str(by_id[u].get("created_at") or ""), default=None)
    path: set[str] = set()
    while isinstance(leaf, str) and leaf not in path:
        path.add(leaf)  # the root's parent too (a placeholder id): its other children branch
        leaf = by_id[leaf].get("parent_message_uuid") if leaf in by_id else None
    reaches: dict[str, bool] = {}
    return [m for m in messages if not _branches_off(m, path, by_id, reaches)]


def _branches_off(
    message: Any, path: set[str], by_id: dict[str, Any], reaches: dict[str, bool]
) -> bool:
    """Whether ``message`` is off the path but descends from it (another branch)."""
    if not isinstance(message, dict) or message.get("uuid") in path:
        return False
    walked: dict[str, None] = {}
    parent = message.get("parent_message_uuid")
    found = False
    while isinstance(parent, str) and parent not in walked:
        if parent in path or parent in reaches:
            found = parent in path or reaches[parent]
            break
        if parent not in by_id:
            break
        walked[parent] = None
        parent = by_id[parent].get("parent_message_uuid")
    for uuid in walked:  # remembered: a long conversation is walked once
        reaches[uuid] = found
    return found


def conversation(where: str, value: dict[str, Any], defaults: Defaults) -> Conversation:
    raw_messages, conversation_id = opened(
        where, value, "Claude", ("chat_messages", list), ("id", "uuid")
    )
    started = iso_time(value.get("created_at"))
    shown = shown_branch(raw_messages, value.get("current_leaf_message_uuid"))
    messages = [
        kept
        for index, raw in enumerate(shown)
        if (kept := message(raw, index, started)) is not None
    ]
    return exported_conversation(SOURCE, conversation_id, value.get("name"), messages, defaults)


__all__ = ["SOURCE", "conversation", "is_claude", "message", "shown_branch"]
