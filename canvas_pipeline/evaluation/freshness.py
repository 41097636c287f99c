"""Whether a bench record still speaks for what is on disk: the checkpoint it scored is the
one there now, not superseded, and made from the data, base and `sft` checkpoint there now;
the bench and eval split it was scored on are unchanged. The selection and the release
refuse stale evidence, naming each record and why."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from canvas_pipeline.data.layout import MANIFEST
from canvas_pipeline.data.lineage import folder_fingerprint, short, stage_fingerprint
from canvas_pipeline.data.stages import PHASE1, PHASE4
from canvas_pipeline.training.gates import reference_fingerprint
from canvas_pipeline.training.lineage import lineage_mismatches, superseded_reason, weights_fingerprint
from canvas_pipeline.training.methods import get_method

EVAL_STAGES = {"bench": PHASE4, "eval": PHASE1}  # what a bench record scores on


def _current(out_dir: Path, stage: str, profile: str) -> str | None:
    try:
        return stage_fingerprint(out_dir, stage, profile)
    except FileNotFoundError:
        return None


def bench_lineage(out_dir: Path, profile: str, folder: Path) -> dict[str, Any]:
    """What a bench record scored: the checkpoint's lineage (its manifest's) and the bench
    and eval-split data's fingerprints."""
    import json

    manifest = json.loads((Path(folder) / MANIFEST).read_text())
    return {
        "checkpoint": manifest.get("lineage"),
        **{key: _current(out_dir, stage, profile) for key, stage in EVAL_STAGES.items()},
    }


def current_inputs(out_dir: Path, profile: str, method: str, recorded: Mapping[str, Any]) -> dict[str, Any]:
    """The fingerprints on disk now of what a checkpoint's lineage names: its data stages,
    the base model and (for a method that starts from one) the reference checkpoint."""
    from canvas_pipeline.data.layout import base_model_dir, checkpoint_dir

    base = base_model_dir(out_dir, profile)
    config = get_method(method)
    current: dict[str, Any] = {
        "data": {stage: _current(out_dir, stage, profile) for stage in recorded.get("data", {})},
        "base": folder_fingerprint(base) if base.is_dir() else None,
    }
    if config.reference is not None:
        current["reference"] = reference_fingerprint(checkpoint_dir(out_dir, profile, config.reference))
    return current


def record_staleness(out_dir: Path, profile: str, method: str, record: Mapping[str, Any]) -> list[str]:
    """Why `record` (a method's bench record) no longer speaks for `method`'s checkpoint
    (empty: it does)."""
    from canvas_pipeline.data.layout import checkpoint_dir

    folder = checkpoint_dir(out_dir, profile, method)
    if not (folder / MANIFEST).is_file():
        return [f"no checkpoint in {folder}"]
    if (marker := superseded_reason(folder)) is not None:
        return [marker]
    scored = record.get("lineage")
    if not scored or not scored.get("checkpoint"):
        return ["its bench record has no lineage (written before lineage was kept): bench it again"]
    now = bench_lineage(out_dir, profile, folder)
    reasons = []
    if scored["checkpoint"].get("checkpoint") != (now["checkpoint"] or {}).get("checkpoint"):
        reasons.append(
            f"its bench record scored checkpoint {short(scored['checkpoint'].get('checkpoint'))}; the one on disk "
            f"is {short((now['checkpoint'] or {}).get('checkpoint'))}: bench it again"
        )
    reasons += [
        f"its bench record was scored on {stage} {short(scored.get(key))}, which is now {short(now[key])}"
        for key, stage in EVAL_STAGES.items()
        if scored.get(key) != now[key]
    ]
    lineage = now["checkpoint"]
    return reasons + lineage_mismatches(lineage, current_inputs(out_dir, profile, method, lineage or {}))


def stale_records(out_dir: Path, profile: str, records: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Method -> why its bench record is stale, for every stale one among `records`."""
    stale = {m: record_staleness(out_dir, profile, m, r) for m, r in records.items()}
    return {m: reasons for m, reasons in stale.items() if reasons}


def weights_match(folder: Path) -> str | None:
    """None when the checkpoint's weights on disk are those its manifest fingerprinted, else why not."""
    import json

    recorded = json.loads((Path(folder) / MANIFEST).read_text()).get("lineage", {}).get("checkpoint")
    actual = weights_fingerprint(folder)
    if recorded != actual:
        return (
            f"the files in {folder} ({short(actual)}) are not the checkpoint its manifest records ({short(recorded)})"
        )
    return None
