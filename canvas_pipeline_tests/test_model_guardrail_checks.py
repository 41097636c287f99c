"""G3, G5, G9 and G10 as asset checks: every guardrail G1-G14 is a check in the definitions;
G3 judges the base model's bench record (blocking; a missing record is NOT RUN, not an error);
G5 judges the dry run of the method a checkpoint run trained (blocking), G9 that
method's mini-train (WARN, left out of README command 1's jobs), G10 the container
images; a guardrail that cannot run is reported not passed, NOT RUN, with the reason.

The checkpoints are stand-ins (an asset with the real key and partitions that writes
nothing, or the files a trained method leaves); no model is trained here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from canvas_pipeline.definitions import defs
from canvas_pipeline.defs import checks_models
from canvas_pipeline.defs.assets_training import BASE_BENCH_KEY, CHECKPOINT_KEY, METHOD_PARTITIONS, g3_base_bench
from canvas_pipeline.defs.checks_models import g5_checkpoint, g5_sft, g9_checkpoint, g9_sft
from canvas_pipeline.defs.keys import SFT_KEY
from canvas_pipeline.defs.project import CONTAINERS_KEY, g10_containers_check
from canvas_pipeline.defs.resources import DataSettings, ModelSettings

GUARDRAIL_IDS = {f"G{i}" for i in range(1, 15)}


def _ids(check_keys) -> set[str]:  # noqa: ANN001
    return {k.name.split("_")[0] for k in check_keys if k.name.startswith("G")}


def test_every_guardrail_is_an_asset_check_in_the_definitions() -> None:
    graph = defs.resolve_asset_graph()
    assert _ids(graph.asset_check_keys) == GUARDRAIL_IDS
    where = {
        "G5": {SFT_KEY, CHECKPOINT_KEY},
        "G9": {SFT_KEY, CHECKPOINT_KEY},
        "G10": {CONTAINERS_KEY},
    }
    for gid, assets in where.items():
        assert {k.asset_key for k in graph.asset_check_keys if k.name.split("_")[0] == gid} == assets, gid
    specs = {k: graph.get_check_spec(k) for k in graph.asset_check_keys}
    assert all(s.description and len(s.description) > 40 for s in specs.values())
    assert all(specs[k].blocking for k in g5_sft.check_keys | g5_checkpoint.check_keys)
    assert not any(specs[k].blocking for k in g9_sft.check_keys | g9_checkpoint.check_keys)


def test_command_1_jobs_run_g5_and_leave_the_slow_checks_out() -> None:
    """README command 1 runs data_job, base_model_job, sft_job, training_job, report_job:
    G5 is in the two training jobs; G9 (minutes) and G10 (a docker build) are in none."""
    slow = g9_sft.check_keys | g9_checkpoint.check_keys | g10_containers_check.check_keys

    def job_checks(name: str) -> set[dg.AssetCheckKey]:
        return set(defs.resolve_job_def(name).asset_layer.asset_graph.asset_check_keys)

    for name in ("data_job", "base_model_job", "sft_job", "training_job", "report_job"):
        assert not (slow & job_checks(name)), name
    assert g5_sft.check_keys <= job_checks("sft_job")
    assert g5_checkpoint.check_keys <= job_checks("training_job")
    assert checks_models.SLOW_CHECKS == [g9_sft, g9_checkpoint]


# ---------------------------------------------------------------- running them


@dg.asset(key=CHECKPOINT_KEY, partitions_def=METHOD_PARTITIONS)
def stand_in_checkpoint() -> None:
    """Stands in for the trained partition; the files are laid out by the test."""


@dg.asset(key=SFT_KEY)
def stand_in_sft() -> None:
    """Stands in for the trained `sft` checkpoint; the files are laid out by the test."""


def _evaluate(
    out: Path, assets: list[Any], partition: str | None = None, profile: str = "tiny", selection: Any = None
) -> dg.AssetCheckEvaluation:
    result = dg.materialize(
        assets,
        selection=selection,
        partition_key=partition,
        resources={"data": DataSettings(out_dir=str(out)), "model": ModelSettings(profile=profile)},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def _meta(evaluation: dg.AssetCheckEvaluation) -> dict[str, Any]:
    return {k: v.value for k, v in evaluation.metadata.items()}


def _record(out: Path, method: str, grad_norm: float, *, checkpoint: bool = True) -> None:
    from canvas_pipeline.data.layout import DRY_RUN_RECORD, MANIFEST, checkpoint_dir, models_dir

    runs = models_dir(out, "tiny") / "runs" / method
    runs.mkdir(parents=True, exist_ok=True)
    passed = grad_norm < 1.0
    reason = "ok" if passed else f"grad_norm {grad_norm} >= 1.0"
    (runs / DRY_RUN_RECORD).write_text(json.dumps({"grad_norm": grad_norm, "passed": passed, "reason": reason}))
    if checkpoint:
        folder = checkpoint_dir(out, "tiny", method)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MANIFEST).write_text("{}")


def test_g5_judges_the_partitions_own_dry_run(tmp_path: Path) -> None:
    _record(tmp_path, "dpo", 0.42)
    _record(tmp_path, "kto", 3.5)  # another partition's failure is not this run's verdict
    evaluation = _evaluate(tmp_path, [stand_in_checkpoint, g5_checkpoint], "dpo")
    assert evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert _meta(evaluation)["value"] == {"dpo": 0.42} and _meta(evaluation)["status"] == "PASS"

    failed = _evaluate(tmp_path, [stand_in_checkpoint, g5_checkpoint], "kto")
    assert not failed.passed and _meta(failed)["status"] == "FAIL"
    assert "kto: grad_norm 3.5 >= 1.0" in _meta(failed)["details"]


def test_g5_fails_a_checkpoint_with_no_dry_run_record(tmp_path: Path) -> None:
    from canvas_pipeline.data.layout import MANIFEST, checkpoint_dir

    folder = checkpoint_dir(tmp_path, "tiny", "sft")
    folder.mkdir(parents=True)
    (folder / MANIFEST).write_text("{}")
    evaluation = _evaluate(tmp_path, [stand_in_sft, g5_sft])
    assert not evaluation.passed and _meta(evaluation)["status"] == "FAIL"
    assert "sft: a checkpoint without a dry-run record" in _meta(evaluation)["details"]


def test_g5_with_nothing_to_judge_is_not_run_and_not_passed(tmp_path: Path) -> None:
    evaluation = _evaluate(tmp_path, [stand_in_checkpoint, g5_checkpoint], "ipo")
    meta = _meta(evaluation)
    assert evaluation.passed is False and meta["status"] == "NOT RUN"
    assert "no dry-run record for ipo under" in meta["reason"]


def test_g9_without_its_inputs_is_not_run_and_not_passed(tmp_path: Path) -> None:
    evaluation = _evaluate(tmp_path, [stand_in_sft, g9_sft])
    meta = _meta(evaluation)
    assert evaluation.passed is False and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert meta["status"] == "NOT RUN" and "tokenizer" in meta["reason"] and "materialize data_job" in meta["reason"]


@pytest.mark.parametrize(("wrong_way", "passed"), [({}, True), ({"axis_4": -0.2}, False)])
def test_g9_runs_the_partitions_mini_train_and_reports_its_direction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wrong_way: dict[str, float], passed: bool
) -> None:
    """The mini-train itself is replaced by a recorder (test_training_g9.py runs the real
    ones); what is checked is which method runs and how its outcome is reported."""
    import canvas_pipeline.training.mini_train as mini_train
    from canvas_pipeline.guardrails.inputs import DATASET_FILES
    from canvas_pipeline.training.tokenizer import profile_tokenizer_dir

    profile_tokenizer_dir(tmp_path, "tiny").mkdir(parents=True)
    for dataset in checks_models.MINI_TRAIN_DATASETS:
        (tmp_path / DATASET_FILES[dataset][0]).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / DATASET_FILES[dataset][0]).write_text("")
    asked: list[list[str]] = []

    def recorder(data_dir, tokenizer_dir, work_dir, methods, seed=0):  # noqa: ANN001, ANN202
        asked.append(list(methods))
        return [
            mini_train.MiniTrainOutcome(m, "eval margin", {}, {"all": 0.3}, dict(wrong_way), 1, 2, 0.1) for m in methods
        ]

    monkeypatch.setattr(mini_train, "run_mini_trains", recorder)
    evaluation = _evaluate(tmp_path, [stand_in_checkpoint, g9_checkpoint], "nca")
    assert asked == [["nca"]]
    assert evaluation.passed is passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert _meta(evaluation)["value"] == {"nca": "right way" if passed else "wrong way"}
    assert _meta(evaluation)["threshold"] == "nca: moves the right way"


def test_g10_without_a_container_engine_is_not_run_and_not_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Layer (a) (each container's argv, the training image's run here) passes; with the
    engine layer off there is no build, so G10 has no verdict: not passed, NOT RUN."""
    monkeypatch.setenv("CANVAS_G10_ENGINE", "off")
    result = dg.materialize(
        [dg.AssetSpec(CONTAINERS_KEY), g10_containers_check],
        instance=dg.DagsterInstance.ephemeral(),
        selection=dg.AssetSelection.checks(g10_containers_check),
        raise_on_error=False,
    )
    (evaluation,) = result.get_asset_check_evaluations()
    meta = _meta(evaluation)
    assert evaluation.passed is False and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert meta["status"] == "NOT RUN" and "engine layer (b) not run" in meta["reason"]
    assert "layer (a) passed" in meta["reason"]


@pytest.mark.parametrize(
    ("record", "status"),
    [
        (None, "NOT RUN"),
        ("{not json", "NOT RUN"),
        (json.dumps({"summary": {"tool_selection_accuracy": 0.12, "items": 50}}), "FAIL"),
        (json.dumps({"summary": {"tool_selection_accuracy": 0.5, "items": 50}}), "PASS"),
    ],
)
def test_g3_judges_the_base_bench_record_and_reports_a_missing_one_not_run(
    tmp_path: Path, record: str | None, status: str
) -> None:
    from canvas_pipeline.data.layout import base_bench_path

    if record is not None:
        base_bench_path(tmp_path, "tiny").parent.mkdir(parents=True)
        base_bench_path(tmp_path, "tiny").write_text(record)
    checks_only = dg.AssetSelection.checks(g3_base_bench)
    evaluation = _evaluate(tmp_path, [dg.AssetSpec(BASE_BENCH_KEY), g3_base_bench], selection=checks_only)
    meta = _meta(evaluation)
    assert evaluation.passed is (status == "PASS") and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert meta["status"] == status
    if status == "NOT RUN":
        assert str(base_bench_path(tmp_path, "tiny")) in meta["reason"]
