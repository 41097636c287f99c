"""Each method's train and eval datasets, from the phase files, at the profile's budget.

A budgeted subset is drawn by seed and stratified by pair type (the axis, or `mixed`) so
every axis stays in train and in eval (SFT rows under a decision-row budget: by the tool
their last request is answered with); the full split sizes are reported alongside so G12
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
from canvas_pipeline.data.layout import ON_POLICY_MUTATION
from canvas_pipeline.guardrails.checks import g2_eval_disjoint
from canvas_pipeline.training.course_swap import CourseSwapper, data_courses, swap_share
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
    rows: Sequence[dict[str, Any]],
    key: Callable[[dict[str, Any]], str],
    size: int,
    rng: random.Random,
    repeat: bool = False,
) -> list[dict[str, Any]]:
    """`size` rows taken one stratum at a time (strata by `key`, each shuffled by `rng`). With
    `repeat` a stratum that runs out is reshuffled and taken again, so every stratum keeps
    its share of `size` however few rows it has; without, at most every row once."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    strata = [groups[name] for name in sorted(groups)]
    queues = []
    for members in strata:
        queue = list(members)
        rng.shuffle(queue)
        queues.append(queue)
    chosen: list[dict[str, Any]] = []
    target = size if repeat and rows else min(size, len(rows))
    while len(chosen) < target:
        for members, queue in zip(strata, queues, strict=True):
            if not queue and repeat:
                queue.extend(members)
                rng.shuffle(queue)
            if queue and len(chosen) < target:
                chosen.append(queue.pop())
    return chosen


def origin(row: dict[str, Any]) -> str:
    """Where a preference or feedback row comes from: the checkpoint's own answers
    (`on_policy`) or the phase's constructed rows (`phase`)."""
    return ON_POLICY_MUTATION if row.get("mutation") == ON_POLICY_MUTATION else "phase"


def stratified_sample(rows: Sequence[dict[str, Any]], size: int | None, seed: int) -> list[dict[str, Any]]:
    """`size` rows drawn round-robin across pair types (all rows when size is None), each
    origin (`origin`) in proportion to its share of `rows`, so a budget keeps the on-policy
    mix's ratio."""
    if size is None or size >= len(rows):
        return list(rows)
    rng = random.Random(seed)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[origin(row)].append(row)
    chosen: list[dict[str, Any]] = []
    for index, name in enumerate(sorted(groups)):
        last = index == len(groups) - 1
        take = size - len(chosen) if last else round(size * len(groups[name]) / len(rows))
        chosen += round_robin(groups[name], pair_type, take, rng)
    rng.shuffle(chosen)
    return chosen


def decision_turn(messages: Sequence[dict[str, Any]]) -> int:
    """Index of the model turn that answers the conversation's last request: the turn a
    bench item scores."""
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
    after = (i for i in range(last_user + 1, len(messages)) if messages[i]["role"] == "assistant")
    return next(after, len(messages) - 1)


def decision_tool(row: dict[str, Any]) -> str:
    """The tool the decision turn calls first; "" when it answers without a call."""
    calls = row["messages"][decision_turn(row["messages"])].get("tool_calls") or []
    return str(calls[0]["function"]["name"]) if calls else ""


def decision_rows(
    rows: Sequence[dict[str, Any]], size: int | None, seed: int, repeat: bool, whole_every: int = 0
) -> list[dict[str, Any]]:
    """`size` SFT rows drawn round-robin across decision tools (with `repeat`, a tool's rows
    are taken again once they run out: the rarest decision has 48 of the embedded default's
    3000 train rows; None: every row once, unbalanced), each cut after its decision turn
    but every `whole_every`-th (none when 0). A cut row puts the loss on choosing and
    writing the call the bench scores; a whole one also trains the turns after a tool
    response and the final answer, at several times the cost."""
    rng = random.Random(seed)
    chosen = list(rows) if size is None else round_robin(rows, decision_tool, size, rng, repeat)
    rng.shuffle(chosen)
    return [
        row
        if whole_every and index % whole_every == whole_every - 1
        else {**row, "messages": row["messages"][: decision_turn(row["messages"]) + 1]}
        for index, row in enumerate(chosen)
    ]


@dataclass
class MethodData:
    train_rows: list[dict[str, Any]]
    eval_rows: list[dict[str, Any]]
    full_train_rows: int
    full_eval_rows: int
    kind: str
    course_swapped: int = 0  # train rows whose courses were renamed (`course_swap`)

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
    decision: bool = False,
    whole_every: int = 0,
    course_swap: float = 0.0,
) -> MethodData:
    """The method's budgeted train/eval subsets, drawn from the rows `eligible` accepts (all
    by default); with `decision`, SFT-family rows are `decision_rows` (every `whole_every`-th
    whole); a `course_swap` share of SFT-family train rows names generated courses instead
    of the data's (eval rows never). The full split sizes are those of the file, for G12."""
    relative, kind = PHASE_FILES[method.phase]
    path = Path(data_dir) / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {method.name} trains on {method.phase}; materialize it first")
    rows = read_jsonl(path)
    train = [r for r in rows if r["split"] == "train"]
    evals = [r for r in rows if r["split"] == "test"]
    pick = eligible or (lambda row: True)
    train_pool, eval_pool = [r for r in train if pick(r)], [r for r in evals if pick(r)]
    if decision and method.trainer == "sft":
        chosen = (
            decision_rows(train_pool, train_rows, seed, repeat=True, whole_every=whole_every),
            decision_rows(eval_pool, eval_rows, seed + 1, repeat=False, whole_every=whole_every),
        )
    else:
        chosen = stratified_sample(train_pool, train_rows, seed), stratified_sample(eval_pool, eval_rows, seed + 1)
    train_chosen, swapped = chosen[0], 0
    if course_swap and method.trainer == "sft":
        train_chosen = swap_share(train_chosen, CourseSwapper(data_courses(Path(data_dir))), course_swap, seed)
        swapped = sum(a != b for a, b in zip(train_chosen, chosen[0], strict=True))
    return MethodData(
        train_rows=train_chosen,
        eval_rows=chosen[1],
        full_train_rows=len(train),
        full_eval_rows=len(evals),
        kind=kind,
        course_swapped=swapped,
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


def kto_weights(rows: list[dict[str, Any]]) -> tuple[float, float]:
    """Phase 3's weighting (desirable x weight over undesirable x weight in [1, 4/3]) for
    the rows actually trained on."""
    from canvas_pipeline.data.phase3.build import kto_weights as weights_for_counts

    desirable = sum(bool(r["label"]) for r in rows)
    if not desirable or desirable == len(rows):
        raise ValueError("KTO train rows need both desirable and undesirable examples")
    return weights_for_counts(desirable, len(rows) - desirable)
