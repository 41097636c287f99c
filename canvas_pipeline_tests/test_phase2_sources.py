"""Phase 2 builds only from sound phase-1 rows: a row calling a tool the registry lacks (G7)
or a call that does not round-trip (G8) is quarantined with its reason, and a phase 1 whose
train calls fail G4's balance stops the build."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from canvas_pipeline.data.io import read_jsonl
from canvas_pipeline.data.phase2.build import usable_sources
from canvas_pipeline.data.stage import Quarantine


def _rows(real_slice: Path) -> list[dict]:
    return read_jsonl(real_slice / "phase1" / "sft_trajectories.jsonl")


def _first_call(row: dict) -> dict:
    return next(m for m in row["messages"] if m.get("tool_calls"))["tool_calls"][0]["function"]


def test_unknown_tools_and_broken_calls_are_quarantined_naming_the_row(real_slice: Path) -> None:
    rows = copy.deepcopy(_rows(real_slice))
    calling = [r for r in rows if any(m.get("tool_calls") for m in r["messages"])]
    unknown, broken = calling[0], calling[1]
    _first_call(unknown)["name"] = "canvas.get_tasks"
    _first_call(broken)["arguments"] = {"course_id": float("nan")}
    quarantine = Quarantine("phase2")
    kept = usable_sources(rows, quarantine)
    assert len(kept) == len(rows) - 2
    reasons = {r["record_id"]: r["reason"] for r in quarantine.rows}
    assert reasons == {unknown["id"]: "source_fails_G7", broken["id"]: "source_fails_G8"}


def test_an_unbalanced_phase1_stops_phase2(real_slice: Path) -> None:
    rows = [r for r in _rows(real_slice) if r["split"] != "train" or "canvas.get_grades" not in str(r["messages"])]
    with pytest.raises(ValueError, match="phase 1 fails G4.*canvas.get_grades"):
        usable_sources(rows, Quarantine("phase2"))
