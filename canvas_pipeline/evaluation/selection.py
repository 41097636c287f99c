"""Picking the production checkpoint: the highest macro-average tool-selection accuracy
on the eval split, among the checkpoints with no tool below the tool floor (40%). The
candidates are every method's final weights (named by the method) and every intermediate
step its training kept (`METHOD@STEP`).

Not candidates: a no-op (first bench turns >= 80% identical to its reference's) and a
checkpoint significantly worse than `sft` on the eval split's tool selection (exact
McNemar on the same items, p < 0.05). A candidate ties with the top one when it has the
same macro accuracy or the paired test on the same eval items does not separate them (a
lead the test cannot confirm is not a win). A tie is broken by the paired test: a tied
candidate significantly better than every other tied one wins; otherwise the tie goes to
the reference method (a method must show it changed something to displace the checkpoint
it started from), then to the higher macro accuracy, then to the fewest training steps,
and the reason says the evidence did not decide. List order never does. When no candidate
qualifies the selection fails with every candidate's reasons: there is no fallback."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from canvas_pipeline.evaluation.metrics import NO_CALL
from canvas_pipeline.evaluation.paired import paired_change

TOOL_FLOOR = 0.40
# A checkpoint whose greedy first bench turns are this share identical to its reference's
# did nothing: the old no-op DPO model had 23 of 25. It is never a candidate.
NO_OP_SHARE = 0.8
RULE = (
    "highest macro-average tool-selection accuracy on the eval split, no tool below {floor:.0%}, "
    "not a no-op, not significantly worse than sft; ties broken by the paired test"
)
REFERENCE = "sft"


def candidate_name(method: str, step: int | None = None) -> str:
    """A candidate's name: the method (its final weights) or `METHOD@STEP`."""
    return method if step is None else f"{method}@{step}"


def parse_candidate(name: str) -> tuple[str, int | None]:
    """(method, intermediate step or None) of a candidate name."""
    method, _, step = name.partition("@")
    return method, int(step) if step else None


class SelectionError(RuntimeError):
    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__(record["reason"])
        self.record = record


def floor_violations(per_tool: Mapping[str, Mapping[str, Any]], floor: float = TOOL_FLOOR) -> dict[str, float]:
    return {
        tool: round(float(row["accuracy"]), 4)
        for tool, row in sorted(per_tool.items())
        if tool != NO_CALL and float(row["accuracy"]) < floor
    }


def paired_outcomes(a: Mapping[str, bool], b: Mapping[str, bool]) -> tuple[list[bool], list[bool]]:
    """Two candidates' outcomes on the items both were scored on, in one order."""
    shared = sorted(set(a) & set(b))
    return [bool(a[i]) for i in shared], [bool(b[i]) for i in shared]


def versus(a: Mapping[str, bool] | None, b: Mapping[str, bool] | None) -> dict[str, Any] | None:
    """`a` against `b` on eval-split tool selection: change, exact McNemar p and the paired
    verdict (`PairedChange.verdict`); None when either has no per-item outcomes."""
    if not a or not b:
        return None
    mine, theirs = paired_outcomes(a, b)
    change = paired_change(mine, theirs)
    return {"items": change.n, "change": change.change, "p_value": change.p_value, "verdict": change.verdict()}


def _verdict(row: Mapping[str, Any] | None) -> str | None:
    return row["verdict"] if row else None


