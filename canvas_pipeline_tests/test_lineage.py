"""Lineage: guardrail verdicts bound to the content they judged, training that refuses data
whose guardrails did not all pass on exactly that content (from the CLI and from a later
Dagster run), checkpoints marked when the run that would replace them fails, and stale
evidence refused by the selection and the release. Real data (the real exports), real
guardrails, real CLI and Dagster runs; the checkpoints in the stale-evidence tests are
files with real fingerprints, since only their lineage is judged."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from canvas_pipeline.data.layout import MANIFEST, base_model_dir, bench_record_path, checkpoint_dir
from canvas_pipeline.data.lineage import folder_fingerprint, stage_fingerprint
from canvas_pipeline.evaluation.bench import run_method_bench
from canvas_pipeline.evaluation.freshness import bench_lineage, record_staleness, stale_records, weights_match
from canvas_pipeline.guardrails.verdicts import read_verdicts, verdict_path
from canvas_pipeline.training.gates import GateError, data_gate, on_policy_staleness, stage_refusals
from canvas_pipeline.training.lineage import SUPERSEDED, mark_superseded, weights_fingerprint
from canvas_pipeline.training.methods import get_method
from canvas_pipeline.training.tokenizer import profile_tokenizer_dir

BIN = Path(sys.executable).parent
PHASES = ("phase1", "phase2", "phase3")


def QUIET(_line: str) -> None:  # noqa: N802
    """A log that keeps nothing."""


@pytest.fixture(scope="module")
def judged(real_slice: Path, tiny_tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the real data with the tiny tokenizer in place and phases 1-3 judged once
    (their verdicts recorded against their fingerprints)."""
    out = tmp_path_factory.mktemp("judged")
    for stage in ("raw", "curated", *PHASES, "phase4"):
        shutil.copytree(real_slice / stage, out / stage)
    shutil.copytree(tiny_tokenizer_dir, profile_tokenizer_dir(out, "tiny"))
    _, reasons = stage_refusals(dict.fromkeys(PHASES, out), "tiny", profile_tokenizer_dir(out, "tiny"), QUIET)
    assert reasons == []
    return out


