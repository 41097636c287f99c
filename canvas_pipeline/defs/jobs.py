"""Jobs: named selections of assets that run together."""

from __future__ import annotations

import dagster as dg

from canvas_pipeline.defs.assets_data import PHASE1_KEY, PHASE2_KEY, PHASE3_KEY, PHASE4_KEY, RAW_KEY, SCRUBBED_KEY
from canvas_pipeline.defs.assets_eval import BENCH_RESULTS_KEY, REPORT_KEY, SELECTION_KEY, SFT_BENCH_KEY
from canvas_pipeline.defs.assets_models import TOKENIZER_KEY
from canvas_pipeline.defs.assets_release import RELEASE_KEY
from canvas_pipeline.defs.assets_training import BASE_BENCH_KEY, BASE_MODEL_KEY, CHECKPOINT_KEY
from canvas_pipeline.defs.keys import ON_POLICY_KEY, SFT_KEY

data_job = dg.define_asset_job(
    "data_job",
    selection=dg.AssetSelection.assets(
        RAW_KEY, SCRUBBED_KEY, PHASE1_KEY, PHASE2_KEY, PHASE3_KEY, PHASE4_KEY, TOKENIZER_KEY
    ),
    description="Raw ingest -> PII gate -> phases 1-4 and the profile tokenizer, every data guardrail blocking.",
)

base_model_job = dg.define_asset_job(
    "base_model_job",
    selection=dg.AssetSelection.assets(BASE_MODEL_KEY, BASE_BENCH_KEY),
    description="The profile's base model and its bench score (G3, blocking).",
    tags={"gpu": "1"},
)

sft_job = dg.define_asset_job(
    "sft_job",
    selection=dg.AssetSelection.assets(SFT_KEY, SFT_BENCH_KEY, ON_POLICY_KEY),
    description=(
        "Full SFT (the start and reference of six methods), its bench, and its judged answers mixed with "
        "phases 2 and 3: the on-policy data the preference methods train on (G1, G2, G7, G8, G11-G14 blocking)."
    ),
    tags={"gpu": "1"},
)

training_job = dg.define_asset_job(
    "training_job",
    # partitioned like the checkpoint: one method per run, trained and then benched
    selection=dg.AssetSelection.assets(CHECKPOINT_KEY, BENCH_RESULTS_KEY),
    description="One training method per run (partition = method but sft), then its bench; GPU work in the gpu pool.",
    tags={"gpu": "1"},
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
