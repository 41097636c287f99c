"""Phase 2: DPO preference pairs, true by construction.

Sources are the phase-1 trajectories that pass G7 and G8 row by row (and the dataset G4);
every decision point of a trajectory can become a pair: chosen is what the trajectory
did, rejected a named mutation of it. Pairs stay on their trajectory's side of the split,
so the split is item-disjoint as phase 1's is. A candidate is kept only when its rejected
side violates every axis it names and its chosen side violates none.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from canvas_pipeline.data.balance import tool_balance
from canvas_pipeline.data.phase1.dialogue import NotApplicable
from canvas_pipeline.data.phase2.axes import calls_in, violated_axes
from canvas_pipeline.data.phase2.mutations import MUTATIONS, Mutation, by_axis, directions
from canvas_pipeline.data.phase2.points import DecisionPoint, assistant_calls, assistant_text, decision_points
from canvas_pipeline.data.phase2.pool import SplitPool
from canvas_pipeline.data.stage import Quarantine, StageReport, report_from
from canvas_pipeline.tools.chat_format import message_calls, render_conversation, tools_json
from canvas_pipeline.tools.codec import SerializeError, ToolCall
from canvas_pipeline.tools.registry import load_registry
from canvas_pipeline.tools.validity import envelope_problems, round_trip_problem, text_call_names

STAGE = "phase2/dpo_pairs"
EDIT_ORDER = {1: 0, 7: 0, 3: 1, 2: 2}
TRAIN_AXIS_TARGETS = (200, 200, 200, 600, 200, 200, 200, 600)
# Axes a mixed pair breaks at once: how a fine-tuned model really goes wrong. No mixed pair
# is decided at an answer (axis 8): its chosen side has no call, and G1 needs >= 80% with one.
MIXED_AXES: tuple[tuple[int, ...], ...] = (
    (1, 2),
    (1, 3),
    (2, 3),
    (3, 7),
    (2, 7),
    (1, 4),
    (2, 4),
    (3, 4),
    (4, 6),
    (1, 5),
    (2, 5),
    (3, 5),
    (1, 6),
    (2, 6),
    (3, 6),
    (6, 7),
    (2, 3, 5),
)


@dataclass(frozen=True)
class Phase2Config:
    seed: int = 0
    axis_targets: tuple[int, ...] = TRAIN_AXIS_TARGETS
    mixed_target: int = 1200
    test_scale: float = 1 / 8  # test targets = train targets x this


@dataclass
class Phase2Result:
    rows: list[dict[str, Any]]
    quarantine: Quarantine
    report: StageReport


def _source_problem(row: dict[str, Any]) -> tuple[str, str] | None:
    """(guardrail, reason) for a phase-1 row whose calls are malformed: a tool the registry
    lacks (G7), or a call or envelope that does not round-trip (G8); None for a sound row."""
    ref = f"phase1:{row['id']}"
    calls = [c for message in row["messages"] for c in message_calls(message)]
    try:
        text = render_conversation(row["messages"])
    except SerializeError as error:  # a value with no written form (NaN, too deep): no call can carry it
        return "G8", f"{ref}: cannot be rendered ({error})"
    written = text_call_names(text)
    names = written if written is not None else [c.name for c in calls]
    if unknown := [name for name in names if name not in load_registry()]:
        return "G7", "; ".join(f"{ref}: {name}" for name in unknown)
    problems = [problem for call in calls if (problem := round_trip_problem(call)) is not None]
    problems += envelope_problems(text)[1]
    return ("G8", "; ".join(f"{ref}: {problem}" for problem in problems)) if problems else None


def usable_sources(phase1_rows: Sequence[dict[str, Any]], quarantine: Quarantine) -> list[dict[str, Any]]:
    """Phase-1 rows whose calls are well formed (G7, G8) on their own; the rest are
    quarantined. The train rows' calls must cover the tools evenly (G4's measure), or
    nothing is built from them."""
    missing = [row.get("id", i) for i, row in enumerate(phase1_rows) if not {"id", "split", "messages"} <= row.keys()]
    if missing:
        raise ValueError(f"phase 1 rows without id, split or messages: {missing[:5]}")
    train_calls = Counter(
        c.name for row in phase1_rows if row["split"] == "train" for m in row["messages"] for c in message_calls(m)
    )
    balance = tool_balance(train_calls, load_registry().names)
    if not balance.balanced:
        raise ValueError(f"phase 1 fails G4, no preference pairs are built from it: {list(balance.problems)}")
    kept = []
    for row in phase1_rows:
        if (problem := _source_problem(row)) is not None:
            quarantine.add(f"source_fails_{problem[0]}", problem[1], source="phase1", record_id=row["id"])
            continue
        kept.append(row)
    return kept


def _chosen_calls_or_source(
    point: DecisionPoint, source: Mutation | None, rng: random.Random, pool: SplitPool
) -> tuple[list[ToolCall] | str, int]:
    """What the rejected side starts from (calls, or an answer's text), and which call an
    edit should change (an extra call where the source added some)."""
    if source is not None:
        made = source.fn(point, rng, pool)
        if isinstance(made, str):
            return made, -1
        needed = {c.name for c in point.calls}
        extra = [i for i, c in enumerate(made) if c.name not in needed]
        return made, (extra[rng.randrange(len(extra))] if extra else rng.randrange(len(made)))
    if point.kind != "call":
        raise NotApplicable("edits and renders need a call decision")
    calls = list(point.calls)
    return calls, rng.randrange(len(calls))


def rejected_message(
    point: DecisionPoint, recipe: Sequence[Mutation], rng: random.Random, pool: SplitPool
) -> dict[str, Any]:
    """Apply a recipe (at most one source, edits of distinct axes, at most one render)."""
    source = next((m for m in recipe if m.stage == "source"), None)
    render = next((m for m in recipe if m.stage == "render"), None)
    start, target = _chosen_calls_or_source(point, source, rng, pool)
    edits = sorted((m for m in recipe if m.stage == "edit"), key=lambda m: EDIT_ORDER[m.axis])
    if isinstance(start, str):
        if edits or render is not None:
            raise NotApplicable("an answer has no call to edit or render")
        return assistant_text(start)
    calls = list(start)
    # Tool changes first (they rebuild the arguments), then values, then keys: a later edit
    # never undoes what an earlier one broke.
    for edit in edits:
        calls[target] = edit.fn(calls[target], point, rng, pool)
    if render is not None:
        return assistant_text(render.fn(calls, rng))
    return assistant_calls(calls, point.next_call_id())


def _recipes(axes: tuple[int, ...], rng: random.Random, direction: str = "") -> Iterator[tuple[Mutation, ...]]:
    """Every combination of one mutation per axis, in a seeded order, that has at most one
    source and one render (mixed pairs render only with Python-repr arguments, which keep
    the calls readable so their other axes stay checkable); `direction` keeps a single
    axis to its mutations that go that way."""
    options = []
    for axis in axes:
        mutations = by_axis(axis)
        if direction:
            mutations = [m for m in mutations if m.direction == direction]
        if len(axes) > 1 and axis == 6:
            mutations = [m for m in mutations if m.name == "python_repr_arguments"]
        options.append(rng.sample(mutations, len(mutations)))
    combos: list[tuple[Mutation, ...]] = [()]
    for choices in options:
        combos = [c + (m,) for c in combos for m in choices]
    for combo in combos:
        stages = Counter(m.stage for m in combo)
        if stages["source"] <= 1 and stages["render"] <= 1:
            yield combo


def completion_pair_key(chosen: dict[str, Any], rejected: dict[str, Any]) -> str:
    """The two completions of a pair, call ids aside: what a held-out pair must not repeat."""

    def bare(message: dict[str, Any]) -> list[Any]:
        calls = [[c["function"]["name"], c["function"]["arguments"]] for c in message.get("tool_calls") or []]
        return [message.get("content") or "", calls]

    return json.dumps([bare(chosen), bare(rejected)], sort_keys=True)


class _PairMaker:
    def __init__(
        self, split: str, points: list[DecisionPoint], seed: int, held_elsewhere: frozenset[str] = frozenset()
    ) -> None:
        self.split, self.points, self.seed = split, points, seed
        self.pool = SplitPool.from_points(points)
        self.rows: list[dict[str, Any]] = []
        self.seen: set[str] = set()
        # Completion pairs the train split already holds: a test pair repeating one measures
        # recall of the pair, not reading of the prompt. Pairs of argument-free calls are the
        # exception (no item to hold out; `get_todo{}` with and without `list_planner_items{}`
        # is the only way to ask), kept and counted.
        self.held_elsewhere = held_elsewhere
        self.repeats_skipped = 0
        self.repeats_argument_free = 0
        self.ineffective: Counter[str] = Counter()
        self.inexact: Counter[str] = Counter()

    def make(self, axes: tuple[int, ...], target: int, label: str, direction: str = "") -> int:
        rng = random.Random(f"phase2|{self.seed}|{self.split}|{label}|{direction}")
        order = rng.sample(self.points, len(self.points))
        made = 0
        for point in order:
            if made >= target:
                break
            for recipe in _recipes(axes, rng, direction):
                try:
                    rejected = rejected_message(point, recipe, rng, self.pool)
                except NotApplicable:
                    continue
                name = "+".join(m.name for m in recipe)
                broken = violated_axes(point, rejected)
                if not set(axes) <= broken or violated_axes(point, point.chosen):
                    self.ineffective[name] += 1
                    continue
                if broken != set(axes):  # an exact label or none
                    self.inexact[name] += 1
                    continue
                if self.add(point, rejected, recipe):
                    made += 1
                    break
        return made

    def make_both_ways(self, axis: int, target: int) -> dict[str, int]:
        """An axis that goes both ways gets half its pairs each way, the other way making up
        what one way cannot."""
        ways = directions(axis)
        if not ways:
            return {"": self.make((axis,), target, f"axis{axis}")}
        made = {way: self.make((axis,), target // len(ways), f"axis{axis}", way) for way in ways}
        for way in ways:
            short = target - sum(made.values())
            if short > 0:
                made[way] += self.make((axis,), short, f"axis{axis}-topup", way)
        return made

    def add(self, point: DecisionPoint, rejected: dict[str, Any], recipe: Sequence[Mutation]) -> bool:
        key = json.dumps([point.key, rejected], sort_keys=True)
        if key in self.seen:
            return False
        self.seen.add(key)
        if completion_pair_key(point.chosen, rejected) in self.held_elsewhere:
            calls = [*(point.chosen.get("tool_calls") or []), *(rejected.get("tool_calls") or [])]
            if not calls or any(c["function"]["arguments"] for c in calls) or rejected.get("content"):
                self.repeats_skipped += 1
                return False
            self.repeats_argument_free += 1
        axes = sorted({m.axis for m in recipe})
        self.rows.append(
            {
                "id": f"p2-{self.split}-{len(self.rows):05d}",
                "split": self.split,
                "prompt": point.prompt_messages(),
                "chosen": [point.chosen],
                "rejected": [rejected],
                "tools": tools_json(),
                "axis": axes[0] if len(axes) == 1 else axes,
                "mutation": recipe[0].name if len(recipe) == 1 else [m.name for m in recipe],
                "direction": next((m.direction for m in recipe if m.direction), ""),
                "item_ids": list(point.item_ids),
                "source_id": point.key,
            }
        )
        return True


def chosen_more_calls(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Per axis, the share of single-axis train pairs whose chosen side makes more calls than
    the rejected one: 0 would mean "fewer calls wins" is a rule the data teaches."""
    out = {}
    for axis in range(1, 9):
        pairs = [r for r in rows if r["split"] == "train" and r["axis"] == axis]
        more = sum(len(calls_in(r["chosen"][0])) > len(calls_in(r["rejected"][0])) for r in pairs)
        out[f"train.axis{axis}_chosen_more_calls"] = round(more / len(pairs), 4) if pairs else 0.0
    return out


def build_phase2(phase1_rows: Sequence[dict[str, Any]], config: Phase2Config = Phase2Config()) -> Phase2Result:
    quarantine = Quarantine(STAGE)
    sources = usable_sources(phase1_rows, quarantine)
    rows: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    for split in ("train", "test"):
        points = [p for row in sources if row["split"] == split for p in decision_points(row)]
        scale = 1.0 if split == "train" else config.test_scale
        train_pairs = frozenset(completion_pair_key(r["chosen"][0], r["rejected"][0]) for r in rows)
        maker = _PairMaker(split, points, config.seed, train_pairs if split == "test" else frozenset())
        for axis, train_target in enumerate(config.axis_targets, start=1):
            target = round(train_target * scale)
            made = maker.make_both_ways(axis, target)
            extra[f"{split}.axis{axis}"] = sum(made.values())
            extra[f"{split}.axis{axis}_target"] = target
            extra.update({f"{split}.axis{axis}_{way}": n for way, n in made.items() if way})
        mixed_target = round(config.mixed_target * scale)
        per_combo = -(-mixed_target // len(MIXED_AXES))
        made = 0
        for axes in MIXED_AXES:
            made += maker.make(axes, min(per_combo, mixed_target - made), "mixed" + "".join(map(str, axes)))
        extra[f"{split}.mixed"] = made
        extra[f"{split}.mixed_target"] = mixed_target
        extra[f"{split}.pairs"] = len(maker.rows)
        extra[f"{split}.decision_points"] = len(points)
        extra[f"{split}.mutations_not_effective"] = sum(maker.ineffective.values())
        extra[f"{split}.mutations_not_exact"] = sum(maker.inexact.values())
        extra[f"{split}.pairs_repeating_train_skipped"] = maker.repeats_skipped
        extra[f"{split}.pairs_repeating_train_argument_free"] = maker.repeats_argument_free
        rows += maker.rows
    mutation_counts = Counter(
        m for r in rows for m in ([r["mutation"]] if isinstance(r["mutation"], str) else r["mutation"])
    )
    extra.update({f"mutation.{name}": mutation_counts.get(name, 0) for name in (m.name for m in MUTATIONS)})
    extra.update(chosen_more_calls(rows))
    report = report_from(STAGE, rows_in=len(phase1_rows), rows_out=len(sources), quarantine=quarantine, **extra)
    return Phase2Result(rows, quarantine, report)