@pytest.fixture
def data(judged: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(judged, out)
    return out


def rename_tool(out: Path, old: str = "canvas.get_todo", new: str = "canvas.get_tasks") -> None:
    path = out / "phase3" / "kto_feedback.jsonl"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_a_verdict_holds_only_for_the_content_it_judged(data: Path) -> None:
    before = stage_fingerprint(data, "phase3", "tiny")
    verdicts = read_verdicts(data, "phase3", "tiny", before)
    assert verdicts is not None and {v["status"] for v in verdicts.values()} == {"PASS"}
    assert set(verdicts) == {"G2", "G6", "G7", "G8", "G11", "G12", "G13", "G14"}

    rename_tool(data)
    after = stage_fingerprint(data, "phase3", "tiny")
    assert after != before
    assert read_verdicts(data, "phase3", "tiny", after) is None  # a verdict on other content is none

    fingerprints, reasons = stage_refusals({"phase3": data}, "tiny", profile_tokenizer_dir(data, "tiny"), QUIET)
    assert fingerprints == {"phase3": after}
    assert len(reasons) == 1 and reasons[0].startswith(f"G7 FAIL on phase3 {after[:12]}")
    assert "canvas.get_tasks" in reasons[0]
    recorded = json.loads(verdict_path(data, "phase3", "tiny").read_text())
    assert recorded["fingerprint"] == after and recorded["results"]["G7"]["status"] == "FAIL"


def test_a_stage_never_judged_is_judged_before_training_and_a_missing_one_named(data: Path) -> None:
    verdict_path(data, "phase1", "tiny").unlink()
    lines: list[str] = []
    tokenizer = profile_tokenizer_dir(data, "tiny")
    fingerprints = data_gate(get_method("sft"), data, data, "tiny", Path("nowhere"), tokenizer, lines.append)
    assert fingerprints == {"phase1": stage_fingerprint(data, "phase1", "tiny")}
    assert any("has no guardrail verdicts" in line for line in lines)
    assert read_verdicts(data, "phase1", "tiny", fingerprints["phase1"]) is not None

    with pytest.raises(GateError) as refused:
        data_gate(get_method("kto"), data, data, "tiny", checkpoint_dir(data, "tiny", "sft"), tokenizer, QUIET)
    assert "no on_policy in" in str(refused.value) and "canvas-train on-policy" in str(refused.value)


def _fake_checkpoint(out: Path, method: str) -> Path:
    """A checkpoint folder whose manifest records the lineage training would: its stages'
    and its base's fingerprints, its reference's and its own weights'."""
    base = base_model_dir(out, "tiny")
    if not base.is_dir():
        base.mkdir(parents=True)
        (base / "model.safetensors").write_bytes(b"base weights")
    folder = checkpoint_dir(out, "tiny", method)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.safetensors").write_bytes(f"{method} weights".encode())
    config = get_method(method)
    stages = ("phase1",) if config.trainer == "sft" else (config.phase,)
    reference = None
    if config.reference:
        reference = json.loads((checkpoint_dir(out, "tiny", config.reference) / MANIFEST).read_text())["lineage"]
    lineage = {
        "data": {s: stage_fingerprint(out, s, "tiny") for s in stages},
        "base": folder_fingerprint(base),
        "reference": reference["checkpoint"] if reference else None,
        "checkpoint": weights_fingerprint(folder),
    }
    (folder / MANIFEST).write_text(json.dumps({"method": method, "adapter": "full", "lineage": lineage}))
    record = {"method": method, "lineage": bench_lineage(out, "tiny", folder)}
    bench_record_path(out, "tiny", method).parent.mkdir(parents=True, exist_ok=True)
    bench_record_path(out, "tiny", method).write_text(json.dumps(record))
    return folder


def test_training_refuses_a_renamed_tool_from_the_cli_and_from_a_later_dagster_run_naming_g7(data: Path) -> None:
    import dagster as dg

    from canvas_pipeline.definitions import defs
    from canvas_pipeline.defs.resources import DataSettings, ModelSettings

    _fake_checkpoint(data, "sft")
    old = _fake_checkpoint(data, "kto")
    rename_tool(data)
    proc = subprocess.run(
        [str(BIN / "canvas-train"), "train", "--method", "kto", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "kto may not train on this data: G7 FAIL on phase3" in proc.stderr
    # The checkpoint the failed run would have replaced says so; its weights are untouched.
    assert "GateError" in json.loads((old / SUPERSEDED).read_text())["reason"]
    assert (old / "model.safetensors").read_bytes() == b"kto weights"

    # A later run, in Dagster, with no check in it: the recorded FAIL on this content stops it.
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("training_job").execute_in_process(
            partition_key="kto",
            resources={"data": DataSettings(out_dir=str(data)), "model": ModelSettings()},
            instance=instance,
            raise_on_error=False,
        )
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert len(failures) == 1
    assert "G7 FAIL on phase3" in failures[0].step_failure_data.error.message


def test_the_on_policy_stage_refuses_a_phase_whose_guardrail_failed(data: Path) -> None:
    from canvas_pipeline.evaluation.on_policy import OnPolicyConfig, write_on_policy_stage

    _fake_checkpoint(data, "sft")
    rename_tool(data)
    with pytest.raises(GateError, match="the on-policy stage may not be built: G7 FAIL on phase3"):
        write_on_policy_stage(data, "tiny", OnPolicyConfig(points=8), log=QUIET)
    assert not (data / "on_policy").exists()


def test_on_policy_data_made_from_other_inputs_is_stale() -> None:
    recorded = {"lineage": {"data": {"phase1": "a" * 64, "phase3": "b" * 64}, "sft": None}}
    reasons = on_policy_staleness(recorded, {"phase1": "a" * 64, "phase3": "c" * 64}, Path("no-sft"))
    assert reasons == [
        f"on_policy was made from phase3 {'b' * 12}, which is now {'c' * 12}: rebuild it (materialize "
        "on_policy/preference_data or run `canvas-train on-policy`)"
    ]
    assert on_policy_staleness({}, {}, Path("no-sft"))[0].startswith("on_policy records no lineage")


def test_stale_evidence_is_named_and_refused_by_the_selection_and_the_release(data: Path) -> None:
    from canvas_pipeline.evaluation.results import decide_selection
    from canvas_pipeline.release.gate import LineageStep
    from canvas_pipeline.release.run import _stale_refusals

    sft, dpo = _fake_checkpoint(data, "sft"), _fake_checkpoint(data, "dpo")
    records = {m: json.loads(bench_record_path(data, "tiny", m).read_text()) for m in ("sft", "dpo")}
    assert stale_records(data, "tiny", records) == {}

    # The data changed since training: both are stale, each naming the stage.
    path = data / "phase1" / "sft_trajectories.jsonl"
    original = path.read_text()
    path.write_text(original.replace("\n", " \n", 1))
    stale = stale_records(data, "tiny", records)
    assert set(stale) == {"sft", "dpo"}
    assert any(r.startswith("trained on phase1") for r in stale["sft"])
    assert stale["dpo"] == [next(r for r in stale["sft"] if "was scored on phase1" in r)]  # its eval split
    path.write_text(original)

    # sft trained again: dpo started from the old one; dpo's old bench record scored the old dpo.
    (sft / "model.safetensors").write_bytes(b"sft weights, trained again")
    manifest = json.loads((sft / MANIFEST).read_text())
    manifest["lineage"]["checkpoint"] = weights_fingerprint(sft)
    (sft / MANIFEST).write_text(json.dumps(manifest))
    records["sft"]["lineage"] = bench_lineage(data, "tiny", sft)
    stale = stale_records(data, "tiny", records)
    assert list(stale) == ["dpo"] and "started from reference" in stale["dpo"][0]

    # A failed run marks the checkpoint; the bench refuses it, the selection names it.
    mark_superseded(dpo, "the last training run of dpo failed (GateError: planted); this checkpoint is older")
    assert record_staleness(data, "tiny", "dpo", records["dpo"]) == [
        "the last training run of dpo failed (GateError: planted); this checkpoint is older"
    ]
    with pytest.raises(ValueError, match="superseded"):
        run_method_bench(data, "tiny", "dpo", 0)
    for method, record in records.items():
        record |= {"summary": {}, "per_tool": {}, "eval": {"macro_tool_accuracy": 0.9, "per_tool": {}}}
        bench_record_path(data, "tiny", method).write_text(json.dumps(record))
    selection = decide_selection(data, "tiny")
    assert selection["selected"] is None and set(selection["stale"]) == {"dpo"}
    assert selection["reason"].startswith("stale evidence, nothing selected: dpo: the last training run of dpo failed")

    # The release re-reads the lineage and the weights themselves.
    assert _stale_refusals(data, "tiny", "sft", records["sft"], [LineageStep("sft", sft, manifest)]) == []
    (sft / "model.safetensors").write_bytes(b"swapped by hand")
    refusals = _stale_refusals(data, "tiny", "sft", records["sft"], [LineageStep("sft", sft, manifest)])
    assert refusals == [weights_match(sft)] and "are not the checkpoint its manifest records" in refusals[0]
