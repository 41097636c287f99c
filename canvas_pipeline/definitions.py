"""The one Definitions object: what `dagster dev -w workspace.yaml`, `dg` and
`dagster job execute -m canvas_pipeline.definitions` load. No torch import happens here."""

from __future__ import annotations

import dagster as dg

from canvas_pipeline.defs.assets_data import DATA_ASSETS
from canvas_pipeline.defs.assets_eval import EVAL_ASSETS
from canvas_pipeline.defs.assets_models import MODEL_ASSETS
from canvas_pipeline.defs.assets_on_policy import ON_POLICY_ASSETS, ON_POLICY_CHECKS
from canvas_pipeline.defs.assets_release import RELEASE_ASSETS
from canvas_pipeline.defs.assets_training import TRAINING_ASSETS, TRAINING_CHECKS
from canvas_pipeline.defs.automation import SCHEDULES, SENSORS
from canvas_pipeline.defs.checks import GUARDRAIL_CHECKS
from canvas_pipeline.defs.jobs import JOBS
from canvas_pipeline.defs.resources import DataSettings, ModelSettings

defs = dg.Definitions(
    assets=[*DATA_ASSETS, *MODEL_ASSETS, *TRAINING_ASSETS, *ON_POLICY_ASSETS, *EVAL_ASSETS, *RELEASE_ASSETS],
    asset_checks=[*GUARDRAIL_CHECKS, *TRAINING_CHECKS, *ON_POLICY_CHECKS],
    jobs=JOBS,
    sensors=SENSORS,
    schedules=SCHEDULES,
    resources={"data": DataSettings(), "model": ModelSettings()},
)
