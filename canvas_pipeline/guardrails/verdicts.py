"""Guardrail verdicts stored against the fingerprint of the data they judged
(`ROOT/lineage/verdicts/STAGE.json`). A later run, another entry point or a pod reads them
to learn whether exactly the data it is about to use passed; a verdict for other content
is no verdict at all."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from canvas_pipeline.data.io import atomic_write_text
from canvas_pipeline.data.layout import ON_POLICY
from canvas_pipeline.data.lineage import short, stage_fingerprint
from canvas_pipeline.guardrails.result import GuardrailResult


def verdict_path(root: Path, stage: str, profile: str) -> Path:
    name = f"{ON_POLICY}-{profile}" if stage == ON_POLICY else stage
    return Path(root) / "lineage" / "verdicts" / f"{name}.json"


def record_verdicts(
    root: Path, stage: str, profile: str, fingerprint: str, results: Sequence[GuardrailResult]
) -> dict[str, Any]:
    """Write the stage's verdicts against `fingerprint` (replacing any earlier ones)."""
    record = {
        "stage": stage,
        "profile": profile,
        "fingerprint": fingerprint,
        "results": as_verdicts(results),
    }
    atomic_write_text(verdict_path(root, stage, profile), json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def as_verdicts(results: Sequence[GuardrailResult]) -> dict[str, dict[str, str]]:
    """Guardrail id -> its status and a one-line summary (the value, or why it failed or
    did not run)."""
    return {r.id: {"status": r.status, "summary": _summary(r)} for r in results}


def _summary(result: GuardrailResult) -> str:
    if result.passed is None:
        return result.reason or "not run"
    if result.passed:
        return f"value {json.dumps(result.value, default=str)[:200]}"
    return "; ".join(result.details[:5]) or f"value {json.dumps(result.value, default=str)[:200]}"


def read_verdicts(root: Path, stage: str, profile: str, fingerprint: str) -> dict[str, dict[str, str]] | None:
    """The stage's verdicts when they were recorded for `fingerprint`, else None."""
    path = verdict_path(root, stage, profile)
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return record["results"] if record.get("fingerprint") == fingerprint else None


def judged(root: Path, stage: str, profile: str, run: Callable[[], list[GuardrailResult]]) -> list[GuardrailResult]:
    """Run a stage's guardrails (`run`) and record the verdicts against the content they
    judged: fingerprinted before and after, and not recorded when it changed meanwhile."""
    before = stage_fingerprint(root, stage, profile)
    results = run()
    if stage_fingerprint(root, stage, profile) == before:
        record_verdicts(root, stage, profile, before, results)
    return results


def verdict_refusals(
    stage: str, fingerprint: str, verdicts: dict[str, dict[str, str]], ids: Sequence[str]
) -> list[str]:
    """Why the stage's content may not be trained on: each guardrail of `ids` that failed,
    did not run, or has no verdict for this content (empty: every one passed)."""
    reasons = []
    for gid in ids:
        verdict = verdicts.get(gid)
        if verdict is None:
            reasons.append(f"{gid} has no verdict on {stage} {short(fingerprint)}")
        elif verdict["status"] != "PASS":
            reasons.append(f"{gid} {verdict['status']} on {stage} {short(fingerprint)}: {verdict['summary']}")
    return reasons
