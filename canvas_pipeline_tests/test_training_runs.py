"""Matrix partitions trained for real on the real phase datasets: through the `dagster`
CLI, a run killed after its first checkpoint save resumes from that save when the
partition is materialized again, and finishes with the documented metadata and its bench
record; the report job writes the report and fails the selection loudly; from
`canvas-train`, full SFT trains and iterative SPPO on top of it; at TRL's default beta G5
stops SPPO, with the record written.

The base model here is the real warm-up code on a 48-step budget (the full warm-up takes
minutes). It would not pass G3, so these runs skip G3 explicitly (recorded as skipped),
and one test shows G3 stopping training when its record is missing."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from canvas_pipeline.data.layout import (
    DRY_RUN_RECORD,
    base_model_dir,
    bench_record_path,
    checkpoint_dir,
    on_policy_dir,
    run_dir,
)
from canvas_pipeline.evaluation.report import report_dir
from canvas_pipeline.evaluation.results import selection_path
from canvas_pipeline.training.base_model import build_base_model
from canvas_pipeline.training.checkpoints import last_complete_checkpoint, read_manifest
from canvas_pipeline.training.methods import METHOD_NAMES
from canvas_pipeline.training.profiles import get_profile
from canvas_pipeline.training.tokenizer import profile_tokenizer_dir
from canvas_pipeline_tests.test_dagster_runs import REPO_ROOT, dagster_env

BIN = Path(sys.executable).parent
BENCH_ITEMS = 16
PHASES = ("raw", "curated", "phase1", "phase2", "phase3", "phase4")


@pytest.fixture(scope="module")
def train_out(real_slice: Path, tiny_tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An output folder holding the real phases, the tiny tokenizer and a briefly warmed-up base."""
    out = tmp_path_factory.mktemp("train_out")
    for name in PHASES:
        (out / name).symlink_to(real_slice / name)
    shutil.copytree(tiny_tokenizer_dir, profile_tokenizer_dir(out, "tiny"))
    tiny = get_profile("tiny")
    brief = dataclasses.replace(tiny, budget=dataclasses.replace(tiny.budget, warmup_rows=480, warmup_steps=48))
    build_base_model(brief, profile_tokenizer_dir(out, "tiny"), base_model_dir(out, "tiny"))
    return out


BENCH_ENV = {
    "CANVAS_REQUIRE_G3": "0",
    "CANVAS_BENCH_ITEMS": str(BENCH_ITEMS),
    "CANVAS_SELECTION_ITEMS": str(BENCH_ITEMS),
}


def _partition_args(method: str) -> list[str]:
    tags = json.dumps({"dagster/partition": method})
    return [str(BIN / "dagster"), "job", "execute", "-m", "canvas_pipeline.definitions", "-j", "training_job"] + [
        "--tags",
        tags,
    ]


