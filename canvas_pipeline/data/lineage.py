"""Content fingerprints: what a guardrail verdict, a checkpoint or a bench record was made
from, so a later reader (another run, another entry point, a pod) can tell whether it still
describes what is on disk. A fingerprint is a SHA-256 over a folder's files, their relative
paths included, so a renamed file changes it as an edited one does."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import cache, lru_cache
from pathlib import Path

from canvas_pipeline.data.layout import ON_POLICY, on_policy_dir, stage_dir

SHOWN = 12  # hex digits a message shows; comparisons use the whole digest


def folder_fingerprint(folder: Path, exclude: Iterable[str] = ()) -> str:
    """SHA-256 over every file under `folder` (sorted relative paths and their bytes),
    skipping hidden entries (temporary writes) and the top-level names in `exclude`.
    Raises FileNotFoundError when `folder` is not a folder. A folder whose files keep their
    sizes and modification times is not read twice in one process (a base model's weights
    are fingerprinted once per run, not once per method)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} does not exist: nothing to fingerprint")
    skipped = set(exclude)
    files = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if relative.parts[0] in skipped or any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file():
            stat = path.stat()
            files.append((relative.as_posix(), stat.st_size, stat.st_mtime_ns))
    return _digest(folder, tuple(files))


@lru_cache(maxsize=256)
def _digest(folder: Path, files: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for relative, _, _ in files:
        digest.update(relative.encode() + b"\0")
        with (folder / relative).open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def stage_folder(root: Path, stage: str, profile: str) -> Path:
    """Where a data stage's files live: `root/STAGE`, or the profile's on-policy folder."""
    return on_policy_dir(root, profile) if stage == ON_POLICY else stage_dir(root, stage)


def stage_fingerprint(root: Path, stage: str, profile: str) -> str:
    return folder_fingerprint(stage_folder(root, stage, profile))


def short(fingerprint: str | None) -> str:
    return fingerprint[:SHOWN] if fingerprint else "none"


@cache
def code_version() -> str:
    """The package's version and a fingerprint of its Python sources: which code wrote a
    record (recorded, not enforced: a documentation edit must not void a checkpoint)."""
    from importlib.metadata import PackageNotFoundError, version

    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    try:
        release = version("canvas_pipeline")
    except PackageNotFoundError:
        release = "unknown"
    return f"{release}+{digest.hexdigest()[:SHOWN]}"
