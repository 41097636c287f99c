"""The Dagster layer: definitions load without torch, the data job runs in process and
through the `dagster` CLI, and a bad raw folder fails the run with the folder named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from canvas_pipeline.defs.assets_data import DATA_ASSETS, PHASE1_KEY, RAW_KEY, SCRUBBED_KEY
from canvas_pipeline.defs.resources import DataSettings

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_definitions_load_without_torch() -> None:
    code = (
        "import sys, canvas_pipeline.definitions as d\n"
        "job = d.defs.resolve_job_def('data_job')\n"
        "print(sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys))\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import at load'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert "curated/scrubbed_snapshots" in out.stdout and "phase1/sft_trajectories" in out.stdout


def test_every_asset_and_check_says_what_it_guarantees() -> None:
    from canvas_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        description = graph.get(key).description
        assert description and len(description) > 60, key
    for key in graph.asset_check_keys:
        description = graph.get_check_spec(key).description
        assert description and len(description) > 20, key
    for asset in DATA_ASSETS:
        for spec in asset.specs:
            assert spec.description and len(spec.description) > 60


def _materialization(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    events = result.asset_materializations_for_node(key.to_python_identifier())
    assert len(events) == 1
    return {k: v.value for k, v in events[0].metadata.items()}


def test_data_assets_materialize_in_process_on_real_data(shared_canvas_dir: Path, tmp_path: Path) -> None:
    settings = DataSettings(out_dir=str(tmp_path), raw_dir=str(shared_canvas_dir), train_size=300, test_size=60)
    result = dg.materialize(DATA_ASSETS, resources={"data": settings}, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    raw = _materialization(result, RAW_KEY)
    assert raw["rows_in"] == raw["rows_out"] + raw["dropped_total"]
    assert raw["dropped.duplicate_item"] == 5 and raw["courses"] == 34 and raw["pairs"] == 800
    assert 0.7 <= raw["retained"] <= 1.0 and raw["dagster/row_count"] == raw["rows_out"]
    scrubbed = _materialization(result, SCRUBBED_KEY)
    assert scrubbed["rows_in"] == raw["rows_out"]
    phase1 = _materialization(result, PHASE1_KEY)
    assert phase1["train_rows"] >= 300 and phase1["test_rows"] >= 60
    assert phase1["rows_in"] == phase1["rows_out"] + phase1["dropped_total"]
    assert (tmp_path / "phase1" / "sft_trajectories.jsonl").is_file()


def test_missing_raw_folder_fails_the_run_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_exports"
    settings = DataSettings(out_dir=str(tmp_path / "out"), raw_dir=str(missing))
    result = dg.materialize(
        DATA_ASSETS, resources={"data": settings}, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert len(failures) == 1 and failures[0].step_key == RAW_KEY.to_python_identifier()
    assert str(missing) in failures[0].step_failure_data.error.message
    assert not (tmp_path / "out" / "curated").exists()  # nothing downstream ran


def test_workspace_and_dg_load_the_definitions() -> None:
    """What `dagster dev -w workspace.yaml` and `dg` load validates, through both CLIs."""
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    validate = subprocess.run(
        [str(bin_dir / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=300,
    )
    assert validate.returncode == 0, validate.stderr[-2000:]
    assert "All code locations passed validation" in validate.stdout + validate.stderr
    check = subprocess.run(
        [str(bin_dir / "dg"), "check", "defs"], capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=300
    )
    assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]
    listing = subprocess.run(
        [str(bin_dir / "dg"), "list", "defs", "--json"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=300,
    )
    assert listing.returncode == 0, listing.stderr[-2000:]
    listed = json.loads(listing.stdout)
    from canvas_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    assert {a["asset_key"] for a in listed["assets"]} == {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {c["key"] for c in listed["asset_checks"]} == {k.to_user_string() for k in graph.asset_check_keys}
    # every guardrail is a check, so the UI shows all of them (G3 on the base bench, G5 and G9
    # on the checkpoints, G10 on project/container_images, the rest on the datasets)
    assert {c["name"].split("_")[0] for c in listed["asset_checks"] if c["name"].startswith("G")} == {
        f"G{i}" for i in range(1, 15)
    }
    assert "data_job" in {j["name"] for j in listed["jobs"]}


def test_the_graph_orders_sft_and_its_on_policy_data_before_the_methods_that_read_them() -> None:
    """`sft` is its own asset upstream of every other checkpoint, with the on-policy data
    (and its blocking guardrails) between them, so a UI backfill of the eight partitions
    cannot train a preference method first; GPU work sits in the `gpu` pool."""
    from canvas_pipeline.definitions import defs
    from canvas_pipeline.defs.assets_eval import BENCH_RESULTS_KEY, SFT_BENCH_KEY
    from canvas_pipeline.defs.assets_on_policy import on_policy_guardrails
    from canvas_pipeline.defs.assets_training import BASE_MODEL_KEY, CHECKPOINT_KEY, GPU_POOL, METHOD_PARTITIONS
    from canvas_pipeline.defs.keys import ON_POLICY_KEY, SFT_KEY
    from canvas_pipeline.training.methods import METHOD_NAMES

    graph = defs.resolve_asset_graph()
    assert {SFT_KEY, ON_POLICY_KEY} <= graph.get(CHECKPOINT_KEY).parent_keys
    assert SFT_KEY in graph.get(ON_POLICY_KEY).parent_keys
    assert SFT_BENCH_KEY in graph.get(BENCH_RESULTS_KEY).parent_keys
    assert ["sft", *METHOD_PARTITIONS.get_partition_keys()] == list(METHOD_NAMES)
    specs = [s for s in on_policy_guardrails.check_specs if s.asset_key == ON_POLICY_KEY]
    assert {s.name.split("_")[0] for s in specs} == {"G1", "G2", "G7", "G8", "G11", "G12", "G13", "G14"}
    assert all(s.blocking for s in specs)
    assert {s.key for s in specs} <= set(graph.asset_check_keys)
    for key in (BASE_MODEL_KEY, SFT_KEY, ON_POLICY_KEY, CHECKPOINT_KEY, SFT_BENCH_KEY, BENCH_RESULTS_KEY):
        assert defs.get_assets_def(key).op.pool == GPU_POOL, key
