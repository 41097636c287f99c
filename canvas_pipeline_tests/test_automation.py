"""The raw-folder sensor and the daily schedule for data_job: what they request, when they
skip and why, and that Definitions holding them load."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from canvas_pipeline.defs import automation
from canvas_pipeline.defs.automation import (
    DATA_SCHEDULE_CRON,
    DATA_SCHEDULE_NAME,
    RAW_DIR_SENSOR_NAME,
    SCHEDULES,
    SENSORS,
    TAG_RAW_DIGEST,
    RawDirCursor,
    data_job_daily,
    raw_dir_sensor,
)
from canvas_pipeline.defs.resources import DataSettings

REPO_ROOT = Path(__file__).resolve().parents[1]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _tick(raw_dir: Path | str | None, cursor: str | None = None) -> dg.SensorResult | dg.SkipReason:
    configured = None if raw_dir is None else str(raw_dir)
    context = dg.build_sensor_context(cursor=cursor, resources={"data": DataSettings(raw_dir=configured)})
    return raw_dir_sensor(context)


def _request(result: dg.SensorResult | dg.SkipReason) -> tuple[dg.RunRequest, str]:
    assert isinstance(result, dg.SensorResult), f"expected a run request, got {result!r}"
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.job_name == "data_job"
    assert request.run_key
    assert result.cursor
    return request, result.cursor


def _skip(result: dg.SensorResult | dg.SkipReason) -> str:
    assert isinstance(result, dg.SkipReason), f"expected a skip, got {result!r}"
    assert result.skip_message
    return result.skip_message


@pytest.fixture()
def raw_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "raw"
    _write(folder / "contributor_snapshots.jsonl", '{"course": 1}\n{"course": 2}\n')
    _write(folder / "pairs" / "priority_pairs.jsonl", '{"pair": 1}\n')
    return folder


def test_first_tick_requests_data_job_and_the_same_files_skip(raw_dir: Path) -> None:
    request, cursor = _request(_tick(raw_dir))
    stored = json.loads(cursor)
    # the cursor is the manifest: every file's sha256 by relative path, computed independently here
    expected = {
        rel: hashlib.sha256((raw_dir / rel).read_bytes()).hexdigest()
        for rel in ("contributor_snapshots.jsonl", "pairs/priority_pairs.jsonl")
    }
    assert stored["files"] == expected
    assert stored["raw_dir"] == str(raw_dir.resolve())
    assert request.tags[TAG_RAW_DIGEST] == stored["digest"]
    assert stored["digest"] in request.run_key

    message = _skip(_tick(raw_dir, cursor))
    assert "No change" in message and str(raw_dir.resolve()) in message


def test_changed_added_and_removed_files_each_request_a_new_run(raw_dir: Path) -> None:
    first, cursor = _request(_tick(raw_dir))

    _write(raw_dir / "contributor_snapshots.jsonl", '{"course": 1}\n{"course": 3}\n')  # same size, new bytes
    changed, cursor = _request(_tick(raw_dir, cursor))
    assert changed.run_key != first.run_key
    assert _skip(_tick(raw_dir, cursor))

    _write(raw_dir / "api" / "course_4264.json", '{"id": 4264}')
    added, cursor = _request(_tick(raw_dir, cursor))
    assert added.run_key not in {first.run_key, changed.run_key}
    assert "api/course_4264.json" in json.loads(cursor)["files"]

    (raw_dir / "pairs" / "priority_pairs.jsonl").unlink()
    removed, cursor = _request(_tick(raw_dir, cursor))
    assert removed.run_key not in {first.run_key, changed.run_key, added.run_key}
    assert "pairs/priority_pairs.jsonl" not in json.loads(cursor)["files"]
    assert _skip(_tick(raw_dir, cursor))


def test_same_tick_twice_gives_the_same_run_key_and_a_revert_a_new_one(raw_dir: Path) -> None:
    """Dagster drops a request whose run_key it has launched: the same evaluation repeated
    (cursor not saved) must repeat the key; going back to earlier files must not."""
    first, cursor_a = _request(_tick(raw_dir))
    again, _ = _request(_tick(raw_dir))
    assert again.run_key == first.run_key

    original = (raw_dir / "contributor_snapshots.jsonl").read_text(encoding="utf-8")
    _write(raw_dir / "contributor_snapshots.jsonl", '{"course": 9}\n')
    _, cursor_b = _request(_tick(raw_dir, cursor_a))
    _write(raw_dir / "contributor_snapshots.jsonl", original)
    reverted, cursor_c = _request(_tick(raw_dir, cursor_b))
    assert json.loads(cursor_c)["digest"] == json.loads(cursor_a)["digest"]
    assert reverted.run_key != first.run_key


def test_files_the_raw_asset_ignores_do_not_start_runs(raw_dir: Path) -> None:
    _, cursor = _request(_tick(raw_dir))
    _write(raw_dir / ".contributor_snapshots.jsonl.swp", "partial")
    _write(raw_dir / "upload.jsonl.tmp", '{"course": 5}\n')
    _write(raw_dir / "NOTES.txt", "exported by hand")
    assert "No change" in _skip(_tick(raw_dir, cursor))
    (raw_dir / "upload.jsonl.tmp").rename(raw_dir / "upload.jsonl")  # the writer's atomic rename
    _request(_tick(raw_dir, cursor))


def test_unreadable_file_still_counts_as_a_change(raw_dir: Path) -> None:
    _, cursor = _request(_tick(raw_dir))
    (raw_dir / "broken.jsonl").symlink_to(raw_dir / "missing_target.jsonl")
    _, cursor = _request(_tick(raw_dir, cursor))
    assert json.loads(cursor)["files"]["broken.jsonl"].startswith("unreadable:")


@pytest.mark.parametrize("configured", [None, ""])
def test_no_raw_dir_configured_skips_saying_why(configured: str | None) -> None:
    message = _skip(_tick(configured))
    assert "No raw folder to watch" in message and "CANVAS_RAW_DIR" in message


def test_missing_or_empty_folder_skips_naming_it_and_keeps_the_cursor(raw_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no_such_exports"
    assert str(missing) in _skip(_tick(missing))

    _, cursor = _request(_tick(raw_dir))
    for path in sorted(raw_dir.rglob("*.jsonl")):
        path.unlink()
    assert "holds no .jsonl/.json files" in _skip(_tick(raw_dir, cursor))
    _write(raw_dir / "contributor_snapshots.jsonl", '{"course": 1}\n{"course": 2}\n')
    _write(raw_dir / "pairs" / "priority_pairs.jsonl", '{"pair": 1}\n')
    assert _skip(_tick(raw_dir, cursor))  # the same files as the last requested run: nothing to do


def test_another_folder_or_an_unreadable_cursor_requests_a_run(raw_dir: Path, tmp_path: Path) -> None:
    _, cursor = _request(_tick(raw_dir))
    twin = tmp_path / "raw_copy"
    for path in raw_dir.rglob("*.jsonl"):
        _write(twin / path.relative_to(raw_dir), path.read_text(encoding="utf-8"))
    _, twin_cursor = _request(_tick(twin, cursor))
    assert json.loads(twin_cursor)["digest"] == json.loads(cursor)["digest"]  # same files, other folder

    assert RawDirCursor.from_json("not json") == RawDirCursor()
    _request(_tick(raw_dir, "not json"))
    _request(_tick(raw_dir, json.dumps({"version": 0, "files": {}})))


def test_daily_schedule_requests_data_job_at_three() -> None:
    assert data_job_daily.cron_schedule == DATA_SCHEDULE_CRON == "0 3 * * *"
    assert data_job_daily.job_name == "data_job"
    assert data_job_daily.name == DATA_SCHEDULE_NAME
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
        )
        data = data_job_daily.evaluate_tick(context)
    assert data.run_requests is not None and len(data.run_requests) == 1
    request = data.run_requests[0]
    assert request.tags[automation.TAG_TRIGGER] == DATA_SCHEDULE_NAME


def test_schedule_timezone_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(automation.SCHEDULE_TIMEZONE_ENV, raising=False)
    assert automation.schedule_timezone() == "UTC"
    monkeypatch.setenv(automation.SCHEDULE_TIMEZONE_ENV, "America/New_York")
    assert automation.schedule_timezone() == "America/New_York"
    monkeypatch.setenv(automation.SCHEDULE_TIMEZONE_ENV, "Mars/Olympus_Mons")
    with pytest.raises(ValueError, match="Mars/Olympus_Mons"):
        automation.schedule_timezone()


def test_definitions_with_the_sensor_and_schedule_load() -> None:
    """The project's Definitions (whatever canvas_pipeline/definitions.py holds today) plus
    SENSORS and SCHEDULES validate, and the sensor and the schedule target data_job."""
    from canvas_pipeline.definitions import defs as project_defs

    wired = {s.name for s in project_defs.sensors or []} | {s.name for s in project_defs.schedules or []}
    if {RAW_DIR_SENSOR_NAME, DATA_SCHEDULE_NAME} <= wired:
        defs = project_defs
    else:
        defs = dg.Definitions.merge(project_defs, dg.Definitions(sensors=SENSORS, schedules=SCHEDULES))
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    sensor = repo.get_sensor_def(RAW_DIR_SENSOR_NAME)
    assert sensor.job_name == "data_job" and sensor.required_resource_keys == {"data"}
    assert repo.get_schedule_def(DATA_SCHEDULE_NAME).job_name == "data_job"
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert data_job_daily.default_status == dg.DefaultScheduleStatus.STOPPED


def test_automation_imports_no_torch() -> None:
    code = (
        "import sys, canvas_pipeline.defs.automation as a\n"
        "assert a.SENSORS and a.SCHEDULES\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT, env=env, timeout=300)
