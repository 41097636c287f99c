"""Run-time settings, as Dagster resources: where data comes from and goes, seeds, sizes,
the model profile."""

import os
from pathlib import Path

import dagster as dg

from canvas_pipeline.data.phase1.build import Phase1Config
from canvas_pipeline.data.phase2.build import Phase2Config
from canvas_pipeline.data.phase3.build import Phase3Config
from canvas_pipeline.data.phase4.build import Phase4Config


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
    bench_size: int = 1200
    allow_shrinkage: dict[str, str] = {}

    @property
    def out_path(self) -> Path:
        return Path(self.out_dir).resolve()

    @property
    def raw_path(self) -> Path | None:
        return Path(self.raw_dir).resolve() if self.raw_dir else None

    def phase1_config(self) -> Phase1Config:
        return Phase1Config(seed=self.seed, train_size=self.train_size, test_size=self.test_size)

    def phase2_config(self) -> Phase2Config:
        return Phase2Config(seed=self.seed)

    def phase3_config(self) -> Phase3Config:
        return Phase3Config(seed=self.seed)

    def phase4_config(self) -> Phase4Config:
        return Phase4Config(seed=self.seed, size=self.bench_size)


class ModelSettings(dg.ConfigurableResource):
    """The model profile (tiny, e2b, e2b-shape): tokenizer, model, max_length."""

    profile: str = os.environ.get("CANVAS_PROFILE", "tiny")
    # False trains even when G3 failed or did not run (recorded as skipped): for exercising
    # the training mechanics on a base that is not meant to be good, never for a release.
    require_g3: bool = os.environ.get("CANVAS_REQUIRE_G3", "1") != "0"
    # Bench and eval-split items per checkpoint; unset: the profile's budget.
    bench_items: int | None = int(os.environ["CANVAS_BENCH_ITEMS"]) if os.environ.get("CANVAS_BENCH_ITEMS") else None
    selection_items: int | None = (
        int(os.environ["CANVAS_SELECTION_ITEMS"]) if os.environ.get("CANVAS_SELECTION_ITEMS") else None
    )
