"""Phases 2-4 on the real Canvas exports: every mutation breaks exactly its axis (and the
chosen side none), the context axes go both ways, counts per axis, KTO balance, and a
bench held out of training."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from canvas_pipeline.data import stages
from canvas_pipeline.data.phase2.axes import calls_in, violated_axes
from canvas_pipeline.data.phase2.build import TRAIN_AXIS_TARGETS, completion_pair_key
from canvas_pipeline.data.phase2.mutations import MUTATIONS, by_axis
from canvas_pipeline.data.phase2.points import DecisionPoint, decision_points
from canvas_pipeline.data.phase3.build import kto_weights
from canvas_pipeline.data.phase3.misreport import NUMBER
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


@pytest.fixture(scope="module")
def points(real_slice: Path) -> dict[str, DecisionPoint]:
    """Every decision point of phase 1, by key: what a pair was made at, with what the
    trajectory did before and after it."""
    return {p.key: p for row in stages.load_trajectories(real_slice) for p in decision_points(row)}


def names(row: dict[str, Any]) -> list[str]:
    return [row["mutation"]] if isinstance(row["mutation"], str) else row["mutation"]


def axes_of(row: dict[str, Any]) -> list[int]:
    return [row["axis"]] if isinstance(row["axis"], int) else row["axis"]


def family(name: str) -> str:
    return name.split(".")[0]


# ---------------------------------------------------------------- phase 2


def test_every_mutation_is_used_and_every_axis_has_two(pairs: list[dict[str, Any]]) -> None:
    used = Counter(n for r in pairs for n in names(r))
    assert set(used) == {m.name for m in MUTATIONS}
    assert all(len(by_axis(axis)) >= 2 for axis in range(1, 9))


def test_labels_are_exact(pairs: list[dict[str, Any]], points: dict[str, DecisionPoint]) -> None:
    """The rejected side breaks exactly the axes its label names (a mixed pair all of them,
    a single-axis pair no other), judged by the same axis functions; the chosen side none."""
    for row in pairs:
        point = points[row["source_id"]]
        assert row["prompt"] == point.prompt_messages() and row["chosen"] == [point.chosen]
        assert violated_axes(point, row["chosen"][0]) == set(), row["id"]
        assert violated_axes(point, row["rejected"][0]) == set(axes_of(row)), (row["id"], row["mutation"])


def test_context_axes_go_both_ways(pairs: list[dict[str, Any]], real_slice: Path) -> None:
    """Parsimony, ordering and termination each have pairs where the chosen side says more
    and pairs where it says less; in axes 4 and 8 the chosen side makes more calls in at
    least a quarter of the pairs; over axis 7 every family is about as often chosen as
    rejected."""
    report = stages.load_report(real_slice, stages.PHASE2)
    train = [r for r in pairs if r["split"] == "train"]
    for axis in (4, 5, 8):
        ways = Counter(r["direction"] for r in train if r["axis"] == axis)
        assert set(ways) == {"more", "less"} and min(ways.values()) >= 0.25 * sum(ways.values()), (axis, ways)
    for axis in (4, 8):
        rows = [r for r in train if r["axis"] == axis]
        more = sum(len(calls_in(r["chosen"][0])) > len(calls_in(r["rejected"][0])) for r in rows)
        assert more >= 0.25 * len(rows) and report[f"train.axis{axis}_chosen_more_calls"] == round(more / len(rows), 4)
    rows = [r for r in train if r["axis"] == 7]
    chosen = Counter(family(c.name) for r in rows for c in calls_in(r["chosen"][0]))
    rejected = Counter(family(c.name) for r in rows for c in calls_in(r["rejected"][0]))
    for fam in chosen | rejected:
        assert abs(chosen[fam] - rejected[fam]) <= 0.1 * len(rows) + 5, (fam, chosen, rejected)


def _later_values(point: DecisionPoint) -> set[str]:
    return {json.dumps(v) for c in point.later_calls() for v in c.arguments.values()}


@pytest.mark.parametrize("mutation", [m.name for m in MUTATIONS])
def test_each_mutation_does_what_it_says(
    pairs: list[dict[str, Any]], points: dict[str, DecisionPoint], mutation: str
) -> None:
    """Per mutation, the concrete fact behind the axis, read off the registry, the codec and
    the conversation (a wrong side never uses what the conversation has not shown yet)."""
    registry = load_registry()
    rows = [r for r in pairs if r["mutation"] == mutation]
    assert rows, mutation
    for row in rows:
        point = points[row["source_id"]]
        chosen_calls = message_calls(row["chosen"][0])
        rejected = row["rejected"][0]
        calls = calls_in(rejected)
        kinds = {i.kind for c in calls if c.name in registry for i in registry.validate_arguments(c.name, c.arguments)}
        value_kinds = kinds | {i.kind for c in calls if c.name in registry for i in semantic_issues(c)}
        prior = [json.dumps([c.name, c.arguments], sort_keys=True) for m in row["prompt"] for c in message_calls(m)]
        if mutation == "hallucinated_tool":
            assert any(c.name not in registry for c in calls)
        elif mutation == "wrong_real_tool":
            assert all(c.name in registry for c in calls) and {c.name for c in calls} != {c.name for c in chosen_calls}
            assert {family(c.name) for c in calls} == {family(c.name) for c in chosen_calls}
        elif mutation == "drop_required_key":
            assert "missing_required" in kinds
        elif mutation in ("invent_key", "misspell_key"):
            assert "unknown_key" in kinds
        elif mutation == "wrong_value_type":
            assert "wrong_type" in kinds
        elif mutation in ("out_of_range_value", "malformed_date"):
            assert value_kinds & {"out_of_range", "bad_value"}
        elif mutation == "context_value":
            assert not argument_issues(calls[0]) and calls[0].name == chosen_calls[0].name
            assert calls[0].arguments != chosen_calls[0].arguments
        elif mutation == "over_calling":
            assert len(calls) == len(chosen_calls) + 1 and all(c in calls for c in chosen_calls)
            assert all(not argument_issues(c) for c in calls)
        elif mutation == "under_calling":
            assert 0 < len(calls) < len(chosen_calls) and all(c in chosen_calls for c in calls)
        elif mutation == "call_before_prerequisite":
            assert len(calls) == 1 and not argument_issues(calls[0])
            assert calls[0].name in {c.name for c in point.later_calls()}
            # the id, slot or date it needs is guessed, not read off the trajectory's future
            later = [c for c in point.later_calls() if c.name == calls[0].name]
            assert all(c.arguments != calls[0].arguments for c in later)
        elif mutation in ("rerun_prerequisite", "repeat_prior_call"):
            assert calls and all(json.dumps([c.name, c.arguments], sort_keys=True) in prior for c in calls)
        elif mutation == "prose_instead_of_call":
            assert not rejected.get("tool_calls") and "<|tool_call>" not in rejected["content"]
            assert any(c.name in rejected["content"] for c in chosen_calls)
        elif mutation in ("broken_envelope", "python_repr_arguments"):
            assert not rejected.get("tool_calls") and isinstance(parse_calls(rejected["content"]), ParseError)
        elif mutation in ("calendar_question_other_tool", "canvas_question_other_tool", "study_question_other_tool"):
            families = {family(c.name) for c in chosen_calls}
            assert any(family(c.name) not in families for c in calls)
            assert all(not argument_issues(c) for c in calls)
        elif mutation == "call_after_answer_known":
            assert not chosen_calls and row["chosen"][0]["content"] and row["prompt"][-1]["role"] == "tool"
            assert calls and not argument_issues(calls[0])
        elif mutation == "premature_answer":
            assert chosen_calls and not calls and rejected["content"]
            own = {m["content"] for m in point.later if m["role"] == "assistant" and not m.get("tool_calls")}
            assert rejected["content"] not in own  # another conversation's answer, not this one's future


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


def test_held_out_pairs_do_not_repeat_train_pairs(pairs: list[dict[str, Any]], real_slice: Path) -> None:
    """A test pair whose two completions a train pair already holds is recall, not reading:
    none carries an argument; the argument-free ones (no item to hold out) are counted."""
    train = {completion_pair_key(r["chosen"][0], r["rejected"][0]) for r in pairs if r["split"] == "train"}
    repeats = [
        r for r in pairs if r["split"] == "test" and completion_pair_key(r["chosen"][0], r["rejected"][0]) in train
    ]
    for row in repeats:
        calls = [c for side in ("chosen", "rejected") for c in row[side][0].get("tool_calls") or []]
        assert calls and not any(c["function"]["arguments"] for c in calls), row["id"]
    report = stages.load_report(real_slice, stages.PHASE2)
    assert report["test.pairs_repeating_train_argument_free"] == len(repeats)
    assert report["test.pairs_repeating_train_skipped"] > 0
    assert len(repeats) <= 0.1 * sum(r["split"] == "test" for r in pairs)


def test_kto_sizes_ratio_and_weights(kto: list[dict[str, Any]], real_slice: Path) -> None:
    train = [r for r in kto if r["split"] == "train"]
    misreported = sum(r["mutation"] == "misreported_answer" for r in train)
    assert misreported == stages.load_report(real_slice, stages.PHASE3)["train.undesirable_misreported"] >= 100
    good, bad = sum(r["label"] for r in train), sum(not r["label"] for r in train)
    assert len(train) >= 2000 and 1.0 <= good / bad <= 4 / 3
    report = stages.load_report(real_slice, stages.PHASE3)
    assert report["desirable_to_undesirable"] == round(good / bad, 4)
    assert (report["kto_desirable_weight"], report["kto_undesirable_weight"]) == kto_weights(good, bad) == (1.0, 1.0)
    assert kto_weights(1000, 500)[0] * 1000 / 500 == pytest.approx(4 / 3, rel=1e-3)
    assert kto_weights(500, 1000) == (1.0, 0.5)
    test = [r for r in kto if r["split"] == "test"]
    assert test and not set().union(*(r["item_ids"] for r in train)) & set().union(*(r["item_ids"] for r in test))


def test_kto_labels_are_true_by_construction(kto: list[dict[str, Any]], points: dict[str, DecisionPoint]) -> None:
    for row in kto:
        point = points[row["source_id"]]
        assert row["prompt"] == list(point.prompt)
        completion = row["completion"][0]
        if row["label"]:
            assert row["mutation"] is None and completion == point.chosen
            assert violated_axes(point, completion) == set()
        elif row["mutation"] == "misreported_answer":
            # no axis: the right kind of answer with one figure the tools returned changed
            assert row["axis"] is None and point.kind == "answer" and violated_axes(point, completion) == set()
            said, right = completion["content"], point.chosen["content"]
            changed = [(a, b) for a, b in zip(NUMBER.findall(said), NUMBER.findall(right), strict=True) if a != b]
            assert len(changed) == 1 and said != right, row["id"]
        else:
            assert violated_axes(point, completion) == {row["axis"]}, row["id"]


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
        assert any(i.startswith("pair_item:") for i in row["item_ids"])
