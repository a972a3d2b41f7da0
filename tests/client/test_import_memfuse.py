"""`memfuse-server import` of this server's own export (docs/export.md): what it reads, the
keys that make a re-run add nothing, and the files it refuses, saying where and why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from memfuse_server.importer import ImportFormatError, load

HEADER = {"type": "header", "format": "memfuse-export", "version": 1, "user": "maya"}
AGENT = {"type": "agent", "name": "coach", "description": "a running coach"}


def message(session: str, n: int, content: str, **extra: Any) -> dict[str, Any]:
    line = {"type": "message", "session": session, "n": n, "role": "user", "name": "Maya"}
    return (
        line
        | {"content": content, "metadata": {}, "created_at": "2024-03-02T18:20:00+00:00"}
        | extra
    )


def export(path: Path, *lines: dict[str, Any], end: bool = True) -> Path:
    body = [HEADER, {"type": "user", "name": "maya", "description": "runs"}, AGENT, *lines]
    body += [{"type": "end", "counts": {}}] if end else []
    path.write_text("".join(json.dumps(x) + "\n" for x in body))
    return path


def test_an_export_reads_as_one_session_each_with_knowledge_and_descriptions(
    tmp_path: Path,
) -> None:
    path = export(
        tmp_path / "maya.jsonl",
        {"type": "session", "name": "porto", "agent": "coach"},
        message("porto", 0, "I signed up for the Porto marathon."),
        message("porto", 1, "Still sore.", metadata={"a": 1}),
        {"type": "session", "name": "empty", "agent": "coach"},
        {"type": "knowledge", "content": "Maya likes figs."},
        {"type": "fact", "content": "Maya signed up.", "sources": [{"session": "porto", "n": 0}]},
    )
    porto, empty = load(path)
    assert (porto.user, porto.agent, porto.user_description) == ("maya", "coach", "runs")
    assert porto.agent_description == "a running coach"
    assert porto.knowledge == ("Maya likes figs.",) and empty.knowledge == ()
    assert [s.name for s in porto.sessions + empty.sessions] == ["porto", "empty"]
    assert porto.sessions[0].messages[1] == {
        "role": "user",
        "content": "Still sore.",
        "name": "Maya",
        "created_at": "2024-03-02T18:20:00+00:00",
        "metadata": {"a": 1},
    }
    assert empty.sessions[0].messages == []  # made, with nothing to send


def test_keys_name_the_message_not_its_place(tmp_path: Path) -> None:
    """Identical turns get keys of their own; a later export in which an earlier turn was
    deleted gives the turns it still has the keys they had."""
    session = {"type": "session", "name": "s", "agent": "coach"}
    first = load(
        export(
            tmp_path / "a.jsonl",
            session,
            message("s", 0, "ok"),
            message("s", 1, "ok"),
            message("s", 2, "bye"),
        )
    )[0].sessions[0]
    later = load(
        export(tmp_path / "b.jsonl", session, message("s", 0, "ok"), message("s", 1, "bye"))
    )[0].sessions[0]
    assert first.keys is not None and later.keys is not None
    assert len(set(first.keys)) == 3
    assert later.keys == [first.keys[0], first.keys[2]]


@pytest.mark.parametrize(
    ("lines", "end", "error"),
    [
        ([{"type": "session", "name": "s", "agent": "coach"}], False, "cut short"),
        ([message("s", 0, "hi")], True, "session 's' has no session line before it"),
        ([{"type": "session", "name": "s", "agent": "nobody"}], True, "agent 'nobody'"),
        ([{"type": "mystery"}], True, "'mystery' is not a line of the export format"),
        ([{"type": "session", "name": "", "agent": "coach"}], True, "non-empty string"),
        (
            [{"type": "session", "name": "s", "agent": "coach"}, message("s", 0, "x", role="bot")],
            True,
            "role must be one of",
        ),
    ],
)
def test_a_wrong_export_is_refused_with_where_and_why(
    tmp_path: Path, lines: list[dict[str, Any]], end: bool, error: str
) -> None:
    with pytest.raises(ImportFormatError, match=error):
        load(export(tmp_path / "bad.jsonl", *lines, end=end))


def test_a_newer_format_or_a_line_after_the_end_is_refused(tmp_path: Path) -> None:
    newer = tmp_path / "newer.jsonl"
    newer.write_text(json.dumps(HEADER | {"version": 2}) + "\n")
    with pytest.raises(ImportFormatError, match=r"version 2 of the export format.*upgrade"):
        load(newer)
    after = export(tmp_path / "after.jsonl")
    after.write_text(after.read_text() + json.dumps({"type": "knowledge", "content": "x"}) + "\n")
    with pytest.raises(ImportFormatError, match="line 5: a knowledge line after the end line"):
        load(after)
