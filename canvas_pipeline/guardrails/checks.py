"""The data guardrails, one pure function each. Thresholds are MISSION.md's."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from canvas_pipeline.data.balance import MAX_CV, MIN_CALLS_PER_TOOL, tool_balance
from canvas_pipeline.guardrails.inputs import Sample
from canvas_pipeline.guardrails.result import GuardrailResult, capped
from canvas_pipeline.tools.registry import ToolRegistry
from canvas_pipeline.tools.validity import envelope_problems, round_trip_problem, text_call_names

SFT_FAMILY = ("sft", "lora", "qlora")
DPO_FAMILY = ("dpo", "ipo", "apo_zero", "sppo", "nca")
MIN_ROWS_DEFAULT: dict[str, int] = {**dict.fromkeys(SFT_FAMILY, 1000), **dict.fromkeys(DPO_FAMILY, 1000), "kto": 1000}
METHOD_DATASET = {**dict.fromkeys(SFT_FAMILY, "phase1"), **dict.fromkeys(DPO_FAMILY, "phase2"), "kto": "phase3"}


def g1_tool_calls_in_preferences(pairs: Sequence[Sample], min_share: float = 0.8) -> GuardrailResult:
    """G1: `<|tool_call>` in >= 80% of chosen and, separately, of rejected completions."""
    name, threshold = "tool calls in preference pairs", f">= {min_share:.0%} of chosen and of rejected"
    if not pairs:
        return GuardrailResult("G1", name, False, None, threshold, ("no preference pairs",), 1)
    shares, offenders = {}, []
    for side in ("chosen", "rejected"):
        without = [s.ref for s in pairs if "<|tool_call>" not in s.completions[side]]
        shares[side] = round(1 - len(without) / len(pairs), 4)
        if shares[side] < min_share:
            offenders += [f"{ref} ({side} has no <|tool_call>)" for ref in without]
    details, n = capped(offenders)
    return GuardrailResult("G1", name, not offenders, shares, threshold, details, n)


def g2_eval_disjoint(
    datasets: Mapping[str, Mapping[str, set[str]]],
    bench: set[str] | None = None,
    training: Mapping[str, Mapping[str, set[str]]] | None = None,
) -> GuardrailResult:
    """G2: every dataset a trainer sees (item ids per split) has a non-empty eval split
    sharing no item with its train split; the bench shares no item with any split of the
    `training` datasets (default: `datasets`)."""
    name, threshold = "non-empty, item-disjoint eval split", "eval non-empty and 0 shared items, per dataset"
    value: dict[str, Any] = {}
    offenders: list[str] = []
    for dataset, splits in datasets.items():
        train, evals = splits.get("train", set()), splits.get("test", set())
        shared = train & evals
        value[dataset] = {"train_items": len(train), "eval_items": len(evals), "shared_items": len(shared)}
        if not evals:
            offenders.append(f"{dataset}: eval split is empty")
        if not train:
            offenders.append(f"{dataset}: train split is empty")
        offenders += [f"{dataset}: {item} is in train and eval" for item in sorted(shared)]
    if bench is not None:
        others = datasets if training is None else training
        seen = set().union(*(ids for splits in others.values() for ids in splits.values()))
        shared = bench & seen
        value["bench"] = {"items": len(bench), "shared_with_training_data": len(shared)}
        if not bench:
            offenders.append("bench: no items")
        offenders += [f"bench: {item} is also in training data" for item in sorted(shared)]
    if not datasets and bench is None:
        offenders.append("no dataset with splits")
    details, n = capped(offenders)
    return GuardrailResult("G2", name, not offenders, value, threshold, details, n)


def g4_tool_balance(
    sft_train: Sequence[Sample], tools: Sequence[str], min_count: int = MIN_CALLS_PER_TOOL, max_cv: float = MAX_CV
) -> GuardrailResult:
    """G4: every registry tool >= 30 calls in SFT train, coefficient of variation <= 0.3."""
    name, threshold = "per-tool counts in SFT train", f"every tool >= {min_count}, CV <= {max_cv}"
    balance = tool_balance(Counter(t for s in sft_train for t in s.positive_tools), tools, min_count, max_cv)
    details, n = capped(list(balance.problems))
    value = {"cv": round(balance.cv, 4), "min": balance.low, "max": balance.high}
    return GuardrailResult("G4", name, balance.balanced, value, threshold, details, n, extra={"counts": balance.counts})


def _retention_entries(stage: str, report: Mapping[str, Any]) -> list[tuple[str, float, str]]:
    """(name, retained, line) for a stage's rows and for each other input it reports as
    `NAME.rows_in/rows_out/retained/dropped.*` (phase 1's priority pairs)."""
    entries = []
    for prefix in ["", *sorted(k[: -len(".retained")] + "." for k in report if k.endswith(".retained"))]:
        retained = float(report.get(f"{prefix}retained", 1.0))
        drops = {k[len(prefix) + len("dropped.") :]: v for k, v in report.items() if k.startswith(f"{prefix}dropped.")}
        name = f"{stage}.{prefix[:-1]}" if prefix else stage
        line = f"{name}: {report.get(f'{prefix}rows_in')} -> {report.get(f'{prefix}rows_out')} rows ({retained:.1%})"
        entries.append((name, retained, f"{line}, dropped {drops}"))
    return entries


def g6_retention(
    reports: Mapping[str, Mapping[str, Any]], allow_shrinkage: Mapping[str, str], min_retained: float = 0.7
) -> GuardrailResult:
    """G6: every stage keeps >= 70% of its input rows (and of any other input it counts, such
    as phase 1's priority pairs), unless a reason is configured for it."""
    name, threshold = "rows kept per stage", f">= {min_retained:.0%} retained, or an explicit allow_shrinkage reason"
    value, offenders, allowed = {}, [], []
    for stage, report in reports.items():
        for entry, retained, line in _retention_entries(stage, report):
            value[entry] = retained
            if retained >= min_retained:
                continue
            reason = (allow_shrinkage.get(entry) or allow_shrinkage.get(stage, "")).strip()
            if reason:
                allowed.append(f"{line}, allowed: {reason}")
            else:
                offenders.append(line)
    if not reports:
        offenders.append("no stage reports")
    details, n = capped(offenders + allowed)
    return GuardrailResult(
        "G6", name, not offenders, value, threshold, details, len(offenders), reason="; ".join(allowed)
    )


def g7_known_tools(samples: Sequence[Sample], registry: ToolRegistry) -> GuardrailResult:
    """G7: every tool name a positive side calls (structured or written as native text) or a
    bench expects exists in the registry."""
    name, threshold = "tool names exist in the registry", "100%"
    total, offenders = 0, []
    for s in samples:
        used = list(s.expected_tools)
        written = [text_call_names(text) for text, positive in s.texts if positive]
        used += [tool for names in written if names is not None for tool in names]
        if any(names is None for names in written):
            used += [c.name for c, positive in s.calls if positive]  # G8 reports the text itself
        total += len(used)
        offenders += [f"{s.ref}: {tool}" for tool in used if tool not in registry]
    value = round(1 - len(offenders) / total, 4) if total else 1.0
    details, n = capped(offenders)
    return GuardrailResult("G7", name, not offenders, value, threshold, details, n)


def g8_round_trip(samples: Sequence[Sample]) -> GuardrailResult:
    """G8: every structured call serializes and parses back to itself, and every envelope in a
    positive text parses and re-serializes to the same bytes."""
    name, threshold = "serializer -> parser round trip", "100% of calls and envelopes"
    checked, offenders = 0, []
    for s in samples:
        for call, _ in s.calls:
            checked += 1
            if (problem := round_trip_problem(call)) is not None:
                offenders.append(f"{s.ref}: {problem}")
        for text, positive in s.texts:
            if positive:
                envelopes, problems = envelope_problems(text)
                checked += envelopes
                offenders += [f"{s.ref}: {problem}" for problem in problems]
    value = round(1 - len(offenders) / checked, 4) if checked else 1.0
    details, n = capped(offenders)
    return GuardrailResult("G8", name, not offenders, value, threshold, details, n)


def g11_length(
    samples: Sequence[Sample], count_tokens: Callable[[list[str]], list[int]], max_length: int, max_share: float = 0.01
) -> GuardrailResult:
    """G11: fewer than 1% of rendered rows exceed the profile's max_length tokens."""
    name, threshold = "rows longer than max_length", f"< {max_share:.0%} of rows over {max_length} tokens"
    refs = [s.ref for s in samples for _ in s.texts]
    lengths = count_tokens([text for s in samples for text, _ in s.texts])
    over = [(ref, n) for ref, n in zip(refs, lengths, strict=True) if n > max_length]
    share = len(over) / len(lengths) if lengths else 0.0
    ranked = sorted(lengths)
    value = {
        "share_over": round(share, 4),
        "p50": ranked[len(ranked) // 2] if ranked else 0,
        "p99": ranked[int(0.99 * (len(ranked) - 1))] if ranked else 0,
        "max": ranked[-1] if ranked else 0,
    }
    details, n = capped(f"{ref}: {length} tokens" for ref, length in sorted(over, key=lambda x: -x[1]))
    return GuardrailResult("G11", name, share < max_share, value, threshold, details, n)


def validate_min_rows(configured: Mapping[str, int]) -> dict[str, int]:
    """The minimum N per method: defaults, raised (never lowered) by configuration."""
    out = dict(MIN_ROWS_DEFAULT)
    for method, n in configured.items():
        if method not in out:
            raise ValueError(f"unknown method {method!r} in min_rows; methods: {', '.join(out)}")
        if n < out[method]:
            raise ValueError(f"min_rows for {method} can only be raised: {n} < {out[method]}")
        out[method] = n
    return out


def g12_min_rows(
    train_sizes: Mapping[str, int],
    minimums: Mapping[str, int],
    consumed: Mapping[str, int] | None = None,
    min_consumed: int | None = None,
) -> GuardrailResult:
    """G12: each method's training set has at least its minimum N rows and, where given,
    each method's trainer consumes (steps x batch x accumulation x processes, capped by the
    dataset's epochs) at least `min_consumed` rows: a step budget can use a fraction of a
    dataset that clears the first minimum."""
    name = "minimum rows per method's training set"
    threshold = ", ".join(f"{m} >= {n}" for m, n in minimums.items())
    if consumed is not None and min_consumed is not None:
        threshold += f"; rows consumed >= {min_consumed}"
    value: dict[str, Any] = {}
    offenders = []
    for method, minimum in minimums.items():
        dataset = METHOD_DATASET[method]
        if dataset not in train_sizes:
            continue
        value[method] = train_sizes[dataset]
        if train_sizes[dataset] < minimum:
            offenders.append(f"{method}: {dataset} train has {train_sizes[dataset]} rows < {minimum}")
        if consumed is not None and method in consumed:
            value[method] = {"dataset_rows": train_sizes[dataset], "rows_consumed": consumed[method]}
            if min_consumed is not None and consumed[method] < min_consumed:
                offenders.append(f"{method}: the trainer consumes {consumed[method]} rows < {min_consumed}")
    if not value:
        offenders.append("no training dataset")
    details, n = capped(offenders)
    return GuardrailResult("G12", name, not offenders, value, threshold, details, n)


def g13_repeated_tool(samples: Sequence[Sample], max_calls: int = 3) -> GuardrailResult:
    """G13: no tool more than 3 times in one trajectory's (positive) assistant turns."""
    name, threshold = "one tool repeated in a trajectory", f"<= {max_calls} calls of a tool per trajectory"
    offenders = []
    worst = 0
    for s in samples:
        counts = Counter(s.positive_tools)
        if counts:
            worst = max(worst, max(counts.values()))
        offenders += [f"{s.ref}: {tool} x{n}" for tool, n in counts.items() if n > max_calls]
    details, n = capped(offenders)
    return GuardrailResult("G13", name, not offenders, worst, threshold, details, n)


G3_THRESHOLD = 0.20


def g3_base_bench(summary: Mapping[str, Any], threshold: float = G3_THRESHOLD) -> GuardrailResult:
    """G3: the bench harness scores the base model at >= 20% tool selection (a harness
    that scores a usable base near 0% is broken, not the model)."""
    accuracy = float(summary["tool_selection_accuracy"])
    value = {"tool_selection_accuracy": round(accuracy, 4), "items": summary.get("items")}
    details = () if accuracy >= threshold else (f"base model selects the right tool on {accuracy:.1%} of items",)
    return GuardrailResult("G3", "base model bench score", accuracy >= threshold, value, f">= {threshold:.0%}", details)


def g5_dry_runs(runs: Mapping[str, Mapping[str, Any]], trained: Sequence[str] = ()) -> GuardrailResult:
    """G5: every method's one-step dry run had grad_norm < its limit and no NaN/Inf in
    activations, logits or loss (`runs`: method -> the dry run's record), and every method
    with a checkpoint (`trained`) has such a record: a checkpoint without one was never
    dry-run, which is a failure, not a pass."""
    name, threshold = "one-step dry run per method", "grad_norm < 1.0, no NaN/Inf"
    value = {m: round(float(r["grad_norm"]), 4) for m, r in sorted(runs.items())}
    offenders = [f"{m}: {r['reason']}" for m, r in sorted(runs.items()) if not r["passed"]]
    offenders += [f"{m}: a checkpoint without a dry-run record" for m in sorted(set(trained) - set(runs))]
    details, n = capped(offenders)
    return GuardrailResult("G5", name, not offenders, value, threshold, details, n)


def g9_mini_trains(outcomes: Sequence[Any]) -> GuardrailResult:
    """G9: each trainer's mini-train moved the right way (MiniTrainOutcome objects: the
    eval loss fell for the SFT family, every pair type's eval reward margin rose above 0
    for the preference methods)."""
    name, threshold = "trainer mini-train tests", "all 9 move the right way"
    value = {o.method: "right way" if o.passed else "wrong way" for o in outcomes}
    details, n = capped(o.summary() for o in outcomes if not o.passed)
    passed = bool(outcomes) and not n
    return GuardrailResult("G9", name, passed, value, threshold, details or ("no mini-train ran",) * (not outcomes), n)


def g14_shortcuts(datasets: Mapping[str, Sequence[Sample]], seed: int = 0) -> GuardrailResult:
    """G14: a classifier that never sees the prompt cannot tell the right side from the wrong
    one on a context-dependent axis (4, 5, 7, 8: <= 75%) nor on all rows (<= 85%), per
    dataset (phase2 pairs, phase3 KTO rows); axes 1, 2, 3 and 6 are reported, not gated."""
    from canvas_pipeline.guardrails import shortcuts  # scikit-learn: only when G14 runs, not at load

    name = "prompt-blind shortcut classifier"
    threshold = (
        f"axes {', '.join(map(str, shortcuts.CONTEXT_AXES))} <= {shortcuts.AXIS_THRESHOLD:.0%}, "
        f"all rows <= {shortcuts.OVERALL_THRESHOLD:.0%}"
    )
    value: dict[str, Any] = {}
    offenders: list[str] = []
    for dataset, samples in datasets.items():
        kind = "preference" if dataset == "phase2" else "kto"
        rows = [
            shortcuts.ShortcutRow(
                (s.completions["chosen"], s.completions["rejected"])
                if kind == "preference"
                else (s.completions["completion"],),
                s.axes,
                s.group,
                True if s.label is None else s.label,
            )
            for s in samples
        ]
        scores = shortcuts.shortcut_scores(rows, kind, seed)
        value[dataset] = dict(shortcuts.describe(scores))
        offenders += [f"{dataset} {line}" for line in scores.offenders()]
    if not value:
        offenders.append("no preference or KTO dataset")
    details, n = capped(offenders)
    unjudged = [d for d, scores in value.items() if scores["overall"] is None]
    if unjudged and not offenders:  # too few rows or trajectories to score: no evidence, no pass
        reason = f"too few rows or source trajectories to score {', '.join(unjudged)}"
        return GuardrailResult("G14", name, None, value, threshold, details, n, reason=reason)
    return GuardrailResult("G14", name, not offenders, value, threshold, details, n)
