"""`memfuse-server import` of ChatGPT's and Claude's exports: the branch shown, what is left out,
stable keys, files read one conversation at a time, and imports into a real server, twice.

The sample exports in tests/client/data are made up for these tests in the shape of the real
ones (conversations.json of each product), with the cases that matter: branches, hidden and
system nodes, tools, images, voice, reasoning, attachments, and an older Claude export."""

from __future__ import annotations

import copy
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest

from memfuse_server.importer import ImportFormatError, load
from memfuse_server.importer.claude import shown_branch
from memfuse_server.importer.conversation import Conversation, Defaults
from memfuse_server.importer.exports import MAX_CONTENT_CHARS
from memfuse_server.importer.formats import _records
from tests.client.test_import import _row, user_messages, write_json
from tests.serverproc import ServerProcess

DATA = Path(__file__).parent / "data"
CHATGPT = DATA / "chatgpt-conversations.json"
CLAUDE = DATA / "claude-conversations.json"
TRIP_ID = "0f1e2d3c-0000-4000-8000-000000000001"
CELLO_ID = "7a6b5c4d-0000-4000-8000-000000000001"
SENTINEL = "00000000-0000-4000-8000-000000000000"


def sessions(conversations: list[Conversation]) -> dict[str, list[tuple[str, str]]]:
    return {
        s.name: [(m["role"], m["content"]) for m in s.messages]
        for c in conversations
        for s in c.sessions
    }


def test_a_chatgpt_export_reads_as_the_branch_it_shows() -> None:
    conversations = load(CHATGPT, Defaults(user="ana", agent="chatgpt"))
    assert [(c.key, c.user, c.agent) for c in conversations] == [
        (TRIP_ID, "ana", "chatgpt"),
        ("0f1e2d3c-0000-4000-8000-000000000002", "ana", "chatgpt"),
        ("0f1e2d3c-0000-4000-8000-000000000003", "ana", "chatgpt"),
    ]
    assert sessions(conversations) == {
        f"Lisbon trip ({TRIP_ID})": [
            ("user", "I'm flying to Lisbon on May 3rd. What should I pack?"),
            ("assistant", "Pack light layers: May in Lisbon is mild, with cool evenings."),
            ("user", "Here is my suitcase: will it fit in the cabin?"),
            ("assistant", "Yes: 55 x 40 x 20 cm is within the usual cabin limit."),
            ("user", "Also remember that my sister Ana lives in Lisbon."),  # a voice message
            ("assistant", "Noted: your sister Ana lives in Lisbon."),
        ],
        "Untitled (0f1e2d3c-0000-4000-8000-000000000002)": [  # the edited prompt's branch
            ("user", "How tall is K2?"),
            ("assistant", "K2 is 8,611 m tall."),
        ],
    }  # the image-only conversation has nothing to import
    trip = conversations[0].sessions[0].messages
    assert trip[2]["metadata"] == {
        "source": "chatgpt",
        "message_id": "u-2",
        "omitted": ["image_asset_pointer"],
    }
    assert trip[1]["metadata"]["model"] == "gpt-4o"
    assert [m["created_at"] for m in trip] == [
        "2024-05-01T08:00:10+00:00",
        "2024-05-01T08:00:40+00:00",
        "2024-05-01T08:01:00+00:00",
        "2024-05-01T08:01:10+00:00",
        "2024-05-01T08:02:00+00:00",
        "2024-05-01T08:02:00+00:00",  # no time of its own: the one before it
    ]


