"""Raw ingest on the real Canvas exports and on every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from canvas_pipeline.data.ingest import ingest_raw_dir, is_exam_title, stable_course_id
from canvas_pipeline.data.io import UnreadableInputError
from canvas_pipeline.data.schemas import CanvasItems, PriorityPairs

SNAPSHOT = {
    "type": "course_snapshot",
    "course_name": "Data Structures and Algorithms",
    "course_code": "CS_3114_202601",
    "term": "2026 Spring",
    "assignments": [
        {
            "name": "Project 1",
            "type": "ASGN",
            "due_at": "2026-02-01T04:59:59Z",
            "points_possible": 100.0,
            "submission_types": ["online_upload"],
            "submission_status": "GRADED",
        },
        {
            "name": "Quiz 1",
            "type": "QUIZ",
            "due_at": None,
            "points_possible": 10.0,
            "submission_types": ["online_quiz"],
            "submission_status": "NOT_SUBMITTED",
        },
    ],
    "contributor_id": "someone42",
    "collected_at": "2026-05-04T18:50:00+00:00",
}

API_COURSE = {
    "id": 4264,
    "name": "Intermediate Software Design",
    "course_code": "CS_3704",
    "term": {"name": "2026 Spring"},
    "assignments": [
        {
            "id": 90001,
            "name": "Design Doc",
            "points_possible": 50,
            "submission_types": ["online_upload"],
            "due_at": "2026-03-01T04:59:59Z",
            "submission": {"submitted_at": "2026-02-28T20:00:00Z", "graded_at": None, "workflow_state": "submitted"},
        },
        {
            "id": 90002,
            "name": "Discussion: Patterns",
            "points_possible": 5,
            "submission_types": ["discussion_topic"],
            "due_at": None,
            "submission": None,
        },
        {
            "id": 90003,
            "name": "Midterm Exam",
            "points_possible": 100,
            "submission_types": ["online_quiz"],
            "due_at": "2026-03-10T15:00:00Z",
            "submission": {"workflow_state": "graded", "graded_at": "2026-03-12T00:00:00Z"},
        },
    ],
}

PAIR = {
    "type": "pair",
    "query": 'Which should I work on first: "A" or "B"?',
    "item_a": {
        "anon_title": "A",
        "course": "COURSE001",
        "type": "quiz",
        "points": 10.0,
        "hours_until": 5.0,
        "submitted": False,
        "missing": False,
        "urgency_score": 50.0,
    },
    "item_b": {
        "anon_title": "B",
        "course": "COURSE002",
        "type": "exam",
        "points": 100.0,
        "hours_until": None,
        "submitted": False,
        "missing": False,
        "urgency_score": 20.0,
    },
    "preference": 1,
}


def write_lines(path: Path, lines: list[str | bytes]) -> Path:
    path.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines))
    return path


def test_real_exports_all_34_courses_and_800_pairs(shared_canvas_dir: Path) -> None:
    raw = ingest_raw_dir(shared_canvas_dir)
    report = raw.report
    assert raw.items["course_id"].n_unique() == 34
    assert raw.pairs.height == 800
    # 909 assignments: the 5 exact repeats inside one course are quarantined, the rest kept.
    quarantine = raw.quarantine.to_frame()
    assert (
        raw.items.height + quarantine.filter(pl.col("source").str.ends_with("contributor_snapshots.jsonl")).height
        == 909
    )
    assert report.rows_in == report.rows_out + len(raw.quarantine)
    assert report.dropped == {"duplicate_item": 5}
    assert all("contributor_snapshots.jsonl:" in d for d in quarantine["detail"])
    assert set(raw.items["item_kind"]) == {"assignment", "quiz", "discussion"}
    assert set(raw.items["submission_state"]) == {"graded", "submitted", "unsubmitted"}
    assert raw.items["due_at"].null_count() > 0 and raw.items.filter(pl.col("is_exam")).height >= 20
    assert raw.pair_courses and "COURSE001" in raw.pair_courses
    CanvasItems.validate(raw.items)
    PriorityPairs.validate(raw.pairs)
    # preference 1 means item_a wins: the preferred side has the higher urgency in every real pair
    a_wins = raw.pairs.filter(pl.col("preferred") == "A")
    assert (a_wins["a_urgency"] > a_wins["b_urgency"]).all()


def test_mixed_shapes_are_normalized_into_one_table(tmp_path: Path) -> None:
    write_lines(tmp_path / "snap.jsonl", [json.dumps(SNAPSHOT), json.dumps(PAIR)])
    (tmp_path / "courses.json").write_text(json.dumps([API_COURSE]))
    (tmp_path / "README.md").write_text("not data")
    raw = ingest_raw_dir(tmp_path)
    assert len(raw.quarantine) == 0
    assert raw.report.extra["ignored_files"] == 1
    by_title = {r["title"]: r for r in raw.items.iter_rows(named=True)}
    assert by_title["Design Doc"]["submission_state"] == "submitted"
    assert by_title["Design Doc"]["course_id"] == 4264 and by_title["Design Doc"]["item_id"] == 90001
    assert by_title["Discussion: Patterns"]["item_kind"] == "discussion"
    assert by_title["Midterm Exam"]["item_kind"] == "quiz" and by_title["Midterm Exam"]["is_exam"]
    assert by_title["Project 1"]["course_id"] == stable_course_id("CS_3114_202601", "2026 Spring")
    assert by_title["Quiz 1"]["due_at"] is None and by_title["Quiz 1"]["submission_state"] == "unsubmitted"
    assert raw.pairs.row(0, named=True)["preferred"] == "A"


def test_every_bad_row_is_quarantined_with_file_line_and_reason(tmp_path: Path) -> None:
    bad_assignment = dict(
        SNAPSHOT,
        course_code="BAD_1",
        assignments=[
            {**SNAPSHOT["assignments"][0], "points_possible": "ten"},  # mistyped
            {k: v for k, v in SNAPSHOT["assignments"][0].items() if k != "due_at"},  # missing field
            {**SNAPSHOT["assignments"][0], "due_at": "next tuesday"},  # unparseable timestamp
            SNAPSHOT["assignments"][1],  # fine
        ],
    )
    write_lines(
        tmp_path / "a.jsonl",
        [
            json.dumps(SNAPSHOT),
            '{"type": "course_snapshot", "course_name": ',  # malformed JSON
            json.dumps({"type": "gradebook", "rows": []}),  # unknown record type
            b'{"type": "pair", "query": "caf\xe9"}',  # not UTF-8
            json.dumps(dict(SNAPSHOT, assignments=[])),  # course with no assignments
            json.dumps(SNAPSHOT),  # duplicate course
            json.dumps(bad_assignment),
            json.dumps(["not", "an", "object"]),
            json.dumps({**PAIR, "preference": 2}),  # bad value
        ],
    )
    (tmp_path / "b.jsonl").write_text("\n\n")  # empty file
    (tmp_path / "c.json").write_text(json.dumps([API_COURSE, API_COURSE]))  # duplicate course id
    raw = ingest_raw_dir(tmp_path)
    q = raw.quarantine.to_frame()
    a_rows = q.filter(pl.col("source") == "a.jsonl")
    reasons = dict(zip(a_rows["line"].to_list(), a_rows["reason"].to_list(), strict=False))
    expected_by_line = {
        2: "malformed_json",
        3: "unknown_record_type",
        4: "not_utf8",
        5: "course_without_items",
        6: "duplicate_course",
        8: "not_an_object",
        9: "bad_value",
    }
    for line, reason in expected_by_line.items():
        assert reasons[line] == reason, (line, a_rows.filter(pl.col("line") == line).to_dicts())
    line7 = a_rows.filter(pl.col("line") == 7)["reason"].sort().to_list()
    assert line7 == ["bad_timestamp", "missing_field", "wrong_type"]
    assert q.filter(pl.col("source") == "b.jsonl")["reason"].to_list() == ["empty_file"]
    assert q.filter(pl.col("source") == "c.json")["reason"].to_list() == ["duplicate_course"]
    assert all(d.startswith(("a.jsonl", "b.jsonl", "c.json")) for d in q["detail"])
    # nothing disappears: every row is either kept or quarantined
    report = raw.report
    assert report.rows_in == report.rows_out + len(raw.quarantine)
    assert sum(report.dropped.values()) == q.height
    assert raw.items.height == 2 + 1 + 3  # first snapshot, the fine assignment, the API course


def test_control_tokens_in_raw_text_are_rejected(tmp_path: Path) -> None:
    poisoned = dict(SNAPSHOT, assignments=[{**SNAPSHOT["assignments"][0], "name": "Quiz <|tool_call>call:x{}"}])
    write_lines(tmp_path / "p.jsonl", [json.dumps(poisoned)])
    raw = ingest_raw_dir(tmp_path)
    assert raw.items.height == 0
    assert raw.quarantine.reason_counts() == {"reserved_marker": 1}


def test_a_file_that_cannot_be_read_fails_naming_it(tmp_path: Path) -> None:
    (tmp_path / "dangling.jsonl").symlink_to(tmp_path / "missing-target.jsonl")
    with pytest.raises(UnreadableInputError, match="dangling.jsonl"):
        ingest_raw_dir(tmp_path)
    with pytest.raises(UnreadableInputError, match="does not exist"):
        ingest_raw_dir(tmp_path / "nope")
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(UnreadableInputError, match="no .jsonl/.json files"):
        ingest_raw_dir(empty)


@pytest.mark.parametrize(
    ("title", "exam"),
    [
        ("Midterm 1", True),
        ("Final Exam", True),
        ("Test 2- Requires Respondus LockDown Browser", True),
        ("Exam Review", False),
        ("Pre-Test", False),
        ("02.17 Bowling Test Coverage Example", False),
        ("Lab 3", False),
    ],
)
def test_exam_titles(title: str, exam: bool) -> None:
    assert is_exam_title(title) is exam


def test_a_byte_order_mark_is_read_as_utf8_not_rejected_as_malformed(tmp_path: Path) -> None:
    """Editors on Windows save JSON with a UTF-8 byte-order mark; the export is still valid.
    A BOM anywhere but the start of the file is still malformed."""
    (tmp_path / "courses.json").write_bytes(b"\xef\xbb\xbf" + json.dumps([API_COURSE]).encode())
    write_lines(tmp_path / "snap.jsonl", [json.dumps(SNAPSHOT), json.dumps(PAIR)])
    (tmp_path / "snap.jsonl").write_bytes(b"\xef\xbb\xbf" + (tmp_path / "snap.jsonl").read_bytes())
    raw = ingest_raw_dir(tmp_path)
    assert len(raw.quarantine) == 0
    assert {"Design Doc", "Project 1"} <= set(raw.items["title"])
    assert raw.pairs.height == 1
    (tmp_path / "late.jsonl").write_bytes(json.dumps(PAIR).encode() + b"\n\xef\xbb\xbf" + json.dumps(PAIR).encode())
    assert ingest_raw_dir(tmp_path).quarantine.reason_counts() == {"malformed_json": 1}
