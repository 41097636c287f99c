"""Atomic writes (`data/io.py`): a folder write leaves either the old folder or the new one
whole at its path, however it is interrupted."""

from __future__ import annotations

from pathlib import Path

import pytest

from canvas_pipeline.data.io import atomic_write_dir


def _fill(text: str):  # type: ignore[no-untyped-def]
    def write(folder: Path) -> None:
        (folder / "a.txt").write_text(text)
        (folder / "b.txt").write_text(text * 2)

    return write


def test_a_failed_write_leaves_the_old_folder_whole(tmp_path: Path) -> None:
    dest = tmp_path / "ckpt"
    atomic_write_dir(dest, _fill("old"))

    def broken(folder: Path) -> None:
        (folder / "a.txt").write_text("new")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write_dir(dest, broken)
    assert (dest / "a.txt").read_text() == "old" and (dest / "b.txt").read_text() == "oldold"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_a_failed_swap_puts_the_old_folder_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rename of the new folder into place fails after the old one was moved aside:
    the old one is renamed back."""
    dest = tmp_path / "ckpt"
    atomic_write_dir(dest, _fill("old"))
    real_replace = Path.replace

    def failing(self: Path, target: Path) -> Path:
        if Path(target) == dest and self.name.startswith(".ckpt.") and not self.name.endswith(".old"):
            raise OSError("rename failed")
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", failing)
    with pytest.raises(OSError, match="rename failed"):
        atomic_write_dir(dest, _fill("new"))
    monkeypatch.undo()
    assert (dest / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_a_swap_killed_between_its_renames_is_restored_by_the_next_write(tmp_path: Path) -> None:
    """What a process killed after moving the old folder aside leaves: no folder at its path,
    the old one aside. The next write (here one that fails) puts the old one back first."""
    dest = tmp_path / "ckpt"
    atomic_write_dir(dest, _fill("old"))
    dest.replace(tmp_path / ".ckpt.old")

    def broken(folder: Path) -> None:
        raise RuntimeError("stopped")

    with pytest.raises(RuntimeError):
        atomic_write_dir(dest, broken)
    assert (dest / "a.txt").read_text() == "old"
    atomic_write_dir(dest, _fill("new"))
    assert (dest / "a.txt").read_text() == "new" and not (tmp_path / ".ckpt.old").exists()
