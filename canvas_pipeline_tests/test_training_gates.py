"""G3 and G5 in the guardrail registry read the records the base bench and the training
dry runs write; without those records they report NOT RUN with the reason, never PASS."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from canvas_pipeline.data.layout import DRY_RUN_RECORD, run_dir
from canvas_pipeline.guardrails import load_bundle, run_guardrails
from canvas_pipeline.training.guardrail_config import check_config


@pytest.fixture
def folder(real_slice: Path, tmp_path: Path) -> Path:
    """A data folder of its own (the bench file only) to write records into."""
    (tmp_path / "phase4").mkdir()
    shutil.copy(real_slice / "phase4" / "benchmark.jsonl", tmp_path / "phase4")
    return tmp_path


def _results(folder: Path) -> dict[str, object]:
    results = run_guardrails(load_bundle(folder, datasets=("phase4",)), check_config("tiny", None), ("G3", "G5"))
    return {r.id: r for r in results}


def _dry_run(folder: Path, method: str, grad_norm: float, passed: bool, reason: str = "ok") -> None:
    path = run_dir(folder, "tiny", method) / DRY_RUN_RECORD
    path.parent.mkdir(parents=True)
    record = {"method": method, "loss": 1.5, "grad_norm": grad_norm, "passed": passed, "reason": reason}
    path.write_text(json.dumps(record))


def test_g3_and_g5_are_not_run_without_their_records(folder: Path) -> None:
    results = _results(folder)
    assert results["G3"].passed is None and "eval/base_bench" in results["G3"].reason
    assert results["G5"].passed is None and "models/checkpoint" in results["G5"].reason


def test_g3_reads_the_base_bench_record(folder: Path) -> None:
    record = folder / "eval" / "tiny" / "base_bench.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"summary": {"tool_selection_accuracy": 0.07, "items": 192}}))
    g3 = _results(folder)["G3"]
    assert g3.passed is False and "7.0%" in g3.details[0]
    record.write_text(json.dumps({"summary": {"tool_selection_accuracy": 0.24, "items": 192}}))
    g3 = _results(folder)["G3"]
    assert g3.passed is True and g3.value == {"tool_selection_accuracy": 0.24, "items": 192}


def test_g5_fails_on_any_method_whose_dry_run_failed(folder: Path) -> None:
    _dry_run(folder, "sft", 0.42, True)
    assert _results(folder)["G5"].passed is True
    _dry_run(folder, "kto", 290.0, False, "grad_norm 290 >= 1.0")
    g5 = _results(folder)["G5"]
    assert g5.passed is False and g5.value == {"kto": 290.0, "sft": 0.42}
    assert g5.details == ("kto: grad_norm 290 >= 1.0",)
