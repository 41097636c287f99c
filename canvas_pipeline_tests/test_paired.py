"""What each method did: paired McNemar tests and per-axis failure rates on real bench items,
with model behaviour planted so the right answer is known."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from canvas_pipeline.data import stages
from canvas_pipeline.evaluation.harness import Conversation
from canvas_pipeline.evaluation.paired import (
    AXIS_FAILURES,
    compare,
    improvements,
    mcnemar_p,
    paired_change,
    regressions,
    what_each_method_did,
)
from canvas_pipeline.evaluation.report import effects_table, failure_table
from canvas_pipeline.tools.codec import ToolCall, serialize_call


@pytest.fixture(scope="module")
def items(real_slice: Path) -> list[dict[str, Any]]:
    return stages.load_rows(real_slice, stages.PHASE4)


def _reference_calls(item: dict[str, Any]) -> list[list[ToolCall]]:
    steps = []
    for message in item["reference"]:
        calls = message.get("tool_calls") or []
        if message["role"] == "assistant" and calls:
            steps.append([ToolCall(c["function"]["name"], c["function"]["arguments"]) for c in calls])
    return steps


def right(item: dict[str, Any]) -> Conversation:
    """What the item's reference did: every expected call in order, then an answer."""
    steps = _reference_calls(item)
    turns = ["".join(serialize_call(c) for c in step) for step in steps] + ["Here you go."]
    return Conversation(item, [], turns, steps, "answered")


def prose(item: dict[str, Any]) -> Conversation:
    """Says what it would do instead of calling (axis 6 on every item that needs a call)."""
    return Conversation(item, [], ["I would look that up for you."], [], "answered")


def test_exact_mcnemar_on_known_counts() -> None:
    assert mcnemar_p(0, 0) is None
    assert mcnemar_p(10, 0) == pytest.approx(2 * 0.5**10)
    assert mcnemar_p(3, 3) == pytest.approx(1.0)
    change = paired_change([True] * 12 + [False] * 8, [False] * 10 + [True] * 10)
    assert (change.method_only, change.reference_only, change.change) == (10, 8, pytest.approx(0.1))
    assert change.verdict() == "no significant change" and change.p_value > 0.05


def test_a_model_that_never_calls_regresses_on_selection_and_commits_axis_6(items: list[dict[str, Any]]) -> None:
    sample = items[:120]
    reference = [right(i) for i in sample]
    worse = [prose(i) for i in sample]
    result = compare(worse, reference)
    assert result["items"] == 120
    assert result["metrics"]["tool_selection"]["verdict"] == "regressed"
    assert result["metrics"]["tool_selection"]["p_value"] < 1e-6
    assert result["failures"]["6"]["verdict"] == "regressed" and result["failures"]["6"]["method"] > 0.8
    assert "tool_selection" in regressions(result) and not improvements(result)
    # The other way round, the same discordant items are an improvement.
    assert compare(reference, worse)["metrics"]["tool_selection"]["verdict"] == "improved"
    # Against itself, nothing changes and no p-value exists.
    same = compare(reference, reference)
    assert all(row["verdict"] == "no significant change" for row in same["metrics"].values())


def test_the_reference_behaviour_commits_no_failure(items: list[dict[str, Any]]) -> None:
    rates = what_each_method_did({"sft": [right(i) for i in items]})["sft"]["failure_rates"]
    assert {axis: row["rate"] for axis, row in rates.items()} == {str(a): 0.0 for a in AXIS_FAILURES}


def _replace_first(item: dict[str, Any], call: ToolCall) -> Conversation:
    steps = _reference_calls(item)
    steps = [[call, *steps[0][1:]], *steps[1:]]
    return Conversation(item, [], ["x"] * (len(steps) + 1), steps, "answered")


def test_each_planted_failure_is_named_by_its_axis(items: list[dict[str, Any]]) -> None:
    calling = [i for i in items if i["expected_tools"]]
    item = next(i for i in calling if i["expected_args"][0])
    first = _reference_calls(item)[0][0]
    checks = {
        1: _replace_first(item, ToolCall("canvas.get_homework", first.arguments)),
        2: _replace_first(item, ToolCall(first.name, {**first.arguments, "made_up": 1})),
        7: _replace_first(
            item,
            ToolCall("study.exam_bracket" if not first.name.startswith("study") else "canvas.get_todo", {}),
        ),
    }
    for axis, conversation in checks.items():
        named = {a for a, (_, failed) in AXIS_FAILURES.items() if failed(conversation)}
        assert axis in named, (axis, named)
    extra = right(item)
    extra.steps.append([ToolCall("canvas.get_todo", {})])
    assert AXIS_FAILURES[8][1](extra) and AXIS_FAILURES[4][1](extra)
    irrelevant = next(i for i in items if not i["expected_tools"])
    called = Conversation(irrelevant, [], ["x", "y"], [[ToolCall("canvas.get_todo", {})]], "answered")
    assert AXIS_FAILURES[4][1](called)


def test_the_report_tables_carry_p_values_and_marks(items: list[dict[str, Any]]) -> None:
    sample = items[:80]
    effects = what_each_method_did({"sft": [right(i) for i in sample], "dpo": [prose(i) for i in sample]})
    records = {"sft": {"summary": {}}, "dpo": {"summary": {"identical_to_sft": 0.0}}}
    table = effects_table(effects, records)
    assert "| dpo | 0.0% |" in table and "▼" in table and "p=" in table and "| sft |" not in table
    assert "6: prose or broken call instead of a call" in failure_table(effects)
    json.dumps(effects)  # what the report writes
