"""Where everything lives under an output folder: the stage folders, the models and
checkpoints of a profile, the bench records. Every layer finds files here, so a guardrail
can read a checkpoint's records without importing the code that wrote them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# The on-policy stage: what the `sft` checkpoint answers at the train split's decision points,
# judged and mixed with phases 2 and 3 (`evaluation.on_policy`). Its folder mirrors the data
# folder's layout (`phase2/dpo_pairs.jsonl`, `phase3/kto_feedback.jsonl`), so the guardrails
# and the trainers read it as they read the phase files.
ON_POLICY = "on_policy"
ON_POLICY_MUTATION = "on_policy"  # the `mutation` of a row made from the checkpoint's own answer
MANIFEST = "checkpoint.json"  # a checkpoint's record; a folder without one is not a checkpoint
DRY_RUN_RECORD = "g5_dry_run.json"


def stage_dir(out_dir: Path, stage: str) -> Path:
    return Path(out_dir) / stage


def on_policy_dir(out_dir: Path, profile: str) -> Path:
    """The on-policy stage's folder for a profile's `sft` checkpoint."""
    return Path(out_dir) / ON_POLICY / profile


def models_dir(out_dir: Path, profile: str) -> Path:
    return Path(out_dir) / "models" / profile


def base_model_dir(out_dir: Path, profile: str) -> Path:
    return models_dir(out_dir, profile) / "base_model"


def checkpoint_dir(out_dir: Path, profile: str, method: str) -> Path:
    return models_dir(out_dir, profile) / "checkpoints" / method


def run_dir(out_dir: Path, profile: str, method: str) -> Path:
    return models_dir(out_dir, profile) / "runs" / method


def dry_run_records(out_dir: Path, profile: str) -> dict[str, Path]:
    """method -> its last G5 dry-run record (written whether it passed or not)."""
    runs = models_dir(out_dir, profile) / "runs"
    return {p.parent.name: p for p in sorted(runs.glob(f"*/{DRY_RUN_RECORD}"))}


def trained_methods(out_dir: Path, profile: str) -> list[str]:
    """The methods with a checkpoint (a manifest) under the profile."""
    root = models_dir(out_dir, profile) / "checkpoints"
    return sorted(p.parent.name for p in root.glob(f"*/{MANIFEST}")) if root.is_dir() else []


def eval_dir(out_dir: Path, profile: str) -> Path:
    return Path(out_dir) / "eval" / profile


def base_bench_path(out_dir: Any, profile: str) -> Path:
    return eval_dir(Path(out_dir), profile) / "base_bench.json"


def bench_record_path(out_dir: Path, profile: str, method: str) -> Path:
    return eval_dir(out_dir, profile) / "bench" / f"{method}.json"
