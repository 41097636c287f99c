"""The intent mix of the phase-1 train split: how often students ask each request, within G4.

`REQUEST_WEIGHTS` is the target: a student's study assistant hears "what's due" far more
often than "how long should my study blocks be". G4 (every tool >= 30 calls, coefficient of
variation of per-tool counts <= 0.3) pulls the other way: five study and ranking tools are
reached by only one or two requests each, so those requests cannot be rare. `solve_mix` finds
the intent distribution closest to the target (least squared error, so a common request's
shortfall weighs by its size) whose expected per-tool counts keep G4 with a margin. The
generator draws intents from that mix and tops up any tool still under its floor once the
split has its size. The price is measured, not hidden: the report carries the distance from
the target and the rank correlation with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

# Relative frequency of each request among a student's requests (they need not sum to 1).
# An assumption, not a measurement: there is no log of real requests. Grouped by what a
# student is after; the order within a group is how often we expect each phrasing.
REQUEST_WEIGHTS: dict[str, float] = {
    # What is due, and what to do first: the most common reason to open the assistant.
    "due_soon_all": 14,
    "due_soon_course": 6,
    "todo": 6,
    "calendar_and_due": 4,
    "which_first_canvas": 4,
    "which_first_pair": 2,
    # Grades and course information.
    "grades_all": 5,
    "grades_course": 4,
    "courses_overview": 2,
    "course_details": 2,
    "course_details_followup": 1,
    "course_from_assignment": 2,
    "syllabus_exams": 3,
    "syllabus_followup": 2,
    "announcements_all": 3,
    "announcements_course": 2,
    "planner": 2,
    "todo_and_planner": 2,
    # The calendar: looking, finding time, booking, changing.
    "events_window": 5,
    "free_time": 4,
    "book_study_block": 5,
    "plan_for_assignment": 4,
    "move_event": 3,
    "cancel_event": 2,
    "book_then_move": 1,
    "book_then_cancel": 1,
    # Study planning: less often, usually before exams or at the start of term.
    "spaced_known_exam": 2,
    "spaced_from_syllabus": 2,
    "semester_plan_from_canvas": 2,
    "semester_plan": 1,
    "block_size": 1,
    "block_size_then_book": 1,
    "exam_day": 1,
    "exam_day_booked": 1,
}


class _Intent(Protocol):
    name: str
    tools: tuple[str, ...]


@dataclass(frozen=True)
class IntentMix:
    """The distribution intents are drawn from, next to the target it approximates."""

    weights: dict[str, float]
    target: dict[str, float]
    expected_cv: float  # of per-tool call counts under `weights`
    target_cv: float  # what the target alone would give
    expected_min_calls: float  # the least-called tool's expected count at the planned size

    @property
    def total_variation(self) -> float:
        """Half the L1 distance between the mix and the target (0: the target itself)."""
        return 0.5 * sum(abs(self.weights[k] - self.target[k]) for k in self.target)

    def report(self) -> dict[str, Any]:
        return {
            "intent_mix.target_cv": round(self.target_cv, 4),
            "intent_mix.expected_cv": round(self.expected_cv, 4),
            "intent_mix.total_variation_from_target": round(self.total_variation, 4),
        }


def solve_mix(
    intents: Sequence[_Intent],
    target: dict[str, float],
    *,
    rows: int,
    min_calls: int,
    max_cv: float,
    min_share: float = 0.004,
    group_floors: dict[tuple[str, ...], float] | None = None,
    tools_of: Callable[[Any], tuple[str, ...]] = lambda i: i.tools,
) -> IntentMix:
    """The mix closest to `target` whose expected tool counts over `rows` conversations have a
    coefficient of variation <= `max_cv` and every tool >= `min_calls`; every intent keeps at
    least `min_share` (variety), and each group of intents in `group_floors` at least its
    share together (what a later phase needs). Raises ValueError naming what is missing or
    infeasible."""
    import numpy as np
    from scipy.optimize import minimize

    calling = [i for i in intents if tools_of(i)]
    missing = sorted(i.name for i in calling if i.name not in target)
    if missing:
        raise ValueError(f"intent mix: no target weight for intent(s) {missing}; add them to REQUEST_WEIGHTS")
    names = [i.name for i in calling]
    tools = sorted({t for i in calling for t in tools_of(i)})
    calls = np.array([[tools_of(i).count(t) for t in tools] for i in calling], dtype=float)
    goal = np.array([target[n] for n in names], dtype=float)
    goal /= goal.sum()

    def cv(w: Any) -> float:
        counts = w @ calls
        return float(counts.std() / counts.mean())

    def squared_error(w: Any) -> float:
        return float(((w - goal) ** 2).sum()) * 1e3  # scaled: SLSQP's tolerances are absolute

    constraints = [
        {"type": "eq", "fun": lambda w: w.sum() - 1.0},
        {"type": "ineq", "fun": lambda w: max_cv - cv(w)},
        {"type": "ineq", "fun": lambda w: (w @ calls) * rows - min_calls},
    ]
    floors = {group: share for group, share in (group_floors or {}).items() if set(group) & set(names)}
    for group, share in floors.items():
        member = np.array([n in group for n in names], dtype=float)
        constraints.append({"type": "ineq", "fun": lambda w, m=member, s=share: float(w @ m) - s})
    start = np.clip(goal, min_share, None)
    start /= start.sum()
    result = minimize(
        squared_error,
        start,
        method="SLSQP",
        bounds=[(min_share, 1.0)] * len(names),
        constraints=constraints,
        options={"maxiter": 1000, "ftol": 1e-12},
    )
    w = np.clip(result.x, 0.0, None)
    w /= w.sum()
    counts = (w @ calls) * rows
    # SLSQP may stop short of its tolerance at a feasible point; only an infeasible mix fails.
    short = [g for g, share in floors.items() if sum(w[k] for k, n in enumerate(names) if n in g) < share - 1e-6]
    if cv(w) > max_cv + 1e-6 or counts.min() < min_calls - 1e-6 or short:
        raise ValueError(
            f"intent mix: no mix of {len(names)} intents keeps the tool CV <= {max_cv} with every tool >= "
            f"{min_calls} calls in {rows} conversations ({result.message}; reached CV {cv(w):.3f}, "
            f"least-called tool {counts.min():.1f}; groups under their floor {short})"
        )
    return IntentMix(
        weights=dict(zip(names, (float(x) for x in w), strict=True)),
        target=dict(zip(names, (float(x) for x in goal), strict=True)),
        expected_cv=cv(w),
        target_cv=cv(goal),
        expected_min_calls=float(counts.min()),
    )


def realised_shares(intents: Sequence[str], names: Sequence[str]) -> dict[str, float]:
    """Each of `names`' share of `intents` (the calling intents a split drew)."""
    counted = [i for i in intents if i in set(names)]
    n = len(counted) or 1
    return {name: sum(1 for i in counted if i == name) / n for name in names}


def spearman(a: dict[str, float], b: dict[str, float]) -> float:
    """Rank correlation of two distributions over the same keys (scipy); nan when constant."""
    from scipy.stats import spearmanr

    keys = sorted(a)
    rho = spearmanr([a[k] for k in keys], [b[k] for k in keys]).statistic
    return float(rho) if not math.isnan(rho) else math.nan


__all__ = ["REQUEST_WEIGHTS", "IntentMix", "realised_shares", "solve_mix", "spearman"]
