"""Automation for `data_job`: a sensor on the raw folder and a daily schedule.

- `raw_dir_sensor` hashes (sha256) every file the raw asset reads under
  `DataSettings.raw_dir` (env `CANVAS_RAW_DIR`) and requests one `data_job` run when that
  set of files or any file's content differs from the last requested run's: a file
  added, changed or removed. The cursor holds the whole manifest (relative path ->
  sha256) as JSON, so it says exactly which files the last requested run was for.
- `data_job_daily` runs `data_job` every day at 03:00 in `CANVAS_SCHEDULE_TIMEZONE`
  (default UTC), whatever changed.

Both start STOPPED (Dagster's default); turn them on in the UI or with
`dagster sensor start raw_dir_sensor` / `dagster schedule start data_job_daily` under a
running daemon (`dagster dev` runs one). Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg

from canvas_pipeline.data.ingest import DATA_SUFFIXES

# The module, not `data_job` itself: the defs folder is autoloaded module by module, and a job
# bound to a name here would be collected twice (once from jobs.py).
from canvas_pipeline.defs import jobs
from canvas_pipeline.defs.resources import DataSettings

RAW_DIR_SENSOR_NAME = "raw_dir_sensor"
DATA_SCHEDULE_NAME = "data_job_daily"
DATA_SCHEDULE_CRON = "0 3 * * *"  # every day at 03:00
SCHEDULE_TIMEZONE_ENV = "CANVAS_SCHEDULE_TIMEZONE"
CURSOR_VERSION = 1
TAG_TRIGGER = "canvas/trigger"
TAG_RAW_DIGEST = "canvas/raw_digest"
TAG_RAW_GENERATION = "canvas/raw_generation"

_CHUNK = 1 << 20


# ----------------------------------------------------------------------- plain Python


def is_watched(path: Path) -> bool:
    """The files the raw asset reads, by the same rule as `data.ingest`: a `.jsonl`/`.json`
    file (or a link to one, dangling included) whose name does not start with a dot. A
    hidden file, an editor's swap file or a `*.tmp` being written is not watched, so it
    never starts a run that would read the same inputs again."""
    return (path.is_file() or path.is_symlink()) and not path.name.startswith(".") and path.suffix in DATA_SUFFIXES


def file_sha256(path: Path) -> str:
    """sha256 of the file's bytes, read in 1 MiB chunks. A file that cannot be read (a
    dangling link, no permission, gone since the listing) gets `unreadable:<error>`, so it
    still counts as a change and the run it starts fails naming it, as ingest does."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        return f"unreadable:{type(exc).__name__}"
    return digest.hexdigest()


def raw_dir_manifest(raw_dir: Path) -> dict[str, str]:
    """{relative POSIX path: sha256} of every watched file under `raw_dir`, recursively,
    sorted by path. Deterministic: the same bytes under the same names give the same dict."""
    files = sorted(p for p in raw_dir.rglob("*") if is_watched(p))
    return {p.relative_to(raw_dir).as_posix(): file_sha256(p) for p in files}


def manifest_digest(manifest: dict[str, str]) -> str:
    """One sha256 over the sorted (path, sha256) pairs: equal iff the manifests are equal."""
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RawDirCursor:
    """What the sensor remembers: the folder, the manifest and digest of the last requested
    run, and how many runs it has requested (`generation`)."""

    raw_dir: str | None = None
    digest: str | None = None
    generation: int = 0
    files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": CURSOR_VERSION,
                "raw_dir": self.raw_dir,
                "digest": self.digest,
                "generation": self.generation,
                "files": self.files,
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | None) -> RawDirCursor:
        """The cursor stored by an earlier tick; an empty, unparseable or other-version cursor
        reads as no cursor (so the next tick with files requests a run)."""
        if not text:
            return cls()
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError:
            return cls()
        if not isinstance(data, dict) or data.get("version") != CURSOR_VERSION:
            return cls()
        files = data.get("files")
        return cls(
            raw_dir=data.get("raw_dir"),
            digest=data.get("digest"),
            generation=int(data.get("generation", 0)),
            files=dict(files) if isinstance(files, dict) else {},
        )


@dataclass(frozen=True)
class RawDirChange:
    """The difference between the last requested run's files and the folder now."""

    added: list[str]
    changed: list[str]
    removed: list[str]
    moved_from: str | None = None  # the folder watched before, when the setting changed

    @property
    def any_change(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.moved_from)

    def summary(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.changed)} changed", f"{len(self.removed)} removed"]
        named = [*(f"+{p}" for p in self.added), *(f"~{p}" for p in self.changed), *(f"-{p}" for p in self.removed)]
        shown = ", ".join(named[:10]) + (f", ... {len(named) - 10} more" if len(named) > 10 else "")
        moved = f"; watched folder was {self.moved_from}" if self.moved_from else ""
        return f"{', '.join(parts)}{moved}" + (f" ({shown})" if shown else "")


