"""Releasing the selected checkpoint: the gate, the folder, and (only when asked) the Hub.

`release_checkpoint` is what the `release/model` asset and `canvas-train release` call.
It writes `release/PROFILE/` under the data folder, atomically: plain transformers
weights (adapters merged, see `export`), the tokenizer, `README.md` (the model card),
`release.json` and the bench report when there is one. It publishes to the Hub only when
`publish=True`, a `repo_id` is given and `HF_TOKEN` is in the environment; a publish
request missing either is refused before any work. Otherwise it is a dry run and says so.

G9 and G10 (`gate`): the release reads the latest `canvas-train check` report of the data
folder (`guardrails.json`, counted only when it judged exactly this data) for their PASS or
a waiver by name. A publish without one is refused; a dry run is written and says, in
`release.json` and at the top of the card, "NOT RUN, no waiver".
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from canvas_pipeline.data.io import atomic_write_dir, atomic_write_text
from canvas_pipeline.guardrails.inputs import STAGE_REPORTS
from canvas_pipeline.guardrails.result import GuardrailResult
from canvas_pipeline.release.card import BASE, CardInputs, build_card
from canvas_pipeline.release.export import ExportRecord, export_model
from canvas_pipeline.release.gate import (
    INFORMATIONAL,
    LINEAGE_GATE,
    NO_WAIVER,
    CheckEvidence,
    InformationalVerdict,
    LineageStep,
    ReleaseRefused,
    informational_fix,
    informational_verdicts,
    lineage,
    lineage_guardrails,
    read_check_report,
    release_refusals,
)
from canvas_pipeline.release.hub import PublishError, publish_folder, publish_problems

Log = Callable[[str], None]
RECORD = "release.json"
CARD = "README.md"
REPORT_FOLDER = "bench_report"
IDENTICAL_REFUSAL = 0.8  # the old no-op DPO: 23 of 25 bench outputs identical to SFT's
DRY_RUN_HINT = "set publish=True with a repo_id (CANVAS_RELEASE_PUBLISH=1, CANVAS_RELEASE_REPO_ID) and HF_TOKEN"


@dataclass
class ReleaseReport:
    """What a release did. Holds no secret: safe to log, print or store as metadata."""

    profile: str
    method: str
    path: Path
    published: bool
    repo_id: str | None
    dry_run_reason: str | None
    commit_url: str | None
    selection: dict[str, Any]
    guardrails: list[GuardrailResult]
    bench_summary: dict[str, Any]
    export: ExportRecord
    card: str
    warnings: list[str] = field(default_factory=list)
    informational: list[InformationalVerdict] = field(default_factory=list)  # G9, G10 as the release judged them
    check_report: CheckEvidence | None = None

    def guardrail_summary(self) -> dict[str, str]:
        """Each guardrail's status; G9 and G10 as the release judged them (PASS from a check
        report on this data counts, a waiver does not make a PASS)."""
        verdicts = {v.id: v.status for v in self.informational}
        return {r.id: verdicts.get(r.id, r.status) for r in self.guardrails}

    def not_run_unwaived(self) -> list[str]:
        return [v.id for v in self.informational if not v.cleared and v.status == "NOT RUN"]

    def to_dict(self) -> dict[str, Any]:
        """The `release.json` record."""
        return {
            "profile": self.profile,
            "method": self.method,
            "published": self.published,
            "repo_id": self.repo_id,
            "dry_run_reason": self.dry_run_reason,
            "commit_url": self.commit_url,
            "selection": self.selection,
            "gate": {"lineage": list(LINEAGE_GATE), "informational": list(INFORMATIONAL)},
            "guardrails": [r.to_dict() for r in self.guardrails],
            # G9 and G10 as the release judged them, with their source; never PASS without evidence
            "informational": {v.id: v.to_dict() for v in self.informational},
            "not_run_unwaived": self.not_run_unwaived(),
            "waivers": {v.id: v.waiver for v in self.informational if v.waiver},
            "check_report": self.check_report.to_dict() if self.check_report else None,
            "bench_summary": self.bench_summary,
            "export": self.export.to_dict(),
            "warnings": self.warnings,
        }


def release_dir(out_dir: Path, profile: str) -> Path:
    return Path(out_dir) / "release" / profile


def read_selection(out_dir: Path, profile: str) -> dict[str, Any] | None:
    """The selection record, or None when there is none."""
    from canvas_pipeline.evaluation.results import selection_path

    path = selection_path(Path(out_dir), profile)
    return json.loads(path.read_text()) if path.is_file() else None


def read_bench_records(
    out_dir: Path, profile: str, selection: Mapping[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """The base's and every method's bench record on disk (base first), without the
    per-item conversations the card does not need (`eval`: the eval-split summary the
    card sets against the bench; `lineage`: what it scored, for the staleness check). When
    `selection` chose an intermediate step, its method's entry holds that step's figures
    (what is released)."""
    from canvas_pipeline.data.layout import base_bench_path, bench_record_path
    from canvas_pipeline.training.methods import METHOD_NAMES

    paths = {BASE: base_bench_path(out_dir, profile)}
    paths |= {m: bench_record_path(Path(out_dir), profile, m) for m in METHOD_NAMES}
    records = {}
    for name, path in paths.items():
        if path.is_file():
            record = json.loads(path.read_text())
            records[name] = {k: record.get(k, {}) for k in ("summary", "per_tool", "eval", "lineage")}
            step = (selection or {}).get("selected_step")
            if name == (selection or {}).get("selected") and step is not None:
                bench = record.get("step_bench", {}).get(str(step))
                if bench is None:
                    raise FileNotFoundError(f"{path} has no bench of the selected step {step}: rerun bench_results")
                records[name] = {
                    "summary": bench["summary"],
                    "per_tool": bench["per_tool"],
                    "eval": record["eval_by_step"][str(step)],
                    "step": step,
                    "lineage": record.get("lineage", {}),
                }
    return records


def read_stage_reports(out_dir: Path) -> dict[str, dict[str, Any]]:
    """Each data stage's report (empty when the stage has none)."""
    reports = {}
    for stage in STAGE_REPORTS:
        path = Path(out_dir) / stage / "report.json"
        reports[stage] = json.loads(path.read_text()) if path.is_file() else {}
    return reports


