"""The bench report: the generalization gap (seen vs unseen phrasings) as its headline, a
markdown table of every model's metrics, what each method did against `sft` (paired on the
same bench items, `evaluation.paired`), the selection and why, and three PNG plots
(per-tool accuracy with Wilson error bars per model; the method comparison; eval accuracy
per kept step), written to `eval/PROFILE/report/` (with the gap table and the paired
comparison as JSON) and shown in the Dagster UI.

Seen vs unseen phrasings: the eval split (phase 1's held-out `test` rows, which selection
decides on) reuses the training phrasings; the bench's requests use phrasings no training
split uses. Both sides are first-turn tool-selection micro accuracy (`metrics.summarize`'s
`tool_selection_accuracy`: correct / items, irrelevance items included), read from a bench
record's `eval` (seen) and `summary` (unseen). They are different item sets, so the gap is
tested unpaired: a two-sided Fisher exact test on the 2x2 of correct/incorrect counts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from canvas_pipeline.data.io import atomic_write_bytes, atomic_write_text, read_jsonl
from canvas_pipeline.data.layout import eval_dir, on_policy_dir
from canvas_pipeline.evaluation.bench import BASE
from canvas_pipeline.evaluation.harness import Conversation
from canvas_pipeline.evaluation.metrics import NO_CALL, wilson_interval
from canvas_pipeline.evaluation.paired import METRICS, improvements, regressions, what_each_method_did

COMPARED = (
    ("tool_selection_accuracy", "tool selection"),
    ("argument_accuracy", "arguments"),
    ("full_call_exact", "full-call exact"),
    ("parsimony_rate", "parsimony"),
    ("irrelevance_accuracy", "irrelevance"),
    ("format_validity", "format"),
)


SIGNIFICANCE = 0.05
EFFECTS_FILE = "what_each_method_did.json"
NOT_RUN = "not run"
PHRASINGS_NOTE = (
    "The bench's requests use phrasings no training split uses; the eval split reuses the training phrasings."
)


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    per_tool_png: Path
    comparison_png: Path
    gap_json: Path
    effects_json: Path
    steps_png: Path


@dataclass(frozen=True)
class SideAccuracy:
    """First-turn tool-selection micro accuracy on one item set, with its Wilson 95% interval."""

    correct: int
    n: int
    accuracy: float
    low: float
    high: float

    def to_dict(self) -> dict[str, Any]:
        return {"correct": self.correct, "n": self.n, "accuracy": self.accuracy, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class PhrasingGap:
    """One method's eval-split (seen phrasings) against bench (unseen phrasings) tool
    selection: the gap in points (eval - bench) and the two-sided Fisher exact p-value;
    a side is None when the record lacks it (then so are the gap and p)."""

    method: str
    seen: SideAccuracy | None
    unseen: SideAccuracy | None
    gap_points: float | None
    p_value: float | None

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < SIGNIFICANCE

    @property
    def verdict(self) -> str:
        if self.seen is None or self.unseen is None or self.gap_points is None:
            missing = [side for side, value in (("eval split", self.seen), ("bench", self.unseen)) if value is None]
            return f"{NOT_RUN} ({' and '.join(missing)})"
        if not self.significant:
            return f"no significant difference (p ≥ {SIGNIFICANCE:g})"
        return "higher on seen phrasings" if self.gap_points > 0 else "higher on unseen phrasings"

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "eval_seen_phrasings": self.seen.to_dict() if self.seen else NOT_RUN,
            "bench_unseen_phrasings": self.unseen.to_dict() if self.unseen else NOT_RUN,
            "gap_points": self.gap_points,
            "fisher_exact_p": self.p_value,
            "significant": self.significant,
            "verdict": self.verdict,
        }


def side_accuracy(summary: Mapping[str, Any] | None) -> SideAccuracy | None:
    """Tool selection from one summary (`items`, `tool_selection_accuracy`, and
    `tool_selection_interval` when present, else the Wilson interval recomputed); None
    when the summary is absent or scored no items."""
    if not summary or not summary.get("items") or summary.get("tool_selection_accuracy") is None:
        return None
    n, accuracy = int(summary["items"]), float(summary["tool_selection_accuracy"])
    correct = round(accuracy * n)  # exact: the accuracy is correct / items
    interval = summary.get("tool_selection_interval")
    if interval:
        low, high = float(interval[0]), float(interval[1])
    else:
        computed = wilson_interval(correct, n)
        assert computed is not None
        low, high = computed.low, computed.high
    return SideAccuracy(correct, n, accuracy, low, high)


def two_proportion_p(a: SideAccuracy, b: SideAccuracy) -> float:
    """Two-sided Fisher exact p-value that two unpaired item sets share one accuracy."""
    from scipy.stats import fisher_exact

    table = [[a.correct, a.n - a.correct], [b.correct, b.n - b.correct]]
    return float(fisher_exact(table, alternative="two-sided")[1])


def phrasing_gap(method: str, record: Mapping[str, Any] | None) -> PhrasingGap:
    """A method's seen-vs-unseen figure from its bench record: `record["eval"]` (the eval
    split) against `record["summary"]` (the bench)."""
    record = record or {}
    seen, unseen = side_accuracy(record.get("eval")), side_accuracy(record.get("summary"))
    if seen is None or unseen is None:
        return PhrasingGap(method, seen, unseen, None, None)
    return PhrasingGap(method, seen, unseen, (seen.accuracy - unseen.accuracy) * 100, two_proportion_p(seen, unseen))


def phrasing_gaps(records: Mapping[str, Mapping[str, Any]], missing: Sequence[str] = ()) -> list[PhrasingGap]:
    """Every method's figure (the base is not run on the eval split), then the methods with
    no bench record, both sides not run."""
    gaps = [phrasing_gap(name, record) for name, record in records.items() if name != BASE]
    return gaps + [phrasing_gap(name, None) for name in missing if name not in records]


def p_text(p: float | None) -> str:
    """A p-value to three decimals ("< 0.001" below that; "—" when none)."""
    return "—" if p is None else "< 0.001" if p < 0.001 else f"{p:.3f}"


def side_text(side: SideAccuracy | None) -> str:
    """`accuracy [low, high]`, or "not run"."""
    return NOT_RUN if side is None else f"{side.accuracy:.1%} [{side.low:.1%}, {side.high:.1%}]"


def gap_text(gap: PhrasingGap) -> str:
    """The gap in signed points to one decimal ("—" when a side is not run)."""
    return "—" if gap.gap_points is None else f"{gap.gap_points:+.1f}"


def gap_sentence(gap: PhrasingGap) -> str:
    """The figure in one sentence."""
    if gap.seen is None or gap.unseen is None:
        return f"Generalization gap of `{gap.method}`: {gap.verdict}; no gap is computed."
    verdict = gap.verdict if gap.significant else f"no significant difference at p < {SIGNIFICANCE:g}"
    return (
        f"Generalization gap of `{gap.method}`: tool selection {gap.seen.accuracy:.1%} on the eval split's seen "
        f"phrasings (n = {gap.seen.n}) vs {gap.unseen.accuracy:.1%} on the bench's unseen phrasings "
        f"(n = {gap.unseen.n}), {gap_text(gap)} points (Fisher exact p {p_clause(gap.p_value)}): {verdict}."
    )


def p_clause(p: float | None) -> str:
    """The p-value after "p" in a sentence: "= 0.012" or "< 0.001"."""
    text = p_text(p)
    return text if text.startswith("<") else f"= {text}"


def gap_table(gaps: Sequence[PhrasingGap]) -> str:
    """One row per method: eval split (seen) and bench (unseen) tool selection with Wilson
    95% intervals and n, the gap in points, the Fisher exact p and the verdict."""
    header = (
        "| method | eval split: seen phrasings [95% CI] | n (eval) | bench: unseen phrasings [95% CI] | n (bench) "
        "| gap (points, eval − bench) | Fisher exact p | verdict |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {g.method} | {side_text(g.seen)} | {g.seen.n if g.seen else '—'} | {side_text(g.unseen)} "
        f"| {g.unseen.n if g.unseen else '—'} | {gap_text(g)} | {p_text(g.p_value)} | {g.verdict} |"
        for g in gaps
    ]
    return header + "\n".join(lines) + "\n"


def gap_section(gaps: Sequence[PhrasingGap]) -> str:
    """The report's headline section: what the two sides are, and the table."""
    return (
        "## Seen vs unseen phrasings\n\n"
        f"{PHRASINGS_NOTE} Both sides: first-turn tool-selection micro accuracy (irrelevance items included), "
        "Wilson 95% intervals; gap = eval − bench in percentage points; two-sided Fisher exact test on the "
        f"correct/incorrect counts (unpaired item sets), significant at p < {SIGNIFICANCE:g}.\n\n" + gap_table(gaps)
    )


