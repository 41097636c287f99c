"""The train split's intent mix: the documented target, the closest mix G4 allows, and what
the real-data build drew."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from statistics import mean, pstdev

import pytest

from canvas_pipeline.data.phase1.intent_mix import REQUEST_WEIGHTS, solve_mix
from canvas_pipeline.data.phase1.intents import INTENTS
from canvas_pipeline.tools.registry import load_registry

TRAIN_INTENTS = [i for i in INTENTS if "train" in i.splits]


def test_every_train_intent_that_calls_a_tool_has_a_documented_weight() -> None:
    assert {i.name for i in TRAIN_INTENTS if i.tools} == set(REQUEST_WEIGHTS)


def test_the_mix_keeps_g4_with_a_margin_and_the_most_common_request_first() -> None:
    mix = solve_mix(TRAIN_INTENTS, REQUEST_WEIGHTS, rows=2880, min_calls=60, max_cv=0.25)
    assert mix.expected_cv <= 0.25 + 1e-6 and mix.expected_min_calls >= 60 - 1e-6
    assert mix.target_cv > 0.3  # the target alone would fail G4: that is why a mix is solved
    assert abs(sum(mix.weights.values()) - 1) < 1e-9 and min(mix.weights.values()) >= 0.004 - 1e-9
    top_request = max(REQUEST_WEIGHTS, key=REQUEST_WEIGHTS.__getitem__)
    assert max(mix.weights, key=mix.weights.__getitem__) == top_request
    uniform = 1 / len(mix.weights)
    assert mix.weights[top_request] > 1.5 * uniform


def test_a_missing_weight_and_an_infeasible_bound_fail_naming_why() -> None:
    partial = {k: v for k, v in REQUEST_WEIGHTS.items() if k != "exam_day"}
    with pytest.raises(ValueError, match="exam_day"):
        solve_mix(TRAIN_INTENTS, partial, rows=2880, min_calls=60, max_cv=0.25)
    with pytest.raises(ValueError, match="CV <= 0.01"):
        solve_mix(TRAIN_INTENTS, REQUEST_WEIGHTS, rows=2880, min_calls=60, max_cv=0.01)
    with pytest.raises(ValueError, match="every tool >= 5000"):
        solve_mix(TRAIN_INTENTS, REQUEST_WEIGHTS, rows=2880, min_calls=5000, max_cv=0.25)


def test_real_build_draws_the_mix_and_keeps_g4(real_slice: Path) -> None:
    report = json.loads((real_slice / "phase1" / "report.json").read_text())
    rows = [json.loads(line) for line in (real_slice / "phase1" / "sft_trajectories.jsonl").open()]
    train = [r for r in rows if r["split"] == "train"]
    assert report["intent_mix.realised_total_variation_from_mix"] <= 0.08
    shares = Counter(r["intent"] for r in train)
    # The old tool-only balancing gave "what's due" 0.8% of train and six niche intents 40%.
    assert shares["due_soon_all"] / len(train) >= 0.05
    assert report["intent_mix.most_common"][0][0] in {"due_soon_all", "grades_all", "announcements_all"}
    counts = Counter(t for r in train for t in r["tools_used"])
    values = [counts[t] for t in load_registry().names]
    assert min(values) >= 30 and pstdev(values) / mean(values) <= 0.3


def test_parallel_flag_names_exactly_the_intents_that_call_together(real_slice: Path) -> None:
    """The mix keeps a floor for these intents because phase 2's under-calling pairs need them;
    a flag that drifted from what the intents do would starve axis 4 silently."""
    rows = [json.loads(line) for line in (real_slice / "phase1" / "sft_trajectories.jsonl").open()]
    together = {
        r["intent"]
        for r in rows
        if any(len(m.get("tool_calls") or []) >= 2 for m in r["messages"] if m["role"] == "assistant")
    }
    assert together == {i.name for i in TRAIN_INTENTS if i.parallel_calls}
    train = [r for r in rows if r["split"] == "train"]
    assert sum(r["intent"] in together for r in train) >= 0.06 * len(train)
