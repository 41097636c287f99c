"""Shared fixtures: where the real Canvas exports live, and the data slice built from them once."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from filelock import FileLock
from hypothesis import HealthCheck, settings

# Each of pytest-xdist's two workers (and what it launches) computes on one core: two
# workers with torch's default of one thread per core would oversubscribe the CI's two.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

from canvas_pipeline.data import stages  # noqa: E402

# The modules that take minutes of one worker, longest first (the slowest-tests list at the
# end of a run shows them). They start first, and the many short modules fill in around
# them instead of leaving one worker alone with a long module at the end of the run.
LONG_MODULES = (
    "test_training_runs",
    "test_training_g9",
    "test_dagster_runs",
    "test_check_cli",
    "test_release",
    "test_ui",
    "test_phase2_4",
    "test_external_items",
    "test_lineage",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONG_MODULES)}
    items[:] = sorted(items, key=lambda item: rank.get(item.path.stem, len(rank)))


settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_dagster_instance_left_current() -> Iterator[None]:
    """Each test starts with no Dagster instance's state storage set as the current one. An
    instance entered as a context manager sets it in a context variable; one left behind by
    an earlier test on the same worker, once its instance is collected, makes the next
    definitions load fail with "undefined DagsterInstance weakref" (seen when the worker's
    module order changed)."""
    from dagster._core.storage.defs_state.base import set_defs_state_storage

    with set_defs_state_storage(None):
        yield


@pytest.fixture(scope="session")
def shared_canvas_dir() -> Path:
    """The real anonymized exports, read in place (never copied into the repository)."""
    path = Path(os.environ.get("CANVAS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data" / "canvas"))
    if not (path / "contributor_snapshots.jsonl").is_file():
        raise FileNotFoundError(
            f"the real Canvas exports are not at {path}; set CANVAS_SHARED_DATA to the folder holding "
            "contributor_snapshots.jsonl and priority_pairs_anon.jsonl"
        )
    return path


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], object]) -> Path:
    """The folder `name`, built by `build` once per test session, by whichever pytest-xdist
    worker asks first while the others wait on a file lock (the pattern pytest-xdist
    documents for session fixtures). Tests only read it; a test that plants a failure
    works on a copy."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, shared by the workers
    folder, done = root / name, root / f"{name}.built"
    with FileLock(str(root / f"{name}.lock")):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            build(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def real_slice(shared_canvas_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """raw -> scrubbed -> phases 1-4 on the real exports with the default configuration."""
    return built_once(tmp_path_factory, "real_slice", lambda out: build_all(out, shared_canvas_dir))


def build_all(out: Path, raw_dir: Path | None, seed: int = 0) -> Path:
    stages.run_data_stages(out, raw_dir, seed)
    return out


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny profile's tokenizer, built once for the session."""
    from canvas_pipeline.training.tokenizer import build_tokenizer

    return built_once(tmp_path_factory, "tiny_tokenizer", lambda folder: build_tokenizer("tiny", folder))