def report_dir(out_dir: Path, profile: str) -> Path:
    return eval_dir(out_dir, profile) / "report"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _interval(summary: Mapping[str, Any]) -> str:
    interval = summary.get("tool_selection_interval")
    if not interval:
        return _pct(summary.get("tool_selection_accuracy"))
    return f"{summary['tool_selection_accuracy']:.1%} [{interval[0]:.1%}, {interval[1]:.1%}]"


def method_table(
    records: Mapping[str, Mapping[str, Any]], selection: Mapping[str, Any], missing: Sequence[str] = ()
) -> str:
    """One row per model (the base first): bench metrics, the eval-split macro accuracy
    selection used, the share of first turns identical to SFT's, and the verdict."""
    header = (
        "| model | tool selection [95% CI] | macro tool acc. (eval) | arguments | full-call exact | parsimony "
        "| irrelevance | format valid | identical to SFT | selection |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
    )
    candidates = selection.get("candidates", {})
    lines = []
    for name, record in records.items():
        s = record["summary"]
        entry = candidates.get(name)
        if name == BASE:
            verdict, macro = "baseline (G3)", None
        elif name == selection.get("selected"):
            verdict, macro = "**selected**", entry["macro_tool_accuracy"]
        elif entry is not None:
            under = len(entry["floor_violations"])
            verdict = f"{under} tools under the floor" if under else "qualifies"
            verdict = "no-op: not a candidate" if entry.get("no_op") else verdict
            macro = entry["macro_tool_accuracy"]
        else:
            verdict, macro = "—", None
        identical = s.get("identical_to_sft")
        flag = " (flag)" if s.get("identical_flag") else ""
        lines.append(
            f"| {name} | {_interval(s)} | {_pct(macro)} | {_pct(s.get('argument_accuracy'))} "
            f"| {_pct(s.get('full_call_exact'))} | {_pct(s.get('parsimony_rate'))} "
            f"| {_pct(s.get('irrelevance_accuracy'))} | {_pct(s.get('format_validity'))} "
            f"| {_pct(identical)}{flag} | {verdict} |"
        )
    lines += [f"| {m} | no bench record (not trained, or its partition failed) | | | | | | | | — |" for m in missing]
    return header + "\n".join(lines) + "\n"


