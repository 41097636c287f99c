"""The data gate every training run passes, whatever started it (the Dagster asset,
`canvas-train train`, a pod): every guardrail of each stage the method reads has a PASS
verdict on exactly the content on disk (judged now when none was recorded for it), and the
on-policy stage was made from the phases and the `sft` checkpoint that are there now."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from canvas_pipeline.data.lineage import short, stage_folder
from canvas_pipeline.data.stages import ON_POLICY, on_policy_dir
from canvas_pipeline.guardrails.result import GuardrailResult
from canvas_pipeline.training.lineage import MANIFEST, superseded_reason
from canvas_pipeline.training.methods import MethodConfig

# The phases the on-policy stage is made from: phase 1's decision points, phases 2 and 3 mixed in.
ON_POLICY_INPUTS = ("phase1", "phase2", "phase3")
_DATA = "materialize the data assets first (or run `canvas-train data`)"
MAKE = {
    **dict.fromkeys(ON_POLICY_INPUTS, _DATA),
    ON_POLICY: "materialize on_policy/preference_data first (or run `canvas-train on-policy`)",
}


class GateError(RuntimeError):
    """A guardrail stopped a method before it trained."""

    def __init__(self, result: GuardrailResult | None, message: str) -> None:
        super().__init__(message)
        self.result = result


def stages_read(method: MethodConfig) -> tuple[str, ...]:
    """The data stages a method's training reads: its phase, and for the methods that train
    on the on-policy mix the stage and the phases it was made from."""
    if method.on_policy:
        return (*ON_POLICY_INPUTS, ON_POLICY)
    return (method.phase,)


def reference_fingerprint(folder: Path) -> str | None:
    """The weights fingerprint a checkpoint's manifest records (None: no checkpoint, or one
    written before lineage was kept)."""
    manifest = Path(folder) / MANIFEST
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text()).get("lineage", {}).get("checkpoint")


def on_policy_staleness(report: dict[str, Any], phases: dict[str, str], sft: Path) -> list[str]:
    """How the on-policy stage's recorded inputs differ from the phases and the `sft`
    checkpoint on disk now (empty: made from exactly them)."""
    recorded = report.get("lineage")
    if not recorded:
        return [f"{ON_POLICY} records no lineage (made before lineage was kept): rebuild it"]
    reasons = [
        f"{ON_POLICY} was made from {stage} {short(recorded['data'].get(stage))}, which is now {short(now)}: "
        "rebuild it (materialize on_policy/preference_data or run `canvas-train on-policy`)"
        for stage, now in phases.items()
        if recorded["data"].get(stage) != now
    ]
    if (marker := superseded_reason(sft)) is not None:
        reasons.append(f"{ON_POLICY} was made from an `sft` checkpoint that is superseded: {marker}")
    elif recorded.get("sft") != (current := reference_fingerprint(sft)):
        reasons.append(f"{ON_POLICY} was made from `sft` {short(recorded.get('sft'))}, which is now {short(current)}")
    return reasons


def data_gate(
    method: MethodConfig,
    data_dir: Path,
    out_dir: Path,
    profile: str,
    sft: Path,
    tokenizer_dir: Path | None,
    log: Callable[[str], None] = print,
) -> dict[str, str]:
    """The fingerprints of the stages `method` reads, or GateError naming every guardrail
    that failed, did not run or has no verdict on their current content, and any stale
    on-policy input."""
    from canvas_pipeline.guardrails.registry import stage_refusals

    roots = {stage: Path(out_dir) if stage == ON_POLICY else Path(data_dir) for stage in stages_read(method)}
    missing = [stage for stage, root in roots.items() if not stage_folder(root, stage, profile).is_dir()]
    fingerprints, reasons = stage_refusals(
        {s: r for s, r in roots.items() if s not in missing}, profile, tokenizer_dir, log
    )
    reasons += [f"no {stage} in {stage_folder(roots[stage], stage, profile)}: {MAKE[stage]}" for stage in missing]
    report = on_policy_dir(out_dir, profile) / "report.json"
    if ON_POLICY in fingerprints and report.is_file():
        phases = {stage: fingerprints[stage] for stage in ON_POLICY_INPUTS if stage in fingerprints}
        reasons += on_policy_staleness(json.loads(report.read_text()), phases, sft)
    if reasons:
        raise GateError(None, f"{method.name} may not train on this data: " + "; ".join(reasons))
    return fingerprints
