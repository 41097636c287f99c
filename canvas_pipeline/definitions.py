"""The one Definitions object: what `dagster dev -w workspace.yaml`, `dg` and
`dagster job execute -m canvas_pipeline.definitions` load. No torch import happens here."""

from __future__ import annotations

import dagster as dg

from canvas_pipeline.defs.assets_data import DATA_ASSETS
from canvas_pipeline.defs.jobs import JOBS
from canvas_pipeline.defs.resources import DataSettings

defs = dg.Definitions(
    assets=DATA_ASSETS,
    jobs=JOBS,
    resources={"data": DataSettings()},
)