def candidate_table(selection: Mapping[str, Any]) -> str:
    """Every selection candidate (a method's final weights, `METHOD@STEP` for an
    intermediate step its training kept): macro tool accuracy on the eval split and the
    tools under the floor."""
    header = "| candidate | macro tool acc. (eval) | tools under the floor | verdict |\n|---|---|---|---|\n"
    lines = []
    for name, entry in selection.get("candidates", {}).items():
        under = ", ".join(f"{t} {a:.0%}" for t, a in entry["floor_violations"].items()) or "none"
        if name == selection.get("selected_candidate"):
            verdict = "**selected**"
        elif entry.get("no_op"):
            verdict = f"no-op ({entry['identical_to_reference']:.0%} identical to sft): not a candidate"
        else:
            verdict = "qualifies" if entry["qualifies"] else "under the floor"
        lines.append(f"| {name} | {_pct(entry['macro_tool_accuracy'])} | {under} | {verdict} |")
    return header + "\n".join(lines) + "\n"


def conversations_of(out_dir: Path, records: Mapping[str, Mapping[str, Any]]) -> dict[str, list[Conversation]]:
    """Every record's bench conversations, rebuilt against the phase-4 items they ran on."""
    stored_any = {name: r.get("conversations") or [] for name, r in records.items()}
    if not any(stored_any.values()):
        return {}
    items = {i["id"]: i for i in read_jsonl(Path(out_dir) / "phase4" / "benchmark.jsonl")}
    out = {}
    for name, stored in stored_any.items():
        unknown = [c["id"] for c in stored if c["id"] not in items]
        if unknown:
            raise ValueError(f"bench record of {name} has items the benchmark does not: {unknown[:5]}")
        out[name] = [Conversation.from_record(items[c["id"]], c) for c in stored]
    return out


