"""The phase-4 bench (and the eval split checkpoint selection decides on) run on a model
and written as a record: every metric, per tool, and every conversation.

Item sets: the bench is phase 4's benchmark; the eval split is phase 1's held-out `test`
rows, cut at their last user turn exactly like bench items. At the tiny profile's budget
both are subsets drawn round-robin across expected first tools, so every tool keeps its
share.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from canvas_pipeline.data.io import atomic_write_text, read_jsonl
from canvas_pipeline.data.layout import base_bench_path, bench_record_path
from canvas_pipeline.evaluation.harness import Conversation, run_conversations
from canvas_pipeline.evaluation.metrics import expected_first_tool, selected_right, summarize
from canvas_pipeline.evaluation.selection import NO_OP_SHARE as IDENTICAL_FLAG

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from canvas_pipeline.evaluation.backends import BackendFactory

BASE = "base"


def bench_subset(items: Sequence[dict[str, Any]], size: int | None, seed: int) -> list[dict[str, Any]]:
    """`size` items drawn round-robin across expected first tools (irrelevance included) so
    every tool keeps a share; all items when `size` is None or not smaller."""
    if size is None or size >= len(items):
        return list(items)
    from canvas_pipeline.training.data_prep import round_robin

    chosen = round_robin(items, lambda item: expected_first_tool(item) or "", size, random.Random(seed))
    return sorted(chosen, key=lambda i: i["id"])


def bench_items(out_dir: Path, size: int | None, seed: int) -> list[dict[str, Any]]:
    return bench_subset(read_jsonl(Path(out_dir) / "phase4" / "benchmark.jsonl"), size, seed)


def eval_items(out_dir: Path, size: int | None, seed: int) -> list[dict[str, Any]]:
    """Phase 1's held-out test conversations as bench items (prompt up to the last user
    turn, the calls after it expected)."""
    from canvas_pipeline.data.phase4.build import bench_item

    rows = [r for r in read_jsonl(Path(out_dir) / "phase1" / "sft_trajectories.jsonl") if r["split"] == "test"]
    if not rows:
        raise ValueError(f"{out_dir}/phase1/sft_trajectories.jsonl has no test rows to select checkpoints on")
    items = [{**bench_item(row, n), "id": row["id"], "split": "eval"} for n, row in enumerate(rows)]
    return bench_subset(items, size, seed)


def identical_share(outputs: Sequence[str], reference: Sequence[str]) -> float:
    """Share of prompts whose greedy output is byte-identical to the reference model's."""
    if len(outputs) != len(reference):
        raise ValueError(f"{len(outputs)} outputs against {len(reference)} reference outputs")
    return sum(a == b for a, b in zip(outputs, reference, strict=True)) / len(outputs) if outputs else 0.0


def evaluate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[dict[str, Any]],
    backends: BackendFactory | None,
) -> tuple[dict[str, Any], list[Conversation]]:
    conversations = run_conversations(model, tokenizer, items, backends.for_item if backends else None)
    return summarize(conversations), conversations


def read_bench_record(out_dir: Path, profile: str, method: str) -> dict[str, Any]:
    path = base_bench_path(out_dir, profile) if method == BASE else bench_record_path(out_dir, profile, method)
    if not path.is_file():
        raise FileNotFoundError(f"no bench record {path}: materialize eval/bench_results for {method} first")
    return json.loads(path.read_text())


def _first_turns(conversations: Sequence[Conversation]) -> dict[str, str]:
    return {c.item["id"]: c.turns[0] if c.turns else "" for c in conversations}


def selection_outcomes(conversations: Sequence[Conversation]) -> dict[str, bool]:
    """Per item, whether the first call picked the expected tool: what two checkpoints'
    paired test (`evaluation.paired`) compares on the eval split."""
    return {c.item["id"]: selected_right(c) for c in conversations}


def _record(
    name: str, profile: str, summary: dict[str, Any], conversations: Sequence[Conversation], **extra: Any
) -> dict[str, Any]:
    return {
        "method": name,
        "profile": profile,
        "summary": {k: v for k, v in summary.items() if k != "per_tool"},
        "per_tool": summary["per_tool"],
        **extra,
        "outputs": _first_turns(conversations),
        "conversations": [c.record() for c in conversations],
    }


def _load_model(out_dir: Path, profile: str, method: str, step: int | None = None) -> tuple[Any, Any]:
    """The model and tokenizer of the base, a method's checkpoint, or (`step`) one of its
    intermediate steps."""
    from canvas_pipeline.data.layout import base_model_dir, checkpoint_dir
    from canvas_pipeline.training.checkpoints import load_checkpoint, read_manifest, step_dir
    from canvas_pipeline.training.tokenizer import load_tokenizer

    if method == BASE:
        from canvas_pipeline.training.model import load_model

        folder = base_model_dir(out_dir, profile)
        return load_model(folder), load_tokenizer(folder)
    folder = checkpoint_dir(out_dir, profile, method)
    if step is not None:
        folder = step_dir(folder, step)
    model = load_checkpoint(folder)
    if read_manifest(folder)["adapter"] == "lora":
        # The same function with the adapter folded into the weights (what the release ships):
        # generation here is bound by per-layer overhead, which PEFT's wrappers double.
        model = model.merge_and_unload()
    return model, load_tokenizer(folder)


