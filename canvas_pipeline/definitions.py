"""The one Definitions object: what `dagster dev -w workspace.yaml`, `dg` and
`dagster job execute -m canvas_pipeline.definitions` load.

It is the `canvas_pipeline/defs/` folder, loaded the way `dg` loads a project's defs
folder (`[tool.dg.project] root_module = "canvas_pipeline"`): every module in it
contributes what it defines at module level (assets, asset checks, jobs, sensors,
schedules) or through a `@dg.definitions` function (`defs/resources.py`'s resources), so a
file `dg scaffold defs dagster.asset NAME.py` writes there is loaded without editing this
file. No torch import happens here, and no setting is read from the environment: the
resources read theirs when a run starts (`defs/resources.py`).

`dg.load_from_defs_folder` finds the defs module through `pyproject.toml`; an installed
wheel (the Docker images) has none, so the tree is built from the `canvas_pipeline.defs`
module itself, which is what `load_from_defs_folder` does once it has read the name (a test
holds the two equal on a source checkout).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import dagster as dg

import canvas_pipeline.defs

# The folder holding pyproject.toml in a source checkout; only a base for relative paths
# in component YAML (this project has none), never required to exist.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def load_defs_folder() -> dg.Definitions:
    """Everything the defs folder defines, merged (module by module, as `dg` loads it)."""
    with warnings.catch_warnings():
        # The per-module loader the defs folder uses is marked preview in 1.13; `dg`'s own
        # `load_from_defs_folder` silences the same warning.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.ComponentTree.from_module(defs_module=canvas_pipeline.defs, project_root=PROJECT_ROOT).build_defs()


defs = load_defs_folder()
