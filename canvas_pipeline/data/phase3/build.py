"""Phase 3: KTO feedback. A desirable completion is what a trajectory did at a decision
point; an undesirable one is a single-axis mutation at a different point (unpaired, as KTO
wants). Both stay on their trajectory's side of the split."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from canvas_pipeline.data.phase1.dialogue import NotApplicable
from canvas_pipeline.data.phase2.axes import violated_axes
from canvas_pipeline.data.phase2.build import rejected_message, usable_sources
from canvas_pipeline.data.phase2.mutations import MUTATIONS
from canvas_pipeline.data.phase2.points import DecisionPoint, decision_points
from canvas_pipeline.data.stage import Quarantine, StageReport, report_from
from canvas_pipeline.tools.chat_format import tools_json

STAGE = "phase3/kto_feedback"


@dataclass(frozen=True)
class Phase3Config:
    seed: int = 0
    train_desirable: int = 1300
    train_undesirable: int = 1100  # 1.18 desirable per undesirable: inside KTO's 1:1 to 4:3
    test_scale: float = 1 / 8


@dataclass
class Phase3Result:
    rows: list[dict[str, Any]]
    quarantine: Quarantine
    report: StageReport


def kto_weights(n_desirable: int, n_undesirable: int) -> tuple[float, float]:
    """(desirable_weight, undesirable_weight) that bring desirable_weight * n_d over
    undesirable_weight * n_u into [1, 4/3], as the KTO paper advises; 1.0 each when the
    counts already are."""
    ratio = n_desirable / n_undesirable
    if ratio < 1:
        return 1.0, round(ratio, 4)
    if ratio > 4 / 3:
        return round((4 / 3) / ratio, 4), 1.0
    return 1.0, 1.0


def _row(split: str, n: int, point: DecisionPoint, completion: dict[str, Any], label: bool, mutation: Any) -> dict:
    return {
        "id": f"p3-{split}-{n:05d}",
        "split": split,
        "prompt": point.prompt_messages(),
        "completion": [completion],
        "label": label,
        "tools": tools_json(),
        "axis": None if label else mutation.axis,
        "mutation": None if label else mutation.name,
        "item_ids": list(point.item_ids),
        "source_id": point.key,
    }


def _undesirable(point: DecisionPoint, rng: random.Random, start: int) -> tuple[dict[str, Any], Any] | None:
    for offset in range(len(MUTATIONS)):
        mutation = MUTATIONS[(start + offset) % len(MUTATIONS)]
        try:
            message = rejected_message(point, (mutation,), rng)
        except NotApplicable:
            continue
        if mutation.axis in violated_axes(point, message):
            return message, mutation
    return None


def build_phase3(phase1_rows: Sequence[dict[str, Any]], config: Phase3Config = Phase3Config()) -> Phase3Result:
    quarantine = Quarantine(STAGE)
    sources = usable_sources(phase1_rows, quarantine)
    rows: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    for split in ("train", "test"):
        scale = 1.0 if split == "train" else config.test_scale
        want_good, want_bad = round(config.train_desirable * scale), round(config.train_undesirable * scale)
        rng = random.Random(f"phase3|{config.seed}|{split}")
        points = [p for row in sources if row["split"] == split for p in decision_points(row)]
        order = rng.sample(points, len(points))
        # With fewer points than asked for, keep the desirable share (G12 then reports the shortfall).
        n_good = min(want_good, round(len(order) * want_good / (want_good + want_bad)))
        split_rows = [_row(split, k, p, p.chosen, True, None) for k, p in enumerate(order[:n_good])]
        axes: Counter[int] = Counter()
        for point in order[n_good:]:
            if len(split_rows) - n_good >= want_bad:
                break
            made = _undesirable(point, rng, start=len(split_rows))
            if made is not None:
                split_rows.append(_row(split, len(split_rows), point, made[0], False, made[1]))
                axes[made[1].axis] += 1
        n_bad = len(split_rows) - n_good
        if not n_good or not n_bad:
            raise ValueError(f"phase 3 {split}: {n_good} desirable and {n_bad} undesirable rows; phase 1 is too small")
        extra.update({f"{split}.desirable": n_good, f"{split}.undesirable": n_bad})
        extra.update({f"{split}.desirable_target": want_good, f"{split}.undesirable_target": want_bad})
        extra.update({f"{split}.undesirable_axis{a}": axes[a] for a in range(1, 9)})
        rows += split_rows
    good, bad = extra["train.desirable"], extra["train.undesirable"]
    weights = kto_weights(good, bad)
    extra.update(
        {
            "desirable_to_undesirable": round(good / bad, 4),
            "kto_desirable_weight": weights[0],
            "kto_undesirable_weight": weights[1],
        }
    )
    report = report_from(STAGE, rows_in=len(phase1_rows), rows_out=len(sources), quarantine=quarantine, **extra)
    return Phase3Result(rows, quarantine, report)