def test_a_partition_killed_after_a_save_resumes_from_it(train_out: Path, tmp_path: Path) -> None:
    env = dagster_env(tmp_path / "home", CANVAS_OUT_DIR=str(train_out), **BENCH_ENV)
    work, dest = run_dir(train_out, "tiny", "lora"), checkpoint_dir(train_out, "tiny", "lora")
    first_log = tmp_path / "first.log"
    with first_log.open("w") as sink:
        first = subprocess.Popen(
            _partition_args("lora"),
            cwd=REPO_ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 600
        while last_complete_checkpoint(work) is None:
            assert first.poll() is None, f"the run ended before its first save:\n{first_log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "no checkpoint saved in 10 minutes"
            time.sleep(0.2)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    saved = last_complete_checkpoint(work)
    assert saved is not None and saved.name == f"checkpoint-{get_profile('tiny').budget.save_steps}"
    assert not dest.exists(), "a killed run must not leave a checkpoint behind"

    second = subprocess.run(
        _partition_args("lora"), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    output = second.stdout + second.stderr
    assert second.returncode == 0, output[-4000:]
    assert f"resuming from {saved}" in output
    last = get_profile("tiny").budget.max_steps
    assert f"[lora] step {last}/{last}: " in output and "loss=" in output, "TRL's loss logging must reach the run log"
    metrics = read_manifest(dest)["metrics"]
    assert metrics["steps"] == get_profile("tiny").budget.max_steps
    for key in ("train_loss", "eval_loss", "eval_loss_before", "trainable_parameters", "total_parameters"):
        assert metrics[key] is not None, key
    assert 0 < metrics["trainable_parameters"] < metrics["total_parameters"]
    assert metrics["tokens_per_s"] > 0 and metrics["peak_rss_bytes"] > 0
    budget = get_profile("tiny").budget
    assert metrics["train_rows_consumed"] == budget.max_steps * budget.batch_size * budget.grad_accum
    assert metrics["train_dataset_rows"] >= 1000 > metrics["train_rows_consumed"]
    assert metrics["g5_dry_run"]["passed"] and metrics["g5_dry_run"]["grad_norm"] < 1.0
    assert not list(work.glob("checkpoint-*")), "a finished run's resume points are spent"
    assert metrics["g3_base_bench"].startswith("skipped")
    # the same run benched the checkpoint on the bench and the eval split
    record = json.loads(bench_record_path(train_out, "tiny", "lora").read_text())
    assert record["summary"]["items"] == BENCH_ITEMS and record["eval"]["items"] == BENCH_ITEMS
    assert len(record["conversations"]) == BENCH_ITEMS and "[lora] bench: tool selection" in output


def test_the_report_job_writes_the_report_and_fails_the_selection_loudly(train_out: Path, tmp_path: Path) -> None:
    """Only `lora` has a bench record here, on a 48-step base far below the 40% tool floor:
    the selection asset fails naming the violations (no fallback), and the report, which
    does not depend on a selection succeeding, is written with every method's row."""
    proc = subprocess.run(
        [str(BIN / "dagster"), "job", "execute", "-m", "canvas_pipeline.definitions", "-j", "report_job"],
        cwd=REPO_ROOT,
        env=dagster_env(tmp_path / "home", CANVAS_OUT_DIR=str(train_out), **BENCH_ENV),
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "no checkpoint qualifies: lora:" in output, output[-3000:]
    selection = json.loads(selection_path(train_out, "tiny").read_text())
    assert selection["selected"] is None and selection["candidates"]["lora"]["floor_violations"]
    assert set(selection["missing"]) == set(METHOD_NAMES) - {"lora"}
    folder = report_dir(train_out, "tiny")
    text = (folder / "report.md").read_text()
    assert "| lora |" in text and "| dpo | no bench record" in text
    assert "**No checkpoint selected.**" in text
    for png in ("per_tool_accuracy.png", "method_comparison.png"):
        assert (folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _train_from_cli(method: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [str(BIN / "canvas-train"), "train", "--method", method, "--data-dir", str(out), *extra]
    return subprocess.run(args, capture_output=True, text=True, timeout=600)


def test_g3_stops_training_without_a_passing_base_bench_record(train_out: Path) -> None:
    proc = _train_from_cli("lora", train_out)
    assert proc.returncode == 1
    assert "G3 stops training: no base bench record" in proc.stderr


@pytest.fixture(scope="module")
def cli_sft(train_out: Path) -> subprocess.CompletedProcess[str]:
    """`sft` trained from the CLI: 8 of the reference budget's steps, drawing only their
    rows, saving every 4 (under `keep_step_checkpoints` step 4 becomes a selection candidate)."""
    return _train_from_cli("sft", train_out, "--skip-g3", "--max-steps", "8", "--save-steps", "4")


def test_full_sft_then_on_policy_data_then_iterative_sppo_from_the_cli(
    train_out: Path, cli_sft: subprocess.CompletedProcess[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """SFT, the full fine-tune every preference method starts from, trains from the CLI with
    its metadata; SPPO refuses to train before the on-policy data exists, naming it; `sft`
    answers the train split's decision points and its judged answers, mixed with phase 2
    and 3, pass the on-policy guardrails; SPPO trains on that mix, then a self-play round on
    the pairs its own answers make, recording the counts."""
    from canvas_pipeline.cli import main

    assert cli_sft.returncode == 0, cli_sft.stdout[-2000:] + cli_sft.stderr[-2000:]
    metrics = read_manifest(checkpoint_dir(train_out, "tiny", "sft"))["metrics"]
    assert metrics["adapter"] == "full" and metrics["trainable_parameters"] == metrics["total_parameters"]
    # the reference budget (64 decision rows a step) for the 8 steps asked for: only their rows are drawn
    assert metrics["steps"] == 8 and metrics["decision_rows"] and metrics["train_rows_used"] == 8 * 64
    assert metrics["learning_rate"] == get_profile("tiny").budget.reference.learning_rate
    assert metrics["eval_loss"] < metrics["eval_loss_before"]
    assert metrics["train_rows_consumed"] == 8 * 64 and metrics["train_rows_on_policy"] == 0
    assert metrics["g3_base_bench"].startswith("skipped") and metrics["g5_dry_run"]["passed"]
    # the gates that ran, as they judged: G3 was skipped, so only G12, G2 and the dry run's G5
    lines = {m[0]: (m[1], m[2]) for m in re.findall(r"^(G\d+) +(\S+) +(.*)$", cli_sft.stdout, re.M)}
    assert {gid: status for gid, (status, _) in lines.items()} == {"G12": "PASS", "G2": "PASS", "G5": "PASS"}
    assert json.loads(lines["G5"][1])["sft"] == round(metrics["g5_dry_run"]["grad_norm"], 4)

    # the CLI's own entry point, in this process: the refusal needs no second start of torch
    assert main(["train", "--method", "sppo", "--data-dir", str(train_out), "--skip-g3"]) == 1
    assert "materialize on_policy/preference_data first" in capsys.readouterr().err

    args = [str(BIN / "canvas-train"), "on-policy", "--data-dir", str(train_out), "--points", "32"]
    on_policy = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert on_policy.returncode == 0, on_policy.stdout[-2000:] + on_policy.stderr[-2000:]
    for gid in ("G1", "G2", "G7", "G8", "G11", "G12", "G13", "G14"):
        assert re.search(rf"^{gid} +PASS", on_policy.stdout, re.M), on_policy.stdout
    report = json.loads((on_policy_dir(train_out, "tiny") / "report.json").read_text())
    assert report["points_answered"] == 32 and report["answers"] == 64  # greedy + one sample each
    assert report["rows_in"] == report["rows_out"] + report["dropped_total"]
    assert report["phase2.on_policy_rows"] == report["answers_wrong"]
    assert report["phase2.on_policy_rows"] + report["phase2.phase_rows"] >= 1000  # G12's minimum

    # 32 self-play points (not the default 256) keep the run short; the mechanics are the same
    sppo = _train_from_cli("sppo", train_out, "--skip-g3", "--self-play-points", "32")
    assert sppo.returncode == 0, sppo.stdout[-2000:] + sppo.stderr[-2000:]
    metrics = read_manifest(checkpoint_dir(train_out, "tiny", "sppo"))["metrics"]
    assert metrics["data_dir"] == str(on_policy_dir(train_out, "tiny"))
    assert metrics["train_dataset_rows"] == report["phase2.on_policy_rows"] + report["phase2.phase_rows"]
    assert metrics["g5_dry_run"]["passed"] and metrics["g5_dry_run"]["grad_norm"] < 1.0
    assert (
        metrics["total_parameters"]
        == metrics["trainable_parameters"]
        + read_manifest(checkpoint_dir(train_out, "tiny", "sft"))["metrics"]["total_parameters"]
    ), "the per-round reference adapter is neither counted nor saved"
    assert not (checkpoint_dir(train_out, "tiny", "sppo") / "ref").exists()
    rounds = metrics["sppo_rounds"]
    assert [r["round"] for r in rounds] == [1, 2], rounds
    assert rounds[0]["pairs"] == metrics["train_rows_used"] and rounds[0]["source"] == "dataset"
    # round 2 is self-play: the round-1 policy's own answers, every wrong one a pair
    assert rounds[1]["source"] == "self-play" and rounds[1]["self_play.points_answered"] == 32
    assert rounds[1]["pairs"] == rounds[1]["self_play.answers_wrong"] > 0
    assert set(metrics["eval_margins_per_axis"]) >= {"all"}


def test_g5_stops_sppo_summed_over_tokens_at_trls_default_beta(
    train_out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TRL's sppo_hard as it comes (log-ratios summed over tokens, beta 0.1): at the start
    the policy is its reference and the gradient is 1/beta times the chosen-minus-rejected
    log-prob gradient, summed over every token. G5 stops that partition, records why and
    leaves no checkpoint, where the per-token SPPO of the table passed on the same `sft`
    (run after the test above)."""
    from canvas_pipeline.training import methods, run

    ours = json.loads((run_dir(train_out, "tiny", "sppo") / DRY_RUN_RECORD).read_text())
    assert ours["passed"] and methods.METHODS["sppo"].per_token_log_probs
    shutil.rmtree(checkpoint_dir(train_out, "tiny", "sppo"))
    summed = dataclasses.replace(methods.METHODS["sppo"], beta=0.1, per_token_log_probs=False)
    monkeypatch.setitem(methods.METHODS, "sppo", summed)
    with pytest.raises(run.GateError, match="G5 stops sppo: grad_norm"):
        run.train_method("sppo", train_out, train_out, "tiny", require_g3=False, log=lambda _line: None)
    record = json.loads((run_dir(train_out, "tiny", "sppo") / DRY_RUN_RECORD).read_text())
    assert record["passed"] is False and record["grad_norm"] >= record["limit"] > ours["grad_norm"]
    assert not checkpoint_dir(train_out, "tiny", "sppo").exists()


def test_preference_methods_train_an_adapter_whose_disabled_self_is_the_reference(train_out: Path) -> None:
    """DPO's trainer from the factory on a full checkpoint: a LoRA adapter, no second model,
    reward margins exactly 0 before training (policy = reference), gradients only in the
    adapter. (Whether G5 passes depends on the start model: on the pipeline's warmed-up
    `sft` checkpoint it measured 0.79; this brief base is not that.)"""
    from peft import PeftModel

    from canvas_pipeline.training.data_prep import judging_pairs, load_method_data
    from canvas_pipeline.training.dry_run import dry_run
    from canvas_pipeline.training.factory import build_trainer
    from canvas_pipeline.training.methods import get_method
    from canvas_pipeline.training.model import load_model
    from canvas_pipeline.training.preference_eval import pair_margins
    from canvas_pipeline.training.tokenizer import load_tokenizer

    method, profile = get_method("dpo"), get_profile("tiny")
    assert method.adapter == "lora" and method.reference == "sft"
    start = base_model_dir(train_out, "tiny")
    data = load_method_data(train_out, method, 32, 16, 0)
    train, evals = data.datasets()
    tokenizer = load_tokenizer(start)
    trainer = build_trainer(
        method,
        profile,
        model=load_model(start),
        tokenizer=tokenizer,
        train_dataset=train,
        eval_dataset=evals,
        item_ids=data.item_ids(),
        output_dir=train_out / "dpo-adapter-probe",
    )
    assert isinstance(trainer.model, PeftModel) and trainer.ref_model is None
    result = dry_run(trainer, "dpo")
    assert not result.nonfinite_modules and 0 < result.grad_norm < float("inf")
    assert all("lora_" in name for name, _ in result.largest_grads), "only the adapter trains"
    pairs = judging_pairs(train_out, method, data, 18, 0)
    margins = pair_margins(trainer.model, None, tokenizer, pairs, method.beta or 0.1)
    assert margins["all"]["n"] == len(pairs)
    assert all(abs(stats["margin"]) < 1e-4 for stats in margins.values()), "B = 0: the policy is its reference"


def test_two_processes_run_one_method_and_only_rank_0_writes(train_out: Path, tmp_path: Path) -> None:
    """Two processes under `torchrun` (what `accelerate launch` passes through to; gloo on
    CPU) each run `canvas-train train`: both run the gates and share rank 0's G5 verdict,
    each takes half of every batch (two epochs in the four steps), the model trains wrapped
    in DistributedDataParallel so both ranks end with the same weights, and only rank 0
    writes the dry-run record and the checkpoint (no second writer's temporary folder)."""
    out = tmp_path / "out"
    out.mkdir()
    for name in PHASES:
        (out / name).symlink_to(train_out / name)
    shutil.copytree(profile_tokenizer_dir(train_out, "tiny"), profile_tokenizer_dir(out, "tiny"))
    shutil.copytree(base_model_dir(train_out, "tiny"), base_model_dir(out, "tiny"))
    if (train_out / "lineage").is_dir():  # the same data's verdicts: the ranks read them, not judge it twice
        shutil.copytree(train_out / "lineage", out / "lineage")
    args = [str(BIN / "torchrun"), "--standalone", "--nproc_per_node", "2", "-m", "canvas_pipeline.cli"]
    args += ["train", "--method", "lora", "--data-dir", str(out), "--skip-g3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(args, capture_output=True, text=True, timeout=900, env=env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert output.count("[lora] G5 dry run:") == 2, "both ranks run the gates"
    assert "epoch=0.5" in output, "each step takes 2 x 32 rows of the 128"
    metrics = read_manifest(checkpoint_dir(out, "tiny", "lora"))["metrics"]
    assert metrics["steps"] == get_profile("tiny").budget.max_steps
    parallel = metrics["data_parallel"]
    assert parallel["world_size"] == 2 and parallel["wrapper"] == "DistributedDataParallel"
    assert parallel["replicas_agree"], "gradients were averaged across the ranks"
    assert metrics["eval_loss_before"] > 0, "evaluated at the start of training, after the wrap"
    assert json.loads((run_dir(out, "tiny", "lora") / DRY_RUN_RECORD).read_text())["passed"]
    leftovers = [p.name for p in checkpoint_dir(out, "tiny", "lora").parent.iterdir() if p.name.startswith(".")]
    assert not leftovers, f"a second writer left temporary folders: {leftovers}"


def test_sft_keeps_its_intermediate_steps_as_selection_candidates_and_the_bench_scores_them(
    train_out: Path, cli_sft: subprocess.CompletedProcess[str], tmp_path: Path
) -> None:
    """Under `keep_step_checkpoints` every save before the last becomes `steps/N` (weights,
    tokenizer and a manifest naming the step, no optimizer state); the bench scores each on
    the eval-split items; the release resolves a selected step to its own folder and the
    card names the step."""
    from canvas_pipeline.evaluation.bench import run_method_bench
    from canvas_pipeline.release.card import training_section
    from canvas_pipeline.release.export import ExportRecord
    from canvas_pipeline.release.run import _lineage_of
    from canvas_pipeline.training.checkpoints import step_candidates, step_dir

    assert cli_sft.returncode == 0, cli_sft.stdout[-2000:] + cli_sft.stderr[-2000:]
    # the CLI-trained `sft` (8 steps, a save every 4), benched in a folder of its own
    out = tmp_path / "out"
    (out / "models" / "tiny" / "checkpoints").mkdir(parents=True)
    for name in PHASES:
        (out / name).symlink_to(train_out / name)
    for name in ("base_model", "tokenizer", "runs"):
        (out / "models" / "tiny" / name).symlink_to(train_out / "models" / "tiny" / name)
    (out / "models" / "tiny" / "checkpoints" / "sft").symlink_to(checkpoint_dir(train_out, "tiny", "sft"))
    folder = checkpoint_dir(out, "tiny", "sft")
    assert step_candidates(folder) == [4]
    manifest = read_manifest(step_dir(folder, 4))
    assert (manifest["step"], manifest["final_step"], read_manifest(folder)["step"]) == (4, 8, 8)
    assert read_manifest(folder)["metrics"]["step_candidates"] == [4]
    assert manifest["metrics"]["train_rows_course_swapped"] > 0
    kept = {p.name for p in step_dir(folder, 4).iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= kept and "optimizer.pt" not in kept
    assert (step_dir(folder, 4) / "model.safetensors").read_bytes() != (folder / "model.safetensors").read_bytes()
    assert not list(run_dir(out, "tiny", "sft").glob("checkpoint-*")), "resume points are dropped once exported"

    record = run_method_bench(out, "tiny", "sft", 0, BENCH_ITEMS, BENCH_ITEMS)
    assert record["final_step"] == 8 and set(record["eval_by_step"]) == {"4"}
    assert record["eval_by_step"]["4"]["items"] == record["eval"]["items"] == BENCH_ITEMS
    assert set(record["step_bench"]) <= {"4"}

    steps, problems = _lineage_of(out, "tiny", "sft", 4)
    assert not problems and steps[0].folder == step_dir(folder, 4)
    export = ExportRecord("full", "full weights", "float32", 1, 0.0, 1.0, 1e-4)
    text = training_section("sft", steps, export)
    assert "step 4 of 8" in text