def _step_candidates(
    out_dir: Path,
    profile: str,
    method: str,
    tokenizer: Any,
    bench: Sequence[dict[str, Any]],
    held_out: Sequence[dict[str, Any]],
    backends: BackendFactory,
    final_eval: dict[str, Any],
) -> dict[str, Any]:
    """The intermediate steps the method's training kept, each scored on the same eval-split
    items as its final weights (`eval_by_step`); the step the selection rule would pick
    among them and the final weights, when it is not the final one, also on the bench
    (`step_bench`), so a selected step's bench figures are its own."""
    from canvas_pipeline.data.layout import checkpoint_dir
    from canvas_pipeline.evaluation.selection import select_checkpoint
    from canvas_pipeline.training.checkpoints import read_manifest, step_candidates

    folder = checkpoint_dir(out_dir, profile, method)
    final_step = read_manifest(folder).get("step")
    eval_by_step: dict[str, Any] = {}
    outcomes_by_step: dict[str, dict[str, bool]] = {}
    for step in step_candidates(folder):
        model, _ = _load_model(out_dir, profile, method, step)
        conversations = run_conversations(model, tokenizer, held_out, backends.for_item)
        eval_by_step[str(step)] = summarize(conversations)
        outcomes_by_step[str(step)] = selection_outcomes(conversations)
    extra: dict[str, Any] = {
        "final_step": final_step,
        "eval_by_step": eval_by_step,
        "eval_outcomes_by_step": outcomes_by_step,
        "step_bench": {},
    }
    candidates = {"final": final_eval, **eval_by_step}
    best = select_checkpoint(candidates, list(candidates))["selected"]
    if best not in (None, "final"):
        model, _ = _load_model(out_dir, profile, method, int(best))
        conversations = run_conversations(model, tokenizer, bench, backends.for_item)
        summary = summarize(conversations)
        extra["step_bench"][best] = {
            "summary": {k: v for k, v in summary.items() if k != "per_tool"},
            "per_tool": summary["per_tool"],
            "outputs": _first_turns(conversations),
        }
    return extra


def run_base_bench(out_dir: Any, profile_name: str, seed: int) -> dict[str, Any]:
    """The bench on `models/base_model` at the profile's bench budget, written atomically
    (summary, per tool, every conversation) to `eval/PROFILE/base_bench.json`: the evidence
    G3 reads and the report's baseline row."""
    from canvas_pipeline.evaluation.backends import BackendFactory
    from canvas_pipeline.training.profiles import get_profile

    out_dir = Path(out_dir)
    profile = get_profile(profile_name)
    model, tokenizer = _load_model(out_dir, profile.name, BASE)
    items = bench_items(out_dir, profile.budget.bench_items, seed)
    summary, conversations = evaluate(model, tokenizer, items, BackendFactory.from_out_dir(out_dir))
    record = _record(BASE, profile.name, summary, conversations)
    atomic_write_text(base_bench_path(out_dir, profile.name), json.dumps(record, indent=1))
    return {**record["summary"], "per_tool": record["per_tool"]}


def run_method_bench(
    out_dir: Path,
    profile_name: str,
    method: str,
    seed: int,
    bench_size: int | None = None,
    selection_size: int | None = None,
) -> dict[str, Any]:
    """One checkpoint on the bench and on the eval split (sizes: the profile's budget
    unless given), written atomically to `eval/PROFILE/bench/METHOD.json`. A preference
    method's first turns are compared with SFT's (`identical_to_sft`): a share >= 0.8 is
    what the old no-op DPO model looked like. The intermediate steps its training kept are
    scored too (`_step_candidates`)."""
    from canvas_pipeline.data.layout import checkpoint_dir
    from canvas_pipeline.evaluation.backends import BackendFactory
    from canvas_pipeline.evaluation.freshness import bench_lineage
    from canvas_pipeline.training.lineage import superseded_reason
    from canvas_pipeline.training.profiles import get_profile

    out_dir = Path(out_dir)
    profile = get_profile(profile_name)
    folder = checkpoint_dir(out_dir, profile.name, method)
    if (marker := superseded_reason(folder)) is not None:
        raise ValueError(
            f"{method}'s checkpoint in {folder} is superseded ({marker}): train it again before benching it"
        )
    model, tokenizer = _load_model(out_dir, profile.name, method)
    backends = BackendFactory.from_out_dir(out_dir)
    bench = bench_items(out_dir, bench_size or profile.budget.bench_items, seed)
    held_out = eval_items(out_dir, selection_size or profile.budget.selection_items, seed)
    shared_ids = sorted({i["id"] for i in bench} & {i["id"] for i in held_out})
    if shared_ids:  # each conversation's simulated backend is keyed by its item id
        raise ValueError(f"bench and eval-split items share ids {shared_ids[:5]}")
    # Both item sets advance together, so each pass fills whole batches; they are scored apart.
    both = run_conversations(model, tokenizer, [*bench, *held_out], backends.for_item)
    conversations = both[: len(bench)]
    summary, eval_summary = summarize(conversations), summarize(both[len(bench) :])
    identical = None
    if method != "sft":
        sft_path = bench_record_path(out_dir, profile.name, "sft")
        if sft_path.is_file():
            reference = json.loads(sft_path.read_text())["outputs"]
            mine = _first_turns(conversations)
            shared = sorted(k for k in mine if k in reference)
            identical = identical_share([mine[k] for k in shared], [reference[k] for k in shared])
    summary["identical_to_sft"] = identical
    summary["identical_flag"] = identical is not None and identical >= IDENTICAL_FLAG
    record = _record(
        method,
        profile.name,
        summary,
        conversations,
        eval=eval_summary,
        eval_outcomes=selection_outcomes(both[len(bench) :]),
        lineage=bench_lineage(out_dir, profile.name, folder),
    )
    record |= _step_candidates(out_dir, profile.name, method, tokenizer, bench, held_out, backends, eval_summary)
    atomic_write_text(bench_record_path(out_dir, profile.name, method), json.dumps(record, indent=1))
    return record
