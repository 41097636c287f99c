"""Copies of a data folder with one old-pipeline failure planted in them."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any


def read_rows(folder: Path, name: str = "phase1/sft_trajectories.jsonl") -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / name).read_text("utf-8").splitlines()]


def write_rows(folder: Path, rows: list[dict[str, Any]], name: str = "phase1/sft_trajectories.jsonl") -> None:
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))


def planted(real_slice: Path, tmp_path: Path, edit: Callable[[Path], None]) -> Path:
    folder = tmp_path / "data"
    for stage in ("raw", "curated", "phase1"):
        (folder / stage).mkdir(parents=True)
        shutil.copy(real_slice / stage / "report.json", folder / stage / "report.json")
    shutil.copy(real_slice / "phase1" / "sft_trajectories.jsonl", folder / "phase1" / "sft_trajectories.jsonl")
    edit(folder)
    return folder


def shrink_raw_report(folder: Path) -> None:
    """The v7 story: 3000 raw rows, 1849 kept, nobody noticed."""
    path = folder / "raw" / "report.json"
    report = json.loads(path.read_text())
    report.update(
        {"rows_in": 3000, "rows_out": 1849, "retained": 0.6163, "dropped_total": 1151, "dropped.malformed_json": 1151}
    )
    path.write_text(json.dumps(report))
