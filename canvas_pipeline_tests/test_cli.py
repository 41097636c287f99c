"""`canvas-train`: fast help, the data command end to end, and data errors without tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from canvas_pipeline.data import stages

CLI = str(Path(sys.executable).with_name("canvas-train"))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=600)


def test_help_exits_zero_and_imports_no_torch() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0 and "data" in proc.stdout
    code = "import sys; from canvas_pipeline.cli import build_parser; build_parser(); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_data_command_builds_every_documented_file(tmp_path: Path) -> None:
    proc = run_cli(
        "data", "--out", str(tmp_path), "--seed", "3", "--train-size", "200", "--test-size", "60", "--no-tokenizer"
    )
    assert proc.returncode == 0, proc.stderr
    for line in (
        "raw/canvas_snapshots",
        "curated/scrubbed_snapshots",
        "phase1/sft_trajectories",
        "phase2/dpo_pairs",
        "phase3/kto_feedback",
        "phase4/benchmark",
    ):
        assert line in proc.stdout
    for name in (
        "raw/canvas_items.parquet",
        "raw/priority_pairs.parquet",
        "curated/scrubbed_items.parquet",
        "curated/scrubbed_pairs.parquet",
        "phase1/sft_trajectories.jsonl",
        "phase2/dpo_pairs.jsonl",
        "phase3/kto_feedback.jsonl",
        "phase4/benchmark.jsonl",
    ):
        assert (tmp_path / name).is_file(), name
    for stage in (stages.RAW, stages.CURATED, stages.PHASE1, stages.PHASE2, stages.PHASE3, stages.PHASE4):
        assert (tmp_path / stage / "quarantine.parquet").is_file()
        assert stages.load_report(tmp_path, stage)["rows_out"] > 0
    rows = stages.load_trajectories(tmp_path)
    assert sum(r["split"] == "train" for r in rows) >= 200


def test_unreadable_raw_dir_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    proc = run_cli("data", "--raw-dir", str(tmp_path / "missing"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert f"cannot read {tmp_path / 'missing'}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_step_counts_must_be_positive_whole_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    """`--max-steps` and `--save-steps` refuse what no trainer could run, before any work."""
    from canvas_pipeline.cli_args import build_parser

    parser = build_parser()
    base = ["train", "--method", "sft", "--data-dir", "out"]
    args = parser.parse_args([*base, "--max-steps", "8", "--save-steps", "4"])
    assert (args.max_steps, args.save_steps) == (8, 4)
    for flag, value, reason in (
        ("--save-steps", "0", "0 is not a positive number of steps"),
        ("--max-steps", "-3", "-3 is not a positive number of steps"),
        ("--max-steps", "1.5", "'1.5' is not a whole number"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([*base, flag, value])
        assert exit_info.value.code == 2 and f"argument {flag}: {reason}" in capsys.readouterr().err
