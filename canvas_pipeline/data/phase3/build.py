"""Phase 3: KTO feedback. A desirable completion is what a trajectory did at a decision
point; an undesirable one is a single-axis mutation at a different point (unpaired, as KTO
wants). Desirable points are drawn to match the undesirable completions' shapes (the same
tools called, or text), so a completion's tools do not give its label away (G14). Both
stay on their trajectory's side of the split."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from canvas_pipeline.data.phase1.dialogue import NotApplicable
from canvas_pipeline.data.phase2.axes import calls_in, violated_axes
from canvas_pipeline.data.phase2.build import rejected_message, usable_sources
from canvas_pipeline.data.phase2.mutations import MUTATIONS, Mutation
from canvas_pipeline.data.phase2.points import DecisionPoint, decision_points
from canvas_pipeline.data.phase2.pool import SplitPool
from canvas_pipeline.data.phase3.misreport import misreported_answer
from canvas_pipeline.data.stage import Quarantine, StageReport, report_from
from canvas_pipeline.tools.chat_format import tools_json

STAGE = "phase3/kto_feedback"
# Unpaired, an over-calling completion is marked by its call count alone (desirable sides
# make two calls at one point in fifty): KTO learns parsimony from under-calling, DPO from
# both ways (G14 measures it).
KTO_SKIPPED = frozenset({"over_calling"})
# Not one of the 8 axes (`axis` is null): an answer that misreports what a tool returned.
MISREPORT = Mutation("misreported_answer", 0, "answer", misreported_answer)


@dataclass(frozen=True)
class Phase3Config:
    seed: int = 0
    train_desirable: int = 1300
    train_undesirable: int = 1100  # 1.18 desirable per undesirable: inside KTO's 1:1 to 4:3
    misreport_share: float = 0.1  # of the undesirable rows: answers that misreport a tool's figure
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
        "axis": None if label or mutation is MISREPORT else mutation.axis,
        "mutation": None if label else mutation.name,
        "item_ids": list(point.item_ids),
        "source_id": point.key,
    }


def _undesirable(
    point: DecisionPoint, rng: random.Random, start: int, pool: SplitPool, skip: set[str]
) -> tuple[dict[str, Any], Any] | None:
    """The first single-axis mutation (round robin from `start`, none named in `skip`) that
    breaks exactly its axis here."""
    for offset in range(len(MUTATIONS)):
        mutation = MUTATIONS[(start + offset) % len(MUTATIONS)]
        if mutation.name in skip:
            continue
        try:
            message = rejected_message(point, (mutation,), rng, pool)
        except NotApplicable:
            continue
        if violated_axes(point, message) == {mutation.axis}:
            return message, mutation
    return None


def _shape(message: dict[str, Any]) -> tuple[str, ...]:
    """What a completion looks like without its values: the tools it calls, or text."""
    calls = calls_in(message)
    return tuple(sorted(c.name for c in calls)) if calls else ("text",)


def matched_desirables(
    bad_points: Sequence[DecisionPoint], bad_messages: Sequence[dict[str, Any]], order: Sequence[DecisionPoint], n: int
) -> list[DecisionPoint]:
    """`n` desirable points, none an undesirable row's point: first, for each undesirable
    completion, a point whose right continuation has the same shape (the same tools, or
    text), so that the tools a completion calls say nothing about its label; then the rest
    in the seeded order."""
    used = {p.key for p in bad_points}
    by_shape: dict[tuple[str, ...], list[DecisionPoint]] = {}
    for point in order:
        if point.key not in used:
            by_shape.setdefault(_shape(point.chosen), []).append(point)
    chosen: dict[str, DecisionPoint] = {}
    for message in bad_messages:
        options = by_shape.get(_shape(message))
        if options and len(chosen) < n:
            point = options.pop()
            chosen[point.key] = point
    for point in order:
        if len(chosen) >= n:
            break
        if point.key not in used and point.key not in chosen:
            chosen[point.key] = point
    return list(chosen.values())


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
        pool = SplitPool.from_points(points)
        order = rng.sample(points, len(points))
        # With fewer points than asked for, keep the desirable share (G12 then reports the shortfall).
        n_good = min(want_good, round(len(order) * want_good / (want_good + want_bad)))
        bad: list[tuple[DecisionPoint, dict[str, Any], Any]] = []
        n_bad = min(want_bad, len(order) - n_good)
        want_misreports = round(n_bad * config.misreport_share)
        for point in order:
            if len(bad) >= want_misreports:
                break
            if (message := misreported_answer(point, rng)) is not None:
                bad.append((point, message, MISREPORT))
        taken = {b[0].key for b in bad}
        for point in order:
            if len(bad) >= n_bad:
                break
            if point.key in taken:
                continue
            made = _undesirable(point, rng, start=len(bad), pool=pool, skip=KTO_SKIPPED)
            if made is not None:
                bad.append((point, *made))
        good = matched_desirables([b[0] for b in bad], [b[1] for b in bad], order, n_good)
        split_rows = [_row(split, k, p, p.chosen, True, None) for k, p in enumerate(good)]
        axes: Counter[int] = Counter()
        for point, message, mutation in bad:
            split_rows.append(_row(split, len(split_rows), point, message, False, mutation))
            axes[mutation.axis] += 1
        extra[f"{split}.undesirable_misreported"] = axes.pop(0, 0)
        n_good = len(good)
        extra[f"{split}.desirable_shape_matched"] = sum(
            _shape(p.chosen) in {_shape(m) for m in (b[1] for b in bad)} for p in good
        )
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
