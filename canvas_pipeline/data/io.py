"""Atomic, deterministic file writes and line-addressed JSONL reading."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl


class UnreadableInputError(RuntimeError):
    """A whole input file cannot be read; the stage fails with the file named."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"cannot read {path}: {reason}")
        self.path = str(path)
        self.reason = reason


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _temp_beside(path: Path) -> tuple[int, str]:
    """A temp file next to `path`, with the permissions a plain open() would give it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())
    return fd, tmp


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write to a temp file in the same folder, fsync, then rename over `path`."""
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_dir(dest: Path, write: Callable[[Path], None]) -> Path:
    """Fill a temporary folder beside `dest` with `write`, then swap it in; on any error the
    temporary folder is removed and `dest` is left as it was."""
    import shutil

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _restore_interrupted_swap(dest)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        write(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # The old folder is moved aside, not deleted, until the new one is in place: at every
    # moment one of them is whole (a swap interrupted between the renames is undone by the
    # next write, or read back by `_restore_interrupted_swap`).
    old = dest.with_name(f".{dest.name}.old")
    if dest.exists():
        dest.replace(old)
    try:
        tmp.replace(dest)
    except BaseException:
        if old.exists() and not dest.exists():
            old.replace(dest)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return dest


def _restore_interrupted_swap(dest: Path) -> None:
    """A process killed between `atomic_write_dir`'s two renames left the old folder
    aside and none at `dest`: put it back. One killed after them left it to delete."""
    import shutil

    old = dest.with_name(f".{dest.name}.old")
    if old.exists() and not dest.exists():
        old.replace(dest)
    elif old.exists():
        shutil.rmtree(old, ignore_errors=True)


def dumps_canonical(record: Any) -> str:
    """One JSON line: sorted keys, no ASCII escaping, fixed separators (same input, same bytes)."""
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def write_jsonl(path: Path, records: Iterable[Mapping[str, Any]]) -> Path:
    return atomic_write_text(path, "".join(dumps_canonical(r) + "\n" for r in records))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSONL file this project wrote (trusted: any error is a bug, so it raises)."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def write_parquet(path: Path, frame: pl.DataFrame) -> Path:
    fd, tmp = _temp_beside(path)
    os.close(fd)
    try:
        frame.write_parquet(tmp, statistics=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@dataclass(frozen=True)
class JsonLine:
    """One line of an untrusted JSONL file: its parsed value, or why it could not be parsed."""

    line: int
    raw: str
    value: Any = None
    error: str | None = None


def iter_json_lines(path: Path) -> Iterator[JsonLine]:
    """Each non-blank line of `path` with its 1-based number. Undecodable bytes or bad JSON
    on a line yield an error for that line; a file that cannot be opened raises
    UnreadableInputError naming it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableInputError(path, exc.strerror or str(exc)) from exc
    for number, raw_line in enumerate(data.splitlines(), start=1):
        if not raw_line.strip():
            continue
        try:
            # A byte-order mark (editors on Windows write one) opens the file, not the record.
            text = raw_line.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            yield JsonLine(
                number, raw_line.decode("utf-8", "replace"), error=f"not UTF-8 ({exc.reason} at byte {exc.start})"
            )
            continue
        try:
            yield JsonLine(number, text, value=json.loads(text))
        except json.JSONDecodeError as exc:
            yield JsonLine(number, text, error=f"malformed JSON: {exc.msg} at column {exc.colno}")
