"""What the selection and the report are made from: every bench record on disk, and the
selection decided from their eval-split summaries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from canvas_pipeline.data.io import atomic_write_text
from canvas_pipeline.data.layout import base_bench_path, bench_record_path, eval_dir
from canvas_pipeline.evaluation.bench import BASE
from canvas_pipeline.evaluation.freshness import stale_records
from canvas_pipeline.evaluation.selection import candidate_name, select_checkpoint
from canvas_pipeline.training.methods import METHOD_NAMES


def selection_path(out_dir: Path, profile: str) -> Path:
    return eval_dir(out_dir, profile) / "selection.json"


def collect_records(out_dir: Path, profile: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The base's and every method's bench record (base first, then the method table's
    order), and the methods that have none."""
    records: dict[str, dict[str, Any]] = {}
    if base_bench_path(out_dir, profile).is_file():
        records[BASE] = _read(base_bench_path(out_dir, profile), "eval/base_bench")
    missing = []
    for method in METHOD_NAMES:
        path = bench_record_path(out_dir, profile, method)
        if path.is_file():
            records[method] = _read(path, f"eval/bench_results[{method}]")
        else:
            missing.append(method)
    return records, missing


def _read(path: Path, asset: str) -> dict[str, Any]:
    record = json.loads(path.read_text())
    if not {"summary", "per_tool"} <= set(record):
        raise ValueError(f"{path} is not a bench record of this version (no summary/per_tool): re-materialize {asset}")
    return dict(record)


def selection_candidates(records: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Candidate name -> eval-split summary, in tie-break order: the method table's order,
    each method's final weights, then its kept intermediate steps, earliest first."""
    summaries: dict[str, dict[str, Any]] = {}
    for method in METHOD_NAMES:
        if method not in records:
            continue
        summaries[candidate_name(method)] = records[method]["eval"]
        for step, summary in sorted(records[method].get("eval_by_step", {}).items(), key=lambda kv: int(kv[0])):
            summaries[candidate_name(method, int(step))] = summary
    return summaries


def selection_outcomes(records: dict[str, dict[str, Any]]) -> dict[str, dict[str, bool]]:
    """Candidate name -> its per-item tool-selection outcomes on the eval split (records
    written before outcomes were kept have none: their candidates are compared by accuracy only)."""
    outcomes: dict[str, dict[str, bool]] = {}
    for method in METHOD_NAMES:
        if method not in records:
            continue
        if "eval_outcomes" in records[method]:
            outcomes[candidate_name(method)] = records[method]["eval_outcomes"]
        for step, items in records[method].get("eval_outcomes_by_step", {}).items():
            outcomes[candidate_name(method, int(step))] = items
    return outcomes


def decide_selection(out_dir: Path, profile: str) -> dict[str, Any]:
    """The selection record from the bench records on disk, written atomically to
    `eval/PROFILE/selection.json` whether or not a checkpoint qualified."""
    records, missing = collect_records(out_dir, profile)
    summaries = selection_candidates(records)
    identical = {m: records[m]["summary"].get("identical_to_sft") for m in summaries if m in records}
    record = select_checkpoint(
        summaries, list(summaries), missing, identical=identical, outcomes=selection_outcomes(records)
    )
    record["profile"] = profile
    if stale := stale_records(out_dir, profile, {m: r for m, r in records.items() if m != BASE}):
        # Evidence about checkpoints or data that are no longer on disk decides nothing.
        record |= {"selected": None, "selected_candidate": None, "selected_step": None, "tie": None}
        record["stale"] = stale
        record["reason"] = "stale evidence, nothing selected: " + "; ".join(
            f"{method}: {', '.join(reasons)}" for method, reasons in stale.items()
        )
    atomic_write_text(selection_path(out_dir, profile), json.dumps(record, indent=1))
    return record