def _tokenizer_dir(out_dir: Path, profile: str, steps: list[LineageStep]) -> Path | None:
    """The profile tokenizer (what `canvas-train check` uses), else the checkpoint's own."""
    from canvas_pipeline.training.tokenizer import profile_tokenizer_dir

    shared = profile_tokenizer_dir(out_dir, profile)
    if (shared / "tokenizer_config.json").is_file():
        return shared
    return steps[0].folder if steps else None


def _lineage_of(
    out_dir: Path, profile: str, method: str | None, step: int | None = None
) -> tuple[list[LineageStep], list[str]]:
    """The selected checkpoint's lineage (its folder, or its intermediate `step`'s), newest first."""
    from canvas_pipeline.data.layout import MANIFEST, checkpoint_dir
    from canvas_pipeline.training.checkpoints import step_dir

    if not method:
        return [], []
    folder = checkpoint_dir(out_dir, profile, method)
    if step is not None:
        folder = step_dir(folder, step)
    if not (folder / MANIFEST).is_file():
        return [], [f"the selected checkpoint {method} has no {MANIFEST} in {folder}"]
    return lineage(folder), []


def _stale_refusals(
    out_dir: Path, profile: str, method: str, record: Mapping[str, Any], steps: list[LineageStep]
) -> list[str]:
    """A selection decided on evidence about other checkpoints or other data, or a folder
    whose weights are not the ones its manifest fingerprinted, is refused, naming each."""
    from canvas_pipeline.evaluation.freshness import record_staleness, weights_match

    reasons = [f"{method} is stale: {r}" for r in record_staleness(out_dir, profile, method, record)]
    if steps and (mismatch := weights_match(steps[0].folder)) is not None:
        reasons.append(mismatch)
    return reasons


