"""Jobs: named selections of assets that run together."""

from __future__ import annotations

import dagster as dg

from canvas_pipeline.defs.assets_data import PHASE1_KEY, PHASE2_KEY, PHASE3_KEY, PHASE4_KEY, RAW_KEY, SCRUBBED_KEY
from canvas_pipeline.defs.assets_models import TOKENIZER_KEY
from canvas_pipeline.defs.assets_training import BASE_BENCH_KEY, BASE_MODEL_KEY, CHECKPOINT_KEY

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

training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.assets(CHECKPOINT_KEY),  # partitioned like the checkpoint: one method per run
    description="One training method per run (partition = method); runs tagged gpu=1, one at a time.",
    tags={"gpu": "1"},
)

JOBS = [data_job, base_model_job, training_job]
