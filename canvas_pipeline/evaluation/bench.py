"""Running the phase-4 bench on a model and scoring tool selection.

Tool selection: the first call of the model's turn names the item's first expected tool;
for an irrelevance item (no expected tool) the right answer is no call at all. Output the
codec cannot parse counts as wrong, with its reason kept.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from canvas_pipeline.evaluation.generation import greedy_turns, prompt_text
from canvas_pipeline.tools.codec import ParseError, ToolCall, parse_calls

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class BenchOutcome:
    item_id: str
    intent: str
    expected_tool: str | None
    output: str
    calls: tuple[ToolCall, ...]
    parse_error: str | None

    @property
    def first_tool(self) -> str | None:
        return self.calls[0].name if self.calls else None

    @property
    def selected_right(self) -> bool:
        return self.parse_error is None and self.first_tool == self.expected_tool


def expected_first_tool(item: dict[str, Any]) -> str | None:
    tools = item.get("expected_tools") or []
    return tools[0] if tools else None


def score_output(item: dict[str, Any], output: str) -> BenchOutcome:
    parsed = parse_calls(output)
    error = str(parsed) if isinstance(parsed, ParseError) else None
    calls = () if isinstance(parsed, ParseError) else tuple(parsed)
    return BenchOutcome(item["id"], item.get("intent", ""), expected_first_tool(item), output, calls, error)


def bench_subset(items: Sequence[dict[str, Any]], size: int | None, seed: int) -> list[dict[str, Any]]:
    """`size` items drawn round-robin across expected first tools (irrelevance included) so
    every tool keeps a share; all items when `size` is None or not smaller."""
    if size is None or size >= len(items):
        return list(items)
    from canvas_pipeline.training.data_prep import round_robin

    chosen = round_robin(items, lambda item: expected_first_tool(item) or "", size, random.Random(seed))
    return sorted(chosen, key=lambda i: i["id"])


def run_bench(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, items: Sequence[dict[str, Any]], batch_size: int = 32
) -> list[BenchOutcome]:
    prompts = [prompt_text(item["prompt"], item.get("tools")) for item in items]
    outputs = greedy_turns(model, tokenizer, prompts, batch_size=batch_size)
    return [score_output(item, output) for item, output in zip(items, outputs, strict=True)]


def tool_selection_accuracy(outcomes: Sequence[BenchOutcome]) -> float:
    return sum(o.selected_right for o in outcomes) / len(outcomes) if outcomes else 0.0


def format_validity(outcomes: Sequence[BenchOutcome]) -> float:
    return sum(o.parse_error is None for o in outcomes) / len(outcomes) if outcomes else 0.0


def identical_share(outputs: Sequence[str], reference: Sequence[str]) -> float:
    """Share of prompts whose greedy output is byte-identical to the reference model's."""
    if len(outputs) != len(reference):
        raise ValueError(f"{len(outputs)} outputs against {len(reference)} reference outputs")
    return sum(a == b for a, b in zip(outputs, reference, strict=True)) / len(outputs) if outputs else 0.0


def per_tool_accuracy(outcomes: Sequence[BenchOutcome]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[BenchOutcome]] = defaultdict(list)
    for outcome in outcomes:
        groups[outcome.expected_tool or "(no call)"].append(outcome)
    return {tool: {"accuracy": tool_selection_accuracy(g), "n": len(g)} for tool, g in sorted(groups.items())}


def bench_summary(outcomes: Sequence[BenchOutcome]) -> dict[str, Any]:
    return {
        "items": len(outcomes),
        "tool_selection_accuracy": tool_selection_accuracy(outcomes),
        "format_validity": format_validity(outcomes),
        "per_tool": per_tool_accuracy(outcomes),
    }


def bench_folder(
    model_dir: Any, benchmark_path: Any, size: int | None, seed: int
) -> tuple[dict[str, Any], list[BenchOutcome]]:
    """Load the model saved in `model_dir` (weights + tokenizer) and run the bench on it."""
    from pathlib import Path

    from canvas_pipeline.data.io import read_jsonl
    from canvas_pipeline.training.model import load_model
    from canvas_pipeline.training.tokenizer import load_tokenizer

    items = bench_subset(read_jsonl(Path(benchmark_path)), size, seed)
    outcomes = run_bench(load_model(Path(model_dir)), load_tokenizer(Path(model_dir)), items)
    return bench_summary(outcomes), outcomes


def base_bench_path(out_dir: Any, profile: str) -> Any:
    from pathlib import Path

    return Path(out_dir) / "eval" / profile / "base_bench.json"


def run_base_bench(out_dir: Any, profile_name: str, seed: int) -> dict[str, Any]:
    """The bench on `models/base_model` at the profile's bench budget, written atomically
    (summary + every output) to `eval/PROFILE/base_bench.json`: the evidence G3 reads."""
    import json
    from pathlib import Path

    from canvas_pipeline.data.io import atomic_write_text
    from canvas_pipeline.training.profiles import get_profile
    from canvas_pipeline.training.run import base_model_dir

    profile = get_profile(profile_name)
    summary, outcomes = bench_folder(
        base_model_dir(out_dir, profile.name),
        Path(out_dir) / "phase4" / "benchmark.jsonl",
        profile.budget.bench_items,
        seed,
    )
    record = {**summary, "profile": profile.name, "outputs": {o.item_id: o.output for o in outcomes}}
    atomic_write_text(base_bench_path(out_dir, profile.name), json.dumps(record, indent=1))
    return summary
