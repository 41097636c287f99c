"""The bench report: a markdown table of every model's metrics, the selection and why,
and two PNG plots (per-tool accuracy with Wilson error bars per model; the method
comparison), written to `eval/PROFILE/report/` and shown in the Dagster UI."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from canvas_pipeline.data.io import atomic_write_bytes, atomic_write_text
from canvas_pipeline.evaluation.bench import BASE, eval_dir
from canvas_pipeline.evaluation.metrics import NO_CALL

COMPARED = (
    ("tool_selection_accuracy", "tool selection"),
    ("argument_accuracy", "arguments"),
    ("full_call_exact", "full-call exact"),
    ("parsimony_rate", "parsimony"),
    ("irrelevance_accuracy", "irrelevance"),
    ("format_validity", "format"),
)


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    per_tool_png: Path
    comparison_png: Path


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


def markdown_report(
    records: Mapping[str, Mapping[str, Any]], selection: Mapping[str, Any], profile: str, images: Sequence[str] = ()
) -> str:
    first = next(iter(records.values()), {"summary": {}})
    verdict = (
        f"**Selected: `{selection['selected']}`.** {selection['reason']}"
        if selection.get("selected")
        else f"**No checkpoint selected.** {selection.get('reason', '')}"
    )
    low = sorted({t for r in records.values() for t, row in r["per_tool"].items() if row["low_confidence"]})
    parts = [
        f"# Bench report ({profile} profile)\n",
        f"{first['summary'].get('items', 0)} bench items per model; selection rule: {selection.get('rule', '')}.\n",
        verdict + "\n",
        method_table(records, selection, selection.get("missing", ())),
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


def write_report(
    out_dir: Path, profile: str, records: Mapping[str, Mapping[str, Any]], selection: Mapping[str, Any]
) -> tuple[ReportFiles, str]:
    """Write the markdown report and both plots; returns the files and the markdown."""
    folder = report_dir(out_dir, profile)
    files = ReportFiles(folder / "report.md", folder / "per_tool_accuracy.png", folder / "method_comparison.png")
    atomic_write_bytes(files.per_tool_png, per_tool_plot(records))
    atomic_write_bytes(files.comparison_png, comparison_plot(records))
    text = markdown_report(records, selection, profile, [files.per_tool_png.name, files.comparison_png.name])
    atomic_write_text(files.markdown, text)
    return files, text