def _change_cell(row: Mapping[str, Any]) -> str:
    if row["change"] is None:
        return "—"
    mark = {"improved": " ▲", "regressed": " ▼"}.get(row["verdict"], "")
    p = "—" if row["p_value"] is None else f"{row['p_value']:.2g}"
    return f"{row['change'] * 100:+.1f} pt (p={p}){mark}"


def effects_table(effects: Mapping[str, Any], records: Mapping[str, Mapping[str, Any]]) -> str:
    """One row per method against `sft` on the same bench items: the change per metric with
    its exact McNemar p-value, and what the paired tests call improved or regressed."""
    names = list(METRICS)
    header = (
        "| method | identical to sft | "
        + " | ".join(n.replace("_", " ") for n in names)
        + " | improved (p < 0.05) | regressed (p < 0.05) |\n"
        + "|---" * (len(names) + 4)
        + "|\n"
    )
    lines = []
    for name, entry in effects.items():
        comparison = entry["against_reference"]
        if comparison is None:
            continue
        identical = records.get(name, {}).get("summary", {}).get("identical_to_sft")
        cells = " | ".join(_change_cell(comparison["metrics"][n]) for n in names)
        better, worse = ", ".join(improvements(comparison)), ", ".join(regressions(comparison))
        lines.append(f"| {name} | {_pct(identical)} | {cells} | {better or 'nothing'} | {worse or 'nothing'} |")
    return header + "\n".join(lines) + "\n"


def failure_table(effects: Mapping[str, Any]) -> str:
    """Per model, the share of bench items on which it commits each axis's failure (95%
    Wilson interval); ▲/▼ where the paired test against `sft` says fewer/more (p < 0.05)."""
    first = next(iter(effects.values()), None)
    if first is None:
        return ""
    axes = first["failure_rates"]
    header = (
        "| model | "
        + " | ".join(f"{a}: {row['failure']}" for a, row in axes.items())
        + " |\n"
        + "|---" * (len(axes) + 1)
        + "|\n"
    )
    lines = []
    for name, entry in effects.items():
        cells = []
        for axis, row in entry["failure_rates"].items():
            low, high = row["interval"] or (None, None)
            cell = _pct(row["rate"]) + (f" [{low:.0%}, {high:.0%}]" if low is not None else "")
            paired = (entry["against_reference"] or {}).get("failures", {}).get(axis)
            if paired and paired["verdict"] != "no significant change":
                cell += " ▲" if paired["verdict"] == "improved" else " ▼"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return header + "\n".join(lines) + "\n"


def effects_markdown(path: Path, records: Mapping[str, Mapping[str, Any]]) -> str:
    """The paired table and the per-axis failure rates from a written `EFFECTS_FILE`."""
    effects = json.loads(Path(path).read_text())
    return effects_table(effects, records) + "\n" + failure_table(effects)


def effects_sentences(effects: Mapping[str, Any]) -> list[str]:
    """One line per method: what the paired tests say it changed against `sft`."""
    out = []
    for name, entry in effects.items():
        comparison = entry["against_reference"]
        if comparison is None:
            continue
        better, worse = improvements(comparison), regressions(comparison)
        if not better and not worse:
            out.append(f"- `{name}`: no significant change against sft on {comparison['items']} paired items.")
            continue
        parts = [f"better on {', '.join(better)}"] if better else []
        parts += [f"worse on {', '.join(worse)}"] if worse else []
        out.append(f"- `{name}`: {'; '.join(parts)} (exact McNemar, p < 0.05, {comparison['items']} items).")
    return out


