"""The three data-stage assets: raw ingest, the PII gate, phase-1 trajectories."""

from pathlib import Path
from typing import Any

import dagster as dg

from canvas_pipeline.data import stages
from canvas_pipeline.data.io import UnreadableInputError
from canvas_pipeline.data.stage import StageReport
from canvas_pipeline.defs.resources import DataSettings

RAW_KEY = dg.AssetKey(["raw", "canvas_snapshots"])
SCRUBBED_KEY = dg.AssetKey(["curated", "scrubbed_snapshots"])
PHASE1_KEY = dg.AssetKey(["phase1", "sft_trajectories"])
PHASE2_KEY = dg.AssetKey(["phase2", "dpo_pairs"])
PHASE3_KEY = dg.AssetKey(["phase3", "kto_feedback"])
PHASE4_KEY = dg.AssetKey(["phase4", "benchmark"])


def stage_metadata(report: StageReport, folder: Path) -> dict[str, Any]:
    """Shrinkage figures (rows_in, rows_out, retained, dropped.<reason>) plus where the files are."""
    metadata: dict[str, Any] = {
        key: value for key, value in report.metadata().items() if isinstance(value, (int, float, str, bool))
    }
    metadata["dagster/row_count"] = report.rows_out
    metadata["path"] = dg.MetadataValue.path(str(folder))
    metadata["quarantine"] = dg.MetadataValue.path(str(folder / "quarantine.parquet"))
    if (folder / "pair_quarantine.parquet").is_file():
        metadata["pair_quarantine"] = dg.MetadataValue.path(str(folder / "pair_quarantine.parquet"))
    return metadata


def stage_result(report: StageReport, folder: Path) -> dg.MaterializeResult:
    """The stage's metadata, with the fingerprint of its files as the asset's data version:
    the same content the guardrail verdicts and the checkpoints' lineage name."""
    from canvas_pipeline.data.lineage import folder_fingerprint

    fingerprint = folder_fingerprint(folder)
    metadata = {**stage_metadata(report, folder), "fingerprint": fingerprint}
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(fingerprint))


def _run(step, *args) -> StageReport:  # noqa: ANN001 - a stage function from canvas_pipeline.data.stages
    try:
        return step(*args)
    except (UnreadableInputError, FileNotFoundError, ValueError) as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


@dg.asset(key=RAW_KEY, group_name="data", kinds={"polars", "parquet"})
def raw_canvas_snapshots(context: dg.AssetExecutionContext, data: DataSettings) -> dg.MaterializeResult:
    """Every record of the raw folder (snapshots, priority pairs, Canvas API courses; or the
    generated demo term) normalized into pandera-validated items and pairs tables. Each
    rejected row is in the quarantine table with its file, line and reason; rows_in equals
    rows_out plus the quarantined rows."""
    report = _run(stages.run_raw_stage, data.out_path, data.raw_path, data.seed)
    context.log.info(f"raw: {report.rows_out}/{report.rows_in} rows kept, dropped {report.dropped}")
    return stage_result(report, stages.stage_dir(data.out_path, stages.RAW))


@dg.asset(key=SCRUBBED_KEY, deps=[RAW_KEY], group_name="data", kinds={"polars", "parquet"})
def scrubbed_snapshots(context: dg.AssetExecutionContext, data: DataSettings) -> dg.MaterializeResult:
    """The raw tables with personal data replaced by typed placeholders (<EMAIL_1>,
    <PERSON_2>, stable within a row) and contributor_id removed; a row the scrubber still
    flags after scrubbing is quarantined, never passed on."""
    report = _run(stages.run_scrub_stage, data.out_path, data.scrubber, data.piiranha_model)
    context.log.info(f"scrubbed: {report.rows_out}/{report.rows_in} rows kept, dropped {report.dropped}")
    return stage_result(report, stages.stage_dir(data.out_path, stages.CURATED))


@dg.asset(key=PHASE1_KEY, deps=[SCRUBBED_KEY], group_name="data", kinds={"json"})
def sft_trajectories(context: dg.AssetExecutionContext, data: DataSettings) -> dg.MaterializeResult:
    """Multi-turn SFT trajectories (TRL conversational `messages` with the shared system
    prompt) in an item-disjoint train/test split, with per-tool quotas balanced; every kept
    trajectory has valid arguments, round-trips the codec and passes the PII gate, and every
    rejected one is quarantined with its reason."""
    report = _run(stages.run_phase1_stage, data.out_path, data.phase1_config(), data.scrubber, data.piiranha_model)
    context.log.info(f"phase1: {report.rows_out}/{report.rows_in} trajectories kept, dropped {report.dropped}")
    return stage_result(report, stages.stage_dir(data.out_path, stages.PHASE1))


@dg.asset(key=PHASE2_KEY, deps=[PHASE1_KEY], group_name="data", kinds={"json"})
def dpo_pairs(context: dg.AssetExecutionContext, data: DataSettings) -> dg.MaterializeResult:
    """DPO preference pairs in TRL's conversational format, true by construction: chosen is
    what a phase-1 trajectory did at a decision point, rejected a named mutation of it on
    one of 8 axes (or several, for mixed pairs). Every kept pair's rejected side violates
    the axes it names and its chosen side none (checked with the registry and the codec);
    per-axis counts are in the metadata; train and test keep phase 1's item-disjoint split."""
    report = _run(stages.run_phase2_stage, data.out_path, data.phase2_config())
    context.log.info(f"phase2: {report.extra.get('train.pairs')} train / {report.extra.get('test.pairs')} test pairs")
    return stage_result(report, stages.stage_dir(data.out_path, stages.PHASE2))


@dg.asset(key=PHASE3_KEY, deps=[PHASE1_KEY], group_name="data", kinds={"json"})
def kto_feedback(context: dg.AssetExecutionContext, data: DataSettings) -> dg.MaterializeResult:
    """Unpaired KTO feedback: desirable completions (what trajectories did) and undesirable
    ones (single-axis mutations at other decision points), desirable:undesirable between 1:1
    and 4:3, with the KTO weights to use in the metadata; item-disjoint test split."""
    report = _run(stages.run_phase3_stage, data.out_path, data.phase3_config())
    context.log.info(
        f"phase3: {report.extra.get('train.desirable')} desirable / {report.extra.get('train.undesirable')} undesirable"
    )
    return stage_result(report, stages.stage_dir(data.out_path, stages.PHASE3))


@dg.asset(key=PHASE4_KEY, deps=[PHASE1_KEY, SCRUBBED_KEY], group_name="data", kinds={"json"})
def benchmark(context: dg.AssetExecutionContext, data: DataSettings) -> dg.MaterializeResult:
    """The benchmark: >= 1000 items from the courses phase 1 held out of every training split
    (item-disjoint from phases 1-3), >= 40 expected calls per tool, irrelevance items where
    no call is right; each with the training system prompt, the ordered expected calls and
    BFCL-style accepted argument values."""
    report = _run(stages.run_phase4_stage, data.out_path, data.phase4_config(), data.scrubber, data.piiranha_model)
    context.log.info(f"phase4: {report.rows_out} bench items")
    return stage_result(report, stages.stage_dir(data.out_path, stages.PHASE4))


DATA_ASSETS = [raw_canvas_snapshots, scrubbed_snapshots, sft_trajectories, dpo_pairs, kto_feedback, benchmark]
