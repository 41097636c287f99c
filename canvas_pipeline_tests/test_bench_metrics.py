"""Every bench metric on hand-made cases: Wilson intervals against known values, BFCL-style
argument matching at its edges, the per-conversation metrics, and checkpoint selection
with and without a floor violation."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canvas_pipeline.evaluation import metrics
from canvas_pipeline.evaluation.arguments import jaccard, match_arguments
from canvas_pipeline.evaluation.harness import Conversation
from canvas_pipeline.evaluation.selection import SelectionError, require_selection, select_checkpoint
from canvas_pipeline.tools.codec import ToolCall

# ------------------------------------------------------------------ Wilson


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (8, 10, 0.4902, 0.9433),  # textbook values (Wilson 1927; Newcombe 1998 table I)
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (50, 100, 0.4038, 0.5962),
        (1, 40, 0.0044, 0.1288),
    ],
)
def test_wilson_interval_matches_known_values(k: int, n: int, low: float, high: float) -> None:
    interval = metrics.wilson_interval(k, n)
    assert interval is not None
    assert interval.low == pytest.approx(low, abs=1e-4) and interval.high == pytest.approx(high, abs=1e-4)


def test_wilson_interval_of_nothing_is_none() -> None:
    assert metrics.wilson_interval(0, 0) is None


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_holds_the_estimate_inside_zero_one(kn: tuple[int, int]) -> None:
    k, n = kn
    interval = metrics.wilson_interval(k, n)
    assert interval is not None
    assert 0.0 <= interval.low <= k / n <= interval.high <= 1.0


# ------------------------------------------------------------------ arguments

EVENT = {
    "title": ["Study for Exam 2"],
    "start_iso": ["2026-09-14T11:30:00-04:00"],
    "end_iso": ["2026-09-14T12:30:00-04:00"],
}
EVENT_OPTIONAL = {**EVENT, "description": ["bring notes", ""], "calendar_id": ["primary", ""]}


def _match(tool: str, produced: dict[str, Any], accepted: dict[str, list[Any]]) -> tuple[bool, str]:
    verdict = match_arguments(tool, produced, accepted)
    return verdict.matched, verdict.reason


def test_an_omitted_optional_argument_passes_and_an_omitted_required_one_fails() -> None:
    produced = {
        "title": "Study for Exam 2",
        "start_iso": "2026-09-14T11:30:00-04:00",
        "end_iso": "2026-09-14T12:30:00-04:00",
    }
    assert _match("calendar.create_event", produced, EVENT_OPTIONAL) == (True, "")
    matched, reason = _match("calendar.create_event", {k: v for k, v in produced.items() if k != "end_iso"}, EVENT)
    assert not matched and "missing argument 'end_iso'" in reason


def test_ids_and_integers_compare_after_type_normalization_and_a_wrong_type_fails() -> None:
    accepted = {"course_id": [4264]}
    assert _match("canvas.get_course", {"course_id": 4264}, accepted)[0]
    assert _match("canvas.get_course", {"course_id": 4264.0}, accepted)[0]
    for wrong in ("4264", "all", True, 4265):
        matched, reason = _match("canvas.get_course", {"course_id": wrong}, accepted)
        assert not matched and "course_id" in reason


def test_iso_dates_are_parsed_before_comparing() -> None:
    accepted = {"exam_iso": ["2026-11-11T14:00:00-05:00"]}
    assert _match("study.spaced_schedule", {"exam_iso": "2026-11-11T19:00:00Z"}, accepted)[0]  # same instant
    assert _match("study.spaced_schedule", {"exam_iso": "2026-11-11T14:00:00"}, accepted)[0]  # local wall time
    assert not _match("study.spaced_schedule", {"exam_iso": "2026-11-11T15:00:00-05:00"}, accepted)[0]
    assert not _match("study.spaced_schedule", {"exam_iso": "next Tuesday"}, accepted)[0]


def test_natural_language_fields_match_by_word_set_jaccard_over_one_half() -> None:
    assert jaccard("Study for Exam 2!", "exam 2 study session") == pytest.approx(3 / 5)
    accepted = {"event_id": ["evt_1"], "rationale": ["The student changed their mind."]}
    assert _match(
        "calendar.delete_event", {"event_id": "evt_1", "rationale": "the student changed their mind"}, accepted
    )[0]
    assert not _match("calendar.delete_event", {"event_id": "evt_1", "rationale": "Conflicts with lab."}, accepted)[0]
    # ids given as strings are exact, never fuzzy
    assert not _match(
        "calendar.delete_event", {"event_id": "evt_1 ", "rationale": "The student changed their mind."}, accepted
    )[0]


def test_an_unknown_argument_fails_naming_it() -> None:
    matched, reason = _match("canvas.get_course", {"course_id": 4264, "verbose": True}, {"course_id": [4264]})
    assert not matched and "unknown argument 'verbose'" in reason and "not an argument of canvas.get_course" in reason
    matched, reason = _match("canvas.get_assignments", {"horizon_days": 7}, {"course_id": [12, ""]})
    assert not matched and "not expected here" in reason


def test_arrays_match_as_multisets_and_enums_exactly() -> None:
    assert _match("canvas.list_announcements", {"course_ids": [2, 1]}, {"course_ids": [[1, 2]]})[0]
    assert not _match("canvas.list_announcements", {"course_ids": [1, 1]}, {"course_ids": [[1, 2]]})[0]
    assert _match("study.recommend_block_size", {"task_type": "reading"}, {"task_type": ["reading"]})[0]
    assert not _match("study.recommend_block_size", {"task_type": "Reading"}, {"task_type": ["reading"]})[0]


# ------------------------------------------------------------------ conversations


def _item(tools: list[str], args: list[dict[str, list[Any]]] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "it",
        "expected_tools": tools,
        "expected_steps": [[t] for t in tools],
        "expected_args": args if args is not None else [{} for _ in tools],
        "min_calls": len(tools),
        "prompt": [],
        **extra,
    }


def _conv(
    item: dict[str, Any], steps: list[list[ToolCall]], ended: str = "answered", turns: int | None = None
) -> Conversation:
    count = turns if turns is not None else len(steps) + (ended == "answered")
    return Conversation(item, [], turns=["t"] * count, steps=steps, ended=ended)


TODO, GRADES = ToolCall("canvas.get_todo", {}), ToolCall("canvas.get_grades", {})


def test_selection_full_call_and_parsimony_on_hand_made_conversations() -> None:
    two = _item(["canvas.get_todo", "canvas.get_grades"])
    exact = _conv(two, [[TODO], [GRADES]])
    assert metrics.selected_right(exact) and metrics.full_call_exact(exact) and metrics.parsimonious(exact)
    redundant = _conv(two, [[TODO], [TODO], [GRADES]])
    assert metrics.selected_right(redundant) and metrics.correct_response(redundant)
    assert not metrics.parsimonious(redundant) and not metrics.full_call_exact(redundant)
    wrong_first = _conv(two, [[GRADES], [TODO]])
    assert not metrics.selected_right(wrong_first) and not metrics.correct_response(wrong_first)
    looping = _conv(two, [[TODO], [TODO], [TODO], [TODO]], ended="turn_limit", turns=4)
    assert metrics.selected_right(looping) and not metrics.correct_response(looping)
    assert not metrics.full_call_exact(looping)


def test_an_unparseable_first_turn_is_a_wrong_selection_and_an_invalid_format() -> None:
    item = _item(["canvas.get_todo"])
    garbage = _conv(item, [], ended="parse_error", turns=1)
    assert not metrics.selected_right(garbage) and not metrics.format_valid(garbage)
    late = _conv(item, [[TODO]], ended="parse_error", turns=2)
    assert metrics.selected_right(late) and not metrics.format_valid(late) and not metrics.full_call_exact(late)


def test_irrelevance_items_are_right_only_without_a_call() -> None:
    item = _item([])
    assert metrics.irrelevance_right(_conv(item, [])) and metrics.selected_right(_conv(item, []))
    assert metrics.full_call_exact(_conv(item, []))
    assert not metrics.irrelevance_right(_conv(item, [[TODO]]))


def test_argument_accuracy_counts_only_right_selections() -> None:
    item = _item(["canvas.get_course"], [{"course_id": [4264]}])
    right = _conv(item, [[ToolCall("canvas.get_course", {"course_id": 4264})]])
    wrong_value = _conv(item, [[ToolCall("canvas.get_course", {"course_id": "all"})]])
    wrong_tool = _conv(item, [[TODO]])
    summary = metrics.summarize([right, wrong_value, wrong_tool])
    assert summary["tool_selection_accuracy"] == pytest.approx(2 / 3)
    assert summary["argument_accuracy"] == pytest.approx(1 / 2)
    assert summary["full_call_exact"] == pytest.approx(1 / 3)
    row = summary["per_tool"]["canvas.get_course"]
    assert row["n"] == 3 and row["correct"] == 2 and row["low_confidence"] is True
    assert row["low"] < 2 / 3 < row["high"]


# ------------------------------------------------------------------ selection


def _eval_summary(per_tool: dict[str, float]) -> dict[str, Any]:
    rows = {t: {"accuracy": a, "n": 40} for t, a in per_tool.items()}
    rows[metrics.NO_CALL] = {"accuracy": 0.0, "n": 10}  # irrelevance is not a tool: no floor
    return {"per_tool": rows, "macro_tool_accuracy": metrics.macro_tool_accuracy(rows)}


def test_selection_takes_the_best_macro_accuracy_that_clears_the_floor() -> None:
    summaries = {
        "sft": _eval_summary({"a": 0.6, "b": 0.5}),
        "dpo": _eval_summary({"a": 0.95, "b": 0.35}),  # best macro, but b is under the floor
        "lora": _eval_summary({"a": 0.7, "b": 0.6}),
    }
    record = select_checkpoint(summaries, ["sft", "lora", "dpo"], missing=["sppo"])
    assert record["selected"] == "lora"
    dpo = record["candidates"]["dpo"]
    assert dpo["macro_tool_accuracy"] == pytest.approx(0.65)
    assert dpo["floor_violations"] == {"b": 0.35} and dpo["qualifies"] is False
    assert "lora" in record["reason"] and "next: sft" in record["reason"] and record["missing"] == ["sppo"]
    assert require_selection(record) == "lora"


def test_selection_fails_listing_every_floor_violation_when_none_qualifies() -> None:
    summaries = {"sft": _eval_summary({"a": 0.2, "b": 0.9}), "dpo": _eval_summary({"a": 0.1, "b": 0.39})}
    record = select_checkpoint(summaries, ["sft", "dpo"])
    assert record["selected"] is None
    assert "sft: 1 tools under the floor (a 20%)" in record["reason"]
    assert "dpo: 2 tools under the floor (a 10%, b 39%)" in record["reason"]
    with pytest.raises(SelectionError, match="no checkpoint qualifies"):
        require_selection(record)


def _outcomes(right: int, n: int = 40) -> dict[str, bool]:
    return {f"e{k:03d}": k < right for k in range(n)}


def test_a_tie_the_paired_test_cannot_break_goes_to_the_reference_never_to_list_order() -> None:
    same = _eval_summary({"a": 0.5})
    for order in (["sft", "dpo"], ["dpo", "sft"]):
        record = select_checkpoint({"dpo": same, "sft": same}, order)
        assert record["selected"] == "sft", order
        assert record["tie"]["tied"] == order and "no paired test separates them" in record["reason"]
    flat = select_checkpoint(
        {"dpo": same, "ipo": same}, ["ipo", "dpo"], outcomes={"dpo": _outcomes(20), "ipo": _outcomes(21)}
    )
    assert flat["selected"] == "dpo" and flat["tie"]["tests"]["dpo vs ipo"]["p_value"] == 1.0


def test_a_tie_is_broken_by_the_paired_test_when_it_separates_the_candidates() -> None:
    """Equal macro accuracy, but on the same 40 eval items dpo is right on 16 items sft
    misses and wrong on none it gets: exact McNemar p = 2^-15, so dpo is selected."""
    same = _eval_summary({"a": 0.5})
    sft = _outcomes(20)
    dpo = {k: v or int(k[1:]) < 36 for k, v in sft.items()}
    record = select_checkpoint({"sft": same, "dpo": same}, ["sft", "dpo"], outcomes={"sft": sft, "dpo": dpo})
    assert record["selected"] == "dpo" and "broken by the paired test" in record["reason"]
    assert record["tie"]["tests"]["dpo vs sft"]["p_value"] == pytest.approx(2**-15)


def test_a_lead_the_paired_test_cannot_confirm_does_not_displace_sft() -> None:
    """kto's macro accuracy is higher, but on the same 40 eval items it is right on 3 items
    sft misses and wrong on 1 sft gets (p = 0.625): a tie, which goes to the reference."""
    summaries = {"sft": _eval_summary({"a": 0.70}), "kto": _eval_summary({"a": 0.75})}
    sft = _outcomes(28)
    kto = {k: (v and k != "e000") or k in {"e028", "e029", "e030"} for k, v in sft.items()}
    record = select_checkpoint(summaries, ["kto", "sft"], outcomes={"sft": sft, "kto": kto})
    assert record["selected"] == "sft" and record["tie"]["tied"] == ["kto", "sft"]
    assert record["tie"]["tests"]["kto vs sft"]["p_value"] == pytest.approx(0.625)
    assert "goes to the reference method" in record["reason"]


def test_a_checkpoint_significantly_worse_than_sft_is_not_a_candidate() -> None:
    summaries = {"sft": _eval_summary({"a": 0.6}), "dpo": _eval_summary({"a": 0.9})}
    sft = _outcomes(30)
    dpo = {k: v and int(k[1:]) < 15 for k, v in sft.items()}  # right on half of sft's items only
    record = select_checkpoint(summaries, list(summaries), outcomes={"sft": sft, "dpo": dpo})
    assert record["selected"] == "sft"
    assert record["candidates"]["dpo"]["worse_than_sft"] and not record["candidates"]["dpo"]["qualifies"]
    assert "significantly worse than sft: dpo" in record["reason"]
    alone = select_checkpoint({"dpo": summaries["dpo"]}, ["dpo"], outcomes={"sft": sft, "dpo": dpo})
    assert alone["selected"] is None and "dpo: significantly worse than sft on tool selection" in alone["reason"]


def test_an_earlier_step_that_clears_the_floor_is_selected_over_a_last_step_that_does_not() -> None:
    """A planted case: the last step has the best macro accuracy but a tool under the floor;
    the step before it qualifies, and it is what the record names (method and step)."""
    from canvas_pipeline.evaluation.results import selection_candidates

    records = {
        "sft": {
            "eval": _eval_summary({"a": 0.95, "b": 0.3}),
            "eval_by_step": {"96": _eval_summary({"a": 0.8, "b": 0.5}), "32": _eval_summary({"a": 0.5, "b": 0.4})},
        },
        "dpo": {"eval": _eval_summary({"a": 0.9, "b": 0.2})},
    }
    summaries = selection_candidates(records)
    assert list(summaries) == ["sft", "sft@32", "sft@96", "dpo"]
    record = select_checkpoint(summaries, list(summaries))
    assert (record["selected"], record["selected_step"], record["selected_candidate"]) == ("sft", 96, "sft@96")
    assert record["candidates"]["sft"]["floor_violations"] == {"b": 0.3}
    assert "sft@96" in record["reason"]


def test_a_last_step_that_qualifies_and_scores_best_is_the_final_weights() -> None:
    from canvas_pipeline.evaluation.results import selection_candidates

    records = {"sft": {"eval": _eval_summary({"a": 0.9}), "eval_by_step": {"64": _eval_summary({"a": 0.7})}}}
    summaries = selection_candidates(records)
    record = select_checkpoint(summaries, list(summaries))
    assert (record["selected"], record["selected_step"], record["selected_candidate"]) == ("sft", None, "sft")


def test_a_no_op_is_never_a_candidate_however_well_it_scores() -> None:
    """A preference checkpoint whose first bench turns are >= 80% identical to SFT's did
    nothing; it is not selected even with the best macro accuracy, and the reason says so."""
    summaries = {"sft": _eval_summary({"a": 0.6}), "dpo": _eval_summary({"a": 0.9}), "ipo": _eval_summary({"a": 0.7})}
    record = select_checkpoint(summaries, list(summaries), identical={"sft": None, "dpo": 0.96, "ipo": 0.5})
    assert record["selected"] == "ipo"
    assert record["candidates"]["dpo"]["no_op"] and not record["candidates"]["dpo"]["qualifies"]
    assert "no-ops: dpo" in record["reason"]
    only_no_ops = select_checkpoint({"dpo": summaries["dpo"]}, ["dpo"], identical={"dpo": 0.8})
    assert only_no_ops["selected"] is None and "dpo: a no-op (80% of first bench turns" in only_no_ops["reason"]


def test_the_report_plots_eval_accuracy_per_kept_step_and_circles_the_selected_one() -> None:
    """A planted case where an earlier step beats the last: the curve has every kept step and
    the final weights in step order, and the plot is a PNG."""
    from canvas_pipeline.evaluation.report import step_curves, steps_plot
    from canvas_pipeline.evaluation.results import selection_candidates

    records = {
        "base": {"summary": {}},
        "sft": {
            "final_step": 128,
            "eval": _eval_summary({"a": 0.7}),
            "eval_by_step": {"96": _eval_summary({"a": 0.9}), "32": _eval_summary({"a": 0.5})},
        },
        "dpo": {"final_step": 4, "eval": _eval_summary({"a": 0.6}), "eval_by_step": {"2": _eval_summary({"a": 0.65})}},
    }
    curves = step_curves(records)
    assert curves == {"sft": [(32, 0.5), (96, 0.9), (128, 0.7)], "dpo": [(2, 0.65), (4, 0.6)]}
    summaries = selection_candidates(records)
    selection = select_checkpoint(summaries, list(summaries))
    assert selection["selected_candidate"] == "sft@96"
    assert steps_plot(records, selection)[:8] == b"\x89PNG\r\n\x1a\n"
