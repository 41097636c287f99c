"""The release gate: what must hold before the selected checkpoint leaves the pipeline.

A release refuses, listing every reason at once, when

- the selection failed: no `eval/PROFILE/selection.json`, or `selected` is null;
- any guardrail of the **lineage gate** did not PASS (failed, not run, or absent):
  G1-G8 and G11-G14;
- any guardrail FAILED, the informational ones included.

The **informational** guardrails G9 (the nine trainer mini-trains: minutes, so the release
does not run them; `canvas-train check` does) and G10 (the docker build, whose runner is
the registry's entry "G10") are listed in the card and `release.json` with the status the
registry reports. NOT RUN there does not block a release; an explicit FAIL does.

Where each result comes from (`lineage_guardrails`):

- G1, G2, G4, G6, G7, G8, G9, G10, G11, G12, G13, G14: the guardrail registry
  (`run_guardrails` over the data folder's bundle, configured by `check_config` with the
  profile tokenizer, as `canvas-train check` does). The datasets judged are the ones
  every checkpoint of the profile trained on.
- G3: the registry's G3 on the base model's bench record, and it FAILS when a checkpoint
  on the lineage was trained with G3 skipped (`require_g3=False`, recorded in its
  `checkpoint.json`): such a checkpoint is for exercising mechanics, never for release.
- G5: the dry-run records (`checkpoint.json` metrics `g5_dry_run`) of the checkpoints on
  the selected checkpoint's lineage: the selected one and the checkpoint it started from
  (`sft` under a preference adapter). The registry's G5 judges every method's last dry
  run instead, the unselected ones included (SPPO fails it by design), which says nothing
  about the checkpoint being released.

`release_refusals` is a pure function of a selection record and GuardrailResult lists.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from canvas_pipeline.guardrails.checks import g5_dry_runs
from canvas_pipeline.guardrails.result import GuardrailResult, not_run

LINEAGE_GATE: tuple[str, ...] = ("G1", "G2", "G3", "G4", "G5", "G6", "G7", "G8", "G11", "G12", "G13", "G14")
INFORMATIONAL: tuple[str, ...] = ("G9", "G10")
ALL_IDS: tuple[str, ...] = tuple(f"G{i}" for i in range(1, 15))
NO_DATASET: tuple[str, ...] = ("G3", "G9", "G10")  # read records or the project, not the datasets
G9_NOTE = "not run by the release (nine mini-trains take minutes): `canvas-train check` runs it"


class ReleaseRefused(RuntimeError):
    """The release did not happen; `reasons` lists every reason found."""

    def __init__(self, reasons: Sequence[str]) -> None:
        self.reasons = tuple(reasons)
        super().__init__("release refused:\n" + "\n".join(f"- {r}" for r in self.reasons))


@dataclass(frozen=True)
class LineageStep:
    """One checkpoint on the selected checkpoint's lineage, newest first."""

    method: str
    folder: Path
    manifest: dict[str, Any]


def _result_reason(result: GuardrailResult) -> str:
    if result.passed is None:
        return f"{result.id} ({result.name}) was not run: {result.reason or 'no reason given'}"
    details = "; ".join(result.details[:5]) or f"value {result.value!r}"
    return f"{result.id} ({result.name}) failed: {details} (threshold {result.threshold})"


def selection_refusals(selection: Mapping[str, Any] | None) -> list[str]:
    """Why a selection record does not name a checkpoint (empty when it does)."""
    if selection is None:
        return ["no selection record: materialize eval/selection first"]
    if not selection.get("selected"):
        return [f"checkpoint selection failed: {selection.get('reason') or 'no checkpoint selected'}"]
    return []


def release_refusals(
    selection: Mapping[str, Any] | None,
    guardrails: Sequence[GuardrailResult],
    gate: Sequence[str] = LINEAGE_GATE,
) -> list[str]:
    """Every reason the release must refuse (empty: it may go ahead). Pure: the selection
    record (None when the file is missing) and the guardrail results decide it."""
    reasons = selection_refusals(selection)
    by_id = {r.id: r for r in guardrails}
    for gid in gate:
        if gid not in by_id:
            reasons.append(f"{gid} has no result: it was not run on this lineage")
        elif by_id[gid].passed is not True:
            reasons.append(_result_reason(by_id[gid]))
    reasons += [_result_reason(r) for r in guardrails if r.id not in gate and r.passed is False]
    return reasons


