"""A checkpoint's records on disk: its manifest, its intermediate step checkpoints (the
selection's candidates), the trainer's resumable `checkpoint-N` folders, and loading the
trained model back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from canvas_pipeline.data.layout import MANIFEST
from canvas_pipeline.training.lineage import weights_fingerprint


def read_manifest(folder: Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint in {folder}: materialize that partition first")
    return json.loads(path.read_text())


def load_checkpoint(folder: Path) -> Any:
    """The trained model of a checkpoint folder: full weights, or base + adapter. A folder
    whose weights or adapter cannot be loaded (truncated, corrupt) raises ValueError naming
    it, as a corrupt model folder does."""
    from canvas_pipeline.training.model import load_model

    manifest = read_manifest(folder)
    if manifest["adapter"] == "full":
        return load_model(folder)
    from peft import PeftModel

    base = load_model(Path(manifest["base"]), quantize_4bit=manifest["adapter"] == "qlora")
    try:
        return PeftModel.from_pretrained(base, str(folder))
    except Exception as exc:  # safetensors raises a bare SafetensorError for a truncated file
        raise ValueError(f"the {manifest['adapter']} adapter in {folder} cannot be loaded: {exc}") from exc


def complete_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """The `checkpoint-N` folders under `folder` whose save finished, by step: the Trainer
    writes `trainer_state.json` last, so a run killed mid-save leaves a folder without a
    readable one, which is skipped."""
    complete: list[tuple[int, Path]] = []
    for path in Path(folder).glob("checkpoint-*") if Path(folder).is_dir() else []:
        step = path.name.removeprefix("checkpoint-")
        try:
            json.loads((path / "trainer_state.json").read_text())
        except (OSError, ValueError):
            continue
        if step.isdigit():
            complete.append((int(step), path))
    return sorted(complete)


def last_complete_checkpoint(folder: Path) -> Path | None:
    """The highest-step complete `checkpoint-N` under `folder` (what a killed run resumes from)."""
    complete = complete_checkpoints(folder)
    return complete[-1][1] if complete else None


STEPS_FOLDER = "steps"


# What a trainer checkpoint holds besides the weights and config: resume state only.
_RESUME_STATE = ("optimizer.pt", "scheduler.pt", "rng_state", "trainer_state.json", "training_args.bin")


def step_dir(checkpoint: Path, step: int) -> Path:
    """Where a checkpoint folder keeps its intermediate step `step` (a selection candidate)."""
    return Path(checkpoint) / STEPS_FOLDER / str(step)


def step_candidates(checkpoint: Path) -> list[int]:
    """The intermediate steps a checkpoint folder keeps, ascending (its own weights are the last step)."""
    root = Path(checkpoint) / STEPS_FOLDER
    steps = [int(p.name) for p in root.iterdir() if p.name.isdigit()] if root.is_dir() else []
    return sorted(s for s in steps if (step_dir(checkpoint, s) / MANIFEST).is_file())


def export_steps(source: Path, final_step: int, dest: Path, tokenizer: Any, manifest: dict[str, Any]) -> list[int]:
    """Copy every complete trainer checkpoint before `final_step` under `source` into
    `dest/steps/N` (weights, config, the tokenizer and a manifest naming the step)."""

    exported = []
    for step, path in complete_checkpoints(source):
        if step >= final_step:
            continue
        folder = step_dir(dest, step)
        folder.mkdir(parents=True)
        for item in path.iterdir():
            if item.is_file() and not item.name.startswith(_RESUME_STATE):
                shutil.copy2(item, folder / item.name)
        tokenizer.save_pretrained(str(folder))
        step_manifest = {**manifest, "step": step, "final_step": final_step}
        if "lineage" in manifest:
            step_manifest["lineage"] = {**manifest["lineage"], "checkpoint": weights_fingerprint(folder)}
        (folder / MANIFEST).write_text(json.dumps(step_manifest, indent=1, sort_keys=True, default=str))
        exported.append(step)
    return exported


def drop_resume_points(work: Path) -> None:
    """Once the checkpoint is written, its trainer states are spent: the next
    materialization (new data, new code) must train from the start, not resume."""

    for path in [*work.glob("checkpoint-*"), *work.glob("round-*/checkpoint-*")]:
        shutil.rmtree(path, ignore_errors=True)