def test_a_claude_export_keeps_text_blocks_and_the_branch_shown_last() -> None:
    conversations = load(CLAUDE)
    assert sessions(conversations) == {
        f"Cello lessons ({CELLO_ID})": [
            ("user", "I started cello lessons with Mr. Okafor this week."),
            ("assistant", "That's wonderful! How often are the lessons?"),
            ("user", "Every Tuesday at 6 pm, here is the schedule."),
            ("assistant", "Great: Tuesdays at 6 pm with Mr. Okafor."),  # not the retried reply
        ],
        "Untitled (7a6b5c4d-0000-4000-8000-000000000002)": [  # an older export: text only
            ("user", "My dog Biscuit turns five tomorrow."),
            ("assistant", "Happy early birthday to Biscuit!"),
        ],
    }
    schedule = conversations[0].sessions[0].messages[2]
    assert schedule == {
        "role": "user",
        "content": "Every Tuesday at 6 pm, here is the schedule.",
        "created_at": "2024-07-02T17:01:00.000000Z",
        "metadata": {
            "source": "claude",
            "message_id": "m-3",
            "attachments": ["schedule.txt"],
            "files": ["cello.jpg"],
        },
    }


def chat(uuid_: str, parent: str | None, created: str) -> dict[str, Any]:
    message = {"uuid": uuid_, "sender": "human", "text": uuid_, "created_at": created}
    return message | ({"parent_message_uuid": parent} if parent else {})


def test_claude_branches_follow_the_current_leaf_or_the_newest_message() -> None:
    edited_first = [
        chat("old-q", SENTINEL, "2024-01-01T10:00:00Z"),
        chat("old-a", "old-q", "2024-01-01T10:00:01Z"),
        chat("new-q", SENTINEL, "2024-01-01T10:05:00Z"),
        chat("new-a", "new-q", "2024-01-01T10:05:01Z"),
        chat("stray", "lost-parent", "2024-01-01T09:00:00Z"),  # its chain is broken: kept
    ]
    shown = [m["uuid"] for m in shown_branch(edited_first, None)]  # the newest message's
    assert shown == ["new-q", "new-a", "stray"]
    assert [m["uuid"] for m in shown_branch(edited_first, "old-a")] == ["old-q", "old-a", "stray"]
    plain = [chat("a", None, "2024-01-01T10:00:00Z"), chat("b", None, "2024-01-01T10:01:00Z")]
    assert shown_branch(plain, None) == plain  # no parents named: every message, in order


def test_keys_follow_the_export_not_the_file_or_the_position(tmp_path: Path) -> None:
    """A newer export, saved under another name, where the conversation went on: the messages
    it shared with the first keep their keys."""
    export = json.loads(CHATGPT.read_text())
    first = load(CHATGPT)[0].sessions[0]
    later = copy.deepcopy(export)
    trip = later[0]
    trip["mapping"]["a-3"]["children"] = ["u-4"]
    trip["mapping"]["u-4"] = {
        "id": "u-4",
        "parent": "a-3",
        "children": [],
        "message": {
            "id": "u-4",
            "author": {"role": "user"},
            "create_time": 1714560000.0,
            "content": {"content_type": "text", "parts": ["Ana's birthday is June 9th."]},
        },
    }
    trip["current_node"] = "u-4"
    trip["title"] = "Lisbon in May"
    again = load(write_json(tmp_path / "export-2024-06.json", later))[0].sessions[0]
    assert again.keys is not None and first.keys is not None
    assert again.keys[: len(first.keys)] == first.keys and len(again.keys) == len(first.keys) + 1
    assert (again.ref, again.name) == (TRIP_ID, f"Lisbon in May ({TRIP_ID})")


def test_a_message_over_the_api_limit_is_sent_in_parts(tmp_path: Path) -> None:
    export = json.loads(CLAUDE.read_text())[1]
    export["chat_messages"][0]["text"] = "x" * (MAX_CONTENT_CHARS + 10)
    (conversation,) = load(write_json(tmp_path / "long.json", [export]))
    session = conversation.sessions[0]
    assert [len(m["content"]) for m in session.messages] == [MAX_CONTENT_CHARS, 10, 32]
    assert [m["metadata"].get("part") for m in session.messages] == ["1/2", "2/2", None]
    assert session.keys is not None and len(set(session.keys)) == 3


