"""Each method's train and eval datasets, from the phase files, at the profile's budget.

A budgeted subset is drawn by seed and stratified by pair type (the axis, or `mixed`) so
every axis stays in train and in eval; the full split sizes are reported alongside so G12
judges the dataset, and the metadata says how much of it was used.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from canvas_pipeline.data.io import read_jsonl
from canvas_pipeline.guardrails.checks import g2_eval_disjoint
from canvas_pipeline.training.methods import MethodConfig, get_method

if TYPE_CHECKING:
    from datasets import Dataset

PHASE_FILES = {
    "phase1": ("phase1/sft_trajectories.jsonl", "sft"),
    "phase2": ("phase2/dpo_pairs.jsonl", "preference"),
    "phase3": ("phase3/kto_feedback.jsonl", "kto"),
}


def pair_type(row: dict[str, Any]) -> str:
    """The stratum a row's margins are reported under: `axis N`, `mixed` (several axes),
    `desirable` (KTO positives) or, for SFT rows, the intent."""
    if "axis" not in row:
        return str(row.get("intent", "all"))
    axis = row["axis"]
    if axis is None:
        return "desirable"
    if isinstance(axis, list):
        return "mixed"
    return f"axis {axis}"


def round_robin(
    rows: Sequence[dict[str, Any]], key: Callable[[dict[str, Any]], str], size: int, rng: random.Random
) -> list[dict[str, Any]]:
    """`size` rows taken one stratum at a time (strata by `key`, each shuffled by `rng`)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    queues = []
    for name in sorted(groups):
        members = list(groups[name])
        rng.shuffle(members)
        queues.append(members)
    chosen: list[dict[str, Any]] = []
    while len(chosen) < min(size, len(rows)):
        for queue in queues:
            if queue and len(chosen) < size:
                chosen.append(queue.pop())
    return chosen


def stratified_sample(rows: Sequence[dict[str, Any]], size: int | None, seed: int) -> list[dict[str, Any]]:
    """`size` rows drawn round-robin across pair types (all rows when size is None)."""
    if size is None or size >= len(rows):
        return list(rows)
    rng = random.Random(seed)
    chosen = round_robin(rows, pair_type, size, rng)
    rng.shuffle(chosen)
    return chosen


@dataclass
class MethodData:
    train_rows: list[dict[str, Any]]
    eval_rows: list[dict[str, Any]]
    full_train_rows: int
    full_eval_rows: int
    kind: str

    def datasets(self) -> tuple[Dataset, Dataset]:
        from canvas_pipeline.data.hf import to_dataset

        return to_dataset(self.train_rows, self.kind), to_dataset(self.eval_rows, self.kind)

    def item_ids(self) -> dict[str, set[str]]:
        return {
            "train": {i for r in self.train_rows for i in r.get("item_ids", [])},
            "test": {i for r in self.eval_rows for i in r.get("item_ids", [])},
        }


def load_method_data(
    data_dir: Path,
    method: MethodConfig,
    train_rows: int | None,
    eval_rows: int | None,
    seed: int,
    eligible: Callable[[dict[str, Any]], bool] | None = None,
) -> MethodData:
    """The method's budgeted train/eval subsets, drawn from the rows `eligible` accepts (all
    by default); the full split sizes are those of the file, for G12."""
    relative, kind = PHASE_FILES[method.phase]
    path = Path(data_dir) / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {method.name} trains on {method.phase}; materialize it first")
    rows = read_jsonl(path)
    train = [r for r in rows if r["split"] == "train"]
    evals = [r for r in rows if r["split"] == "test"]
    pick = eligible or (lambda row: True)
    return MethodData(
        train_rows=stratified_sample([r for r in train if pick(r)], train_rows, seed),
        eval_rows=stratified_sample([r for r in evals if pick(r)], eval_rows, seed + 1),
        full_train_rows=len(train),
        full_eval_rows=len(evals),
        kind=kind,
    )


def judging_pairs(
    data_dir: Path,
    method: MethodConfig,
    data: MethodData,
    eval_rows: int | None,
    seed: int,
    eligible: Callable[[dict[str, Any]], bool] | None = None,
) -> list[dict[str, Any]]:
    """The eval pairs a preference method's reward margins are measured on: its own eval
    pairs (DPO family), or the phase-2 eval pairs for KTO, whose phase-3 rows are unpaired;
    refused when those pairs share an item with the method's train rows (G2)."""
    if method.trainer == "dpo":
        return data.eval_rows
    pairs = load_method_data(data_dir, get_method("dpo"), 0, eval_rows, seed, eligible).eval_rows
    test_items = {i for r in pairs for i in r.get("item_ids", [])}
    result = g2_eval_disjoint({method.name: {"train": data.item_ids()["train"], "test": test_items}})
    if not result.passed:
        raise ValueError(f"G2: {method.name} judging pairs share items with its train rows: {list(result.details)}")
    return pairs