def _no_op_refusals(method: str, summary: Mapping[str, Any]) -> list[str]:
    """A checkpoint that did nothing is refused, whatever selected it."""
    identical = summary.get("identical_to_sft")
    if identical is not None and float(identical) >= IDENTICAL_REFUSAL:
        return [
            f"{float(identical):.0%} of {method}'s first bench turns are byte-identical to SFT's: it is a no-op "
            "(the old no-op DPO release looked like this) and is never released"
        ]
    return []


def _worse_than_sft_refusals(selection: Mapping[str, Any]) -> list[str]:
    """A checkpoint the paired test found significantly worse than `sft` on the eval split's
    tool selection is refused, whatever selection file named it."""
    name = selection.get("selected_candidate") or selection.get("selected")
    entry = selection.get("candidates", {}).get(name, {})
    row = entry.get("vs_sft")
    if entry.get("worse_than_sft") and row:
        return [
            f"{name} is significantly worse than sft on the eval split's tool selection "
            f"({row['change']:+.1%}, exact McNemar p={row['p_value']:.2g}) and is never released"
        ]
    return []


def _read_effects(out_dir: Path, profile: str) -> dict[str, Any]:
    """The report's paired comparison of every method against `sft` (empty before a report)."""
    from canvas_pipeline.evaluation.report import EFFECTS_FILE, report_dir

    path = report_dir(Path(out_dir), profile) / EFFECTS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def _copy_report(out_dir: Path, profile: str, dest: Path) -> None:
    from canvas_pipeline.evaluation.report import report_dir

    source = report_dir(Path(out_dir), profile)
    if (source / "report.md").is_file():
        shutil.copytree(source, dest / REPORT_FOLDER)