def test_a_json_array_is_read_one_conversation_at_a_time(tmp_path: Path) -> None:
    """The first conversation comes out before the parser reaches the end of the file."""
    first = json.dumps(json.loads(CLAUDE.read_text())[1])
    path = tmp_path / "cut.json"
    path.write_text(f'[{first}, {{"uuid": "x", "chat_mess')
    records = _records(path)
    where, value = next(records)
    assert (where, value["uuid"]) == ("[0]", "7a6b5c4d-0000-4000-8000-000000000002")
    with pytest.raises(ImportFormatError, match="not valid JSON"):
        next(records)


def test_the_zip_file_of_an_export_is_read_as_downloaded(tmp_path: Path) -> None:
    archive = tmp_path / "chatgpt-export.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as packed:
        packed.writestr("chat.html", "<html></html>")
        packed.write(CHATGPT, "conversations.json")
    zipped, plain = load(archive), load(CHATGPT)
    assert sessions(zipped) == sessions(plain)
    assert [s.keys for c in zipped for s in c.sessions] == [
        s.keys for c in plain for s in c.sessions
    ]
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as packed:
        packed.writestr("user.json", "{}")
    with pytest.raises(ImportFormatError, match=r"holds no conversations\.json"):
        load(other)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK not really")
    with pytest.raises(ImportFormatError, match="not a zip file"):
        load(broken)


@pytest.mark.parametrize(
    ("export", "error"),
    [
        ([{"id": "c1", "mapping": []}], r"\[0\]: a ChatGPT conversation's mapping"),
        ([{"mapping": {}}], r"\[0\]: a ChatGPT conversation needs its id"),
        ([{"uuid": "c1", "chat_messages": {}}], r"\[0\]: a Claude conversation's chat_messages"),
        ([{"uuid": ["c1"], "chat_messages": []}], r"\[0\]: uuid must be a string"),
    ],
)
def test_a_wrong_export_is_refused_with_where_and_why(
    tmp_path: Path, export: Any, error: str
) -> None:
    with pytest.raises(ImportFormatError, match=error):
        load(write_json(tmp_path / "conversations.json", export))


# against a real server


@pytest.mark.parametrize(("export", "total"), [(CHATGPT, 8), (CLAUDE, 6)])
def test_an_export_imported_twice_adds_nothing_the_second_time(
    server: ServerProcess, tmp_path: Path, export: Path, total: int
) -> None:
    user = f"exp-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "conversations.json"
    path.write_bytes(export.read_bytes())
    command = ("import", str(path), "--url", server.base_url, "--user", user)
    first = server.cli(*command)
    assert first.returncode == 0, first.stderr
    assert _row(first.stdout, "new on the server") == str(total)
    stored = user_messages(server.api, user)
    assert stored == {name: [c for _, c in turns] for name, turns in sessions(load(path)).items()}

    again = server.cli(*command)
    assert again.returncode == 0, again.stderr
    assert _row(again.stdout, "sessions (created)").endswith("(0)")
    assert _row(again.stdout, "new on the server") == "0"
    assert user_messages(server.api, user) == stored


def test_a_newer_export_of_a_renamed_conversation_adds_only_what_is_new(
    server: ServerProcess, tmp_path: Path
) -> None:
    user = f"exp-{uuid.uuid4().hex[:8]}"
    command = ("--url", server.base_url, "--user", user)
    first = server.cli("import", str(CLAUDE), *command)
    assert first.returncode == 0, first.stderr
    later = json.loads(CLAUDE.read_text())
    later[0]["name"] = "Cello with Mr. Okafor"
    later[0]["chat_messages"].append(
        chat("m-6", "m-5", "2024-07-09T18:00:00.000000Z") | {"text": "Lesson two went well."}
    )
    again = server.cli("import", str(write_json(tmp_path / "newer.json", later)), *command)
    assert again.returncode == 0, again.stderr
    assert _row(again.stdout, "sessions (created)").endswith("(0)")  # found by its id
    assert _row(again.stdout, "new on the server") == "1"
    stored = user_messages(server.api, user)[f"Cello lessons ({CELLO_ID})"]
    assert stored[-1] == "Lesson two went well." and len(stored) == 5
