"""Jobs: named selections of assets that run together."""

from __future__ import annotations

import dagster as dg

from canvas_pipeline.defs.assets_data import PHASE1_KEY, PHASE2_KEY, PHASE3_KEY, PHASE4_KEY, RAW_KEY, SCRUBBED_KEY
from canvas_pipeline.defs.assets_models import TOKENIZER_KEY

data_job = dg.define_asset_job(
    "data_job",
    selection=dg.AssetSelection.assets(
        RAW_KEY, SCRUBBED_KEY, PHASE1_KEY, PHASE2_KEY, PHASE3_KEY, PHASE4_KEY, TOKENIZER_KEY
    ),
    description="Raw ingest -> PII gate -> phases 1-4 and the profile tokenizer, every data guardrail blocking.",
)

JOBS = [data_job]
