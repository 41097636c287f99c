"""The data gate every training run passes, whatever started it (the Dagster asset,
`canvas-train train`, a pod): every guardrail of each stage the method reads has a PASS
verdict on exactly the content on disk (judged now when none was recorded for it), and the
on-policy stage was made from the phases and the `sft` checkpoint that are there now."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from canvas_pipeline.data.layout import MANIFEST, ON_POLICY, base_bench_path, on_policy_dir
from canvas_pipeline.data.lineage import short, stage_fingerprint, stage_folder
from canvas_pipeline.guardrails.checks import g2_eval_disjoint, g3_base_bench, g12_min_rows
from canvas_pipeline.guardrails.registry import run_on_policy_guardrails, run_stage_guardrails, stage_guardrail_ids
from canvas_pipeline.guardrails.result import GuardrailResult
from canvas_pipeline.guardrails.verdicts import as_verdicts, read_verdicts, verdict_refusals
from canvas_pipeline.training.data_prep import MethodData
from canvas_pipeline.training.guardrail_config import check_config
from canvas_pipeline.training.lineage import superseded_reason
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


def current_verdicts(
    root: Path, stage: str, profile: str, tokenizer_dir: Path | None, log: Callable[[str], None] = print
) -> tuple[str, dict[str, dict[str, str]]]:
    """The stage's fingerprint and its guardrails' verdicts on exactly that content; when
    none were recorded for it (changed since, or never judged), it is judged now, and the
    verdicts recorded."""
    from canvas_pipeline.data.layout import ON_POLICY
    from canvas_pipeline.data.lineage import short

    fingerprint = stage_fingerprint(root, stage, profile)
    verdicts = read_verdicts(root, stage, profile, fingerprint)
    if verdicts is None:
        log(f"{stage} {short(fingerprint)} has no guardrail verdicts for its content: judging it now")
        config = check_config(profile, tokenizer_dir)
        if stage == ON_POLICY:
            results = run_on_policy_guardrails(root, profile, config)
        else:
            results = run_stage_guardrails(root, stage, config)
        verdicts = as_verdicts(results)
        fingerprint = stage_fingerprint(root, stage, profile)
    return fingerprint, verdicts


def stage_refusals(
    roots: Mapping[str, Path], profile: str, tokenizer_dir: Path | None, log: Callable[[str], None] = print
) -> tuple[dict[str, str], list[str]]:
    """For each stage (stage -> the folder it lives under): its fingerprint, and every
    reason its content may not be used (a guardrail of the stage that failed, did not run,
    or has no verdict on it). A stage that is not on disk is a reason too."""
    fingerprints: dict[str, str] = {}
    reasons: list[str] = []
    for stage, root in roots.items():
        try:
            fingerprint, verdicts = current_verdicts(root, stage, profile, tokenizer_dir, log)
        except FileNotFoundError as error:
            reasons.append(f"{stage}: {error}")
            continue
        fingerprints[stage] = fingerprint
        reasons += verdict_refusals(stage, fingerprint, verdicts, stage_guardrail_ids(stage))
    return fingerprints, reasons


def preflight(method: MethodConfig, data: MethodData) -> list[GuardrailResult]:
    """G12 and G2 on the method's dataset; raises GateError on the first failure."""
    results = [
        g12_min_rows({method.phase: data.full_train_rows}, {method.name: method.min_rows}),
        g2_eval_disjoint({method.phase: data.item_ids()}),
    ]
    for result in results:
        _stop_on(result, method)
    return results


def _stop_on(result: GuardrailResult, method: MethodConfig) -> None:
    if not result.passed:
        raise GateError(result, f"{result.id} stops {method.name}: {'; '.join(result.details)}")


def rows_to_consume(trainer: Any) -> int:
    """The rows the trainer will consume: steps x batch x accumulation x processes for a
    step budget, the dataset times its epochs otherwise."""
    args = trainer.args
    if args.max_steps and args.max_steps > 0:
        return int(
            args.max_steps * args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size
        )
    return int(len(trainer.train_dataset) * args.num_train_epochs)


def consumption_gate(method: MethodConfig, data: MethodData, trainer: Any, min_consumed: int) -> GuardrailResult:
    """G12 again once the trainer is built: the dataset's rows and the rows the trainer will
    consume, each against its minimum; raises GateError when either falls short."""
    result = g12_min_rows(
        {method.phase: data.full_train_rows},
        {method.name: method.min_rows},
        consumed={method.name: rows_to_consume(trainer)},
        min_consumed=min_consumed,
    )
    _stop_on(result, method)
    return result


def base_bench_gate(out_dir: Path, profile: str) -> GuardrailResult:
    """G3 on the base model's bench record: a fine-tune trains only on a base the bench
    harness scores at >= 20% tool selection; no record is a failure, not a pass."""
    path = base_bench_path(out_dir, profile)
    if not path.is_file():
        raise GateError(None, f"G3 stops training: no base bench record at {path} (materialize eval/base_bench)")
    result = g3_base_bench(json.loads(path.read_text())["summary"])
    if not result.passed:
        raise GateError(result, f"G3 stops training: {'; '.join(result.details)} (threshold {result.threshold})")
    return result
