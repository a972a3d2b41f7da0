"""`memfuse-server import`: the file formats, a full import, a re-run, and an interrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console

from memfuse_server.config import ClientSettings
from memfuse_server.importer import Defaults, ImportFormatError, import_concurrency, load
from memfuse_server.importer.display import summary_table
from memfuse_server.importer.run import ImportReport, message_key
from tests.serverproc import ServerProcess, free_port


def multi_session(user: str, sessions: int, turns: int) -> dict[str, Any]:
    """A conversation shaped like shared/data/devset.json's, owned by ``user``."""
    return {
        "id": f"conv-{user}",
        "user": user,
        "speakers": ["Maya", "Jonas"],
        "sessions": [
            {
                "session": s + 1,
                "date": f"2024-03-{s + 1:02d}T18:20:00+00:00",
                "turns": [
                    {
                        "id": f"A{s + 1}:{t + 1}",
                        "speaker": ("Maya", "Jonas")[t % 2],
                        "text": f"Session {s + 1}, turn {t + 1}: the marathon is in October.",
                    }
                    for t in range(turns)
                ],
            }
            for s in range(sessions)
        ],
    }


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value))
    return path


def user_messages(
    api: str, user_name: str, buffer_only: bool | None = None
) -> dict[str, list[str]]:
    """Session name -> message contents in time order, for the user of this name
    (``buffer_only`` True: those still in the session's open round window)."""
    with httpx.Client(base_url=api, timeout=30) as http:
        found = http.get("/users", params={"name": user_name})
        if found.status_code == 404:
            return {}
        user_id = found.json()["data"]["users"][0]["id"]
        sessions = http.get("/sessions", params={"user_id": user_id}).json()["data"]["sessions"]
        out = {}
        for s in sessions:
            params: dict[str, Any] = {"limit": 1000, "order": "asc"}
            if buffer_only is not None:
                params["buffer_only"] = buffer_only
            listed = http.get(f"/sessions/{s['id']}/messages", params=params).json()["data"]
            out[s["name"]] = [m["content"] for m in listed["messages"]]
        return out


def expected(conversation: dict[str, Any]) -> dict[str, list[str]]:
    return {
        f"{conversation['id']}-session-{s['session']}": [t["text"] for t in s["turns"]]
        for s in conversation["sessions"]
    }


# formats


def test_a_multi_session_file_reads_as_dated_sessions(tmp_path: Path) -> None:
    path = write_json(tmp_path / "dev.json", {"conversations": [multi_session("maya", 2, 3)]})
    (conv,) = load(path)
    assert (conv.key, conv.user, conv.agent) == ("conv-maya", "maya", "assistant")
    assert [s.name for s in conv.sessions] == ["conv-maya-session-1", "conv-maya-session-2"]
    first = conv.sessions[0].messages[0]
    assert first == {
        "role": "user",
        "content": "Session 1, turn 1: the marathon is in October.",
        "name": "Maya",
        "created_at": "2024-03-01T18:20:00+00:00",
        "metadata": {"turn_id": "A1:1"},
    }


def test_chat_conversations_in_jsonl_and_openai_lists(tmp_path: Path) -> None:
    chat = {
        "user": "ann",
        "session": "trip",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi", "name": "Ann", "created_at": "2024-01-02T10:00:00Z"},
            {"role": "assistant", "content": None, "metadata": {"tool_calls": []}},
        ],
    }
    bare = [{"role": "user", "content": "A line that is only a list of messages."}]
    path = tmp_path / "chats.jsonl"
    path.write_text(json.dumps(chat) + "\n\n" + json.dumps(bare) + "\n")
    first, second = load(path, Defaults(user="bob", agent="helper"))
    assert (first.user, first.agent, first.sessions[0].name) == ("ann", "helper", "trip")
    assert first.sessions[0].messages[1]["created_at"] == "2024-01-02T10:00:00Z"
    assert first.sessions[0].messages[2] == {
        "role": "assistant",
        "content": None,
        "metadata": {"tool_calls": []},
    }
    assert (second.user, second.key, second.sessions[0].name) == ("bob", "chats-2", "chats-2")
    whole = write_json(tmp_path / "one.json", bare)
    assert [c.message_count for c in load(whole)] == [1]


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (
            '{"messages": [{"role": "user", "content": "ok"}]}\n{"messages": [{"role": "robot"}]}',
            "line 2[0]: role must be one of",
        ),
        ('{"messages": [{"role": "user", "content": "  "}]}', "needs non-empty content"),
        (
            '{"messages": [{"role": "user", "content": "x", "created_at": "May"}]}',
            "not an ISO-8601 time",
        ),
        ('{"sessions": [{"turns": []}]}', "the message list is empty"),
        ("{not json", "not valid JSON"),
        ('{"name": "nothing here"}', "needs a messages or sessions list"),
    ],
)
def test_a_wrong_file_is_refused_with_where_and_why(
    tmp_path: Path, content: str, error: str
) -> None:
    path = tmp_path / ("bad.jsonl" if "\n" in content else "bad.json")
    path.write_text(content)
    with pytest.raises(ImportFormatError, match=error.replace("[", r"\[")):
        load(path)


