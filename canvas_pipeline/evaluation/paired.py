"""What each method did, paired against `sft` on the same bench items and the same decoding.

Per metric, every item has an outcome for both models; the change is tested with the exact
McNemar test (the discordant items, binomial at 1/2, scipy). Per axis of the preference
table, the rate at which a model commits that failure on the bench, with its Wilson interval
and the same paired test against `sft`. "Improved" and "regressed" are said only at
p < `SIGNIFICANCE`; everything else is "no significant change".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from canvas_pipeline.evaluation.harness import Conversation
from canvas_pipeline.evaluation.metrics import (
    arguments_right,
    correct_response,
    expected_first_tool,
    format_valid,
    full_call_exact,
    irrelevance_right,
    is_irrelevance,
    parsimonious,
    selected_right,
    wilson_interval,
)
from canvas_pipeline.tools.codec import ToolCall
from canvas_pipeline.tools.registry import load_registry

SIGNIFICANCE = 0.05
REFERENCE = "sft"

Outcome = Callable[[Conversation], bool]
Applies = Callable[[Conversation], bool]


def _always(_: Conversation) -> bool:
    return True


def _needs_call(c: Conversation) -> bool:
    return not is_irrelevance(c.item)


def _no_call_needed(c: Conversation) -> bool:
    return is_irrelevance(c.item)


# metric -> (per-item outcome, the items it is defined on). Each is an unconditional rate on a
# fixed item set, so two models are compared on exactly the same items.
METRICS: dict[str, tuple[Outcome, Applies]] = {
    "tool_selection": (selected_right, _always),
    "arguments": (arguments_right, _needs_call),  # right tool and accepted arguments
    "full_call_exact": (full_call_exact, _always),
    "format_validity": (format_valid, _always),
    "irrelevance": (irrelevance_right, _no_call_needed),
    "parsimony": (parsimonious, _needs_call),  # every needed call, no more than needed
}


# ------------------------------------------------------------------ the eight failures


def _known(call: ToolCall) -> bool:
    return call.name in load_registry()


def hallucinated_name(c: Conversation) -> bool:
    """Axis 1: a call to a tool the registry does not have."""
    return any(not _known(call) for call in c.calls)


def key_error(c: Conversation) -> bool:
    """Axis 2: a call to a real tool missing a required key or carrying one it does not take."""
    registry = load_registry()
    return any(
        issue.kind in ("missing_required", "unknown_key")
        for call in c.calls
        if _known(call)
        for issue in registry.validate_arguments(call.name, call.arguments)
    )


def bad_value(c: Conversation) -> bool:
    """Axis 3: the right first tool with the right keys and a value that is not accepted."""
    return selected_right(c) and _needs_call(c) and not arguments_right(c) and not key_error(c)


def over_calling(c: Conversation) -> bool:
    """Axis 4: calls where none is needed, or every needed call and more than the item allows."""
    if is_irrelevance(c.item):
        return bool(c.calls)
    return correct_response(c) and not parsimonious(c)


def wrong_order(c: Conversation) -> bool:
    """Axis 5: the needed tools called, but not in their dependency order."""
    expected = list(c.item.get("expected_tools") or [])
    made = [call.name for call in c.calls if call.name in expected]
    firsts = list(dict.fromkeys(made))
    order = [t for t in dict.fromkeys(expected) if t in firsts]
    return len(order) >= 2 and firsts != order


def prose_or_broken_call(c: Conversation) -> bool:
    """Axis 6: a call was needed and the first turn is text, or a turn is not parseable."""
    if not format_valid(c):
        return True
    return _needs_call(c) and not c.first_calls


def wrong_family(c: Conversation) -> bool:
    """Axis 7: the first call is from another family than the request's (canvas, calendar,
    study, reranker)."""
    expected = expected_first_tool(c.item)
    if expected is None or not c.first_calls:
        return False
    return c.first_calls[0].name.split(".", 1)[0] != expected.split(".", 1)[0]


def calling_on(c: Conversation) -> bool:
    """Axis 8: still calling after every needed call was made (or until the turn limit)."""
    if c.ended == "turn_limit":
        return True
    expected = set(c.item.get("expected_tools") or [])
    if not expected:
        return False
    seen: set[str] = set()
    for step in c.steps:
        if expected <= seen:
            return True
        seen |= {call.name for call in step}
    return False


AXIS_FAILURES: dict[int, tuple[str, Outcome]] = {
    1: ("hallucinated tool name", hallucinated_name),
    2: ("missing or invented key", key_error),
    3: ("bad argument value", bad_value),
    4: ("over-calling", over_calling),
    5: ("wrong order", wrong_order),
    6: ("prose or broken call instead of a call", prose_or_broken_call),
    7: ("wrong tool family", wrong_family),
    8: ("calling on after the answer is known", calling_on),
}


# ------------------------------------------------------------------ the tests


@dataclass(frozen=True)
class PairedChange:
    """One metric (or failure) of a method against the reference on the same items."""

    n: int
    reference_rate: float | None
    method_rate: float | None
    method_only: int  # items where only the method has the outcome
    reference_only: int  # items where only the reference has it
    p_value: float | None  # exact McNemar; None without discordant items
    method_interval: tuple[float, float] | None

    @property
    def change(self) -> float | None:
        if self.reference_rate is None or self.method_rate is None:
            return None
        return self.method_rate - self.reference_rate

    def verdict(self, higher_is_better: bool = True) -> str:
        if self.p_value is None or self.p_value >= SIGNIFICANCE or not self.change:
            return "no significant change"
        better = (self.change > 0) == higher_is_better
        return "improved" if better else "regressed"

    def as_dict(self, higher_is_better: bool = True) -> dict[str, Any]:
        return {
            "n": self.n,
            "reference": self.reference_rate,
            "method": self.method_rate,
            "change": self.change,
            "method_only": self.method_only,
            "reference_only": self.reference_only,
            "p_value": self.p_value,
            "method_interval": list(self.method_interval) if self.method_interval else None,
            "verdict": self.verdict(higher_is_better),
        }


def mcnemar_p(method_only: int, reference_only: int) -> float | None:
    """Two-sided exact McNemar p-value: the discordant items as a binomial at 1/2."""
    discordant = method_only + reference_only
    if discordant == 0:
        return None
    from scipy.stats import binomtest

    return float(binomtest(method_only, discordant, 0.5).pvalue)


def paired_change(method: Sequence[bool], reference: Sequence[bool]) -> PairedChange:
    """`method[i]` and `reference[i]`: the outcome of both models on the same item i."""
    if len(method) != len(reference):
        raise ValueError(f"paired outcomes of different lengths: {len(method)} and {len(reference)}")
    n = len(method)
    method_only = sum(a and not b for a, b in zip(method, reference, strict=True))
    reference_only = sum(b and not a for a, b in zip(method, reference, strict=True))
    interval = wilson_interval(sum(method), n)
    return PairedChange(
        n=n,
        reference_rate=sum(reference) / n if n else None,
        method_rate=sum(method) / n if n else None,
        method_only=method_only,
        reference_only=reference_only,
        p_value=mcnemar_p(method_only, reference_only),
        method_interval=(interval.low, interval.high) if interval else None,
    )


def _by_id(conversations: Sequence[Conversation]) -> dict[str, Conversation]:
    return {c.item["id"]: c for c in conversations}


def compare(method: Sequence[Conversation], reference: Sequence[Conversation]) -> dict[str, Any]:
    """Every metric and every axis failure of `method` against `reference`, on the items both
    ran (an item missing from either is left out, and the count says so)."""
    mine, theirs = _by_id(method), _by_id(reference)
    shared = sorted(set(mine) & set(theirs))
    metrics = {}
    for name, (outcome, applies) in METRICS.items():
        items = [i for i in shared if applies(theirs[i])]
        change = paired_change([outcome(mine[i]) for i in items], [outcome(theirs[i]) for i in items])
        metrics[name] = change.as_dict()
    failures = {}
    for axis, (label, failed) in AXIS_FAILURES.items():
        change = paired_change([failed(mine[i]) for i in shared], [failed(theirs[i]) for i in shared])
        failures[str(axis)] = {"failure": label, **change.as_dict(higher_is_better=False)}
    return {"items": len(shared), "metrics": metrics, "failures": failures}


def failure_rates(conversations: Sequence[Conversation]) -> dict[str, Any]:
    """Per axis, the share of items on which a model commits that failure (Wilson interval)."""
    out = {}
    for axis, (label, failed) in AXIS_FAILURES.items():
        k, n = sum(failed(c) for c in conversations), len(conversations)
        interval = wilson_interval(k, n)
        out[str(axis)] = {
            "failure": label,
            "rate": k / n if n else None,
            "interval": [interval.low, interval.high] if interval else None,
        }
    return out


def what_each_method_did(
    conversations: Mapping[str, Sequence[Conversation]], reference: str = REFERENCE
) -> dict[str, Any]:
    """Per model, its failure rates, and for every model but the reference its paired change
    against the reference; empty comparisons when the reference has no conversations."""
    ref = conversations.get(reference)
    return {
        name: {
            "failure_rates": failure_rates(convs),
            "against_reference": compare(convs, ref) if ref is not None and name != reference else None,
        }
        for name, convs in conversations.items()
    }


def _with_verdict(comparison: Mapping[str, Any], verdict: str) -> list[str]:
    named = [m for m, row in comparison["metrics"].items() if row["verdict"] == verdict]
    return named + [
        f"axis {a} ({row['failure']})" for a, row in comparison["failures"].items() if row["verdict"] == verdict
    ]


def improvements(comparison: Mapping[str, Any]) -> list[str]:
    """The metrics and failures a comparison shows significantly better, named."""
    return _with_verdict(comparison, "improved")


def regressions(comparison: Mapping[str, Any]) -> list[str]:
    """The metrics and failures a comparison shows significantly worse, named."""
    return _with_verdict(comparison, "regressed")
