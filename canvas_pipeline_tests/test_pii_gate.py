"""Personal data planted in real raw records never reaches phase 1: the raw fields are
scrubbed, and a trajectory that still carries anything flagged is quarantined."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from canvas_pipeline.data import stages
from canvas_pipeline.data.ingest import ingest_raw_dir
from canvas_pipeline.data.phase1.build import Phase1Config, build_phase1
from canvas_pipeline.data.pii import make_scrubber

PLANTED = {
    "email": "jane.doe42@vt.edu",
    "phone": "(540) 555-0142",
    "phone2": "540.555.0199",
    "address": "1600 Main Street",
    "username": "hokiebird77",
}


def _plant(line: str, index: int) -> str:
    """A real snapshot record; every other course gets personal data in half its titles."""
    record = json.loads(line)
    record["contributor_id"] = PLANTED["username"]
    if index % 2:
        return json.dumps(record)
    templates = (
        f"Email questions to {PLANTED['email']}",
        f"Lab access: call {PLANTED['phone']} first",
        f"Study group at {PLANTED['address']}",
        f"Shared notes from {PLANTED['username']}",
        f"Text {PLANTED['phone2']} for the review session",
    )
    for k, assignment in enumerate(record["assignments"]):
        if k % 2 == 0:
            assignment["name"] = f"{assignment['name']} - {templates[(index + k) % len(templates)]}"
    return json.dumps(record)


@pytest.fixture(scope="module")
def planted_raw_dir(shared_canvas_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("planted_raw")
    lines = (shared_canvas_dir / "contributor_snapshots.jsonl").read_text("utf-8").splitlines()
    (folder / "contributor_snapshots.jsonl").write_text("\n".join(_plant(x, i) for i, x in enumerate(lines)) + "\n")
    (folder / "priority_pairs_anon.jsonl").write_bytes((shared_canvas_dir / "priority_pairs_anon.jsonl").read_bytes())
    return folder


def _assert_clean(text: str) -> None:
    for value in PLANTED.values():
        assert value not in text, value
    assert "555-0142" not in text and "555.0199" not in text


def test_planted_pii_never_reaches_phase1(planted_raw_dir: Path, tmp_path: Path) -> None:
    stages.run_raw_stage(tmp_path, planted_raw_dir)
    scrub = stages.run_scrub_stage(tmp_path)
    assert scrub.extra["pii_replaced.EMAIL"] > 0 and scrub.extra["pii_replaced.PHONE"] > 0
    assert scrub.extra["pii_replaced.ADDRESS"] > 0 and scrub.extra["pii_replaced.USERNAME"] > 0
    items = pl.read_parquet(tmp_path / "curated/scrubbed_items.parquet")
    _assert_clean(items.drop("submission_types").write_csv())
    assert items["title"].str.contains("<EMAIL_1>").any() and items["title"].str.contains("<PHONE_1>").any()
    stages.run_phase1_stage(tmp_path, Phase1Config(train_size=600, test_size=120))
    text = (tmp_path / "phase1/sft_trajectories.jsonl").read_text("utf-8")
    _assert_clean(text)
    assert "<EMAIL_1>" in text or "<PHONE_1>" in text or "<ADDRESS_1>" in text  # scrubbed items were used


def test_trajectories_still_carrying_pii_are_quarantined(planted_raw_dir: Path) -> None:
    """The acceptance gate on its own: feed phase 1 items that skipped the raw scrub (a
    scrubber that failed upstream); every trajectory that shows the planted data is rejected."""
    raw = ingest_raw_dir(planted_raw_dir)
    scrubber = make_scrubber("rule", known_usernames=[PLANTED["username"]])
    result = build_phase1(
        raw.items.drop("contributor_id"), raw.pairs, scrubber, Phase1Config(train_size=400, test_size=100)
    )
    rejected = result.quarantine.to_frame().filter(pl.col("reason") == "pii_flagged")
    assert rejected.height > 0
    assert rejected["detail"].str.contains("rule flagged").all()
    assert any(value in payload for payload in rejected["payload"] for value in PLANTED.values())
    _assert_clean(json.dumps(result.rows))
    assert result.report.dropped["pii_flagged"] == rejected.height
    assert result.report.rows_in == result.report.rows_out + sum(result.report.dropped.values())