def require_release(selection: Mapping[str, Any] | None, guardrails: Sequence[GuardrailResult]) -> str:
    """The selected method, or ReleaseRefused with every reason."""
    reasons = release_refusals(selection, guardrails)
    if reasons:
        raise ReleaseRefused(reasons)
    assert selection is not None
    return str(selection["selected"])


def lineage(folder: Path, limit: int = 4) -> list[LineageStep]:
    """The checkpoint in `folder` and the checkpoints it started from (each manifest's
    `base`, while that folder holds a `checkpoint.json`), newest first."""
    from canvas_pipeline.training.run import MANIFEST, read_manifest

    steps: list[LineageStep] = []
    current: Path | None = Path(folder)
    while current is not None and (current / MANIFEST).is_file() and len(steps) < limit:
        manifest = read_manifest(current)
        steps.append(LineageStep(str(manifest.get("method", current.name)), current, manifest))
        base = manifest.get("base")
        current = Path(base) if base else None
    return steps


def _dry_run_record(step: LineageStep) -> dict[str, Any] | None:
    record = step.manifest.get("metrics", {}).get("g5_dry_run")
    if not isinstance(record, Mapping) or "grad_norm" not in record or "passed" not in record:
        return None
    passed = bool(record["passed"])
    reason = record.get("reason") or ("grad_norm < 1.0, no NaN/Inf" if passed else "dry run failed")
    return {"grad_norm": record["grad_norm"], "passed": passed, "reason": reason}


def lineage_g5(steps: Sequence[LineageStep]) -> GuardrailResult:
    """G5 over the lineage's dry-run records; NOT RUN when any checkpoint has none."""
    name, threshold = "one-step dry run per method", "grad_norm < 1.0, no NaN/Inf"
    if not steps:
        return not_run("G5", name, threshold, "no selected checkpoint to judge")
    records = {s.method: _dry_run_record(s) for s in steps}
    missing = [m for m, r in records.items() if r is None]
    if missing:
        return not_run("G5", name, threshold, f"no g5_dry_run record in checkpoint.json of {', '.join(missing)}")
    return g5_dry_runs({m: r for m, r in records.items() if r is not None})


def lineage_g3(registry_g3: GuardrailResult, steps: Sequence[LineageStep]) -> GuardrailResult:
    """The registry's G3, failed when a checkpoint on the lineage trained with G3 skipped."""
    skipped = [s.method for s in steps if isinstance(s.manifest.get("metrics", {}).get("g3_base_bench"), str)]
    if not skipped:
        return registry_g3
    details = tuple(f"{m} was trained with G3 skipped (require_g3=False)" for m in skipped)
    return GuardrailResult(
        "G3",
        registry_g3.name,
        False,
        registry_g3.value,
        registry_g3.threshold,
        details + registry_g3.details,
        len(skipped),
    )


def _registry_results(out_dir: Path, profile: str, tokenizer_dir: Path | None) -> dict[str, GuardrailResult]:
    """Every registry guardrail but G5 on the data folder, each run on its own so one that
    raises is NOT RUN with the error instead of hiding the others."""
    import dataclasses

    from canvas_pipeline.guardrails.inputs import Bundle, DataDirError, load_bundle
    from canvas_pipeline.guardrails.registry import GUARDRAILS, check_config, run_guardrails

    config = dataclasses.replace(check_config(profile, tokenizer_dir), g9_note=G9_NOTE)
    results: dict[str, GuardrailResult] = {}
    try:
        bundle = load_bundle(out_dir)
    except DataDirError as exc:  # no dataset: only the guardrails that read no dataset can run
        bundle = Bundle(out_dir, {}, {})
        results = {g.id: not_run(g.id, g.name, g.threshold, str(exc)) for g in GUARDRAILS if g.id not in NO_DATASET}
    for guardrail in GUARDRAILS:
        if guardrail.id == "G5" or guardrail.id in results:
            continue
        try:
            results[guardrail.id] = run_guardrails(bundle, config, [guardrail.id])[0]
        except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            reason = f"its evidence could not be read: {type(exc).__name__}: {exc}"
            results[guardrail.id] = not_run(guardrail.id, guardrail.name, guardrail.threshold, reason)
    return results


def lineage_guardrails(
    out_dir: Path, profile: str, steps: Sequence[LineageStep], tokenizer_dir: Path | None
) -> list[GuardrailResult]:
    """G1-G14 for the release of the checkpoint whose lineage is `steps`, in id order."""
    results = _registry_results(Path(out_dir), profile, tokenizer_dir)
    results["G3"] = lineage_g3(results["G3"], steps)
    results["G5"] = lineage_g5(steps)
    return [results[gid] for gid in ALL_IDS if gid in results]