def diff_manifests(before: RawDirCursor, raw_dir: str, now: dict[str, str]) -> RawDirChange:
    """Files added, changed (same path, other sha256) and removed since `before`; a different
    folder than the cursor's counts as a change even with identical files."""
    old = before.files
    return RawDirChange(
        added=sorted(set(now) - set(old)),
        changed=sorted(p for p in set(now) & set(old) if now[p] != old[p]),
        removed=sorted(set(old) - set(now)),
        moved_from=before.raw_dir if before.raw_dir is not None and before.raw_dir != raw_dir else None,
    )


def raw_run_key(generation: int, digest: str) -> str:
    """The run key of the request for `digest` as the cursor's `generation`-th request.

    Derived from the new digest, so re-evaluating the same tick from the same stored cursor
    (a daemon restarted before the cursor was saved) gives the same key and Dagster
    launches the run once. The generation keeps a return to an earlier state (A -> B -> A)
    from reusing A's old key, which Dagster would silently drop."""
    return f"raw-{generation}-{digest}"


# ------------------------------------------------------------------------ Dagster layer


@dg.sensor(
    name=RAW_DIR_SENSOR_NAME,
    job=jobs.data_job,
    minimum_interval_seconds=60,
    description=(
        "Requests a data_job run when a .jsonl/.json file under the raw folder (CANVAS_RAW_DIR) is added, "
        "changed (sha256) or removed since the last requested run; skips, saying why, when nothing changed, "
        "no folder is configured, the folder is missing or it holds no data files."
    ),
)
def raw_dir_sensor(context: dg.SensorEvaluationContext, data: DataSettings) -> dg.SensorResult | dg.SkipReason:
    """Guarantees:

    - no raw folder configured (`raw_dir` / `CANVAS_RAW_DIR` empty) -> a SkipReason saying
      so (data_job then builds the generated demo term: nothing to watch);
    - the folder missing, or holding no watched file -> a SkipReason naming it, cursor kept
      (a run would only fail in ingest; restoring the same files later starts none);
    - the same watched files with the same bytes as the last requested run -> a SkipReason;
    - otherwise exactly one RunRequest for data_job, keyed by `raw_run_key` (the same tick
      evaluated twice gives the same key, so Dagster launches it once), tagged with the
      digest, and the new manifest as the cursor.

    The run reads the folder through the same `data` resource the sensor watched."""
    raw_path = data.raw_path
    if raw_path is None:
        return dg.SkipReason(
            "No raw folder to watch: DataSettings.raw_dir is empty (set CANVAS_RAW_DIR or the `data` resource's "
            "raw_dir); data_job then builds the generated demo term."
        )
    if not raw_path.is_dir():
        return dg.SkipReason(f"Raw folder {raw_path} does not exist or is not a directory; nothing to run on.")

    before = RawDirCursor.from_json(context.cursor)
    manifest = raw_dir_manifest(raw_path)
    if not manifest:
        return dg.SkipReason(
            f"Raw folder {raw_path} holds no {'/'.join(DATA_SUFFIXES)} files; a data_job run would fail in ingest."
        )
    change = diff_manifests(before, str(raw_path), manifest)
    digest = manifest_digest(manifest)
    if not change.any_change:
        return dg.SkipReason(f"No change in {raw_path}: {len(manifest)} files, digest {digest[:12]}.")

    generation = before.generation + 1
    after = RawDirCursor(raw_dir=str(raw_path), digest=digest, generation=generation, files=manifest)
    context.log.info(f"raw folder {raw_path}: {change.summary()} -> data_job (digest {digest[:12]})")
    request = dg.RunRequest(
        job_name=jobs.data_job.name,
        run_key=raw_run_key(generation, digest),
        tags={TAG_TRIGGER: RAW_DIR_SENSOR_NAME, TAG_RAW_DIGEST: digest, TAG_RAW_GENERATION: str(generation)},
    )
    return dg.SensorResult(run_requests=[request], cursor=after.to_json())


def schedule_timezone() -> str:
    """`CANVAS_SCHEDULE_TIMEZONE` (an IANA name such as Europe/Berlin), default UTC; an
    unknown name fails the definitions load with the name, not the first tick."""
    name = os.environ.get(SCHEDULE_TIMEZONE_ENV) or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{SCHEDULE_TIMEZONE_ENV}={name!r} is not an IANA time zone name") from exc
    return name


data_job_daily = dg.ScheduleDefinition(
    name=DATA_SCHEDULE_NAME,
    cron_schedule=DATA_SCHEDULE_CRON,
    job=jobs.data_job,
    execution_timezone=schedule_timezone(),
    tags={TAG_TRIGGER: DATA_SCHEDULE_NAME},
    description=(
        "Runs data_job every day at 03:00 (CANVAS_SCHEDULE_TIMEZONE, default UTC), whether or not the raw folder "
        "changed: one run per scheduled time, deduplicated by Dagster per tick."
    ),
)

SENSORS: list[dg.SensorDefinition] = [raw_dir_sensor]
SCHEDULES: list[dg.ScheduleDefinition] = [data_job_daily]