def _readable(folder: Path) -> None:
    """The folder and its files get the permissions a plain mkdir/open would give them
    (the temporary folder the atomic write starts from is private)."""
    import os

    umask = os.umask(0)
    os.umask(umask)
    for path in [folder, *folder.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def _write_record(folder: Path, report: ReleaseReport) -> None:
    atomic_write_text(folder / RECORD, json.dumps(report.to_dict(), indent=1, sort_keys=True, default=str) + "\n")


def _informational_warnings(verdicts: list[InformationalVerdict], out_dir: Path, profile: str) -> list[str]:
    """What the dry run says about G9/G10 not passed: each unwaived one with its fix, each
    waived one with its reason."""
    warnings = []
    for v in verdicts:
        if v.status == "NOT RUN" and not v.waiver:
            warnings.append(
                f"{v.id} ({v.name}): {NO_WAIVER} ({v.detail}); this release may not be published until it has a "
                f"PASS or a waiver: {informational_fix(v.id, out_dir, profile)}"
            )
        elif v.waiver:
            warnings.append(f'{v.id} ({v.name}) was not run; waived by name in the {v.where}: "{v.waiver}"')
    return warnings


def _refuse(reasons: list[str], log: Log) -> None:
    error = ReleaseRefused(reasons)
    log(str(error))
    raise error


def release_checkpoint(
    out_dir: Path,
    profile: str = "tiny",
    publish: bool = False,
    repo_id: str | None = None,
    log: Log = print,
    private: bool = True,
    dataset_repos: Mapping[str, str] | None = None,
) -> ReleaseReport:
    """Release the checkpoint `eval/PROFILE/selection.json` selected into
    `out_dir/release/PROFILE/`, and publish it to `repo_id` when `publish` is True.
    `dataset_repos` (stage -> Hub dataset id) names the datasets the card links to, when
    they are published with it.

    Raises ReleaseRefused (every reason, nothing written) when publishing was asked for
    without a repo_id or HF_TOKEN, when the selection failed, when a lineage-gate
    guardrail (G1-G8, G11-G14) did not pass or any guardrail failed (G9 and G10 in the check
    report on this data included), when publishing with G9 or G10 neither passed nor waived
    (a dry run is written and says "NOT RUN, no waiver"), or when the selected checkpoint or
    its bench record is missing. Raises ExportError when the released
    weights do not reproduce the checkpoint (nothing written), PublishError when the
    upload fails (the folder stays, its release.json says it was not published)."""
    from canvas_pipeline.training.profiles import get_profile

    out_dir = Path(out_dir)
    if problems := publish_problems(publish, repo_id):
        _refuse(problems, log)
    selection = read_selection(out_dir, profile)
    method = (selection or {}).get("selected")
    steps, problems = _lineage_of(out_dir, profile, method, (selection or {}).get("selected_step"))
    guardrails = lineage_guardrails(out_dir, profile, steps, _tokenizer_dir(out_dir, profile, steps))
    evidence = read_check_report(out_dir, profile)
    verdicts = informational_verdicts(guardrails, evidence)
    records = read_bench_records(out_dir, profile, selection)
    if method and method not in records:
        problems.append(f"the selected checkpoint {method} has no bench record: materialize eval/bench_results")
    elif method:
        problems += _no_op_refusals(method, records[method]["summary"])
        problems += _worse_than_sft_refusals(selection or {})
        problems += _stale_refusals(out_dir, profile, method, records[method], steps)
    gate = release_refusals(
        selection, guardrails, publish=publish, verdicts=verdicts, data_dir=out_dir, profile=profile
    )
    if reasons := gate + problems:
        _refuse(reasons, log)
    assert selection is not None and method is not None
    labels = {v.id: v.label for v in verdicts}
    status = ", ".join(f"{r.id} {labels.get(r.id, r.status)}" for r in guardrails)
    log(f"release: {method} selected; guardrails: {status}")
    log(f"release: check report: {evidence.ignored or f'{evidence.path} ({evidence.checked_at}) on this data'}")
    warnings = _informational_warnings(verdicts, out_dir, profile)
    for warning in warnings:
        log(f"release: {warning}")
    bf16 = get_profile(profile).budget.bf16
    dest = release_dir(out_dir, profile)
    summary = {**records[method]["summary"], "per_tool": records[method]["per_tool"]}
    reason = None if publish else f"dry run: publishing was not requested ({DRY_RUN_HINT})"
    holder: dict[str, ReleaseReport] = {}

    def write(folder: Path) -> None:
        export = export_model(steps[0].folder, steps[0].manifest, folder, bf16, log)
        inputs = CardInputs(
            profile,
            method,
            steps,
            selection,
            records,
            read_stage_reports(out_dir),
            guardrails,
            export,
            repo_id if publish else None,
            [],
            _read_effects(out_dir, profile),
            verdicts,
            dict(dataset_repos or {}),
        )
        card = build_card(inputs)
        card.save(folder / CARD)
        _copy_report(out_dir, profile, folder)
        report = ReleaseReport(
            profile=profile,
            method=method,
            path=dest,
            published=publish,
            repo_id=repo_id if publish else None,
            dry_run_reason=reason,
            commit_url=None,
            selection=selection,
            guardrails=guardrails,
            bench_summary=summary,
            export=export,
            card=str(card),
            warnings=[*warnings, *inputs.warnings],  # the card words G9/G10 itself, without local paths
            informational=verdicts,
            check_report=evidence,
        )
        _write_record(folder, report)
        _readable(folder)
        holder["report"] = report

    atomic_write_dir(dest, write)
    report = holder["report"]
    log(f"release: {method} written to {dest}")
    if not publish:
        log(f"release: {reason}")
        return report
    return _publish(report, private, log)


def _publish(report: ReleaseReport, private: bool, log: Log) -> ReleaseReport:
    """Upload the written folder; on failure record it (not published) and re-raise."""
    assert report.repo_id is not None
    message = f"release {report.method} ({report.profile} profile) from canvas_pipeline"
    try:
        report.commit_url = publish_folder(report.path, report.repo_id, private, message, log)
    except PublishError as error:
        report.published = False
        report.dry_run_reason = f"not published: {error}"
        _write_record(report.path, report)
        log(f"release: {error}")
        raise
    _write_record(report.path, report)
    log(f"release: published {report.method} to {report.repo_id} ({report.commit_url or 'no commit url'})")
    return report