def on_policy_section(report: Mapping[str, Any] | None) -> str:
    """What the DPO family and KTO trained on: the on-policy stage's own figures."""
    if not report:
        return ""
    axes = sorted(
        ((k.removeprefix("wrong_on_axes."), v) for k, v in report.items() if k.startswith("wrong_on_axes.")),
        key=lambda kv: -kv[1],
    )
    common = ", ".join(f"axes {a}: {n}" for a, n in axes[:5])
    return (
        "## What the preference methods trained on\n\n"
        f"`sft` answered {report['points_answered']} train decision points ({report['answers']} answers, greedy "
        f"and sampled; {report['answers_repeated']} repeats quarantined): {report['answers_wrong']} wrong "
        f"({(report['wrong_share'] or 0):.1%}; most often {common}). The DPO family trained on "
        f"{report['phase2.on_policy_rows']} of those pairs mixed with {report['phase2.phase_rows']} phase-2 pairs "
        f"(on-policy share {report['phase2.realised_share']:.0%}), KTO on {report['phase3.on_policy_rows']} judged "
        f"answers with {report['phase3.phase_rows']} phase-3 rows ({report['phase3.realised_share']:.0%}).\n"
    )


def markdown_report(
    records: Mapping[str, Mapping[str, Any]],
    selection: Mapping[str, Any],
    profile: str,
    images: Sequence[str] = (),
    effects: Mapping[str, Any] | None = None,
    on_policy: Mapping[str, Any] | None = None,
) -> str:
    first = next(iter(records.values()), {"summary": {}})
    verdict = (
        f"**Selected: `{selection.get('selected_candidate') or selection['selected']}`.** {selection['reason']}"
        if selection.get("selected")
        else f"**No checkpoint selected.** {selection.get('reason', '')}"
    )
    low = sorted({t for r in records.values() for t, row in r["per_tool"].items() if row["low_confidence"]})
    gaps = phrasing_gaps(records, selection.get("missing", ()))
    selected = next((g for g in gaps if g.method == selection.get("selected")), None)
    parts = [
        f"# Bench report ({profile} profile)\n",
        f"{first['summary'].get('items', 0)} bench items per model; selection rule: {selection.get('rule', '')}.\n",
        verdict + "\n",
        *([gap_sentence(selected) + "\n"] if selected else []),
        gap_section(gaps),
        "## All metrics (bench)\n",
        method_table(records, selection, selection.get("missing", ())),
        *(
            [
                "## What each method did (paired against sft, same bench items, greedy)\n",
                "Change in percentage points with the exact McNemar p-value; ▲ improved, ▼ regressed "
                "(p < 0.05). Anything without a mark is not a measured change.\n",
                effects_table(effects, records),
                "\n".join(effects_sentences(effects)) + "\n",
                "## Failure rates per preference axis (bench)\n",
                failure_table(effects),
            ]
            if effects
            else []
        ),
        *([on_policy_section(on_policy)] if on_policy else []),
        "## Selection candidates (eval split)\n",
        candidate_table(selection),
        f"Per-tool samples under 40 (low confidence): {', '.join(low) if low else 'none'}.\n",
        *[f"![{Path(i).stem}]({i})\n" for i in images],
    ]
    return "\n".join(parts)


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(figure: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _plt().close(figure)
    return buffer.getvalue()


def per_tool_plot(records: Mapping[str, Mapping[str, Any]]) -> bytes:
    """One panel per model: tool-selection accuracy per tool with its Wilson 95% interval."""
    plt = _plt()
    tools = sorted({t for r in records.values() for t in r["per_tool"]}, key=lambda t: (t == NO_CALL, t))
    columns = min(5, max(1, len(records)))
    rows = -(-len(records) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 0.28 * len(tools) * rows + 1), squeeze=False)
    for ax in axes.flat[len(records) :]:
        ax.axis("off")
    for ax, (name, record) in zip(axes.flat, records.items(), strict=False):
        acc, low, high = [], [], []
        for tool in tools:
            row = record["per_tool"].get(tool)
            acc.append(row["accuracy"] if row else 0.0)
            low.append(row["accuracy"] - row["low"] if row else 0.0)
            high.append(row["high"] - row["accuracy"] if row else 0.0)
        y = list(range(len(tools)))
        ax.barh(y, acc, xerr=[low, high], color="#4c72b0", ecolor="#333333", capsize=2)
        ax.axvline(0.4, color="#c44e52", linestyle="--", linewidth=1)
        ax.set_xlim(0, 1)
        ax.set_title(name, fontsize=10)
        ax.set_yticks(y)
        ax.set_yticklabels(tools if ax in axes[:, 0] else [], fontsize=7)
        ax.invert_yaxis()
    figure.suptitle("Tool-selection accuracy per tool (Wilson 95% interval; dashed: 40% tool floor)")
    return _png(figure)


