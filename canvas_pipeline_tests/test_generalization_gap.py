"""Seen vs unseen phrasings: the report's headline table and the card's figure set each
method's eval-split tool selection (phase 1's held-out rows, training phrasings) against
its bench tool selection (phrasings no training split uses), with the gap in points and
an unpaired two-proportion (Fisher exact) p-value; a record without the eval side reads
"not run", never a number.

Bench records are written by hand in the format `run_method_bench` writes (the same shape
test_release builds: `summary`, `per_tool`, and here the `eval` summary)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from scipy.stats import fisher_exact

from canvas_pipeline.evaluation.metrics import wilson_interval
from canvas_pipeline.evaluation.report import (
    markdown_report,
    phrasing_gap,
    phrasing_gaps,
    side_accuracy,
    write_report,
)
from canvas_pipeline.release.card import CardInputs, card_text, phrasing_gap_section
from canvas_pipeline.release.export import ExportRecord

TOOLS = ("canvas.get_assignments", "calendar.list_events", "study.exam_bracket")
RULE = "highest macro-average tool-selection accuracy on the eval split, no tool below 40%"
HEADER = "## Seen vs unseen phrasings"


def _summary(correct: int, n: int, interval: bool = True) -> dict[str, Any]:
    """A `metrics.summarize` summary with `correct` of `n` first tools right."""
    accuracy = correct / n
    ci = wilson_interval(correct, n)
    assert ci is not None
    return {
        "items": n,
        "tool_selection_accuracy": accuracy,
        **({"tool_selection_interval": [ci.low, ci.high]} if interval else {}),
        "macro_tool_accuracy": accuracy,
        "argument_accuracy": 0.41,
        "parsimony_rate": 0.93,
        "irrelevance_accuracy": 0.5,
        "format_validity": 0.88,
        "full_call_exact": 0.12,
        "identical_to_sft": None,
    }


def _per_tool(accuracy: float) -> dict[str, Any]:
    correct = round(64 * accuracy)
    ci = wilson_interval(correct, 64)
    assert ci is not None
    row = {"n": 64, "correct": correct, "accuracy": correct / 64, "low": ci.low, "high": ci.high}
    return {tool: {**row, "low_confidence": False} for tool in TOOLS}


def _record(method: str, bench: tuple[int, int], seen: tuple[int, int] | None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "method": method,
        "profile": "tiny",
        "summary": _summary(*bench),
        "per_tool": _per_tool(bench[0] / bench[1]),
    }
    if seen is not None:
        record["eval"] = {**_summary(*seen), "per_tool": _per_tool(seen[0] / seen[1])}
    return record


def _records() -> dict[str, dict[str, Any]]:
    """base (bench only), sft (seen 106/120 vs unseen 140/192: significant), kto (50/100
    vs 48/100: not), ipo (40/100 vs 80/100: higher unseen), dpo (no eval side)."""
    return {
        "base": {"method": "base", "summary": _summary(48, 192), "per_tool": _per_tool(0.25)},
        "sft": _record("sft", (140, 192), (106, 120)),
        "kto": _record("kto", (48, 100), (50, 100)),
        "ipo": _record("ipo", (80, 100), (40, 100)),
        "dpo": _record("dpo", (60, 192), None),
    }


def _selection(selected: str | None = "sft", missing: tuple[str, ...] = ("nca",)) -> dict[str, Any]:
    return {
        "selected": selected,
        "rule": RULE,
        "reason": f"{selected} has the highest macro tool-selection accuracy on the eval split",
        "split": "eval",
        "candidates": {
            m: {"macro_tool_accuracy": 0.6, "floor_violations": {}, "qualifies": True}
            for m in {"sft", "kto", "ipo", selected or "sft"}
        },
        "missing": list(missing),
    }


def _row(text: str, method: str, after: str = HEADER) -> list[str]:
    """The cells of `method`'s first row after the `after` heading."""
    section = text[text.index(after) :]
    line = next(line for line in section.splitlines() if line.startswith(f"| {method} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def _p(seen: tuple[int, int], unseen: tuple[int, int]) -> float:
    table = [[seen[0], seen[1] - seen[0]], [unseen[0], unseen[1] - unseen[0]]]
    return float(fisher_exact(table)[1])


# ---------------------------------------------------------------- the figure


def test_the_gap_is_eval_minus_bench_in_points_with_a_fisher_exact_p() -> None:
    gap = phrasing_gap("sft", _records()["sft"])
    assert gap.seen is not None and gap.unseen is not None
    assert (gap.seen.correct, gap.seen.n, gap.unseen.correct, gap.unseen.n) == (106, 120, 140, 192)
    assert gap.gap_points == pytest.approx((106 / 120 - 140 / 192) * 100)
    assert gap.p_value == pytest.approx(_p((106, 120), (140, 192)))
    assert gap.p_value < 0.05 and gap.verdict == "higher on seen phrasings"


def test_only_a_significant_gap_says_which_side_is_higher() -> None:
    records = _records()
    kto, ipo = phrasing_gap("kto", records["kto"]), phrasing_gap("ipo", records["ipo"])
    assert kto.p_value is not None and kto.p_value >= 0.05 and kto.gap_points == pytest.approx(2.0)
    assert kto.verdict.startswith("no significant difference") and "higher" not in kto.verdict
    assert ipo.gap_points == pytest.approx(-40.0) and ipo.verdict == "higher on unseen phrasings"


def test_a_record_without_the_eval_side_is_not_run_with_no_gap_or_p() -> None:
    gap = phrasing_gap("dpo", _records()["dpo"])
    assert gap.seen is None and gap.gap_points is None and gap.p_value is None
    assert gap.unseen is not None and gap.unseen.correct == 60
    assert gap.verdict.startswith("not run") and not gap.significant
    empty = phrasing_gap("x", {"summary": _summary(1, 2), "eval": {"items": 0, "tool_selection_accuracy": 0.0}})
    assert empty.seen is None and empty.gap_points is None


def test_the_interval_is_the_wilson_interval_when_the_summary_has_none() -> None:
    side = side_accuracy(_summary(106, 120, interval=False))
    expected = wilson_interval(106, 120)
    assert side is not None and expected is not None
    assert (side.low, side.high) == pytest.approx((expected.low, expected.high))


# ---------------------------------------------------------------- the report


def test_the_report_leads_with_the_selected_gap_and_the_seen_vs_unseen_table() -> None:
    text = markdown_report(_records(), _selection(), "tiny")
    sentence = next(line for line in text.splitlines() if line.startswith("Generalization gap of `sft`"))
    assert "88.3% on the eval split's seen phrasings (n = 120)" in sentence
    assert "72.9% on the bench's unseen phrasings (n = 192)" in sentence
    assert f"+15.4 points (Fisher exact p = {_p((106, 120), (140, 192)):.3f}): higher on seen phrasings" in sentence
    # near the top: after the verdict, before the gap table, which precedes the full metrics table
    assert text.index("**Selected: `sft`.**") < text.index(sentence) < text.index(HEADER)
    assert text.index(HEADER) < text.index("| model | tool selection [95% CI]")
    assert _row(text, "sft") == [
        "sft",
        "88.3% [81.4%, 92.9%]",
        "120",
        "72.9% [66.2%, 78.7%]",
        "192",
        "+15.4",
        f"{_p((106, 120), (140, 192)):.3f}",
        "higher on seen phrasings",
    ]
    kto = _row(text, "kto")
    assert kto[1:6] == ["50.0% [40.4%, 59.6%]", "100", "48.0% [38.5%, 57.7%]", "100", "+2.0"]
    assert float(kto[6]) == pytest.approx(_p((50, 100), (48, 100)), abs=5e-4)
    assert kto[7] == "no significant difference (p ≥ 0.05)"
    assert _row(text, "ipo")[5:] == ["-40.0", "< 0.001", "higher on unseen phrasings"]


def test_the_report_shows_not_run_never_a_number_without_the_eval_side() -> None:
    text = markdown_report(_records(), _selection(), "tiny")
    dpo = _row(text, "dpo")
    assert dpo[1] == "not run" and dpo[2] == "—" and dpo[5:7] == ["—", "—"]
    assert dpo[3].startswith("31.2% [") and dpo[7] == "not run (eval split)"
    assert not any(re.search(r"\d", cell) for cell in (dpo[1], dpo[2], dpo[5], dpo[6]))
    nca = _row(text, "nca")  # no bench record at all
    assert nca[1] == "not run" and nca[3] == "not run" and nca[7] == "not run (eval split and bench)"
    section = text[text.index(HEADER) : text.index("## All metrics")]
    assert "| base |" not in section  # the base is not run on the eval split


def test_a_selected_method_without_the_eval_side_reads_not_run_at_the_top() -> None:
    text = markdown_report(_records(), _selection("dpo"), "tiny")
    line = next(line for line in text.splitlines() if line.startswith("Generalization gap of `dpo`"))
    assert "not run" in line and "points" not in line
    unselected = markdown_report(_records(), _selection(None), "tiny")
    assert "Generalization gap of" not in unselected and HEADER in unselected


def test_write_report_writes_the_gap_table_as_json(tmp_path: Path) -> None:
    files, text = write_report(tmp_path, "tiny", _records(), _selection())
    assert files.markdown.read_text() == text and HEADER in text
    written = json.loads(files.gap_json.read_text())
    assert written["selected"] == "sft" and [m["method"] for m in written["methods"]] == [
        "sft",
        "kto",
        "ipo",
        "dpo",
        "nca",
    ]
    sft = written["methods"][0]
    assert sft["eval_seen_phrasings"]["correct"] == 106 and sft["bench_unseen_phrasings"]["n"] == 192
    assert sft["gap_points"] == pytest.approx((106 / 120 - 140 / 192) * 100) and sft["significant"] is True
    dpo = written["methods"][3]
    assert dpo["eval_seen_phrasings"] == "not run" and dpo["gap_points"] is None and dpo["fisher_exact_p"] is None
    assert phrasing_gaps(_records(), ["nca"])[-1].method == "nca"


# ---------------------------------------------------------------- the card


def _card(method: str) -> str:
    export = ExportRecord("full", "full weights saved as they are", "float32", 1_600_000, 0.0, 1.0, 1e-3)
    return card_text(CardInputs("tiny", method, [], _selection(method), _records(), {}, [], export))


def test_the_card_carries_the_released_methods_gap_and_why() -> None:
    text = _card("sft")
    section = text[text.index("### Seen vs unseen phrasings (`sft`)") : text.index("### Per tool")]
    assert "the bench's requests use phrasings no training split uses; the eval split reuses the training" in (
        section.lower()
    )
    assert "| eval split (selected the checkpoint) | seen in training | 120 | 88.3% [81.4%, 92.9%] |" in section
    assert "| bench | unseen | 192 | 72.9% [66.2%, 78.7%] |" in section
    p = _p((106, 120), (140, 192))
    assert f"**+15.4 points**; two-sided Fisher exact p = {p:.3f}" in section
    assert section.rstrip().endswith("higher on seen phrasings.")


def test_the_card_says_not_run_when_the_released_record_has_no_eval_side() -> None:
    section = phrasing_gap_section("dpo", _records()["dpo"])
    assert "| eval split (selected the checkpoint) | seen in training | — | not run |" in section
    assert "Generalization gap (eval − bench): not run (eval split)." in section and "points" not in section
