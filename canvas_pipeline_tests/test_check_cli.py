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


WAIVERS = {
    "G3": "no base model in a data-only folder",
    "G5": "nothing trained in a data-only folder",
    "G9": "the mini-trains take minutes",
    "G10": "no container engine on this machine",
}


def test_check_passes_on_the_pipeline_output_only_with_what_did_not_run_waived(
    real_slice: Path, tiny_tokenizer_dir: Path, tmp_path: Path
) -> None:
    """A data folder without a base model or checkpoints: the data guardrails pass, G3, G5,
    G9 (--no-g9) and G10 (no engine) do not run. That is not a pass (exit 3, naming them)
    until each is waived by name with a reason, which the report records."""
    report_path = tmp_path / "report.json"
    args = ["check", "--data-dir", str(real_slice), "--tokenizer", str(tiny_tokenizer_dir)]
    args += ["--json", str(report_path), "--no-g9"]
    partly = check(*args, "--waive", f"G9={WAIVERS['G9']}")  # one waived: the other three still count
    assert partly.returncode == 3, partly.stdout + partly.stderr
    lines = {line.split()[0]: line for line in partly.stdout.splitlines() if line[:1] == "G"}
    assert list(lines) == [f"G{i}" for i in range(1, 15)]
    for gid in ("G1", "G2", "G4", "G6", "G7", "G8", "G11", "G12", "G13", "G14"):
        assert " PASS " in lines[gid], lines[gid]
    for gid in WAIVERS:
        assert " NOT RUN " in lines[gid], lines[gid]
    assert "not run (and not waived): G3, G5, G10" in partly.stdout
    report = json.loads(report_path.read_text())
    assert report["passed"] is False and report["failed"] == []
    assert report["not_run_unwaived"] == ["G3", "G5", "G10"] and report["waived"] == {"G9": WAIVERS["G9"]}
    waived = check(*args, *[f"--waive={gid}={reason}" for gid, reason in WAIVERS.items()])
    assert waived.returncode == 0, waived.stdout + waived.stderr
    report = json.loads(report_path.read_text())
    assert report["passed"] is True and report["waived"] == WAIVERS and report["not_run_unwaived"] == []
    results = {r["id"]: r for r in report["results"]}
    assert results["G9"]["status"] == "NOT RUN" and results["G9"]["waived"] == WAIVERS["G9"]
    assert results["G11"]["status"] == "PASS" and "waived" not in results["G11"]
    # bound to the data it judged, so the release can tell it speaks for the data it releases
    from canvas_pipeline.release.gate import check_binding

    binding = check_binding(real_slice, "tiny")
    assert report["profile"] == "tiny" and report["data_dir"] == str(real_slice.resolve())
    assert report["fingerprints"] == binding["fingerprints"] and set(binding["fingerprints"]) == {
        "phase1",
        "phase2",
        "phase3",
        "phase4",
    }
    assert all(binding["fingerprints"].values()) and report["checked_at"] <= binding["checked_at"]
    assert f"the release reads G9's and G10's verdicts from {real_slice / 'guardrails.json'}" in waived.stdout
    assert check(*args, "--waive", "G99=typo").returncode == 2
    assert check(*args, "--waive", "G9").returncode == 2


def test_check_fails_on_shrinkage_and_passes_with_a_reason(
    real_slice: Path, tiny_tokenizer_dir: Path, tmp_path: Path
) -> None:
    folder = planted(real_slice, tmp_path, shrink_raw_report)
    proc = check("--check", "--data-dir", str(folder), "--tokenizer", str(tiny_tokenizer_dir), "--no-g9")
    assert proc.returncode == 1
    g6 = next(line for line in proc.stdout.splitlines() if line.startswith("G6"))
    assert " FAIL " in g6 and "raw: 3000 -> 1849 rows (61.6%)" in proc.stdout
    first = json.loads((folder / "guardrails.json").read_text())
    assert first["failed"] == ["G6"]
    # the planted folder holds phase 1 only: what it cannot judge is waived, by name
    waivers = {gid: WAIVERS.get(gid, "the planted folder holds phase 1 only") for gid in first["not_run"]}
    proc = check(
        "check",
        "--data-dir",
        str(folder),
        "--tokenizer",
        str(tiny_tokenizer_dir),
        "--allow-shrinkage",
        "raw=the export held a corrupted backup",
        "--no-g9",
        *[f"--waive={gid}={reason}" for gid, reason in waivers.items()],
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


def test_a_corrupt_tokenizer_folder_is_exit_2_naming_it(
    real_slice: Path, tiny_tokenizer_dir: Path, tmp_path: Path
) -> None:
    import shutil

    broken = tmp_path / "tokenizer"
    shutil.copytree(tiny_tokenizer_dir, broken)
    text = (broken / "tokenizer.json").read_text()
    (broken / "tokenizer.json").write_text(text[: len(text) // 2])
    proc = check("check", "--data-dir", str(real_slice), "--tokenizer", str(broken), "--no-g9")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"the tokenizer in {broken} cannot be loaded" in proc.stderr and "Traceback" not in proc.stderr


def test_a_tokenizer_with_a_token_out_of_vocabulary_is_exit_2_naming_it(
    real_slice: Path, tiny_tokenizer_dir: Path, tmp_path: Path
) -> None:
    """The issue's failure: tokenizer.json edited so a merge yields a token its vocabulary lacks."""
    import shutil

    broken = tmp_path / "tokenizer"
    shutil.copytree(tiny_tokenizer_dir, broken)
    spec = json.loads((broken / "tokenizer.json").read_text())
    merged = "".join(spec["model"]["merges"][0])
    del spec["model"]["vocab"][merged]
    (broken / "tokenizer.json").write_text(json.dumps(spec))
    proc = check("check", "--data-dir", str(real_slice), "--tokenizer", str(broken), "--no-g9")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"the tokenizer in {broken} cannot be loaded" in proc.stderr, proc.stderr
    assert f"Token `{merged}` out of vocabulary" in proc.stderr and "Traceback" not in proc.stderr


def test_a_truncated_model_safetensors_is_exit_2_naming_the_folder(
    real_slice: Path, tiny_tokenizer_dir: Path, tmp_path: Path
) -> None:
    """`check` itself reads no model folder (G3 and G5 read records, G9 saves its own start
    model), so the base model is loaded the shortest way the CLI has: `bench --items --method
    base`. A model.safetensors cut in half is exit 2 naming the folder and the reason."""
    from canvas_pipeline.data.layout import base_model_dir
    from canvas_pipeline.training.tokenizer import load_tokenizer
    from canvas_pipeline_tests.test_release import link_data, save_model

    out = tmp_path / "data"
    link_data(out, real_slice, tiny_tokenizer_dir)
    base = base_model_dir(out, "tiny")
    save_model(base, load_tokenizer(tiny_tokenizer_dir), seed=0)
    weights = base / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    items = tmp_path / "one.jsonl"
    question = {"role": "user", "content": "What is on my to-do list?"}
    items.write_text(json.dumps({"messages": [question], "expected_tools": ["canvas.get_todo"]}) + "\n")

    proc = check("bench", "--items", str(items), "--method", "base", "--data-dir", str(out))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"the model in {base} cannot be loaded" in proc.stderr, proc.stderr
    assert "Error while deserializing header" in proc.stderr and "Traceback" not in proc.stderr
    assert not (out / "eval").exists()
