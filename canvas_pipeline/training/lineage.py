"""What a checkpoint was made from, and whether it still stands.

A checkpoint's manifest carries its lineage: the fingerprints of the data stages it trained
on, of the base model, of the checkpoint it started from (`sft`, for the six methods that
start from it), of its own weights, and the code version. Whoever reads a checkpoint later
(the bench, the selection, the release) compares that lineage with what is on disk now.
A training run that starts marks the checkpoint it will replace as superseded; the new
checkpoint replaces the folder (marker included) only when it is written whole, so a run
that fails or is killed leaves an old checkpoint that says so.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from canvas_pipeline.data.io import atomic_write_text
from canvas_pipeline.data.layout import MANIFEST
from canvas_pipeline.data.lineage import folder_fingerprint, short

SUPERSEDED = "superseded.json"
STEPS = "steps"


def weights_fingerprint(folder: Path) -> str:
    """The fingerprint of a checkpoint folder's own files: weights, config, tokenizer (not
    its manifest, its kept steps or a superseded marker)."""
    return folder_fingerprint(folder, exclude=(MANIFEST, STEPS, SUPERSEDED))


def mark_superseded(folder: Path, reason: str) -> None:
    """Mark the checkpoint in `folder` (if there is one) as no longer standing for its method."""
    if (Path(folder) / MANIFEST).is_file():
        record = {"reason": reason, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        atomic_write_text(Path(folder) / SUPERSEDED, json.dumps(record, indent=1) + "\n")


@contextmanager
def superseding(folder: Path, method: str) -> Iterator[None]:
    """Around a training run of `method`: its checkpoint in `folder` is marked superseded as
    the run starts, and the marker says why when the run fails (a finished run replaces the
    folder, marker included)."""
    mark_superseded(folder, f"a training run of {method} started and did not finish; this checkpoint is older")
    try:
        yield
    except BaseException as error:
        mark_superseded(
            folder,
            f"the last training run of {method} failed ({type(error).__name__}: {error}); this checkpoint is older",
        )
        raise


def superseded_reason(folder: Path) -> str | None:
    marker = Path(folder) / SUPERSEDED
    return json.loads(marker.read_text())["reason"] if marker.is_file() else None


def lineage_mismatches(recorded: Mapping[str, Any] | None, current: Mapping[str, Any]) -> list[str]:
    """How a checkpoint's recorded lineage differs from the current inputs (`current`:
    `data` stage -> fingerprint, `base`, `reference`; a None means not on disk). Empty: it
    was made from exactly what is there now."""
    if not recorded:
        return ["it records no lineage (written before lineage was kept): train it again"]
    reasons = []
    for stage, now in current.get("data", {}).items():
        then = recorded.get("data", {}).get(stage)
        if then != now:
            reasons.append(f"trained on {stage} {short(then)}, which is now {short(now)}")
    for key in ("base", "reference"):
        if key in current and recorded.get(key) != current[key]:
            reasons.append(f"started from {key} {short(recorded.get(key))}, which is now {short(current[key])}")
    return reasons