def candidate(
    eval_summary: Mapping[str, Any],
    floor: float = TOOL_FLOOR,
    identical: float | None = None,
    vs_reference: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A candidate's verdict: its macro accuracy, its tools under the floor, whether it is a
    no-op (when its share of first bench turns identical to its reference's is given) and
    whether it is significantly worse than `sft` (when the paired comparison is given)."""
    violations = floor_violations(eval_summary["per_tool"], floor)
    macro = eval_summary.get("macro_tool_accuracy")
    no_op = identical is not None and identical >= NO_OP_SHARE
    worse = _verdict(vs_reference) == "regressed"
    return {
        "macro_tool_accuracy": macro,
        "floor_violations": violations,
        "identical_to_reference": identical,
        "no_op": no_op,
        "vs_sft": dict(vs_reference) if vs_reference else None,
        "worse_than_sft": worse,
        "qualifies": macro is not None and not violations and not no_op and not worse,
    }


def _violation_text(method: str, entry: Mapping[str, Any]) -> str:
    if entry.get("no_op"):
        share = entry["identical_to_reference"]
        return f"{method}: a no-op ({share:.0%} of first bench turns identical to its reference)"
    if entry.get("worse_than_sft"):
        row = entry["vs_sft"]
        return (
            f"{method}: significantly worse than sft on tool selection ({row['change']:+.1%}, p={row['p_value']:.2g})"
        )
    worst = sorted(entry["floor_violations"].items(), key=lambda kv: kv[1])
    shown = ", ".join(f"{tool} {acc:.0%}" for tool, acc in worst[:4])
    more = f" and {len(worst) - 4} more" if len(worst) > 4 else ""
    return f"{method}: {len(worst)} tools under the floor ({shown}{more})"


def select_checkpoint(
    eval_summaries: Mapping[str, Mapping[str, Any]],
    method_order: Sequence[str],
    missing: Sequence[str] = (),
    floor: float = TOOL_FLOOR,
    identical: Mapping[str, float | None] | None = None,
    outcomes: Mapping[str, Mapping[str, bool]] | None = None,
) -> dict[str, Any]:
    """The selection record (what `eval/selection` writes). `eval_summaries`: candidate ->
    its eval-split summary; `method_order`: the candidates to consider; `missing`: methods
    with no bench record (a failed partition). `selected` is the chosen candidate's method,
    `selected_candidate` its name and `selected_step` its intermediate step (None: the
    method's final weights). `identical`: candidate -> share of its first bench turns
    identical to its reference's; a no-op (>= 80%) never qualifies. `outcomes`: candidate
    -> per-item eval tool-selection outcomes, for the paired tests against `sft` and
    between tied candidates."""
    shares = identical or {}
    items = outcomes or {}
    reference = items.get(REFERENCE)
    candidates = {
        m: candidate(
            eval_summaries[m],
            floor,
            shares.get(m),
            versus(items.get(m), reference) if parse_candidate(m)[0] != REFERENCE else None,
        )
        for m in method_order
        if m in eval_summaries
    }
    qualified = [m for m in candidates if candidates[m]["qualifies"]]
    record: dict[str, Any] = {
        "rule": RULE.format(floor=floor),
        "tool_floor": floor,
        "split": "eval",
        "candidates": candidates,
        "missing": list(missing),
        "selected": None,
        "selected_candidate": None,
        "selected_step": None,
        "tie": None,
    }
    if not qualified:
        lines = [_violation_text(m, e) for m, e in candidates.items()] or ["no checkpoint has a bench record"]
        record["reason"] = "no checkpoint qualifies: " + "; ".join(lines)
        return record
    top = max(qualified, key=lambda m: candidates[m]["macro_tool_accuracy"])
    tied = [m for m in qualified if m == top or _indistinguishable(m, top, candidates, items)]
    best, tie = break_tie(tied, items, candidates) if len(tied) > 1 else (top, None)
    record["tie"] = tie
    runner_up = sorted((m for m in qualified if m != best), key=lambda m: -candidates[m]["macro_tool_accuracy"])
    record["selected"], record["selected_step"] = parse_candidate(best)
    record["selected_candidate"] = best
    record["reason"] = (
        f"{best} has the highest macro tool-selection accuracy on the eval split "
        f"({candidates[best]['macro_tool_accuracy']:.1%}) with every tool at or above {floor:.0%}"
        + (f" ({tie['how']})" if tie else "")
        + (
            f"; next: {runner_up[0]} ({candidates[runner_up[0]]['macro_tool_accuracy']:.1%})"
            if runner_up
            else "; no other checkpoint qualified"
        )
        + _excluded_text(candidates, qualified)
    )
    return record


def _steps(name: str) -> float:
    step = parse_candidate(name)[1]
    return float("inf") if step is None else step  # final weights: the most steps of their method


def _indistinguishable(
    name: str, top: str, candidates: Mapping[str, Mapping[str, Any]], outcomes: Mapping[str, Mapping[str, bool]]
) -> bool:
    """Whether `name` ties with the top candidate: the same macro accuracy, or, where both
    have per-item outcomes, no significant difference on the same eval items (a lead the
    paired test cannot confirm is a tie, not a win)."""
    if candidates[name]["macro_tool_accuracy"] == candidates[top]["macro_tool_accuracy"]:
        return True
    return _verdict(versus(outcomes.get(name), outcomes.get(top))) == "no significant change"


def break_tie(
    tied: Sequence[str],
    outcomes: Mapping[str, Mapping[str, bool]],
    candidates: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The tied candidate significantly better (exact McNemar, p < 0.05) than every other
    tied one; failing that, the reference method's best, then the highest macro accuracy,
    then the fewest training steps. The record says which rule decided and every pairwise
    p-value."""
    tests = {f"{a} vs {b}": versus(outcomes.get(a), outcomes.get(b)) for a in tied for b in tied if a < b}
    for name in tied:
        beats = [versus(outcomes.get(name), outcomes.get(other)) for other in tied if other != name]
        if all(_verdict(row) == "improved" for row in beats):
            how = f"tie with {len(tied) - 1} other(s) broken by the paired test"
            return name, {"tied": list(tied), "tests": tests, "how": how}
    macro = {m: (candidates or {}).get(m, {}).get("macro_tool_accuracy") or 0.0 for m in tied}
    fallback = sorted(tied, key=lambda m: (parse_candidate(m)[0] != REFERENCE, -macro[m], _steps(m), m))[0]
    how = (
        f"tied with {', '.join(m for m in tied if m != fallback)}; no paired test separates them, so the tie goes "
        "to the reference method, then the higher macro accuracy, then the fewest steps"
    )
    return fallback, {"tied": list(tied), "tests": tests, "how": how}


def _excluded_text(candidates: Mapping[str, Mapping[str, Any]], qualified: Sequence[str]) -> str:
    no_ops = [m for m, e in candidates.items() if e.get("no_op")]
    worse = [m for m, e in candidates.items() if e.get("worse_than_sft") and not e.get("no_op")]
    under = len(candidates) - len(qualified) - len(no_ops) - len(worse)
    parts = (
        ([f"{under} below the floor"] if under else [])
        + ([f"not candidates, no-ops: {', '.join(no_ops)}"] if no_ops else [])
        + ([f"not candidates, significantly worse than sft: {', '.join(worse)}"] if worse else [])
    )
    return "".join(f"; {p}" for p in parts)


def require_selection(record: dict[str, Any]) -> str:
    if record["selected"] is None:
        raise SelectionError(record)
    return str(record["selected"])
