"""On-policy rows: a checkpoint's own answers at the train split's decision points, judged by
the phase-2 axis functions. The answers are planted here, so the right labels are known;
the real decision points come from the real exports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from canvas_pipeline.data import stages
from canvas_pipeline.data.phase2.axes import violated_axes
from canvas_pipeline.data.phase2.points import DecisionPoint
from canvas_pipeline.evaluation.on_policy import MUTATION, OnPolicyConfig, judge_answers, sample_points
from canvas_pipeline.guardrails.inputs import sample_from_row
from canvas_pipeline.tools.chat_format import message_calls
from canvas_pipeline.tools.codec import CALL_CLOSE, ToolCall, serialize_call


@pytest.fixture(scope="module")
def points(real_slice: Path) -> list[DecisionPoint]:
    sampled = sample_points(stages.load_trajectories(real_slice), OnPolicyConfig(points=300, seed=0))
    return [p for p in sampled if p.kind == "call"][:60]


def _said(point: DecisionPoint) -> str:
    return "".join(serialize_call(c) for c in message_calls(point.chosen)) + "<|tool_response>"


def _hallucinated(point: DecisionPoint) -> str:
    first = message_calls(point.chosen)[0]
    return serialize_call(ToolCall(first.name.replace(".", ".fetch_"), first.arguments)) + "<|tool_response>"


def test_the_trajectorys_own_turn_is_desirable_and_never_a_pair(points: list[DecisionPoint]) -> None:
    result = judge_answers(points, [_said(p) for p in points])
    assert not result.pairs and all(r["label"] for r in result.feedback)
    assert result.report["answers_identical_to_trajectory"] == len(points)
    assert result.report["wrong_share"] == 0


def test_wrong_answers_become_pairs_labelled_with_every_axis_they_break(points: list[DecisionPoint]) -> None:
    outputs = [_hallucinated(p) if k % 2 else "I'd check Canvas for that.<turn|>" for k, p in enumerate(points)]
    result = judge_answers(points, outputs)
    assert result.report["answers_wrong"] == len(result.pairs) >= len(points) // 2
    by_key = {p.key: p for p in points}
    for row in result.pairs:
        point = by_key[row["source_id"]]
        axes = {row["axis"]} if isinstance(row["axis"], int) else set(row["axis"])
        assert violated_axes(point, row["rejected"][0]) == axes and violated_axes(point, row["chosen"][0]) == set()
        assert row["mutation"] == MUTATION and row["prompt"] == point.prompt_messages()
    hallucinated = [r for r in result.pairs if r["rejected"][0].get("tool_calls")]
    assert hallucinated and all(
        1 in ({r["axis"]} if isinstance(r["axis"], int) else set(r["axis"])) for r in hallucinated
    )
    undesirable = [r for r in result.feedback if not r["label"]]
    assert len(undesirable) == len(result.pairs)


def test_a_broken_call_stays_text_and_the_rows_load_as_the_guardrails_read_them(points: list[DecisionPoint]) -> None:
    point = points[0]
    broken = serialize_call(message_calls(point.chosen)[0])[: -len(CALL_CLOSE)]
    result = judge_answers([point], [broken])
    (pair,) = result.pairs
    assert not pair["rejected"][0].get("tool_calls") and pair["rejected"][0]["content"] == broken
    assert 6 in ({pair["axis"]} if isinstance(pair["axis"], int) else set(pair["axis"]))
    rows: list[dict[str, Any]] = [*result.pairs]
    for row in rows:
        sample_from_row("phase2", "preference", row, "on_policy/pairs.jsonl:1")
    for row in result.feedback:
        sample_from_row("phase3", "kto", row, "on_policy/feedback.jsonl:1")
