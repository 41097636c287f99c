"""Picking the production checkpoint: the highest macro-average tool-selection accuracy
on the eval split, among the checkpoints with no tool below the tool floor (40%). Ties
go to the method listed first in the method table. When no checkpoint qualifies the
selection fails with every method's floor violations: there is no fallback."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from canvas_pipeline.evaluation.metrics import NO_CALL

TOOL_FLOOR = 0.40
RULE = "highest macro-average tool-selection accuracy on the eval split, no tool below {floor:.0%}"


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


def candidate(eval_summary: Mapping[str, Any], floor: float = TOOL_FLOOR) -> dict[str, Any]:
    violations = floor_violations(eval_summary["per_tool"], floor)
    macro = eval_summary.get("macro_tool_accuracy")
    return {
        "macro_tool_accuracy": macro,
        "floor_violations": violations,
        "qualifies": macro is not None and not violations,
    }


def _violation_text(method: str, entry: Mapping[str, Any]) -> str:
    worst = sorted(entry["floor_violations"].items(), key=lambda kv: kv[1])
    shown = ", ".join(f"{tool} {acc:.0%}" for tool, acc in worst[:4])
    more = f" and {len(worst) - 4} more" if len(worst) > 4 else ""
    return f"{method}: {len(worst)} tools under the floor ({shown}{more})"


def select_checkpoint(
    eval_summaries: Mapping[str, Mapping[str, Any]],
    method_order: Sequence[str],
    missing: Sequence[str] = (),
    floor: float = TOOL_FLOOR,
) -> dict[str, Any]:
    """The selection record (what `eval/selection` writes). `eval_summaries`: method -> its
    eval-split summary; `missing`: methods with no bench record (a failed partition)."""
    candidates = {m: candidate(eval_summaries[m], floor) for m in method_order if m in eval_summaries}
    qualified = [m for m in candidates if candidates[m]["qualifies"]]
    record: dict[str, Any] = {
        "rule": RULE.format(floor=floor),
        "tool_floor": floor,
        "split": "eval",
        "candidates": candidates,
        "missing": list(missing),
        "selected": None,
    }
    if not qualified:
        lines = [_violation_text(m, e) for m, e in candidates.items()] or ["no checkpoint has a bench record"]
        record["reason"] = "no checkpoint qualifies: " + "; ".join(lines)
        return record
    best = max(qualified, key=lambda m: (candidates[m]["macro_tool_accuracy"], -list(method_order).index(m)))
    runner_up = sorted((m for m in qualified if m != best), key=lambda m: -candidates[m]["macro_tool_accuracy"])
    record["selected"] = best
    record["reason"] = (
        f"{best} has the highest macro tool-selection accuracy on the eval split "
        f"({candidates[best]['macro_tool_accuracy']:.1%}) with every tool at or above {floor:.0%}"
        + (
            f"; next: {runner_up[0]} ({candidates[runner_up[0]]['macro_tool_accuracy']:.1%})"
            if runner_up
            else "; no other checkpoint qualified"
        )
        + (f"; {len(candidates) - len(qualified)} below the floor" if len(candidates) > len(qualified) else "")
    )
    return record


def require_selection(record: dict[str, Any]) -> str:
    if record["selected"] is None:
        raise SelectionError(record)
    return str(record["selected"])
