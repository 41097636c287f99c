"""How evenly a dataset's calls cover the registry's tools: G4's measure. The G4 guardrail
judges phase 1 with it, and phases 2 and 3 refuse to build from a phase 1 that fails it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import mean, pstdev

MIN_CALLS_PER_TOOL = 30
MAX_CV = 0.3


@dataclass(frozen=True)
class ToolBalance:
    counts: dict[str, int]
    cv: float
    low: int
    high: int
    problems: tuple[str, ...]  # every tool under the minimum, then a CV over the maximum

    @property
    def balanced(self) -> bool:
        return not self.problems


def tool_balance(
    counts: Mapping[str, int], tools: Sequence[str], min_count: int = MIN_CALLS_PER_TOOL, max_cv: float = MAX_CV
) -> ToolBalance:
    """Calls per registry tool against a minimum each, and their coefficient of variation."""
    values = [counts.get(t, 0) for t in tools]
    cv = pstdev(values) / mean(values) if values and mean(values) else float("inf")
    problems = [f"{t}: {counts.get(t, 0)} < {min_count}" for t in tools if counts.get(t, 0) < min_count]
    if cv > max_cv:
        low, high = min(tools, key=lambda t: counts.get(t, 0)), max(tools, key=lambda t: counts.get(t, 0))
        problems.append(f"CV {cv:.2f} > {max_cv} (min {low} {counts.get(low, 0)}, max {high} {counts.get(high, 0)})")
    return ToolBalance(
        dict(sorted(counts.items())), cv, min(values, default=0), max(values, default=0), tuple(problems)
    )
