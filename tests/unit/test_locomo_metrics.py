"""The LoCoMo benchmark's reading of its data and its metrics, on a file of our own."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.locomo_baseline import fuse
from benchmarks.locomo_data import evidence_ids, load, session_time
from benchmarks.recall import ranked_turns, score

SAMPLE = [
    {
        "sample_id": "c1",
        "conversation": {
            "speaker_a": "Ana",
            "speaker_b": "Ben",
            "session_2_date_time": "9:05 am on 3 June, 2024",
            "session_2": [{"speaker": "Ben", "dia_id": "D2:1", "text": "Back from Oslo."}],
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [
                {"speaker": "Ana", "dia_id": "D1:1", "text": "Look at this."},
                {
                    "speaker": "Ben",
                    "dia_id": "D1:2",
                    "text": "Nice!",
                    "img_url": ["x"],
                    "blip_caption": "a photo of a red kayak",
                },
            ],
        },
        "qa": [
            {"question": "What did Ana show?", "evidence": ["D1:1; D1:2"], "category": 4},
            {"question": "Unanswerable", "evidence": [], "category": 5},
        ],
    }
]


def test_a_locomo_file_reads_into_sessions_turns_and_questions(tmp_path: Path) -> None:
    path = tmp_path / "sample.json"
    path.write_text(json.dumps(SAMPLE))
    conversations, questions = load(path)
    (c,) = conversations
    assert [s.number for s in c.sessions] == [1, 2]
    assert c.sessions[0].created_at == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    assert c.sessions[0].turns[1].text == "Nice! [shares a photo of a red kayak]"
    (q,) = questions  # a question without evidence is left out
    assert q.evidence == {"D1:1", "D1:2"} and q.category_name == "single-hop"


def test_evidence_entries_holding_several_ids_are_split() -> None:
    assert evidence_ids(["D8:6; D9:17", "D1:3"]) == {"D8:6", "D9:17", "D1:3"}
    assert session_time("12:09 am on 1 January, 2024").hour == 0


def test_a_result_standing_for_many_turns_takes_that_many_places() -> None:
    turns = ranked_turns([["D1:1", "D1:2", "D1:3"], ["D1:2", "D2:5"], ["D3:1"]])
    assert turns == ["D1:1", "D1:2", "D1:3", "D2:5", "D3:1"]
    s = score("x", frozenset({"D2:5", "D9:9"}), turns)
    assert s.recall[1] == 0.0 and s.recall[5] == 0.5 and s.all_at_10 == 0.0
    assert s.reciprocal_rank == 1 / 4


def test_reciprocal_rank_fusion_prefers_what_both_lists_rank_high() -> None:
    assert fuse([1, 2, 3], [2, 3, 1])[0] == 2
