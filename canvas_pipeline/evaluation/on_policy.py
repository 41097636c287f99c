"""On-policy preference and feedback rows: what a checkpoint itself answers at the training
split's decision points, judged by the same axis functions that label phase 2.

Phase 2's rejected sides are mutations the `sft` checkpoint mostly ranks right already
(DPO's eval reward accuracy before training is ~0.8), so a few adapter steps on them barely
move it. Here the wrong sides are the checkpoint's own: every greedy answer that breaks an
axis (`data.phase2.axes.violated_axes`, judged against what the trajectory did and does
next) is a rejected side against the trajectory's own turn, labelled with every axis it
breaks; every answer that breaks none is a desirable KTO completion. Answers identical to
the trajectory's turn are counted, not paired: a pair needs two different sides.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from canvas_pipeline.data.phase2.axes import violated_axes
from canvas_pipeline.data.phase2.points import DecisionPoint, assistant_calls, assistant_text, decision_points
from canvas_pipeline.evaluation.generation import BATCH_SIZE, STOP_TOKENS, greedy_turns, prompt_text
from canvas_pipeline.tools.chat_format import tools_json
from canvas_pipeline.tools.codec import ParseError, parse_calls

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

MUTATION = "on_policy"


@dataclass(frozen=True)
class OnPolicyConfig:
    """How many of the train split's decision points the checkpoint answers (a seeded
    sample; None: all of them)."""

    points: int | None = 512
    seed: int = 0
    batch_size: int = BATCH_SIZE


@dataclass
class OnPolicyResult:
    pairs: list[dict[str, Any]]  # TRL conversational preference rows, phase 2's schema
    feedback: list[dict[str, Any]]  # KTO rows, phase 3's schema (desirable and undesirable)
    report: dict[str, Any] = field(default_factory=dict)


def answer_message(output: str, point: DecisionPoint) -> dict[str, Any]:
    """The checkpoint's turn as an assistant message: its calls when it made well-formed ones,
    otherwise its text as written (a broken call stays text, which axis 6 judges)."""
    text = output
    for stop in STOP_TOKENS:
        text = text.removesuffix(stop)
    parsed = parse_calls(output)
    if isinstance(parsed, ParseError) or not parsed:
        return assistant_text(text.strip())
    return assistant_calls(list(parsed), point.next_call_id())


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def bare(m: dict[str, Any]) -> Any:
        calls = [[c["function"]["name"], c["function"]["arguments"]] for c in m.get("tool_calls") or []]
        return (m.get("content") or "").strip(), calls

    return bare(a) == bare(b)


def sample_points(rows: Sequence[dict[str, Any]], config: OnPolicyConfig) -> list[DecisionPoint]:
    """The train split's decision points, a seeded sample of `config.points` of them."""
    points = [p for row in rows if row["split"] == "train" for p in decision_points(row)]
    if config.points is None or config.points >= len(points):
        return points
    return random.Random(f"on_policy|{config.seed}").sample(points, config.points)


def judge_answers(points: Sequence[DecisionPoint], outputs: Sequence[str]) -> OnPolicyResult:
    """Pairs and KTO rows from each point's greedy answer (`outputs[i]` answers `points[i]`)."""
    tools = tools_json()
    pairs: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] = []
    broken_axes: Counter[str] = Counter()
    identical = 0
    for point, output in zip(points, outputs, strict=True):
        answer = answer_message(output, point)
        common = {
            "prompt": point.prompt_messages(),
            "tools": tools,
            "item_ids": list(point.item_ids),
            "source_id": point.key,
        }
        if _same(answer, point.chosen):
            identical += 1
            feedback.append({**common, "completion": [answer], "label": True, "axis": None, "mutation": None})
            continue
        broken = sorted(violated_axes(point, answer))
        if not broken:
            # Different from the trajectory but breaking no axis: another right answer.
            feedback.append({**common, "completion": [answer], "label": True, "axis": None, "mutation": None})
            continue
        broken_axes[",".join(map(str, broken))] += 1
        axis: int | list[int] = broken[0] if len(broken) == 1 else broken
        pairs.append(
            {
                **common,
                "chosen": [point.chosen],
                "rejected": [answer],
                "axis": axis,
                "mutation": MUTATION,
                "direction": "",
            }
        )
        feedback.append({**common, "completion": [answer], "label": False, "axis": axis, "mutation": MUTATION})
    for n, row in enumerate(pairs):
        row["id"], row["split"] = f"op2-train-{n:05d}", "train"
    for n, row in enumerate(feedback):
        row["id"], row["split"] = f"op3-train-{n:05d}", "train"
    report = {
        "points_answered": len(points),
        "answers_identical_to_trajectory": identical,
        "answers_right_but_different": len(feedback) - len(pairs) - identical,
        "answers_wrong": len(pairs),
        "wrong_share": round(len(pairs) / len(points), 4) if points else None,
        **{f"wrong_on_axes.{k}": v for k, v in sorted(broken_axes.items())},
    }
    return OnPolicyResult(pairs, feedback, report)


def on_policy_rows(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    phase1_rows: Sequence[dict[str, Any]],
    config: OnPolicyConfig = OnPolicyConfig(),
) -> OnPolicyResult:
    """The checkpoint answers a sample of the train split's decision points greedily (the
    bench's decoding); its answers are judged into pairs and KTO rows."""
    points = sample_points(phase1_rows, config)
    prompts = [prompt_text(p.prompt_messages(), tools_json()) for p in points]
    outputs = greedy_turns(model, tokenizer, prompts, batch_size=config.batch_size)
    return judge_answers(points, outputs)
