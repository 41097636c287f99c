"""Answers name courses as a student would: no anonymisation placeholder and no registrar
code in any assistant answer of the real exports' datasets, and the course swap renames
the spoken forms too."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl

from canvas_pipeline.data import stages
from canvas_pipeline.data.course_names import course_label, leaks, spoken_name, student_facing
from canvas_pipeline.data.phase2.axes import calls_in
from canvas_pipeline.tools.registry import load_registry
from canvas_pipeline.training.course_swap import CourseSwapper, data_courses


def _courses(real_slice: Path) -> list[tuple[str, str]]:
    frame = pl.read_parquet(real_slice / "curated" / "scrubbed_items.parquet", columns=["course_name", "course_code"])
    return [tuple(r) for r in frame.unique().iter_rows()]


def test_every_real_course_has_a_clean_spoken_name_and_label(real_slice: Path) -> None:
    courses = _courses(real_slice)
    assert any("@COURSE" in name for name, _ in courses)  # the exports do carry placeholders
    for name, code in courses:
        assert not leaks(spoken_name(name, code)) and not leaks(course_label(code)), (name, code)
        assert len(spoken_name(name, code)) >= 3
    assert course_label("CHEM_1045_72468_202609") == "CHEM 1045"
    text = "Plan for General Chemistry @COURSE5 Wall TR Fall 2023 (CHEM_1045_72468_202609): quiz [@COURSE1/5040 S26]"
    cleaned = student_facing(text, [("General Chemistry @COURSE5 Wall TR Fall 2023", "x", "CHEM_1045_72468_202609")])
    assert cleaned == "Plan for General Chemistry Wall TR (CHEM 1045): quiz"


def _names_a_tool(content: str) -> bool:
    return "<|tool_call>" in content or any(name in content for name in load_registry().names)


def test_no_answer_shows_a_placeholder_or_a_registrar_code(real_slice: Path) -> None:
    """Every assistant message with text in phases 1-3 (answers, and the text of rejected
    and undesirable sides) except the text renders of calls, whose arguments copy the
    reranker's item descriptors verbatim as the tool takes them."""
    checked = 0
    for stage, keys in (
        (stages.PHASE1, ("messages",)),
        (stages.PHASE2, ("chosen", "rejected")),
        (stages.PHASE3, ("completion",)),
    ):
        for row in stages.load_rows(real_slice, stage):
            for key in keys:
                for message in row[key]:
                    content = message.get("content") or ""
                    if message["role"] != "assistant" or not content or calls_in(message) or _names_a_tool(content):
                        continue
                    checked += 1
                    assert not leaks(content), (row["id"], content[:200])
    assert checked > 5000


def test_course_swap_renames_spoken_names_and_labels(real_slice: Path) -> None:
    courses = data_courses(real_slice)
    rows = [r for r in stages.load_rows(real_slice, stages.PHASE1) if r["split"] == "train"]
    swapper = CourseSwapper(courses)
    rng = random.Random(0)
    for row in rows[:300]:
        swapped = json.dumps(swapper.swap(row, rng)["messages"], ensure_ascii=False)
        for course in courses:
            for form in (course.code, course_label(course.code)):
                assert form not in swapped, (row["id"], form)
