"""Picking the production checkpoint: the highest macro-average tool-selection accuracy
on the eval split, among the checkpoints with no tool below the tool floor (40%). The
candidates are every method's final weights (named by the method) and every intermediate
step its training kept (`METHOD@STEP`). Ties go to the candidate listed first (the method
table's order, each method's final weights before its steps). When no candidate
qualifies the selection fails with every candidate's floor violations: there is no
fallback."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from canvas_pipeline.evaluation.metrics import NO_CALL

TOOL_FLOOR = 0.40
# A checkpoint whose greedy first bench turns are this share identical to its reference's
# did nothing: the old no-op DPO model had 23 of 25. It is never a candidate.
NO_OP_SHARE = 0.8
RULE = "highest macro-average tool-selection accuracy on the eval split, no tool below {floor:.0%}"


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


def candidate(
    eval_summary: Mapping[str, Any], floor: float = TOOL_FLOOR, identical: float | None = None
) -> dict[str, Any]:
    """A candidate's verdict: its macro accuracy, its tools under the floor, and (when its
    share of first bench turns identical to its reference's is given) whether it is a no-op."""
    violations = floor_violations(eval_summary["per_tool"], floor)
    macro = eval_summary.get("macro_tool_accuracy")
    no_op = identical is not None and identical >= NO_OP_SHARE
    return {
        "macro_tool_accuracy": macro,
        "floor_violations": violations,
        "identical_to_reference": identical,
        "no_op": no_op,
        "qualifies": macro is not None and not violations and not no_op,
    }


def _violation_text(method: str, entry: Mapping[str, Any]) -> str:
    if entry.get("no_op"):
        share = entry["identical_to_reference"]
        return f"{method}: a no-op ({share:.0%} of first bench turns identical to its reference)"
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
) -> dict[str, Any]:
    """The selection record (what `eval/selection` writes). `eval_summaries`: candidate ->
    its eval-split summary; `method_order`: the candidates in tie-break order; `missing`:
    methods with no bench record (a failed partition). `selected` is the chosen
    candidate's method, `selected_candidate` its name and `selected_step` its
    intermediate step (None: the method's final weights). `identical`: candidate -> share
    of its first bench turns identical to its reference's; a no-op (>= 80%) never qualifies."""
    shares = identical or {}
    candidates = {m: candidate(eval_summaries[m], floor, shares.get(m)) for m in method_order if m in eval_summaries}
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
    }
    if not qualified:
        lines = [_violation_text(m, e) for m, e in candidates.items()] or ["no checkpoint has a bench record"]
        record["reason"] = "no checkpoint qualifies: " + "; ".join(lines)
        return record
    best = max(qualified, key=lambda m: (candidates[m]["macro_tool_accuracy"], -list(method_order).index(m)))
    runner_up = sorted((m for m in qualified if m != best), key=lambda m: -candidates[m]["macro_tool_accuracy"])
    record["selected"], record["selected_step"] = parse_candidate(best)
    record["selected_candidate"] = best
    record["reason"] = (
        f"{best} has the highest macro tool-selection accuracy on the eval split "
        f"({candidates[best]['macro_tool_accuracy']:.1%}) with every tool at or above {floor:.0%}"
        + (
            f"; next: {runner_up[0]} ({candidates[runner_up[0]]['macro_tool_accuracy']:.1%})"
            if runner_up
            else "; no other checkpoint qualified"
        )
        + _excluded_text(candidates, qualified)
    )
    return record


def _excluded_text(candidates: Mapping[str, Mapping[str, Any]], qualified: Sequence[str]) -> str:
    no_ops = [m for m, e in candidates.items() if e.get("no_op")]
    under = len(candidates) - len(qualified) - len(no_ops)
    parts = ([f"{under} below the floor"] if under else []) + (
        [f"not candidates, no-ops: {', '.join(no_ops)}"] if no_ops else []
    )
    return "".join(f"; {p}" for p in parts)


def require_selection(record: dict[str, Any]) -> str:
    if record["selected"] is None:
        raise SelectionError(record)
    return str(record["selected"])
