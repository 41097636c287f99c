"""Bench metrics: one function per metric over the harness's conversations, per-tool
accuracies with Wilson 95% score intervals, and the summary a bench record holds.

- tool selection: the first call of the first turn is the item's first expected tool; for
  an irrelevance item (nothing expected) the right answer is no call. A first turn the
  codec cannot parse is wrong.
- argument accuracy: of the items whose tool was selected right, the share whose first
  call's arguments match the expected ones (`arguments.match_arguments`, BFCL-style).
- full-call exact match: the whole conversation made exactly the expected calls, in
  order, each with matching arguments, and ended by answering.
- parsimony rate: of the correct responses (first tool right, every expected tool called,
  ended by answering), the share that used no more calls than the minimum.
- irrelevance accuracy: of the irrelevance items, the share answered without a call.
- format validity: the share of conversations in which every turn parsed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from canvas_pipeline.evaluation.arguments import match_arguments
from canvas_pipeline.evaluation.harness import Conversation

CONFIDENCE = 0.95
LOW_CONFIDENCE_N = 40
NO_CALL = "(no call)"


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> Interval | None:
    """The Wilson score interval (no continuity correction) for successes/n; None for n = 0."""
    if n == 0:
        return None
    from scipy.stats import binomtest

    ci = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return Interval(float(ci.low), float(ci.high))


def expected_first_tool(item: dict[str, Any]) -> str | None:
    tools = item.get("expected_tools") or []
    return tools[0] if tools else None


def is_irrelevance(item: dict[str, Any]) -> bool:
    return not item.get("expected_tools")


def selected_right(c: Conversation) -> bool:
    if not c.first_turn_parsed:
        return False
    first = c.first_calls[0].name if c.first_calls else None
    return first == expected_first_tool(c.item)


def arguments_right(c: Conversation) -> bool:
    if is_irrelevance(c.item) or not selected_right(c):
        return False
    call = c.first_calls[0]
    return match_arguments(call.name, call.arguments, c.item["expected_args"][0]).matched


def full_call_exact(c: Conversation) -> bool:
    if c.ended != "answered":
        return False
    calls, expected = c.calls, c.item.get("expected_tools") or []
    if [call.name for call in calls] != list(expected):
        return False
    return all(
        match_arguments(call.name, call.arguments, accepted).matched
        for call, accepted in zip(calls, c.item["expected_args"], strict=True)
    )


def correct_response(c: Conversation) -> bool:
    if is_irrelevance(c.item) or c.ended != "answered" or not selected_right(c):
        return False
    made = Counter(call.name for call in c.calls)
    return not (Counter(c.item["expected_tools"]) - made)


def parsimonious(c: Conversation) -> bool:
    return correct_response(c) and len(c.calls) <= int(c.item.get("min_calls") or len(c.item["expected_tools"]))


def irrelevance_right(c: Conversation) -> bool:
    return is_irrelevance(c.item) and c.first_turn_parsed and not c.first_calls


def format_valid(c: Conversation) -> bool:
    return c.ended != "parse_error"


def rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def share(conversations: Sequence[Conversation], test: Any, among: Any = None) -> float | None:
    pool = [c for c in conversations if among is None or among(c)]
    return rate(sum(bool(test(c)) for c in pool), len(pool))


def per_tool(conversations: Sequence[Conversation]) -> dict[str, dict[str, Any]]:
    """Tool-selection accuracy per expected first tool (irrelevance items under "(no call)"),
    with its Wilson interval and a low-confidence flag under 40 samples."""
    groups: dict[str, list[Conversation]] = defaultdict(list)
    for c in conversations:
        groups[expected_first_tool(c.item) or NO_CALL].append(c)
    out: dict[str, dict[str, Any]] = {}
    for tool, group in sorted(groups.items()):
        correct = sum(selected_right(c) for c in group)
        interval = wilson_interval(correct, len(group))
        assert interval is not None
        out[tool] = {
            "n": len(group),
            "correct": correct,
            "accuracy": correct / len(group),
            "low": interval.low,
            "high": interval.high,
            "low_confidence": len(group) < LOW_CONFIDENCE_N,
        }
    return out


def macro_tool_accuracy(tools: dict[str, dict[str, Any]]) -> float | None:
    """The mean of the per-tool accuracies over the tools (irrelevance is its own metric)."""
    values = [row["accuracy"] for tool, row in tools.items() if tool != NO_CALL]
    return sum(values) / len(values) if values else None


def failure_reasons(conversations: Sequence[Conversation]) -> dict[str, int]:
    return dict(Counter(c.ended for c in conversations if c.ended != "answered"))


def summarize(conversations: Sequence[Conversation]) -> dict[str, Any]:
    """Every metric of one model on one item set."""
    n = len(conversations)
    correct = sum(selected_right(c) for c in conversations)
    interval = wilson_interval(correct, n)
    tools = per_tool(conversations)
    return {
        "items": n,
        "tool_selection_accuracy": rate(correct, n) or 0.0,
        "tool_selection_interval": [interval.low, interval.high] if interval else None,
        "macro_tool_accuracy": macro_tool_accuracy(tools),
        "argument_accuracy": share(conversations, arguments_right, among=selected_right_call),
        "full_call_exact": share(conversations, full_call_exact),
        "parsimony_rate": share(conversations, parsimonious, among=correct_response),
        "irrelevance_accuracy": share(conversations, irrelevance_right, among=lambda c: is_irrelevance(c.item)),
        "format_validity": share(conversations, format_valid) or 0.0,
        "ended": failure_reasons(conversations),
        "per_tool": tools,
    }


def selected_right_call(c: Conversation) -> bool:
    return selected_right(c) and not is_irrelevance(c.item)