def test_keys_are_stable_and_distinct() -> None:
    key = message_key("dev.json", "conv-1", "s1", 0)
    assert key == message_key("dev.json", "conv-1", "s1", 0)
    assert (
        len(
            {
                key,
                message_key("dev.json", "conv-1", "s1", 1),
                message_key("dev.json", "conv-1", "s2", 0),
                message_key("other.json", "conv-1", "s1", 0),
            }
        )
        == 4
    )


# the command against a real server


def test_dry_run_sends_nothing(server: ServerProcess, tmp_path: Path) -> None:
    user = f"dry-{uuid.uuid4().hex[:8]}"
    path = write_json(tmp_path / "dev.json", [multi_session(user, 2, 3)])
    done = server.cli("import", str(path), "--url", server.base_url, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "Dry run" in done.stdout and "6" in done.stdout
    assert user_messages(server.api, user) == {}


def test_import_then_again_adds_nothing_the_second_time(
    server: ServerProcess, tmp_path: Path
) -> None:
    user = f"imp-{uuid.uuid4().hex[:8]}"
    conversation = multi_session(user, 4, 9)
    path = write_json(tmp_path / "history.json", {"conversations": [conversation]})
    first = server.cli("import", str(path), "--url", server.base_url, "--concurrency", "4")
    assert first.returncode == 0, first.stderr
    assert "new on the server" in first.stdout
    assert user_messages(server.api, user) == expected(conversation)
    # every session's last window was closed at the end: nothing waits for the idle time
    assert all(not left for left in user_messages(server.api, user, buffer_only=True).values())

    again = server.cli("import", str(path), "--url", server.base_url, "--adaptive")
    assert again.returncode == 0, again.stderr
    assert _row(again.stdout, "new on the server") == "0"
    assert _row(again.stdout, "accepted by the server") == "36"
    assert _row(again.stdout, "concurrency").startswith("adaptive, max 50,")  # not told a max
    assert user_messages(server.api, user) == expected(conversation)


def _row(table: str, label: str) -> str:
    line = next(line for line in table.splitlines() if label in line)
    return line.split("│")[-2].strip()


def test_an_interrupted_import_finishes_on_the_next_run_without_duplicates(
    server: ServerProcess, tmp_path: Path
) -> None:
    user = f"int-{uuid.uuid4().hex[:8]}"
    conversation = multi_session(user, 3, 80)
    path = write_json(tmp_path / "big.json", conversation)
    total = 240
    command = [sys.executable, "-m", "memfuse_server", "import", str(path)]
    command += ["--url", server.base_url, "--concurrency", "1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUSE_")}
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while sum(map(len, user_messages(server.api, user).values())) < 20:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the import did not start"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in out
    partial = sum(map(len, user_messages(server.api, user).values()))
    assert 20 <= partial < total
    # The summary accounts for the server's count: accepted, plus at most what was in flight.
    accepted = int(_row(out, "accepted by the server"))
    cut_off = int(_row(out, "in flight at Ctrl-C (may be stored)"))
    assert cut_off <= 1  # --concurrency 1
    assert accepted <= partial <= accepted + cut_off

    again = server.cli("import", str(path), "--url", server.base_url)
    assert again.returncode == 0, again.stderr
    assert _row(again.stdout, "new on the server") == str(total - partial)
    assert user_messages(server.api, user) == expected(conversation)


def test_usage_errors_and_an_unreachable_server(server: ServerProcess, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"messages": [{"role": "robot", "content": "x"}]}')
    refused = server.cli("import", str(bad))
    assert refused.returncode == 2 and "role must be one of" in refused.stderr
    good = write_json(tmp_path / "good.json", [{"role": "user", "content": "hi"}])
    too_many = server.cli("import", str(good), "--concurrency", "51")
    assert too_many.returncode == 2 and "between 1 and 50" in too_many.stderr
    env = {**os.environ, "MEMFUSE_CLIENT__MAX_RETRIES": "0"}
    url = f"http://127.0.0.1:{free_port()}"
    down = subprocess.run(
        [sys.executable, "-m", "memfuse_server", "import", str(good), "--url", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert down.returncode == 1 and "cannot reach the server" in down.stderr


def test_held_back_messages_are_counted_apart_and_the_import_is_not_done() -> None:
    report = ImportReport(conversations=1, sessions=2, messages=10, accepted=6, held_back=3)
    report.failures.append(("conv-1-session-1[4]", "cannot reach the server"))
    console = Console(width=100, record=True)
    console.print(summary_table(report))
    text = console.export_text()
    cells = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in text.splitlines()
        if line.count("│") == 3
    }
    assert cells["held back (their session stopped at a failure)"] == "3"
    assert cells["failed"] == "1" and not report.ok


def test_adaptive_may_go_to_the_maximum_unless_a_limit_was_given_or_configured() -> None:
    default, configured = ClientSettings(), ClientSettings(max_concurrency=7)
    assert import_concurrency(default, None, adaptive=True) == 50
    assert import_concurrency(default, None, adaptive=False) == 10
    assert import_concurrency(configured, None, adaptive=True) == 7
    assert import_concurrency(default, 20, adaptive=True) == 20
