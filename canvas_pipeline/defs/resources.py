"""Run-time settings, as Dagster resources: where data comes from and goes, seeds, sizes,
the model profile."""

import os
from pathlib import Path

import dagster as dg

from canvas_pipeline.data.phase1.build import Phase1Config


class DataSettings(dg.ConfigurableResource):
    """Where the data stages read and write. `raw_dir` empty means the generated demo term.
    `allow_shrinkage` maps a stage folder (raw, curated, phase1, ...) to the reason it may
    keep fewer than 70% of its rows (G6); the reason is recorded with the check."""

    out_dir: str = os.environ.get("CANVAS_OUT_DIR", "out")
    raw_dir: str | None = os.environ.get("CANVAS_RAW_DIR") or None
    seed: int = 0
    scrubber: str = "rule"
    piiranha_model: str | None = None
    train_size: int = 3000
    test_size: int = 400
    allow_shrinkage: dict[str, str] = {}

    @property
    def out_path(self) -> Path:
        return Path(self.out_dir).resolve()

    @property
    def raw_path(self) -> Path | None:
        return Path(self.raw_dir).resolve() if self.raw_dir else None

    def phase1_config(self) -> Phase1Config:
        return Phase1Config(seed=self.seed, train_size=self.train_size, test_size=self.test_size)


class ModelSettings(dg.ConfigurableResource):
    """The model profile (tiny, e2b, e2b-shape): tokenizer, model, max_length."""

    profile: str = os.environ.get("CANVAS_PROFILE", "tiny")
