"""Run-time settings, as Dagster resources: where data comes from and goes, seeds, sizes."""

import os
from pathlib import Path

import dagster as dg

from canvas_pipeline.data.phase1.build import Phase1Config


class DataSettings(dg.ConfigurableResource):
    """Where the data stages read and write. `raw_dir` empty means the generated demo term."""

    out_dir: str = os.environ.get("CANVAS_OUT_DIR", "out")
    raw_dir: str | None = os.environ.get("CANVAS_RAW_DIR") or None
    seed: int = 0
    scrubber: str = "rule"
    piiranha_model: str | None = None
    train_size: int = 3000
    test_size: int = 400

    @property
    def out_path(self) -> Path:
        return Path(self.out_dir).resolve()

    @property
    def raw_path(self) -> Path | None:
        return Path(self.raw_dir).resolve() if self.raw_dir else None

    def phase1_config(self) -> Phase1Config:
        return Phase1Config(seed=self.seed, train_size=self.train_size, test_size=self.test_size)
