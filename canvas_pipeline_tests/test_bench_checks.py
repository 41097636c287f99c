"""The bench's coverage and phrasing checks: skeletons, planted recall and planted gaps fail
naming what broke; the real-data bench passes both."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from canvas_pipeline.data import stages
from canvas_pipeline.data.phase4.overlap import Skeletons, phrasing_overlap, response_entities
from canvas_pipeline.guardrails.bench import (
    COVERAGE_ID,
    PHRASING_ID,
    bench_coverage,
    bench_phrasing,
    read_rows,
    run_bench_checks,
)
from canvas_pipeline.tools.registry import load_registry

TOOLS = load_registry().names


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def item(number: int, text: str, tools: list[str]) -> dict[str, Any]:
    return {"id": f"b{number}", "prompt": [{"role": "system", "content": "sys"}, user(text)], "expected_tools": tools}


def test_skeleton_masks_names_numbers_dates_and_quotes_but_keeps_the_wording() -> None:
    skeleton = Skeletons({"Soils Fall 2024", "Lab 3 report"})
    a = skeleton('What is due in Soils Fall 2024 by Monday, September 29, 2025 at 4:00 PM? "Lab 3 report"')
    b = skeleton("what is due in soils fall 2024 by friday, march 3, 2026 at 9 am? 'Essay'")
    assert a == b == "what is due in <e> by <d> <d> <n> <n> at <n> <q>"
    assert skeleton("Any news from Lab 3 report this week?") != skeleton("Any updates from Lab 3 report this week?")


def test_response_entities_are_the_names_codes_and_titles_tools_returned() -> None:
    messages = [
        user("hi"),
        {"role": "tool", "content": json.dumps({"courses": [{"name": "Plant Pathology", "code": "PPWS 4104"}]})},
        {"role": "tool", "content": json.dumps({"events": [{"title": "Soils review", "event_id": "evt_1"}]})},
        {"role": "tool", "content": "not json"},
    ]
    assert response_entities(messages) == {"Plant Pathology", "PPWS 4104", "Soils review"}


def test_overlap_counts_verbatim_skeleton_and_duplicate_prompts() -> None:
    training = [[user("What's due in the next 5 days?")], [user("Show me my grades.")]]
    bench = [
        item(1, "What's due in the next 5 days?", ["canvas.get_assignments"]),  # verbatim
        item(2, "What's due in the next 12 days?", ["canvas.get_assignments"]),  # same skeleton
        item(3, "anything coming up for me before friday", ["canvas.get_assignments"]),  # unseen
        item(4, "anything coming up for me before friday", ["canvas.get_assignments"]),  # duplicate prompt
    ]
    overlap = phrasing_overlap(bench, training)
    assert (overlap.bench_turns, overlap.verbatim, overlap.skeleton, overlap.duplicate_prompts) == (4, 1, 2, 1)


def test_phrasing_check_fails_on_a_planted_training_turn_and_names_it() -> None:
    training = {"phase1": [{"messages": [user("Which courses am I enrolled in right now?")]}]}
    clean = [item(n, f"yo which classes have i got, take {n}", ["canvas.list_courses"]) for n in range(20)]
    assert bench_phrasing(clean, training).passed is True
    planted = [*clean, item(99, "Which courses am I enrolled in right now?", ["canvas.list_courses"])]
    result = bench_phrasing(planted, training)
    assert result.passed is False and result.id == PHRASING_ID
    assert result.value["verbatim_turns"] == 1 and any("b99" in d for d in result.details)


def _covering_bench() -> list[dict[str, Any]]:
    rows = [item(n, f"request {n} for {tool}", [tool]) for tool in TOOLS for n in range(56)]
    extra = int(0.09 * len(rows)) + 1
    rows += [item(10_000 + n, f"off topic request number {n}", []) for n in range(extra)]
    return rows


def test_coverage_passes_a_bench_that_judges_every_tool() -> None:
    result = bench_coverage(_covering_bench(), TOOLS)
    assert result.passed is True, result.details
    assert result.value["first_call_min"] == 56 and result.value["irrelevance_texts"] >= 50


@pytest.mark.parametrize(
    ("plant", "expected"),
    [
        ("second_call_only", "calendar.create_event: first call of 0 < 40"),
        ("few_irrelevance_texts", "distinct irrelevance texts < 50"),
        ("duplicates", "duplicate prompts"),
        ("little_irrelevance", "irrelevance"),
    ],
)
def test_coverage_fails_naming_the_planted_gap(plant: str, expected: str) -> None:
    rows = _covering_bench()
    if plant == "second_call_only":  # create_event only ever after a search: selection cannot judge it
        for row in rows:
            if row["expected_tools"] == ["calendar.create_event"]:
                row["expected_tools"] = ["calendar.find_free_blocks", "calendar.create_event"]
        assert Counter(t for r in rows for t in r["expected_tools"])["calendar.create_event"] == 56
    elif plant == "few_irrelevance_texts":
        for n, row in enumerate(r for r in rows if not r["expected_tools"]):
            row["prompt"][-1]["content"] = f"Yo! take {n % 10}"
    elif plant == "duplicates":
        rows += [copy.deepcopy(rows[0]) for _ in range(int(0.15 * len(rows)))]
    else:
        rows = [r for r in rows if r["expected_tools"]] + [r for r in rows if not r["expected_tools"]][:60]
    result = bench_coverage(rows, TOOLS)
    assert result.passed is False and result.id == COVERAGE_ID
    assert any(expected in d for d in result.details), result.details


def test_bench_checks_are_not_run_without_a_bench(tmp_path: Path) -> None:
    results = run_bench_checks(tmp_path, TOOLS)
    assert [r.status for r in results] == ["NOT RUN", "NOT RUN"]
    assert all(str(tmp_path) in r.reason for r in results)


def test_a_malformed_bench_line_is_named(tmp_path: Path) -> None:
    (tmp_path / "phase4").mkdir()
    (tmp_path / "phase4" / "benchmark.jsonl").write_text('{"prompt": []}\n{oops\n')
    with pytest.raises(ValueError, match=r"benchmark.jsonl:2: malformed JSON"):
        read_rows(tmp_path / "phase4" / "benchmark.jsonl")


def test_real_bench_passes_coverage_and_phrasing(real_slice: Path) -> None:
    coverage, phrasing = run_bench_checks(real_slice, TOOLS)
    assert coverage.passed is True, coverage.details
    assert phrasing.passed is True, phrasing.details
    assert phrasing.value["verbatim_turns"] == 0 and phrasing.value["skeleton_share"] <= 0.10
    assert coverage.value["first_call_min"] >= 40 and coverage.value["irrelevance_share"] >= 0.08
    bench = stages.load_rows(real_slice, stages.PHASE4)
    held_out = {c.split(":")[1] for r in bench for c in r["item_ids"] if c.startswith("course:")}
    first = Counter(r["expected_tools"][0] for r in bench if r["expected_tools"])
    assert first["calendar.create_event"] >= 40 and len(held_out) >= 2
