"""The release gate: what must hold before the selected checkpoint leaves the pipeline.

A release refuses, listing every reason at once, when

- the selection failed: no `eval/PROFILE/selection.json`, or `selected` is null;
- any guardrail of the **lineage gate** did not PASS (failed, not run, or absent):
  G1-G8 and G11-G14;
- any guardrail FAILED, G9 and G10 included, in the release's own run or in the check
  report on the same data (below);
- it is to be **published** (`publish=True`) and G9 or G10 has neither a PASS nor a waiver.

**G9 and G10: a PASS or a waiver, from the check report on the same data.** The release
does not run G9 (the nine trainer mini-trains take minutes) and runs G10 (the docker build,
the registry's entry "G10") only as far as this machine allows: without a container engine
its build layer is NOT RUN. `canvas-train check` runs both, and a user may waive one that
cannot run by name with a reason (`--waive G9="why"`). So for each of G9 and G10 the
release takes, in this order: a FAIL (its own run, then the check report's) refuses; a PASS
(its own, then the check report's); the check report's waiver (NOT RUN, waived, with its
reason); else **NOT RUN, no waiver**. NOT RUN never reads as PASS.

The check report is `DATA_DIR/guardrails.json`, the latest `canvas-train check --data-dir
DATA_DIR` (`read_check_report`). It counts only when it judged the data being released: it
records the profile and the fingerprints of phases 1-4 it judged (`check_binding`), and a
report of another profile, of other data (a phase changed since), or recording no
fingerprints (written before reports were bound) is treated as absent, with the reason.

**Why a dry run still goes ahead without them.** README command 1 (`canvas-train
pipeline`: data, base model, training, then `report_job` = selection, report, release) does
not run `canvas-train check`, and its release is a local dry run. Requiring the check there
would make command 1 fail on every fresh clone, so a dry run is written, with G9/G10 shown
as "NOT RUN, no waiver" in `release.json` (`not_run_unwaived`, `informational`, a warning)
and at the top of the model card, never as PASS. Publishing is where the release leaves the
machine, and there the rule is strict: the publish path refuses, naming each guardrail and
the command that fixes it (run `canvas-train check --data-dir DATA_DIR`, or waive it by name
with a reason). Waivers and the G9/G10 verdicts with their source (which check report, when)
are recorded in `release.json` and the card's guardrail table.

Where each result comes from (`lineage_guardrails`):

- G1, G2, G4, G6, G7, G8, G9, G10, G11, G12, G13, G14: the guardrail registry
  (`run_guardrails` over the data folder's bundle, configured by `check_config` with the
  profile tokenizer, as `canvas-train check` does). The datasets judged are the ones
  every checkpoint of the profile trained on. G9 and G10 then also from the check report
  (`informational_verdicts`).
- G3: the registry's G3 on the base model's bench record, and it FAILS when a checkpoint
  on the lineage was trained with G3 skipped (`require_g3=False`, recorded in its
  `checkpoint.json`): such a checkpoint is for exercising mechanics, never for release.
- G5: the dry-run records (`checkpoint.json` metrics `g5_dry_run`) of the checkpoints on
  the selected checkpoint's lineage: the selected one and the checkpoint it started from
  (`sft` under a preference adapter). The registry's G5 judges every method's last dry
  run instead, the unselected ones included (SPPO fails it by design), which says nothing
  about the checkpoint being released.

`release_refusals` is a pure function of a selection record, GuardrailResult lists, the
G9/G10 verdicts and whether the release is to be published.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from canvas_pipeline.guardrails.checks import g5_dry_runs
from canvas_pipeline.guardrails.result import GuardrailResult, not_run

LINEAGE_GATE: tuple[str, ...] = ("G1", "G2", "G3", "G4", "G5", "G6", "G7", "G8", "G11", "G12", "G13", "G14")
INFORMATIONAL: tuple[str, ...] = ("G9", "G10")
ALL_IDS: tuple[str, ...] = tuple(f"G{i}" for i in range(1, 15))
NO_DATASET: tuple[str, ...] = ("G3", "G9", "G10")  # read records or the project, not the datasets
G9_NOTE = "not run by the release (nine mini-trains take minutes): `canvas-train check` runs it"
CHECK_REPORT = "guardrails.json"  # `canvas-train check`'s report in the data folder
CHECK_STAGES: tuple[str, ...] = ("phase1", "phase2", "phase3", "phase4")  # what a check report is bound to
NO_WAIVER = "NOT RUN, no waiver"


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


# ---------------------------------------------------------------- G9 and G10: the check report


def check_report_path(data_dir: Path) -> Path:
    return Path(data_dir) / CHECK_REPORT


def check_binding(data_dir: Path, profile: str) -> dict[str, Any]:
    """What a `canvas-train check` report records to tie it to the data it judged: when it
    ran, the profile, the folder, and the fingerprint of each of phases 1-4 (None for a
    phase the folder lacks)."""
    from datetime import UTC, datetime

    from canvas_pipeline.data.lineage import stage_fingerprint

    fingerprints: dict[str, str | None] = {}
    for stage in CHECK_STAGES:
        try:
            fingerprints[stage] = stage_fingerprint(Path(data_dir), stage, profile)
        except FileNotFoundError:
            fingerprints[stage] = None
    return {
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "profile": profile,
        "data_dir": str(Path(data_dir).resolve()),
        "fingerprints": fingerprints,
    }


@dataclass(frozen=True)
class CheckEvidence:
    """The latest check report of the data folder, as far as the release may use it:
    `ignored` says why it does not count (absent, unreadable, another profile, other data);
    empty when it judged exactly the data being released."""

    path: Path
    checked_at: str | None = None
    results: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # id -> the report's result
    waived: Mapping[str, str] = field(default_factory=dict)  # id -> reason, as the user gave it
    ignored: str = ""

    @property
    def usable(self) -> bool:
        return not self.ignored

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "checked_at": self.checked_at,
            "used": self.usable,
            "ignored": self.ignored or None,
            "waived": dict(self.waived) if self.usable else {},
        }


def read_check_report(data_dir: Path, profile: str) -> CheckEvidence:
    """`DATA_DIR/guardrails.json` when it is a check of `profile` on exactly the phases 1-4
    now in `data_dir`; otherwise a CheckEvidence whose `ignored` says why it does not count."""
    path = check_report_path(data_dir)
    if not path.is_file():
        return CheckEvidence(path, ignored=f"no `canvas-train check` report in {path}")
    try:
        report = json.loads(path.read_text(encoding="utf-8-sig"))
        results = {str(r["id"]): r for r in report.get("results", [])}
        waived = {str(k): str(v) for k, v in (report.get("waived") or {}).items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return CheckEvidence(path, ignored=f"the check report {path} cannot be read: {type(exc).__name__}: {exc}")
    when = report.get("checked_at")
    recorded = report.get("fingerprints")
    if not isinstance(recorded, Mapping) or not recorded:
        return CheckEvidence(
            path,
            when,
            ignored=f"the check report {path} records no fingerprints of the data it judged, so it "
            "cannot be tied to this data (written by an older check): run the check again",
        )
    if report.get("profile") != profile:
        return CheckEvidence(
            path, when, ignored=f"the check report {path} is of the {report.get('profile')!r} profile, not {profile!r}"
        )
    current = check_binding(data_dir, profile)["fingerprints"]
    changed = [stage for stage in CHECK_STAGES if recorded.get(stage) != current[stage]]
    if changed:
        return CheckEvidence(
            path,
            when,
            ignored=f"the check report {path} ({when or 'undated'}) judged other data: {', '.join(changed)} "
            "changed since",
        )
    return CheckEvidence(path, when, results, waived)


@dataclass(frozen=True)
class InformationalVerdict:
    """The release's verdict on G9 or G10: `status` PASS, FAIL or NOT RUN; `waiver` the
    reason it was waived by name (NOT RUN only); `source` where the verdict comes from
    ("release": its own run, "check report": `check_report` at `checked_at`, "none")."""

    id: str
    name: str
    status: str
    source: str
    detail: str
    waiver: str | None = None
    check_report: str | None = None
    checked_at: str | None = None

    @property
    def label(self) -> str:
        if self.status != "NOT RUN":
            return self.status
        return "NOT RUN, waived" if self.waiver else NO_WAIVER

    @property
    def cleared(self) -> bool:
        """A PASS, or NOT RUN waived by name with a reason: what publishing needs."""
        return self.status == "PASS" or (self.status == "NOT RUN" and bool(self.waiver))

    @property
    def where(self) -> str:
        if self.source == "check report":
            return f"check report {self.check_report} ({self.checked_at or 'undated'})"
        return "the release's own run" if self.source == "release" else "no evidence"

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "label": self.label}


def _report_detail(record: Mapping[str, Any]) -> str:
    details = "; ".join(str(d) for d in (record.get("details") or [])[:3])
    return str(record.get("reason") or details or f"value {record.get('value')!r}")


def informational_verdicts(
    guardrails: Sequence[GuardrailResult], evidence: CheckEvidence | None = None
) -> list[InformationalVerdict]:
    """G9 and G10 as the release judges them: a FAIL (the release's own, then the check
    report's), else a PASS (the release's own, then the check report's), else the check
    report's waiver, else NOT RUN with no waiver. The check report counts only when usable."""
    from canvas_pipeline.guardrails.registry import by_id

    own = {r.id: r for r in guardrails}
    theirs = evidence.results if evidence is not None and evidence.usable else {}
    waived = evidence.waived if evidence is not None and evidence.usable else {}
    where = {"check_report": str(evidence.path), "checked_at": evidence.checked_at} if evidence is not None else {}
    verdicts = []
    for gid in INFORMATIONAL:
        mine, record = own.get(gid), theirs.get(gid, {})
        name = mine.name if mine is not None else str(record.get("name") or by_id(gid).name)
        theirs_status = record.get("status")
        if mine is not None and mine.passed is False:
            verdict = InformationalVerdict(gid, name, "FAIL", "release", _result_reason(mine))
        elif theirs_status == "FAIL":
            verdict = InformationalVerdict(gid, name, "FAIL", "check report", _report_detail(record), **where)
        elif mine is not None and mine.passed is True:
            verdict = InformationalVerdict(gid, name, "PASS", "release", mine.reason or "passed in the release")
        elif theirs_status == "PASS":
            verdict = InformationalVerdict(gid, name, "PASS", "check report", _report_detail(record), **where)
        elif theirs_status == "NOT RUN" and (record.get("waived") or waived.get(gid)):
            reason = str(record.get("waived") or waived[gid])
            verdict = InformationalVerdict(
                gid, name, "NOT RUN", "check report", _report_detail(record), waiver=reason, **where
            )
        else:
            why = [mine.reason if mine is not None and mine.reason else "not run by the release"]
            if evidence is None or not evidence.usable:
                why.append(evidence.ignored if evidence is not None else "no check report was read")
            else:
                why.append(
                    f"the check report {evidence.path} ({evidence.checked_at}) did not run it, and no waiver was given"
                )
            verdict = InformationalVerdict(gid, name, "NOT RUN", "none", "; ".join(why))
        verdicts.append(verdict)
    return verdicts


def informational_fix(gid: str, data_dir: Path | str = "DATA_DIR", profile: str = "tiny") -> str:
    """The command that gives `gid` a PASS, and the one that waives it instead."""
    base = f"canvas-train check --data-dir {data_dir} --profile {profile}"
    skip = " --no-g9" if gid == "G9" else ""
    return f'run `{base}` on this data, or waive it by name with a reason (`{base}{skip} --waive {gid}="why"`)'


def informational_refusals(
    verdicts: Sequence[InformationalVerdict], publish: bool, data_dir: Path | str = "DATA_DIR", profile: str = "tiny"
) -> list[str]:
    """A FAIL the check report found refuses any release; publishing also refuses G9 or G10
    with neither a PASS nor a waiver, naming it and how to fix it. (A FAIL of the release's
    own run is refused with the other guardrails.)"""
    reasons = []
    for v in verdicts:
        if v.status == "FAIL" and v.source == "check report":
            reasons.append(f"{v.id} ({v.name}) failed in the {v.where}: {v.detail}")
        elif publish and not v.cleared and v.status == "NOT RUN":
            reasons.append(
                f"{v.id} ({v.name}) is {NO_WAIVER}, and a published release needs a PASS or a waiver ({v.detail}): "
                + informational_fix(v.id, data_dir, profile)
            )
    return reasons


# ---------------------------------------------------------------- the gate


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
    *,
    publish: bool = False,
    verdicts: Sequence[InformationalVerdict] | None = None,
    data_dir: Path | str = "DATA_DIR",
    profile: str = "tiny",
) -> list[str]:
    """Every reason the release must refuse (empty: it may go ahead). Pure: the selection
    record (None when the file is missing), the guardrail results, the G9/G10 verdicts
    (by default from `guardrails` alone: no check report) and `publish` decide it;
    `data_dir` and `profile` only word the fix."""
    reasons = selection_refusals(selection)
    by_id = {r.id: r for r in guardrails}
    for gid in gate:
        if gid not in by_id:
            reasons.append(f"{gid} has no result: it was not run on this lineage")
        elif by_id[gid].passed is not True:
            reasons.append(_result_reason(by_id[gid]))
    reasons += [_result_reason(r) for r in guardrails if r.id not in gate and r.passed is False]
    if verdicts is None:
        verdicts = informational_verdicts(guardrails)
    return reasons + informational_refusals(verdicts, publish, data_dir, profile)


def require_release(
    selection: Mapping[str, Any] | None, guardrails: Sequence[GuardrailResult], publish: bool = True
) -> str:
    """The selected method, or ReleaseRefused with every reason (by default as strict as
    publishing: G9 and G10 need a PASS or a waiver)."""
    reasons = release_refusals(selection, guardrails, publish=publish)
    if reasons:
        raise ReleaseRefused(reasons)
    assert selection is not None
    return str(selection["selected"])


def lineage(folder: Path, limit: int = 4) -> list[LineageStep]:
    """The checkpoint in `folder` and the checkpoints it started from (each manifest's
    `base`, while that folder holds a `checkpoint.json`), newest first."""
    from canvas_pipeline.data.layout import MANIFEST
    from canvas_pipeline.training.checkpoints import read_manifest

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
    from canvas_pipeline.cli_args import build_parser
    from canvas_pipeline.guardrails.inputs import Bundle, DataDirError, load_bundle
    from canvas_pipeline.guardrails.registry import GUARDRAILS, run_guardrails
    from canvas_pipeline.training.guardrail_config import check_config

    config = dataclasses.replace(check_config(profile, tokenizer_dir, cli_parser=build_parser), g9_note=G9_NOTE)
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
