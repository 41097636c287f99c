"""The data job through the `dagster` CLI and in process: the embedded default passes every
guardrail check; a planted failure blocks everything downstream; the checks and their
latest status are served by `dagster dev`'s GraphQL endpoint."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from canvas_pipeline.defs.assets_data import PHASE1_KEY, PHASE2_KEY, PHASE3_KEY, PHASE4_KEY, RAW_KEY, SCRUBBED_KEY
from canvas_pipeline.defs.resources import DataSettings, ModelSettings

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GUARDRAIL_CHECKS = {
    "raw/canvas_snapshots": {"G6_rows_kept_per_stage"},
    "curated/scrubbed_snapshots": {"G6_rows_kept_per_stage"},
    "phase1/sft_trajectories": {
        "G2_non_empty_item_disjoint_eval_split",
        "G4_per_tool_counts_in_sft_train",
        "G6_rows_kept_per_stage",
        "G7_tool_names_exist_in_the_registry",
        "G8_serializer_parser_round_trip",
        "G11_rows_longer_than_max_length",
        "G12_minimum_rows_per_method",
        "G13_one_tool_repeated_in_a_trajectory",
    },
    "phase2/dpo_pairs": {
        "G1_tool_calls_in_preference_pairs",
        "G2_non_empty_item_disjoint_eval_split",
        "G6_rows_kept_per_stage",
        "G7_tool_names_exist_in_the_registry",
        "G8_serializer_parser_round_trip",
        "G11_rows_longer_than_max_length",
        "G12_minimum_rows_per_method",
        "G13_one_tool_repeated_in_a_trajectory",
        "G14_prompt_blind_shortcut_classifier",
    },
    "phase3/kto_feedback": {
        "G2_non_empty_item_disjoint_eval_split",
        "G6_rows_kept_per_stage",
        "G7_tool_names_exist_in_the_registry",
        "G8_serializer_parser_round_trip",
        "G11_rows_longer_than_max_length",
        "G12_minimum_rows_per_method",
        "G13_one_tool_repeated_in_a_trajectory",
        "G14_prompt_blind_shortcut_classifier",
    },
    "phase4/benchmark": {
        "G2_non_empty_item_disjoint_eval_split",
        "G6_rows_kept_per_stage",
        "G7_tool_names_exist_in_the_registry",
        "G8_serializer_parser_round_trip",
        "G11_rows_longer_than_max_length",
        "bench_coverage",
        "bench_phrasing_disjoint",
    },
}


def dagster_env(home: Path, **extra: str) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if k not in ("CANVAS_RAW_DIR", "CANVAS_OUT_DIR")}
    return {**env, "DAGSTER_HOME": str(home), **extra}


def execute_job(home: Path, config: dict | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    args = [str(BIN / "dagster"), "job", "execute", "-m", "canvas_pipeline.definitions", "-j", "data_job"]
    if config:
        path = home.parent / "run_config.json"
        path.write_text(json.dumps(config))
        args += ["-c", str(path)]
    return subprocess.run(
        args, capture_output=True, text=True, cwd=REPO_ROOT, env=dagster_env(home, **env), timeout=900
    )


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """README command 1's job: the demo term at default sizes, recorded under DAGSTER_HOME."""
    root = tmp_path_factory.mktemp("default_run")
    home, out = root / "dagster_home", root / "out"
    proc = execute_job(home, CANVAS_OUT_DIR=str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "RUN_SUCCESS" in proc.stdout + proc.stderr
    return home, out


@pytest.fixture(scope="module")
def bad_raw_dir(shared_canvas_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real exports plus 2000 malformed lines: the raw stage keeps under 70% of its rows."""
    folder = tmp_path_factory.mktemp("bad_raw")
    for path in shared_canvas_dir.glob("*.jsonl"):
        shutil.copy(path, folder / path.name)
    (folder / "junk.jsonl").write_text("".join(f'{{"type": "course_snapshot", broken {i}\n' for i in range(2000)))
    return folder


def test_embedded_default_passes_every_check(default_run: tuple[Path, Path]) -> None:
    home, out = default_run
    assert (out / "raw" / "demo_input" / "demo_courses.json").is_file()
    assert (out / "phase1" / "sft_trajectories.jsonl").stat().st_size > 0
    assert (out / "models" / "tiny" / "tokenizer" / "tokenizer.json").is_file()
    instance = dg.DagsterInstance.from_config(str(home))
    for key in (RAW_KEY, SCRUBBED_KEY, PHASE1_KEY, PHASE2_KEY, PHASE3_KEY, PHASE4_KEY):
        assert instance.get_latest_materialization_event(key) is not None


def test_failed_guardrail_blocks_downstream_in_process(bad_raw_dir: Path, tmp_path: Path) -> None:
    from canvas_pipeline.definitions import defs

    out = tmp_path / "out"
    result = defs.resolve_job_def("data_job").execute_in_process(
        resources={"data": DataSettings(out_dir=str(out), raw_dir=str(bad_raw_dir)), "model": ModelSettings()},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    evaluations = {e.asset_check_key.to_user_string(): e for e in result.get_asset_check_evaluations()}
    g6 = evaluations["raw/canvas_snapshots:G6_rows_kept_per_stage"]
    assert g6.passed is False and g6.severity == dg.AssetCheckSeverity.ERROR
    assert "malformed_json" in g6.metadata["details"].value
    assert result.asset_materializations_for_node(RAW_KEY.to_python_identifier())
    assert not result.asset_materializations_for_node(SCRUBBED_KEY.to_python_identifier())
    for key in (PHASE1_KEY, PHASE2_KEY, PHASE3_KEY, PHASE4_KEY):
        assert not result.asset_materializations_for_node(key.to_python_identifier())
    assert not (out / "curated").exists() and not (out / "phase1").exists() and not (out / "phase4").exists()


def test_failed_guardrail_blocks_downstream_through_the_cli(bad_raw_dir: Path, tmp_path: Path) -> None:
    home, out = tmp_path / "dagster_home", tmp_path / "out"
    proc = execute_job(home, {"resources": {"data": {"config": {"raw_dir": str(bad_raw_dir), "out_dir": str(out)}}}})
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Asset check 'G6_rows_kept_per_stage' on 'raw/canvas_snapshots' did not pass" in log, log[-6000:]
    assert "blocking asset check failed" in log, log[-6000:]
    instance = dg.DagsterInstance.from_config(str(home))
    assert instance.get_latest_materialization_event(RAW_KEY) is not None
    assert instance.get_latest_materialization_event(SCRUBBED_KEY) is None
    assert instance.get_latest_materialization_event(PHASE1_KEY) is None
    assert not (out / "curated").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


CHECKS_QUERY = """
{ assetNodes { assetKey { path }
    assetChecksOrError { ... on AssetChecks { checks { name blocking
        executionForLatestMaterialization { status evaluation { metadataEntries { label } } } } } } } }
"""


def _default_signals() -> None:
    """In the child before exec: SIGINT/SIGTERM back to their defaults (a background shell
    starts its children with SIGINT ignored, and `dagster dev` then ignores SIGTERM too)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_checks_and_their_status_are_served_by_dagster_dev(default_run: tuple[Path, Path]) -> None:
    home, out = default_run
    port = _free_port()
    proc = subprocess.Popen(
        [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-p", str(port)],
        cwd=REPO_ROOT,
        env=dagster_env(home, CANVAS_OUT_DIR=str(out)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_default_signals,  # else, started from a background shell, SIGTERM is ignored
    )
    try:
        deadline, data = time.monotonic() + 180, None
        while time.monotonic() < deadline:
            try:
                data = _graphql(port, CHECKS_QUERY)["data"]
                if data["assetNodes"]:
                    break
            except OSError:
                pass
            time.sleep(2)
        assert data and data["assetNodes"], "dagster dev did not answer"
        served = {
            "/".join(node["assetKey"]["path"]): {c["name"]: c for c in node["assetChecksOrError"].get("checks", [])}
            for node in data["assetNodes"]
        }
        for asset, names in GUARDRAIL_CHECKS.items():
            assert set(served[asset]) == names
            for check in served[asset].values():
                assert check["blocking"] is True
                execution = check["executionForLatestMaterialization"]
                assert execution["status"] == "SUCCEEDED"
                labels = {m["label"] for m in execution["evaluation"]["metadataEntries"]}
                assert {"value", "threshold", "status", "details", "n_offending"} <= labels
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
