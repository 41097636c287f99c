"""The embedded demo term: deterministic, realistic, and clean through the raw ingest."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from canvas_pipeline.data import raw_shapes
from canvas_pipeline.data.demo_term import (
    COURSES_FILE,
    MIN_URGENCY_DIFF,
    PAIRS_FILE,
    DemoTermConfig,
    demo_now,
    urgency_score,
    write_demo_term,
)
from canvas_pipeline.data.ingest import RawCanvas, ingest_raw_dir

CONFIG = DemoTermConfig()
EXAM_TITLE = re.compile(r"^(Midterm( Exam)? \d|Test \d|Exam \d|Final Exam)$")


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    write_demo_term(out, CONFIG)
    return out


@pytest.fixture(scope="module")
def raw(demo_dir: Path) -> RawCanvas:
    return ingest_raw_dir(demo_dir)


@pytest.fixture(scope="module")
def courses(demo_dir: Path) -> list[dict]:
    return json.loads((demo_dir / COURSES_FILE).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pair_records(demo_dir: Path) -> list[dict]:
    lines = (demo_dir / PAIRS_FILE).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_writes_two_sorted_files(tmp_path: Path) -> None:
    paths = write_demo_term(tmp_path, DemoTermConfig(n_pairs=5))
    assert paths == sorted(paths) == [tmp_path / COURSES_FILE, tmp_path / PAIRS_FILE]
    assert sorted(p.name for p in tmp_path.iterdir()) == [COURSES_FILE, PAIRS_FILE]  # no temp files left


def test_same_seed_gives_identical_bytes_and_other_seed_differs(demo_dir: Path, tmp_path: Path) -> None:
    again = write_demo_term(tmp_path / "again", CONFIG)
    for path in again:
        assert path.read_bytes() == (demo_dir / path.name).read_bytes()
    other = write_demo_term(tmp_path / "other", DemoTermConfig(seed=1))
    for path in other:
        assert path.read_bytes() != (demo_dir / path.name).read_bytes()


def test_ingest_quarantines_nothing(raw: RawCanvas) -> None:
    assert raw.quarantine.rows == []
    assert raw.report.rows_in == raw.report.rows_out
    assert raw.report.extra["header_records"] == 1


def test_term_is_realistic(raw: RawCanvas) -> None:
    items = raw.items
    assert items["course_id"].n_unique() == CONFIG.n_courses
    assert items.height >= 150
    assert set(items["term"]) == {CONFIG.term_name}
    assert set(items["source_kind"]) == {"canvas_api"}
    per_course = items.group_by("course_id").len()["len"]
    assert per_course.min() >= 15 and per_course.max() <= 45
    assert all(100_000 <= cid <= 999_999 for cid in items["course_id"])
    kinds = set(items["item_kind"])
    assert kinds == {"assignment", "quiz", "discussion"}
    types = {kind: items.filter(pl.col("item_kind") == kind)["submission_types"].to_list() for kind in kinds}
    assert all(t == ["discussion_topic"] for t in types["discussion"])
    assert all(t == ["online_quiz"] for t in types["quiz"])
    assert 1 <= items["due_at"].null_count() <= 10
    assert set(items["submission_state"]) == {"graded", "submitted", "unsubmitted"}
    assert items["points"].min() >= 1 and items["points"].max() <= 300
    assert not items["title"].str.contains("@").any()  # no emails or handles in demo content


def test_exams_are_flagged(raw: RawCanvas) -> None:
    items = raw.items
    looks_like_exam = items["title"].str.contains(EXAM_TITLE.pattern)
    assert (looks_like_exam == items["is_exam"]).all()
    exams = items.filter(pl.col("is_exam"))
    per_course = exams.group_by("course_id").agg(pl.col("title"))
    assert per_course.height >= 3
    for titles in per_course["title"]:
        assert len(titles) == 3 and "Final Exam" in titles
    assert exams["points"].min() >= 100
    assert "Midterm 1" in set(exams["title"])
    assert not items.filter(pl.col("title") == "Exam Review Quiz")["is_exam"].any()


def test_submission_state_follows_the_clock(raw: RawCanvas) -> None:
    now = demo_now(CONFIG)
    items = raw.items
    later = items.filter(pl.col("due_at") > now)
    assert later.height > 0 and set(later["submission_state"]) == {"unsubmitted"}
    past = items.filter(pl.col("due_at") <= now)
    done = past.filter(pl.col("submission_state") != "unsubmitted").height
    assert done >= 0.85 * past.height and done < past.height  # mostly done, a few missing
    assert set(past.filter(pl.col("is_exam"))["submission_state"]) == {"graded"}


def test_due_times_are_realistic(raw: RawCanvas) -> None:
    start = datetime.combine(CONFIG.term_start, datetime.min.time(), tzinfo=UTC)
    due = raw.items["due_at"].drop_nulls().to_list()
    assert min(due) >= start and max(due) <= start + timedelta(weeks=CONFIG.weeks)
    local = ZoneInfo("America/New_York")
    nightly = [d for d in due if d.astimezone(local).strftime("%H:%M:%S") == "23:59:59"]
    assert len(nightly) >= 0.6 * len(due)
    # 11:59:59 pm Eastern in UTC: summer time before November, winter time after
    assert {d.strftime("%H:%M:%S") for d in nightly} == {"03:59:59", "04:59:59"}


def test_pairs_prefer_the_more_urgent_item(raw: RawCanvas, pair_records: list[dict]) -> None:
    pairs = raw.pairs
    assert pairs.height == CONFIG.n_pairs
    winner = pl.when(pl.col("preferred") == "A").then(pl.col("a_urgency")).otherwise(pl.col("b_urgency"))
    loser = pl.when(pl.col("preferred") == "A").then(pl.col("b_urgency")).otherwise(pl.col("a_urgency"))
    gaps = pairs.select((winner - loser).alias("gap"))["gap"]
    assert gaps.min() >= MIN_URGENCY_DIFF
    assert set(pairs["preferred"]) == {"A", "B"}
    assert set(raw.pair_courses) == {f"COURSE{i:03d}" for i in range(1, CONFIG.n_courses + 1)}
    for record in pair_records[1:]:
        a, b = record["item_a"], record["item_b"]
        assert record["query"] == f'Which should I work on first: "{a["anon_title"]}" or "{b["anon_title"]}"?'
        for item in (a, b):
            recomputed = urgency_score(
                item["points"],
                item["hours_until"],
                submitted=item["submitted"],
                is_exam=item["type"] == "exam",
                is_extra_credit=item["is_extra_credit"],
            )
            assert recomputed == item["urgency_score"]
        assert record["winner_urgency"] == max(a["urgency_score"], b["urgency_score"])


def test_files_fit_the_raw_shapes(courses: list[dict], pair_records: list[dict]) -> None:
    ids = [a["id"] for c in courses for a in c["assignments"]]
    assert len(ids) == len(set(ids))
    for course in courses:
        assert raw_shapes.first_violation(raw_shapes.API_COURSE, course) is None
        for assignment in course["assignments"]:
            assert raw_shapes.first_violation(raw_shapes.API_ASSIGNMENT, assignment) is None
            due = assignment["due_at"]
            assert due is None or re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", due)
    metadata, *pairs = pair_records
    assert raw_shapes.first_violation(raw_shapes.PAIR_METADATA, metadata) is None
    assert set(metadata["course_map"]) == {str(c["id"]) for c in courses}
    for pair in pairs:
        assert raw_shapes.first_violation(raw_shapes.PAIR_RECORD, pair) is None


def test_other_sizes_ingest_cleanly(tmp_path: Path) -> None:
    config = DemoTermConfig(
        seed=7, term_name="2027 Spring", term_start=date(2027, 1, 18), weeks=10, n_courses=12, n_pairs=60
    )
    write_demo_term(tmp_path, config)
    raw = ingest_raw_dir(tmp_path)
    assert raw.quarantine.rows == []
    assert raw.items["course_id"].n_unique() == 12
    assert raw.pairs.height == 60
    assert raw.items["course_code"].str.ends_with("_202701").all()


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError):
        DemoTermConfig(weeks=3)
    with pytest.raises(ValueError):
        DemoTermConfig(n_courses=0)
    with pytest.raises(ValueError, match="cannot draw"):
        write_demo_term(Path("/nonexistent-never-written"), DemoTermConfig(n_courses=1, n_pairs=1_000))
