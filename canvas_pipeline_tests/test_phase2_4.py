"""Phases 2-4 on the real Canvas exports: every mutation really breaks its axis (and the
chosen side breaks none), counts per axis, KTO balance, and a bench held out of training."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from canvas_pipeline.data import stages
from canvas_pipeline.data.phase2.axes import calls_in, violated_axes
from canvas_pipeline.data.phase2.build import TRAIN_AXIS_TARGETS
from canvas_pipeline.data.phase2.mutations import MUTATIONS, by_axis
from canvas_pipeline.data.phase2.points import DecisionPoint, decision_points
from canvas_pipeline.data.phase3.build import kto_weights
from canvas_pipeline.data.phase4.build import accepted_values
from canvas_pipeline.evaluation.arguments import match_arguments
from canvas_pipeline.tools.chat_format import SYSTEM_INSTRUCTIONS, message_calls, system_prompt, tools_json
from canvas_pipeline.tools.codec import ParseError, parse_calls
from canvas_pipeline.tools.registry import load_registry
from canvas_pipeline.tools.semantics import argument_issues, semantic_issues


@pytest.fixture(scope="module")
def pairs(real_slice: Path) -> list[dict[str, Any]]:
    return stages.load_rows(real_slice, stages.PHASE2)


@pytest.fixture(scope="module")
def kto(real_slice: Path) -> list[dict[str, Any]]:
    return stages.load_rows(real_slice, stages.PHASE3)


@pytest.fixture(scope="module")
def bench(real_slice: Path) -> list[dict[str, Any]]:
    return stages.load_rows(real_slice, stages.PHASE4)


def point_of(row: dict[str, Any], chosen: dict[str, Any]) -> DecisionPoint:
    return DecisionPoint(row["id"], row["split"], "", tuple(row["item_ids"]), tuple(row["prompt"]), chosen, (), 0)


def names(row: dict[str, Any]) -> list[str]:
    return [row["mutation"]] if isinstance(row["mutation"], str) else row["mutation"]


def axes_of(row: dict[str, Any]) -> list[int]:
    return [row["axis"]] if isinstance(row["axis"], int) else row["axis"]


# ---------------------------------------------------------------- phase 2


def test_every_mutation_is_used_and_every_axis_has_two(pairs: list[dict[str, Any]]) -> None:
    used = Counter(n for r in pairs for n in names(r))
    assert set(used) == {m.name for m in MUTATIONS}
    assert all(len(by_axis(axis)) >= 2 for axis in range(1, 9))


def test_rejected_breaks_its_axes_and_chosen_breaks_none(pairs: list[dict[str, Any]]) -> None:
    for row in pairs:
        chosen, rejected = row["chosen"][0], row["rejected"][0]
        point = point_of(row, chosen)
        assert violated_axes(point, chosen) == set(), row["id"]
        assert set(axes_of(row)) <= violated_axes(point, rejected), (row["id"], row["mutation"])


@pytest.mark.parametrize("mutation", [m.name for m in MUTATIONS])
def test_each_mutation_violates_what_it_says_by_registry_and_codec(pairs: list[dict[str, Any]], mutation: str) -> None:
    """Per mutation, the concrete fact behind the axis, read off the registry and the codec."""
    registry = load_registry()
    rows = [r for r in pairs if r["mutation"] == mutation]
    assert rows, mutation
    for row in rows:
        chosen_calls = message_calls(row["chosen"][0])
        rejected = row["rejected"][0]
        calls = calls_in(rejected)
        kinds = {i.kind for c in calls if c.name in registry for i in registry.validate_arguments(c.name, c.arguments)}
        value_kinds = kinds | {i.kind for c in calls if c.name in registry for i in semantic_issues(c)}
        if mutation == "hallucinated_tool":
            assert any(c.name not in registry for c in calls)
        elif mutation == "wrong_real_tool":
            assert all(c.name in registry for c in calls) and {c.name for c in calls} != {c.name for c in chosen_calls}
        elif mutation == "drop_required_key":
            assert "missing_required" in kinds
        elif mutation in ("invent_key", "misspell_key"):
            assert "unknown_key" in kinds
        elif mutation == "wrong_value_type":
            assert "wrong_type" in kinds
        elif mutation in ("out_of_range_value", "malformed_date"):
            assert value_kinds & {"out_of_range", "bad_value"}
        elif mutation in ("redundant_chain", "repeated_variants"):
            assert len(calls) >= 4 and len(chosen_calls) == 1 and all(not argument_issues(c) for c in calls)
        elif mutation in (
            "create_before_free_blocks",
            "course_call_before_lookup",
            "event_change_before_lookup",
            "plan_before_syllabus",
        ):
            revealed = "".join(m["content"] for m in row["prompt"] if m["role"] == "tool")
            assert len(calls) == 1 and not argument_issues(calls[0])
            assert calls[0].name != chosen_calls[0].name
            assert not any(
                f'"{v}"' in revealed or f":{v}," in revealed
                for v in calls[0].arguments.values()
                if isinstance(v, (int, str)) and len(str(v)) > 5
            )
        elif mutation == "prose_instead_of_call":
            assert not rejected.get("tool_calls") and "<|tool_call>" not in rejected["content"]
        elif mutation in ("broken_envelope", "python_repr_arguments"):
            assert not rejected.get("tool_calls") and isinstance(parse_calls(rejected["content"]), ParseError)
        elif mutation in (
            "calendar_question_canvas_tool",
            "canvas_question_calendar_tool",
            "study_question_other_tool",
        ):
            families = {c.name.split(".")[0] for c in chosen_calls}
            assert any(c.name.split(".")[0] not in families for c in calls)
            assert all(not argument_issues(c) for c in calls)
        elif mutation in ("repeat_last_call", "unneeded_extra_call"):
            assert not chosen_calls and row["chosen"][0]["content"] and row["prompt"][-1]["role"] == "tool"
            assert calls and not argument_issues(calls[0])


def test_counts_per_axis_within_ten_percent(pairs: list[dict[str, Any]], real_slice: Path) -> None:
    report = stages.load_report(real_slice, stages.PHASE2)
    for split, scale in (("train", 1.0), ("test", 1 / 8)):
        single = Counter(r["axis"] for r in pairs if r["split"] == split and isinstance(r["axis"], int))
        for axis, target in enumerate(TRAIN_AXIS_TARGETS, start=1):
            assert abs(single[axis] - target * scale) <= 0.1 * target * scale, (split, axis, single[axis])
            assert report[f"{split}.axis{axis}"] == single[axis]
        mixed = [r for r in pairs if r["split"] == split and isinstance(r["axis"], list)]
        assert 800 * scale <= len(mixed) <= 1600 * scale
        assert all(len(r["axis"]) >= 2 for r in mixed)
    train = sum(r["split"] == "train" for r in pairs)
    test = sum(r["split"] == "test" for r in pairs)
    assert 3200 <= train <= 4000 and 400 <= test <= 500


def test_pairs_are_trl_conversational_with_the_shared_prompt(pairs: list[dict[str, Any]]) -> None:
    for row in pairs:
        assert row["prompt"][0] == {"role": "system", "content": SYSTEM_INSTRUCTIONS}
        assert row["tools"] == tools_json()
        assert row["prompt"][-1]["role"] in ("user", "tool")
        assert [m["role"] for m in row["chosen"]] == ["assistant"] == [m["role"] for m in row["rejected"]]
        assert row["chosen"] != row["rejected"]
    assert any(r["prompt"][-1]["role"] == "tool" for r in pairs if r["axis"] == 8)  # decided after responses
    assert any(r["prompt"][-1]["role"] == "tool" for r in pairs if r["axis"] == 5)  # e.g. after list_courses


def test_pair_splits_keep_phase1_item_disjointness(pairs: list[dict[str, Any]]) -> None:
    train = set().union(*(r["item_ids"] for r in pairs if r["split"] == "train"))
    test = set().union(*(r["item_ids"] for r in pairs if r["split"] == "test"))
    assert train and test and not train & test


# ---------------------------------------------------------------- phase 3


def test_kto_sizes_ratio_and_weights(kto: list[dict[str, Any]], real_slice: Path) -> None:
    train = [r for r in kto if r["split"] == "train"]
    good, bad = sum(r["label"] for r in train), sum(not r["label"] for r in train)
    assert len(train) >= 2000 and 1.0 <= good / bad <= 4 / 3
    report = stages.load_report(real_slice, stages.PHASE3)
    assert report["desirable_to_undesirable"] == round(good / bad, 4)
    assert (report["kto_desirable_weight"], report["kto_undesirable_weight"]) == kto_weights(good, bad) == (1.0, 1.0)
    assert kto_weights(1000, 500)[0] * 1000 / 500 == pytest.approx(4 / 3, rel=1e-3)
    assert kto_weights(500, 1000) == (1.0, 0.5)
    test = [r for r in kto if r["split"] == "test"]
    assert test and not set().union(*(r["item_ids"] for r in train)) & set().union(*(r["item_ids"] for r in test))


def test_kto_labels_are_true_by_construction(kto: list[dict[str, Any]], real_slice: Path) -> None:
    points = {p.key: p for row in stages.load_trajectories(real_slice) for p in decision_points(row)}
    for row in kto:
        point = points[row["source_id"]]
        assert row["prompt"] == list(point.prompt)
        completion = row["completion"][0]
        if row["label"]:
            assert row["mutation"] is None and completion == point.chosen
            assert violated_axes(point, completion) == set()
        else:
            assert row["axis"] in violated_axes(point, completion), row["id"]


# ---------------------------------------------------------------- phase 4


def test_bench_is_item_disjoint_from_every_training_split(bench: list[dict[str, Any]], real_slice: Path) -> None:
    bench_ids = set().union(*(r["item_ids"] for r in bench))
    assert any(i.startswith("course:") for i in bench_ids) and any(i.startswith("item:") for i in bench_ids)
    for stage in (stages.PHASE1, stages.PHASE2, stages.PHASE3):
        training = set().union(*(r["item_ids"] for r in stages.load_rows(real_slice, stage)))
        assert not bench_ids & training, stage
    split_of_course = stages.load_report(real_slice, stages.PHASE1)["split_of_course"]
    courses = {i.split(":")[1] for i in bench_ids if i.startswith("course:")}
    assert courses and {split_of_course[c] for c in courses} == {"bench"}


def test_bench_size_per_tool_and_irrelevance(bench: list[dict[str, Any]]) -> None:
    assert len(bench) >= 1000
    first = Counter(r["expected_tools"][0] for r in bench if r["expected_tools"])
    assert all(first[t] >= 40 for t in load_registry().names), first
    irrelevant = [r for r in bench if r["category"] == "irrelevance"]
    assert len(irrelevant) >= 0.08 * len(bench)
    assert len({r["prompt"][-1]["content"] for r in irrelevant}) >= 50
    assert all(r["expected_tools"] == [] and r["min_calls"] == 0 for r in irrelevant)
    assert {r["category"] for r in bench} == {"single", "multi_step", "irrelevance"}


def test_bench_items_carry_the_training_prompt_and_valid_expectations(bench: list[dict[str, Any]]) -> None:
    for row in bench:
        assert row["prompt"][0] == {"role": "system", "content": system_prompt()}
        assert row["prompt"][-1]["role"] == "user"
        calls = [c for m in row["reference"] for c in message_calls(m)]
        assert [c.name for c in calls] == row["expected_tools"] and row["min_calls"] == len(calls)
        assert [t for step in row["expected_steps"] for t in step] == row["expected_tools"]
        for call, accepted in zip(calls, row["expected_args"], strict=True):
            assert not argument_issues(call)
            assert accepted.keys() == accepted_values(call).keys()
            for key, values in accepted_values(call).items():  # widened, never narrowed
                assert all(v in accepted[key] for v in values)
            for key, value in call.arguments.items():
                assert value in accepted[key]
            assert match_arguments(call.name, call.arguments, accepted).matched, (call, accepted)
            assert all(k in load_registry()[call.name].properties for k in accepted)
        assert row["context"]["split"] == "bench"


def test_bfcl_style_accepted_values() -> None:
    from canvas_pipeline.tools.codec import ToolCall

    accepted = accepted_values(ToolCall("canvas.get_assignments", {"course_id": 4264, "horizon_days": 14}))
    assert accepted == {"course_id": [4264], "horizon_days": [14, ""], "include_submitted": [False, ""]}
    event = accepted_values(
        ToolCall("calendar.create_event", {"title": "Study", "start_iso": "a", "end_iso": "b", "rationale": "r"})
    )
    assert event["title"] == ["Study"] and event["rationale"] == ["r", ""] and event["calendar_id"] == ["primary", ""]


def test_priority_pairs_become_reranker_items(bench: list[dict[str, Any]], real_slice: Path) -> None:
    import polars as pl

    real_queries = set(pl.read_parquet(real_slice / "curated" / "scrubbed_pairs.parquet")["query"].to_list())
    from_pairs = [r for r in bench if r["intent"] == "which_first_pair"]
    assert len(from_pairs) >= 20
    for row in from_pairs:
        assert row["expected_tools"] == ["reranker.priority_hint"]
        assert row["expected_args"][0]["query"][0] in real_queries
        assert any(i.startswith("pair_course:") for i in row["item_ids"])
