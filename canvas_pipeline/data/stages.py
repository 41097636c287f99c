"""The data stages as file-to-file steps under one output folder. The Dagster assets and
`canvas-train data` both call these functions, so both write the same files.

    OUT/raw/canvas_items.parquet         normalized items (with contributor_id: personal data)
    OUT/raw/priority_pairs.parquet       "which first?" pairs
    OUT/raw/demo_input/                  the generated demo term, when no raw folder is given
    OUT/curated/scrubbed_items.parquet   items after the PII gate (no contributor_id)
    OUT/curated/scrubbed_pairs.parquet
    OUT/curated/pii_lexicon.json         usernames the gate must keep catching (local only)
    OUT/phase1/sft_trajectories.jsonl    TRL conversational: id, split, intent, messages, item_ids, tools_used, context
    OUT/phase2/dpo_pairs.jsonl           TRL preference: prompt, chosen, rejected, tools, split, axis, mutation, ...
    OUT/phase3/kto_feedback.jsonl        TRL unpaired: prompt, completion, label, tools, split, axis, mutation, ...
    OUT/phase4/benchmark.jsonl           bench items: prompt, expected_tools, expected_args, min_calls, category, ...
    OUT/<stage>/quarantine.parquet       every rejected row: stage, source, line, record_id, reason, detail, payload
    OUT/phase1/pair_quarantine.parquet   every priority pair left out (its two items in different splits)
    OUT/<stage>/report.json              rows_in, rows_out, retained, dropped.<reason>, stage figures
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import polars as pl

from canvas_pipeline.data.backend import PriorityPair
from canvas_pipeline.data.demo_term import DemoTermConfig, write_demo_term
from canvas_pipeline.data.ingest import ingest_raw_dir
from canvas_pipeline.data.io import atomic_write_text, read_jsonl, write_jsonl, write_parquet
from canvas_pipeline.data.layout import stage_dir
from canvas_pipeline.data.phase1.build import Phase1Config, Quotas, assign_course_splits, build_phase1, pairs_by_split
from canvas_pipeline.data.phase1.pair_split import STAGE as PAIR_STAGE
from canvas_pipeline.data.phase2.build import Phase2Config, build_phase2
from canvas_pipeline.data.phase3.build import Phase3Config, build_phase3
from canvas_pipeline.data.phase4.build import Phase4Config, build_phase4
from canvas_pipeline.data.pii import Scrubber, make_scrubber
from canvas_pipeline.data.scrub import known_usernames, scrub_snapshot
from canvas_pipeline.data.stage import Quarantine, StageReport
from canvas_pipeline.data.student_view import StudentView, views_from_items

RAW, CURATED, PHASE1, PHASE2, PHASE3, PHASE4 = "raw", "curated", "phase1", "phase2", "phase3", "phase4"
DATASET_FILE = {
    PHASE1: "sft_trajectories.jsonl",
    PHASE2: "dpo_pairs.jsonl",
    PHASE3: "kto_feedback.jsonl",
    PHASE4: "benchmark.jsonl",
}


def _save_common(
    folder: Path, quarantine: Quarantine, report: StageReport, extra: dict[str, Any] | None = None
) -> None:
    write_parquet(folder / "quarantine.parquet", quarantine.to_frame())
    payload = {"stage": report.stage, **report.metadata(), **(extra or {})}
    atomic_write_text(folder / "report.json", json.dumps(payload, indent=2, sort_keys=True) + "\n")


def load_report(out_dir: Path, stage: str) -> dict[str, Any]:
    return json.loads((stage_dir(out_dir, stage) / "report.json").read_text("utf-8"))


def load_quarantine(out_dir: Path, stage: str) -> pl.DataFrame:
    return pl.read_parquet(stage_dir(out_dir, stage) / "quarantine.parquet")


def _require(path: Path, stage: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run the {stage} stage first")
    return path


def run_raw_stage(out_dir: Path, raw_dir: Path | None, seed: int = 0) -> StageReport:
    """Ingest `raw_dir` (or the generated demo term when it is None) into OUT/raw."""
    folder = stage_dir(out_dir, RAW)
    source = Path(raw_dir) if raw_dir is not None else folder / "demo_input"
    if raw_dir is None:
        write_demo_term(source, DemoTermConfig(seed=seed))
    raw = ingest_raw_dir(source)
    write_parquet(folder / "canvas_items.parquet", raw.items)
    write_parquet(folder / "priority_pairs.parquet", raw.pairs)
    atomic_write_text(folder / "pair_courses.json", json.dumps(raw.pair_courses, indent=2, sort_keys=True) + "\n")
    _save_common(folder, raw.quarantine, raw.report, {"raw_dir": str(source), "demo_term": raw_dir is None})
    return raw.report


def run_scrub_stage(out_dir: Path, scrubber_kind: str = "rule", model: str | None = None) -> StageReport:
    """Scrub OUT/raw into OUT/curated."""
    raw_folder = stage_dir(out_dir, RAW)
    items = pl.read_parquet(_require(raw_folder / "canvas_items.parquet", RAW))
    pairs = pl.read_parquet(_require(raw_folder / "priority_pairs.parquet", RAW))
    usernames = known_usernames(items)
    scrubbed = scrub_snapshot(items, pairs, make_scrubber(scrubber_kind, known_usernames=usernames, model=model))
    folder = stage_dir(out_dir, CURATED)
    write_parquet(folder / "scrubbed_items.parquet", scrubbed.items)
    write_parquet(folder / "scrubbed_pairs.parquet", scrubbed.pairs)
    atomic_write_text(folder / "pii_lexicon.json", json.dumps({"known_usernames": usernames}, indent=2) + "\n")
    _save_common(folder, scrubbed.quarantine, scrubbed.report)
    return scrubbed.report


def curated_inputs(out_dir: Path, scrubber_kind: str, model: str | None) -> tuple[pl.DataFrame, pl.DataFrame, Scrubber]:
    """The scrubbed tables and the scrubber that gates every generated conversation."""
    curated = stage_dir(out_dir, CURATED)
    items = pl.read_parquet(_require(curated / "scrubbed_items.parquet", CURATED))
    pairs = pl.read_parquet(_require(curated / "scrubbed_pairs.parquet", CURATED))
    lexicon = json.loads(_require(curated / "pii_lexicon.json", CURATED).read_text("utf-8"))
    codes = items["course_code"].unique().to_list()
    safe = [*codes, *(c.replace(" ", "_") for c in codes)]  # reranker items cite "@<course code>"
    scrubber = make_scrubber(scrubber_kind, known_usernames=lexicon["known_usernames"], model=model, safe_tokens=safe)
    return items, pairs, scrubber


def _save_dataset(
    out_dir: Path,
    stage: str,
    rows: list[dict[str, Any]],
    quarantine: Quarantine,
    report: StageReport,
    extra: dict[str, Any] | None = None,
) -> StageReport:
    folder = stage_dir(out_dir, stage)
    write_jsonl(folder / DATASET_FILE[stage], rows)
    _save_common(folder, quarantine, report, extra)
    return report


def run_phase1_stage(
    out_dir: Path, config: Phase1Config, scrubber_kind: str = "rule", model: str | None = None
) -> StageReport:
    """Build OUT/phase1 from OUT/curated; the same scrubber gates every finished trajectory."""
    items, pairs, scrubber = curated_inputs(out_dir, scrubber_kind, model)
    result = build_phase1(items, pairs, scrubber, config)
    extra = {
        "config": asdict(config),
        "tool_counts": result.tool_counts,
        "disabled_intents": result.disabled_intents,
        "split_of_course": {str(k): v for k, v in sorted(result.split_of_course.items())},
    }
    report = _save_dataset(out_dir, PHASE1, result.rows, result.quarantine, result.report, extra)
    pair_quarantine = Quarantine(PAIR_STAGE, list(result.pair_quarantine))
    write_parquet(stage_dir(out_dir, PHASE1) / "pair_quarantine.parquet", pair_quarantine.to_frame())
    return report


def run_phase2_stage(out_dir: Path, config: Phase2Config) -> StageReport:
    """Preference pairs from OUT/phase1 into OUT/phase2."""
    result = build_phase2(load_rows(out_dir, PHASE1), config)
    return _save_dataset(out_dir, PHASE2, result.rows, result.quarantine, result.report, {"config": asdict(config)})


def run_phase3_stage(out_dir: Path, config: Phase3Config) -> StageReport:
    """KTO feedback from OUT/phase1 into OUT/phase3."""
    result = build_phase3(load_rows(out_dir, PHASE1), config)
    return _save_dataset(out_dir, PHASE3, result.rows, result.quarantine, result.report, {"config": asdict(config)})


def run_phase4_stage(
    out_dir: Path, config: Phase4Config, scrubber_kind: str = "rule", model: str | None = None
) -> StageReport:
    """The benchmark from OUT/curated, on the courses phase 1 held out for it, into OUT/phase4."""
    items, pairs, scrubber = curated_inputs(out_dir, scrubber_kind, model)
    result = build_phase4(items, pairs, scrubber, phase1_config(out_dir), config)
    return _save_dataset(out_dir, PHASE4, result.rows, result.quarantine, result.report, {"config": asdict(config)})


def demo_split_inputs(seed: int, split: str) -> tuple[list[StudentView], list[PriorityPair], Scrubber]:
    """The views of one split of the demo term generated under `seed`, its labelled pairs
    and the rule scrubber, split as phase 1 splits it (built in a scratch folder): what a
    corpus outside the pipeline's own data (the warm-up, a test) generates conversations from."""
    import tempfile

    config = Phase1Config(seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        run_raw_stage(out, None, seed=seed)
        run_scrub_stage(out)
        items, pairs, scrubber = curated_inputs(out, "rule", None)
    split_of_course = assign_course_splits(items, seed, config.split_fractions)
    pools = pairs_by_split(pairs, seed, config.pair_fractions).pools
    return [v for v in views_from_items(items, split_of_course) if v.split == split], pools[split], scrubber


def phase1_config(out_dir: Path) -> Phase1Config:
    """The configuration phase 1 was built with: its seed and split fractions decide which
    courses the bench may use."""
    recorded = dict(load_report(out_dir, PHASE1)["config"])
    recorded["quotas"] = Quotas(**recorded["quotas"])
    return Phase1Config(**recorded)


def load_rows(out_dir: Path, stage: str) -> list[dict[str, Any]]:
    return read_jsonl(_require(stage_dir(out_dir, stage) / DATASET_FILE[stage], stage))


def load_trajectories(out_dir: Path) -> list[dict[str, Any]]:
    return load_rows(out_dir, PHASE1)


DATA_STAGES = (RAW, CURATED, PHASE1, PHASE2, PHASE3, PHASE4)


def run_data_stages(out_dir: Path, raw_dir: Path | None, seed: int = 0, through: str = PHASE4) -> list[StageReport]:
    """raw -> scrubbed -> phase 1 ... `through`, each with its default configuration under
    `seed` (what the tests and benchmarks build from the real exports)."""
    if through not in DATA_STAGES:
        raise ValueError(f"unknown stage {through!r}; stages: {', '.join(DATA_STAGES)}")
    steps = (
        lambda: run_raw_stage(out_dir, raw_dir, seed=seed),
        lambda: run_scrub_stage(out_dir),
        lambda: run_phase1_stage(out_dir, Phase1Config(seed=seed)),
        lambda: run_phase2_stage(out_dir, Phase2Config(seed=seed)),
        lambda: run_phase3_stage(out_dir, Phase3Config(seed=seed)),
        lambda: run_phase4_stage(out_dir, Phase4Config(seed=seed)),
    )
    return [step() for step in steps[: DATA_STAGES.index(through) + 1]]