def comparison_plot(records: Mapping[str, Mapping[str, Any]]) -> bytes:
    """Grouped bars: each metric of the report table, per model."""
    plt = _plt()
    names = list(records)
    figure, ax = plt.subplots(figsize=(max(8, 1.1 * len(names) + 3), 4.5))
    width = 0.8 / len(COMPARED)
    for k, (key, label) in enumerate(COMPARED):
        values = [records[n]["summary"].get(key) or 0.0 for n in names]
        ax.bar([i + k * width for i in range(len(names))], values, width, label=label)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(names))])
    ax.set_xticklabels(names)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of bench items")
    ax.legend(fontsize=8, ncol=3)
    ax.set_title("Methods compared on the bench")
    return _png(figure)


def step_curves(records: Mapping[str, Mapping[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """Per method, (step, eval-split macro tool accuracy) for every kept step and the final
    weights: what the selection chose among."""
    curves = {}
    for name, record in records.items():
        if name == BASE or "eval" not in record:
            continue
        points = [(int(step), s["macro_tool_accuracy"]) for step, s in record.get("eval_by_step", {}).items()]
        final = record.get("final_step")
        if final is not None:
            points.append((int(final), record["eval"]["macro_tool_accuracy"]))
        curves[name] = sorted((step, acc) for step, acc in points if acc is not None)
    return curves


def steps_plot(records: Mapping[str, Mapping[str, Any]], selection: Mapping[str, Any]) -> bytes:
    """Eval-split macro tool accuracy per kept step, one line per method, the selected
    checkpoint circled and the tool floor's rule in the title."""
    plt = _plt()
    figure, ax = plt.subplots(figsize=(8, 4.5))
    for name, points in step_curves(records).items():
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    chosen = selection.get("selected")
    if chosen in records:
        step = selection.get("selected_step") or records[chosen].get("final_step")
        entry = selection.get("candidates", {}).get(selection.get("selected_candidate") or chosen, {})
        accuracy = entry.get("macro_tool_accuracy")
        if step is not None and accuracy is not None:
            ax.scatter([step], [accuracy], s=200, facecolors="none", edgecolors="black", label="selected")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("macro tool accuracy (eval split)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, ncol=3)
    ax.set_title("Selection candidates: every kept step of every method")
    return _png(figure)


def write_report(
    out_dir: Path, profile: str, records: Mapping[str, Mapping[str, Any]], selection: Mapping[str, Any]
) -> tuple[ReportFiles, str]:
    """Write the markdown report, both plots and the seen-vs-unseen table as JSON
    (`seen_vs_unseen.json`); returns the files and the markdown."""
    folder = report_dir(out_dir, profile)
    files = ReportFiles(
        folder / "report.md",
        folder / "per_tool_accuracy.png",
        folder / "method_comparison.png",
        folder / "seen_vs_unseen.json",
        folder / EFFECTS_FILE,
        folder / "eval_by_step.png",
    )
    atomic_write_bytes(files.per_tool_png, per_tool_plot(records))
    atomic_write_bytes(files.comparison_png, comparison_plot(records))
    atomic_write_bytes(files.steps_png, steps_plot(records, selection))
    gaps = phrasing_gaps(records, selection.get("missing", ()))
    gap_record = {
        "selected": selection.get("selected"),
        "note": PHRASINGS_NOTE,
        "significance": SIGNIFICANCE,
        "methods": [g.to_dict() for g in gaps],
    }
    atomic_write_text(files.gap_json, json.dumps(gap_record, indent=1))
    effects = what_each_method_did(conversations_of(out_dir, records))
    atomic_write_text(files.effects_json, json.dumps(effects, indent=1))
    stage_report = on_policy_dir(out_dir, profile) / "report.json"
    on_policy = json.loads(stage_report.read_text()) if stage_report.is_file() else None
    images = [files.per_tool_png.name, files.comparison_png.name]
    text = markdown_report(records, selection, profile, images, effects, on_policy)
    atomic_write_text(files.markdown, text)
    return files, text
