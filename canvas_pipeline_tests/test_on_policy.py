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
from canvas_pipeline.evaluation.on_policy import MUTATION, OnPolicyConfig, judge_answers, mix_rows, sample_points
from canvas_pipeline.evaluation.report import on_policy_section
from canvas_pipeline.guardrails.checks import g12_min_rows
from canvas_pipeline.guardrails.inputs import sample_from_row
from canvas_pipeline.tools.chat_format import message_calls
from canvas_pipeline.tools.codec import CALL_CLOSE, ToolCall, serialize_call
from canvas_pipeline.training.data_prep import origin, stratified_sample
from canvas_pipeline.training.methods import METHODS, get_method
from canvas_pipeline.training.run import method_data_dir


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


# ------------------------------------------------------------------ mixing and budgets


def _rows(n: int, mutation: str | None, axes: tuple[int, ...] = (1, 3, 6, 8)) -> list[dict[str, Any]]:
    return [{"id": f"{mutation}-{k}", "axis": axes[k % len(axes)], "mutation": mutation} for k in range(n)]


def test_the_mix_holds_every_on_policy_row_at_the_configured_share() -> None:
    on_policy, phase = _rows(300, MUTATION), _rows(3400, "drop_required_key")
    mixed = mix_rows(on_policy, phase, 0.5, seed=0)
    assert len(mixed) == 600 and sum(r["mutation"] == MUTATION for r in mixed) == 300
    assert len({r["id"] for r in mixed}) == 600, "a phase row is taken at most once"
    assert mixed == mix_rows(on_policy, phase, 0.5, seed=0), "seeded"
    assert len(mix_rows(on_policy, phase, 0.25, seed=0)) == 1200


def test_the_mix_is_topped_up_to_g12s_minimum_and_rejects_a_share_out_of_range() -> None:
    mixed = mix_rows(_rows(40, MUTATION), _rows(3400, "drop_required_key"), 0.5, seed=0, min_rows=1000)
    assert len(mixed) == 1000 and sum(r["mutation"] == MUTATION for r in mixed) == 40
    for share in (0.0, 1.5):
        with pytest.raises(ValueError, match="share"):
            mix_rows(_rows(4, MUTATION), _rows(10, None), share, seed=0)


def test_a_budgeted_draw_keeps_the_mixs_ratio_and_every_axis() -> None:
    rows = [*_rows(1000, MUTATION, (3, 6)), *_rows(3000, "drop_required_key")]
    drawn = stratified_sample(rows, 256, seed=0)
    on_policy = [r for r in drawn if origin(r) == MUTATION]
    assert len(drawn) == 256 and len(on_policy) == 64
    assert {r["axis"] for r in on_policy} == {3, 6}
    assert {r["axis"] for r in drawn if origin(r) != MUTATION} == {1, 3, 6, 8}


def test_g12_judges_the_rows_a_trainer_consumes_besides_the_dataset() -> None:
    passing = g12_min_rows({"phase2": 3400}, {"dpo": 1000}, consumed={"dpo": 256}, min_consumed=256)
    assert passing.passed and passing.value == {"dpo": {"dataset_rows": 3400, "rows_consumed": 256}}
    short = g12_min_rows({"phase2": 3400}, {"dpo": 1000}, consumed={"dpo": 128}, min_consumed=256)
    assert short.passed is False and short.details == ("dpo: the trainer consumes 128 rows < 256",)
    assert "rows consumed >= 256" in short.threshold


def test_a_preference_method_without_on_policy_data_names_the_asset(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="materialize on_policy/preference_data first"):
        method_data_dir(get_method("dpo"), tmp_path, tmp_path, "tiny")
    assert method_data_dir(get_method("lora"), tmp_path / "data", tmp_path, "tiny") == tmp_path / "data"
    assert {m.name for m in METHODS.values() if m.on_policy} == {"dpo", "ipo", "apo_zero", "sppo", "nca", "kto"}


def test_the_report_says_what_the_preference_methods_trained_on() -> None:
    stage = {
        "points_answered": 768,
        "answers": 1536,
        "answers_repeated": 120,
        "answers_wrong": 600,
        "wrong_share": 0.4237,
        "wrong_on_axes.3": 300,
        "wrong_on_axes.3,5": 100,
        "wrong_on_axes.8": 80,
        "phase2.on_policy_rows": 600,
        "phase2.phase_rows": 600,
        "phase2.realised_share": 0.5,
        "phase3.on_policy_rows": 1416,
        "phase3.phase_rows": 1416,
        "phase3.realised_share": 0.5,
    }
    text = on_policy_section(stage)
    assert "600 wrong (42.4%; most often axes 3: 300, axes 3,5: 100, axes 8: 80)" in text
    assert "600 of those pairs mixed with 600 phase-2 pairs (on-policy share 50%)" in text
    assert on_policy_section(None) == ""


def test_a_broken_call_where_the_answer_was_due_is_a_format_failure_never_desirable(real_slice: Path) -> None:
    """Axis 6 judges a broken call only where a call was due; an answer point's broken call
    is still wrong (and G8 would find it among the desirable completions)."""
    sampled = sample_points(stages.load_trajectories(real_slice), OnPolicyConfig(points=300, seed=0))
    point = next(p for p in sampled if p.kind != "call")
    broken = '<|tool_call>call:canvas.get_assignments{horizon_days:<|"|>7<turn|>'
    result = judge_answers([point], [broken])
    (pair,) = result.pairs
    assert pair["axis"] == 6 and not any(r["label"] for r in result.feedback)
