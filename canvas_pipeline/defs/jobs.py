"""Jobs: named selections of assets that run together. The GPU jobs carry their run tags
from `canvas_pipeline/gpu_run_tags.yaml` (what a Kubernetes run pod asks for); `training_job`
through its partitioned config, so every partition's run gets its own tags, launched from a
UI backfill, a schedule, the Launchpad or `dagster job launch --partition`."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

import dagster as dg
import yaml

from canvas_pipeline.defs import checks_models  # the module: its checks are collected from there only
from canvas_pipeline.defs.assets_data import PHASE1_KEY, PHASE2_KEY, PHASE3_KEY, PHASE4_KEY, RAW_KEY, SCRUBBED_KEY
from canvas_pipeline.defs.assets_eval import BENCH_RESULTS_KEY, REPORT_KEY, SELECTION_KEY, SFT_BENCH_KEY
from canvas_pipeline.defs.assets_models import TOKENIZER_KEY
from canvas_pipeline.defs.assets_release import RELEASE_KEY
from canvas_pipeline.defs.assets_training import BASE_BENCH_KEY, BASE_MODEL_KEY, CHECKPOINT_KEY, METHOD_PARTITIONS
from canvas_pipeline.defs.keys import ON_POLICY_KEY, SFT_KEY

# G9's mini-trains (minutes per method on CPU) are not part of README command 1's jobs; they
# run when the checkpoints are materialized from the UI or the check is executed on its own.
SLOW_CHECK_SELECTION = dg.AssetSelection.checks(*checks_models.SLOW_CHECKS)

GPU_TAG = {"gpu": "1"}


@cache
def gpu_run_tags() -> dict[str, Any]:
    """`gpu_run_tags.yaml`: job -> its run tags, and for `training_job` method -> its tags."""
    return yaml.safe_load(files("canvas_pipeline").joinpath("gpu_run_tags.yaml").read_text(encoding="utf-8"))


def run_tags(tags: dict[str, Any]) -> dict[str, str]:
    """Run tag values are strings: a mapping (`dagster-k8s/config`) travels JSON-encoded."""
    return {**GPU_TAG, **{k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in tags.items()}}


def training_partition_tags(method: str) -> dict[str, str]:
    return run_tags(gpu_run_tags()["training_job"][method])


data_job = dg.define_asset_job(
    "data_job",
    selection=dg.AssetSelection.assets(
        RAW_KEY, SCRUBBED_KEY, PHASE1_KEY, PHASE2_KEY, PHASE3_KEY, PHASE4_KEY, TOKENIZER_KEY
    ),
    description="Raw ingest -> PII gate -> phases 1-4 and the profile tokenizer, every data guardrail blocking.",
    # Its steps take seconds each, and a process per step costs more than it buys: from the
    # shell on two cores the job took 84 s with a process per step and 54 s in one process.
    executor_def=dg.in_process_executor,
)

base_model_job = dg.define_asset_job(
    "base_model_job",
    selection=dg.AssetSelection.assets(BASE_MODEL_KEY, BASE_BENCH_KEY),
    description="The profile's base model and its bench score (G3, blocking).",
    tags=run_tags(gpu_run_tags()["base_model_job"]),
)

sft_job = dg.define_asset_job(
    "sft_job",
    selection=dg.AssetSelection.assets(SFT_KEY, SFT_BENCH_KEY, ON_POLICY_KEY) - SLOW_CHECK_SELECTION,
    description=(
        "Full SFT (the start and reference of six methods), its bench, and its judged answers mixed with "
        "phases 2 and 3: the on-policy data the preference methods train on (G5 on sft; G1, G2, G7, G8, G11-G14 "
        "on the on-policy data; all blocking). G9's mini-train is left out (minutes; run it from the UI)."
    ),
    tags=run_tags(gpu_run_tags()["sft_job"]),
)

training_job = dg.define_asset_job(
    "training_job",
    # partitioned like the checkpoint: one method per run, trained and then benched
    selection=dg.AssetSelection.assets(CHECKPOINT_KEY, BENCH_RESULTS_KEY) - SLOW_CHECK_SELECTION,
    description=(
        "One training method per run (partition = method but sft), G5 on it (blocking), then its bench; GPU work "
        "in the gpu pool. G9's mini-train is left out (minutes; run it from the UI)."
    ),
    tags=GPU_TAG,
    config=dg.PartitionedConfig(
        partitions_def=METHOD_PARTITIONS,
        run_config_for_partition_key_fn=lambda _method: {},
        tags_for_partition_key_fn=training_partition_tags,
    ),
)

report_job = dg.define_asset_job(
    "report_job",
    selection=dg.AssetSelection.assets(SELECTION_KEY, REPORT_KEY, RELEASE_KEY),
    description=(
        "The production-checkpoint selection (fails when no checkpoint clears the tool floor), the report, and "
        "the release of the selected checkpoint (a local dry run unless publishing is configured)."
    ),
)

JOBS = [data_job, base_model_job, sft_job, training_job, report_job]
