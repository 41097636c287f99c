"""Course-name augmentation on the real Canvas exports' phase-1 rows: a swapped row names
no course of the data (train or held-out), renames each course the same way everywhere in
the conversation, keeps every course id and call, and still renders and parses back."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from canvas_pipeline.data import stages
from canvas_pipeline.tools.chat_format import message_calls, render_conversation
from canvas_pipeline.tools.codec import parse_calls
from canvas_pipeline.training.course_swap import Course, CourseSwapper, swap_share


@pytest.fixture(scope="module")
def courses(real_slice: Path) -> list[Course]:
    frame = pl.read_parquet(real_slice / "curated" / "scrubbed_items.parquet")
    return [Course(n, c) for n, c in frame.select("course_name", "course_code").unique().iter_rows()]


@pytest.fixture(scope="module")
def rows(real_slice: Path) -> list[dict[str, Any]]:
    return [r for r in stages.load_trajectories(real_slice) if r["split"] == "train"]


def _ids(row: dict[str, Any]) -> list[int]:
    return [int(x) for x in re.findall(r'"course_id": ?(\d+)', json.dumps(row["messages"]))]


def test_a_swapped_row_names_no_course_of_the_data(courses: list[Course], rows: list[dict[str, Any]]) -> None:
    swapper = CourseSwapper(courses)
    rng = random.Random(0)
    mentioning = [r for r in rows if any(c.short_name in json.dumps(r["messages"]) for c in courses)][:300]
    assert len(mentioning) >= 100
    for row in mentioning:
        swapped = swapper.swap(row, rng)
        text = json.dumps(swapped["messages"], ensure_ascii=False)
        assert not [c.name for c in courses if c.short_name in text], row["id"]
        assert not [c.code for c in courses if c.code in text], row["id"]
        assert _ids(swapped) == _ids(row)
        assert [[c.name for c in message_calls(m)] for m in swapped["messages"]] == [
            [c.name for c in message_calls(m)] for m in row["messages"]
        ]
        assert parse_calls(render_conversation(swapped["messages"])) == [
            c for m in swapped["messages"] for c in message_calls(m)
        ]


def test_each_course_is_renamed_the_same_way_through_the_conversation(
    courses: list[Course], rows: list[dict[str, Any]]
) -> None:
    """A follow-up that names a course the listing showed names the listing's new name."""
    swapper = CourseSwapper(courses)
    followups = [r for r in rows if r["intent"] == "course_details_followup"]
    assert followups
    for row in followups[:30]:
        swapped = swapper.swap(row, random.Random(row["id"]))
        listing = json.loads(swapped["messages"][3]["content"])["courses"]
        request = swapped["messages"][5]["content"]
        named = [c for c in listing if c["name"] in request]
        # "British Literature" is inside "British Literature Laboratory": the longest name wins
        asked = [c for c in named if not any(c["name"] != o["name"] and c["name"] in o["name"] for o in named)]
        assert len(asked) == 1, request
        detail = json.loads(swapped["messages"][7]["content"])
        assert (detail["name"], detail["code"], detail["course_id"]) == (
            asked[0]["name"],
            asked[0]["code"],
            asked[0]["course_id"],
        )


def test_reserved_names_are_never_generated(courses: list[Course]) -> None:
    reserved = ["Linear Algebra", "Introduction to Machine Learning"]
    swapper = CourseSwapper(courses, reserved=reserved)
    generated = {name for _, name in swapper.names}
    assert not generated & {*reserved, *(c.name for c in courses)}
    assert len(generated) > 300


def test_the_share_is_seeded(courses: list[Course], rows: list[dict[str, Any]]) -> None:
    swapper = CourseSwapper(courses)
    first, again = swap_share(rows[:200], swapper, 0.5, 3), swap_share(rows[:200], swapper, 0.5, 3)
    assert first == again
    changed = sum(a != b for a, b in zip(first, rows[:200], strict=True))
    assert 40 <= changed <= 110
    assert swap_share(rows[:50], swapper, 0.0, 3) == [dict(r) for r in rows[:50]]
