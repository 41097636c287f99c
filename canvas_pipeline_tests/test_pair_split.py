"""Priority pairs: on the real exports and the demo term at least 70% are used, no pair
item is in two splits, and every pair left out is quarantined with its reason and counted
by G6 (which fails the stage when too few are used, naming it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from canvas_pipeline.data import stages
from canvas_pipeline.data.phase1.build import Phase1Config, pairs_by_split
from canvas_pipeline.guardrails import CheckConfig, load_bundle, run_guardrails


@pytest.mark.parametrize("seed", [0, 3, 7])
def test_real_pairs_mostly_used_and_item_disjoint(real_slice: Path, seed: int) -> None:
    _, pairs, _ = stages.curated_inputs(real_slice, "rule", None)
    config = Phase1Config(seed=seed)
    split = pairs_by_split(pairs, seed, config.pair_fractions)
    report = split.report()
    assert report["priority_pairs.rows_in"] == pairs.height == 800
    assert report["priority_pairs.retained"] >= 0.7, report
    for name, share in config.pair_fractions.items():
        assert len(split.pools[name]) >= share * pairs.height, (name, report)
    items = {name: {t for p in pool for t in (p.item_a, p.item_b)} for name, pool in split.pools.items()}
    assert (
        not items["train"] & items["test"]
        and not items["train"] & items["bench"]
        and not items["test"] & items["bench"]
    )
    assert len(split.left_out) + split.used == pairs.height
    assert {row["reason"] for row in split.left_out} == {"pair_straddles_splits"}


def test_left_out_pairs_are_quarantined_and_counted(real_slice: Path) -> None:
    report = stages.load_report(real_slice, stages.PHASE1)
    quarantine = pl.read_parquet(real_slice / "phase1" / "pair_quarantine.parquet")
    assert quarantine.height == report["priority_pairs.dropped.pair_straddles_splits"] > 0
    assert report["priority_pairs.rows_out"] + quarantine.height == report["priority_pairs.rows_in"]
    row = quarantine.row(0, named=True)
    assert row["source"] == "priority_pairs_anon.jsonl" and row["line"] >= 2 and " in " in row["detail"]
    (g6,) = run_guardrails(load_bundle(real_slice, datasets=(), stages=("phase1",)), CheckConfig(), ["G6"])
    assert g6.passed is True and g6.value["phase1.priority_pairs"] == report["priority_pairs.retained"]


def test_g6_fails_when_too_few_pairs_are_used(real_slice: Path, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    shutil.copytree(real_slice / "phase1", folder / "phase1")
    path = folder / "phase1" / "report.json"
    report = json.loads(path.read_text())
    report.update({"priority_pairs.rows_out": 300, "priority_pairs.retained": 0.375})
    path.write_text(json.dumps(report))
    bundle = load_bundle(folder, datasets=(), stages=("phase1",))
    (g6,) = run_guardrails(bundle, CheckConfig(), ["G6"])
    assert g6.passed is False and g6.details[0].startswith("phase1.priority_pairs: 800 -> 300 rows (37.5%)")
    allowed = CheckConfig(allow_shrinkage={"phase1.priority_pairs": "a planted test"})
    (g6,) = run_guardrails(bundle, allowed, ["G6"])
    assert g6.passed is True and "a planted test" in g6.reason
