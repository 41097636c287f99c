"""`canvas-train check` / `canvas-train --check` on real and planted data folders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from canvas_pipeline_tests.planting import planted, shrink_raw_report

CLI = str(Path(sys.executable).with_name("canvas-train"))


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=600)


def test_check_passes_on_the_pipeline_output(real_slice: Path, tiny_tokenizer_dir: Path, tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    proc = check(
        "check",
        "--data-dir",
        str(real_slice),
        "--tokenizer",
        str(tiny_tokenizer_dir),
        "--json",
        str(report_path),
        "--no-g9",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line[:1] == "G"}
    assert list(lines) == [f"G{i}" for i in range(1, 14)]
    for gid in ("G1", "G2", "G4", "G6", "G7", "G8", "G11", "G12", "G13"):
        assert " PASS " in lines[gid], lines[gid]
    for gid in ("G3", "G5", "G9"):
        assert " NOT RUN " in lines[gid]
    assert " PASS " in lines["G10"], lines["G10"]  # layer (a) needs no engine
    report = json.loads(report_path.read_text())
    assert report["passed"] is True and report["failed"] == []
    assert {r["id"]: r["status"] for r in report["results"]}["G11"] == "PASS"


def test_check_fails_on_shrinkage_and_passes_with_a_reason(
    real_slice: Path, tiny_tokenizer_dir: Path, tmp_path: Path
) -> None:
    folder = planted(real_slice, tmp_path, shrink_raw_report)
    proc = check("--check", "--data-dir", str(folder), "--tokenizer", str(tiny_tokenizer_dir), "--no-g9")
    assert proc.returncode == 1
    g6 = next(line for line in proc.stdout.splitlines() if line.startswith("G6"))
    assert " FAIL " in g6 and "raw: 3000 -> 1849 rows (61.6%)" in proc.stdout
    assert json.loads((folder / "guardrails.json").read_text())["failed"] == ["G6"]
    proc = check(
        "check",
        "--data-dir",
        str(folder),
        "--tokenizer",
        str(tiny_tokenizer_dir),
        "--allow-shrinkage",
        "raw=the export held a corrupted backup",
        "--no-g9",
    )
    assert proc.returncode == 0, proc.stdout
    g6 = next(r for r in json.loads((folder / "guardrails.json").read_text())["results"] if r["id"] == "G6")
    assert g6["status"] == "PASS" and "the export held a corrupted backup" in g6["reason"]


def test_corrupt_file_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "phase1").mkdir()
    (tmp_path / "phase1" / "sft_trajectories.jsonl").write_text('{"id": "broken", "split": \n')
    proc = check("check", "--data-dir", str(tmp_path))
    assert proc.returncode == 2
    assert "sft_trajectories.jsonl:1: malformed JSON" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert check("check", "--data-dir", str(tmp_path / "missing")).returncode == 2
    bad_allowance = check("check", "--data-dir", str(tmp_path), "--allow-shrinkage", "raw")
    assert bad_allowance.returncode == 2 and "STAGE=REASON" in bad_allowance.stderr
