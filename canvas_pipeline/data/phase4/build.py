"""Phase 4: the benchmark, generated like phase 1 but only from the courses (and priority
pair courses) held out of every training split, in words no training split uses, plus
requests no tool serves.

Three things keep it a test of serving unseen requests rather than of recall:
- **phrasings**: every request is worded by the held-out phrasebook (`phrasings.py`), whose
  sentences share no skeleton with the templates phases 1-3 train on (checked on the data
  by the `BENCH_PHRASING` check);
- **coverage**: quotas count each item's *first* expected call, so every tool is the first
  call of >= 40 items (selection accuracy is measured there); one item per prompt;
- **accepted values**: what a careful assistant could correctly send, not the generator's
  private conventions (`accepted.py`: vague horizons as ranges, free text judged on topic).

An item is the conversation up to its last user turn (same system prompt as training), the
ordered calls that answer it, and for each call its accepted argument values in the style
of the Berkeley Function Calling Leaderboard: a list of accepted values per argument, with
"" meaning the argument may be left out. `context` lets the harness rebuild the simulated
backend that answered the calls, for multi-step items.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from canvas_pipeline.data.held_out_phrasings import HeldOutPhrasebook
from canvas_pipeline.data.phase1.build import Phase1Config, Quotas, SplitGenerator, assign_course_splits, pairs_by_split
from canvas_pipeline.data.phase4.accepted import widen_accepted
from canvas_pipeline.data.phase4.overlap import response_entities
from canvas_pipeline.data.pii import Scrubber
from canvas_pipeline.data.stage import Quarantine, StageReport, report_from
from canvas_pipeline.data.student_view import views_from_items
from canvas_pipeline.tools.chat_format import message_calls
from canvas_pipeline.tools.codec import ToolCall
from canvas_pipeline.tools.registry import load_registry

STAGE = "phase4/benchmark"
OPTIONAL_TEXT = frozenset({"rationale", "description"})
DOMAIN_DEFAULTS = {("canvas.list_courses", "active_only"): True}


@dataclass(frozen=True)
class Phase4Config:
    seed: int = 0
    size: int = 1200
    # min_per_tool counts first expected calls; no_call_share leaves room above the 8% floor.
    quotas: Quotas = Quotas(min_per_tool=40, no_call_share=0.1)


@dataclass
class Phase4Result:
    rows: list[dict[str, Any]]
    quarantine: Quarantine
    report: StageReport


def accepted_values(call: ToolCall) -> dict[str, list[Any]]:
    """BFCL-style possible answers for one call: its own values, "" for an argument that may
    be omitted (a registry default, or free text the tool does not need), and every optional
    argument with a default listed as [default, ""]."""
    spec = load_registry()[call.name]
    out: dict[str, list[Any]] = {}
    for key, value in call.arguments.items():
        accepted = [value]
        prop = spec.properties.get(key, {})
        if key not in spec.required and (
            prop.get("default") == value or key in OPTIONAL_TEXT or DOMAIN_DEFAULTS.get((call.name, key)) == value
        ):
            accepted.append("")
        out[key] = accepted
    for key, prop in spec.properties.items():
        if key not in out and key not in spec.required and "default" in prop:
            out[key] = [prop["default"], ""]
    return out


def item_accepted(messages: list[dict[str, Any]], calls: list[ToolCall], now: str | None) -> list[dict[str, list[Any]]]:
    """Accepted values per expected call, widened by what the request's own words allow and
    with the conversation's titles and the request as topics for free-text arguments."""
    request = next(m for m in reversed(messages) if m["role"] == "user")["content"]
    moment = datetime.fromisoformat(now) if now else None
    topics = [request, *sorted(response_entities(messages))]
    return [widen_accepted(c.name, accepted_values(c), request, moment, topics) for c in calls]


def bench_item(row: dict[str, Any], number: int) -> dict[str, Any]:
    messages = row["messages"]
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
    after = messages[last_user + 1 :]
    steps = [message_calls(m) for m in after if m["role"] == "assistant" and m.get("tool_calls")]
    calls = [c for step in steps for c in step]
    context = row.get("context") or {}
    return {
        "id": f"p4-bench-{number:05d}",
        "split": "bench",
        "intent": row["intent"],
        "category": "irrelevance" if not calls else "single" if len(calls) == 1 else "multi_step",
        "prompt": messages[: last_user + 1],
        "expected_tools": [c.name for c in calls],
        "expected_steps": [[c.name for c in step] for step in steps],
        "expected_args": item_accepted(messages, calls, context.get("now")),
        "min_calls": len(calls),
        "reference": after,
        "item_ids": row["item_ids"],
        "context": row["context"],
    }


def _first_expected_tool(messages: list[dict[str, Any]]) -> list[str]:
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
    return [c.name for m in messages[last_user + 1 :] for c in message_calls(m)][:1]


def build_phase4(
    items: pl.DataFrame,
    pairs: pl.DataFrame,
    scrubber: Scrubber,
    phase1: Phase1Config,
    config: Phase4Config = Phase4Config(),
) -> Phase4Result:
    """Bench items from the bench split of phase 1's course assignment (same seed, same
    fractions, so the same courses are held out)."""
    split_of_course = assign_course_splits(items, phase1.seed, phase1.split_fractions)
    views = [v for v in views_from_items(items, split_of_course) if v.split == "bench"]
    pair_pools = pairs_by_split(pairs, phase1.seed, phase1.pair_fractions).pools
    quarantine = Quarantine(STAGE)
    generator = SplitGenerator(
        "bench",
        views,
        pair_pools["bench"],
        scrubber,
        config.seed,
        config.quotas,
        quarantine,
        stage=STAGE,
        id_prefix="p4",
        counted_tools=_first_expected_tool,
        phrasebook=HeldOutPhrasebook([c for v in views for c in v.courses]),
        planned_tools=lambda intent: intent.first_expected,
        unique_prompts=True,
        spread_courses=True,
    )
    generated = generator.build(config.size)
    rows = [bench_item(row, n) for n, row in enumerate(generated)]
    per_tool = Counter(r["expected_tools"][0] for r in rows if r["expected_tools"])
    course_args = Counter(
        a["course_id"][0] for r in rows for a in r["expected_args"] if isinstance(a.get("course_id"), list)
    )
    categories = Counter(r["category"] for r in rows)
    extra: dict[str, Any] = {
        "items": len(rows),
        "bench_courses": len({c for r in rows for c in r["item_ids"] if c.startswith("course:")}),
        "labelled_pairs": len(pair_pools["bench"]),
        **{f"category.{k}": v for k, v in sorted(categories.items())},
        "irrelevance_share": round(categories["irrelevance"] / len(rows), 4),
        **{f"first_call.{t}": per_tool.get(t, 0) for t in load_registry().names},
        "first_call_min": min(per_tool.get(t, 0) for t in load_registry().names),
        "irrelevance_texts": len({r["prompt"][-1]["content"].lower() for r in rows if not r["expected_tools"]}),
        "expected_course_ids": len(course_args),
        "expected_course_id_max_share": round(max(course_args.values()) / sum(course_args.values()), 4)
        if course_args
        else 0.0,
        "not_applicable_attempts": sum(generator.stats.not_applicable.values()),
    }
    report = report_from(STAGE, rows_in=generator.stats.candidates, rows_out=len(rows), quarantine=quarantine, **extra)
    return Phase4Result(rows, quarantine, report)
