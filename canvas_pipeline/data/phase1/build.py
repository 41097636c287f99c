"""Phase 1: quota-balanced, item-disjoint SFT trajectories from the scrubbed snapshot.

Courses (and so their items) are assigned to train or test before anything is generated;
every trajectory is made inside one (term, split) view, so no course or item a test row
shows can appear in a train row. Each candidate passes four gates before it is kept:
arguments valid against the registry, no tool more than `max_same_tool` times, the codec
round-trips its rendered text, and the PII scrubber finds nothing in it.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from statistics import mean, pstdev
from typing import Any

import polars as pl

from canvas_pipeline.data.backend import Backend, PriorityPair
from canvas_pipeline.data.calendar import Event, build_calendar
from canvas_pipeline.data.io import dumps_canonical
from canvas_pipeline.data.phase1.dialogue import Dialogue, NotApplicable, RejectedCandidate
from canvas_pipeline.data.phase1.intents import INTENTS, Intent
from canvas_pipeline.data.pii import Scrubber
from canvas_pipeline.data.schemas import Trajectories
from canvas_pipeline.data.stage import Quarantine, StageReport, report_from
from canvas_pipeline.data.student_view import LOCAL_TZ, StudentView, views_from_items
from canvas_pipeline.tools.chat_format import message_calls, render_conversation
from canvas_pipeline.tools.codec import ParseError, parse_calls
from canvas_pipeline.tools.registry import load_registry

STAGE = "phase1/sft_trajectories"
SPLITS = ("train", "test")


@dataclass(frozen=True)
class Phase1Config:
    seed: int = 0
    train_size: int = 3000
    test_size: int = 400
    test_item_fraction: float = 0.15
    pair_test_fraction: float = 0.25
    max_same_tool: int = 3
    min_per_tool: int = 30
    max_attempts_per_row: int = 20
    intent_give_up_after: int = 60


@dataclass
class Phase1Result:
    rows: list[dict[str, Any]]
    quarantine: Quarantine
    report: StageReport
    split_of_course: dict[int, str]
    tool_counts: dict[str, dict[str, int]]
    disabled_intents: dict[str, list[str]] = field(default_factory=dict)


def _rank(seed: int, key: object) -> str:
    return hashlib.sha256(f"{seed}|{key}".encode()).hexdigest()


def assign_course_splits(items: pl.DataFrame, seed: int, test_fraction: float) -> dict[int, str]:
    """Whole courses to test, in a seeded order, until they hold `test_fraction` of the items.
    Courses with no dated items stay in train (they cannot anchor a test conversation)."""
    sizes = items.group_by("course_id").agg(pl.len().alias("n"), pl.col("due_at").is_not_null().sum().alias("dated"))
    total = int(sizes["n"].sum())
    split = {int(cid): "train" for cid in sizes["course_id"]}
    held = 0
    for row in sorted(sizes.iter_rows(named=True), key=lambda r: _rank(seed, r["course_id"])):
        if held >= test_fraction * total:
            break
        if row["dated"] == 0 or held + row["n"] > 2 * test_fraction * total:
            continue
        split[int(row["course_id"])] = "test"
        held += row["n"]
    if "test" not in split.values() or "train" not in split.values():
        raise ValueError(f"cannot split {len(split)} course(s) into non-empty train and test sides")
    return split


def pair_label(side: dict[str, Any]) -> str:
    """A priority-pair item in the reranker's '[TYPE] Title @COURSEcode STATUS Npts' form."""
    type_code = {"graded_assignment": "ASGN", "quiz": "QUIZ", "exam": "EXAM"}.get(side["type"], "PART")
    if side["submitted"]:
        status = "SUBMITTED"
    elif side["missing"]:
        status = "MISSING"
    elif side["hours_until"] is None:
        status = "NO_DUE_DATE"
    elif side["hours_until"] <= 0:
        status = "OVERDUE"
    else:
        status = "UNSUBMITTED"
    points = "?" if side["points"] is None else f"{side['points']:g}"
    return f"[{type_code}] {side['title']} @{side['course']} {status} {points}pts"


def pairs_by_split(pairs: pl.DataFrame, seed: int, test_fraction: float) -> tuple[dict[str, list[PriorityPair]], int]:
    """Labelled pairs whose two courses fall on the same side; pairs straddling the split are
    left out of phase 1 (returned count) so no pair course is seen on both sides."""
    courses = sorted(set(pairs["a_course"].to_list()) | set(pairs["b_course"].to_list()), key=lambda c: _rank(seed, c))
    n_test = max(1, round(test_fraction * len(courses))) if courses else 0
    side = {c: ("test" if k < n_test else "train") for k, c in enumerate(courses)}
    out: dict[str, list[PriorityPair]] = {s: [] for s in SPLITS}
    straddling = 0
    for row in pairs.iter_rows(named=True):
        a = {k[2:]: v for k, v in row.items() if k.startswith("a_")}
        b = {k[2:]: v for k, v in row.items() if k.startswith("b_")}
        if side[a["course"]] != side[b["course"]]:
            straddling += 1
            continue
        out[side[a["course"]]].append(
            PriorityPair(
                row["pair_id"], row["query"], pair_label(a), pair_label(b), row["preferred"], (a["course"], b["course"])
            )
        )
    return out, straddling


class QuotaPlanner:
    """Chooses the next intent so per-tool counts stay level while every intent keeps a share.

    An intent that holds less than `floor_share` of the rows so far is taken first (variety);
    otherwise take the least-used tool and the intent containing it whose other tools are
    least used (balance). The balancing draws absorb what the variety draws skew.
    """

    floor_share = 0.008

    def __init__(self, intents: tuple[Intent, ...]) -> None:
        self.intents = list(intents)
        self.used: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.disabled: list[str] = []

    def choose(self, rng: random.Random, counts: Counter[str]) -> Intent:
        floor = self.floor_share * sum(self.used.values())
        behind = [i for i in self.intents if self.used[i.name] < floor]
        if behind:
            return behind[rng.randrange(len(behind))]
        tools = sorted({t for i in self.intents for t in i.tools})
        target = min(tools, key=lambda t: (counts[t], rng.random()))
        candidates = [i for i in self.intents if target in i.tools]
        scored = sorted(candidates, key=lambda i: (max(counts[t] for t in i.tools), rng.random()))
        best = max(counts[t] for t in scored[0].tools)
        slack = 3 + counts[target] // 10  # lets multi-call intents in, at a bounded cost to balance
        near = [i for i in scored if max(counts[t] for t in i.tools) <= best + slack]
        return near[rng.randrange(len(near))]

    def failed(self, intent: Intent, give_up_after: int) -> None:
        self.failures[intent.name] += 1
        if self.failures[intent.name] >= give_up_after and len(self.intents) > 1:
            self.intents = [i for i in self.intents if i.name != intent.name]
            self.disabled.append(intent.name)

    def succeeded(self, intent: Intent) -> None:
        self.failures[intent.name] = 0
        self.used[intent.name] += 1


def _choose_now(view: StudentView, rng: random.Random) -> datetime:
    dated = view.dated_items()
    if not dated:
        raise NotApplicable("view has no dated items")
    anchor = dated[rng.randrange(len(dated))].due_at
    assert anchor is not None
    moment = (anchor - timedelta(days=rng.uniform(0.5, 6))).astimezone(LOCAL_TZ)
    return datetime.combine(moment.date(), time(rng.randint(8, 21), rng.choice((0, 15, 30, 45))), tzinfo=LOCAL_TZ)


def _gate_texts(messages: list[dict[str, Any]]) -> list[str]:
    """Everything a trajectory says besides the fixed system prompt: turns, responses, and the
    string arguments of its calls."""
    texts = [str(m.get("content") or "") for m in messages[1:]]
    for message in messages:
        for call in message_calls(message):
            texts.extend(str(v) for v in call.arguments.values() if isinstance(v, str))
    return [t for t in texts if t]


def _roundtrip_ok(messages: list[dict[str, Any]]) -> bool:
    expected = [c for m in messages for c in message_calls(m)]
    parsed = parse_calls(render_conversation(messages))
    return not isinstance(parsed, ParseError) and parsed == expected


class _SplitBuilder:
    def __init__(
        self,
        split: str,
        views: list[StudentView],
        pairs: list[PriorityPair],
        scrubber: Scrubber,
        config: Phase1Config,
        quarantine: Quarantine,
    ) -> None:
        self.split, self.views, self.pair_pool, self.scrubber = split, views, pairs, scrubber
        self.config, self.quarantine = config, quarantine
        self.pair_lookup = {(p.item_a, p.item_b): p for p in pairs}
        intents = tuple(i for i in INTENTS if pairs or not i.needs_pairs)
        self.planner = QuotaPlanner(intents)
        self.counts: Counter[str] = Counter()
        self.rows: list[dict[str, Any]] = []
        self.candidates = 0
        self.not_applicable: Counter[str] = Counter()
        self.registry = load_registry()
        self.calendars: dict[tuple[int, date], list[Event]] = {}

    def calendar(self, view: StudentView, now: datetime) -> list[Event]:
        """The view's calendar around `now`; it depends only on the local date, so it is built once per day."""
        key = (id(view), now.astimezone(LOCAL_TZ).date())
        if key not in self.calendars:
            self.calendars[key] = build_calendar(view, now, self.config.seed)
        return self.calendars[key]

    def build(self, target: int) -> None:
        if not self.views:
            raise ValueError(f"no {self.split} courses to build trajectories from")
        weights = [1 + len(v.dated_items()) for v in self.views]
        tools = sorted({t for i in self.planner.intents for t in i.tools})
        attempt = 0
        # The size is a floor, and so is every tool's quota: keep going until both hold.
        while len(self.rows) < target or min(self.counts[t] for t in tools) < self.config.min_per_tool:
            attempt += 1
            if attempt > target * self.config.max_attempts_per_row:
                short = {t: self.counts[t] for t in tools if self.counts[t] < self.config.min_per_tool}
                raise RuntimeError(
                    f"phase 1 {self.split}: gave up after {attempt - 1} attempts with {len(self.rows)}/{target} "
                    f"trajectories; tools under the quota of {self.config.min_per_tool}: {short}; "
                    f"rejections so far: {self.quarantine.reason_counts()}"
                )
            rng = random.Random(f"phase1|{self.config.seed}|{self.split}|{attempt}")
            intent = self.planner.choose(rng, self.counts)
            view = rng.choices(self.views, weights=weights)[0]
            try:
                now = _choose_now(view, rng)
                backend = Backend(
                    view.as_of(now, self.config.seed),
                    now,
                    self.config.seed,
                    pairs=self.pair_lookup,
                    events=self.calendar(view, now),
                )
                dialogue = Dialogue(backend, rng, pair_pool=self.pair_pool)
                intent.run(dialogue)
            except NotApplicable:
                self.not_applicable[intent.name] += 1
                self.planner.failed(intent, self.config.intent_give_up_after)
                continue
            except RejectedCandidate as rejected:
                self.candidates += 1
                self.quarantine.add(
                    rejected.reason,
                    f"{self.split} {intent.name}: {rejected.detail}",
                    source=STAGE,
                    record_id=f"{self.split}:{attempt}",
                )
                continue
            self.planner.succeeded(intent)
            self.candidates += 1
            self.accept(intent, dialogue, attempt)

    def accept(self, intent: Intent, dialogue: Dialogue, attempt: int) -> None:
        tools = dialogue.tools_used()
        if sorted(tools) != sorted(intent.tools):
            raise RuntimeError(f"intent {intent.name} called {tools}, declared {intent.tools}")
        record_id = f"{self.split}:{attempt}"
        payload = {"intent": intent.name, "messages": dialogue.messages[1:]}
        repeated = [t for t, n in Counter(tools).items() if n > self.config.max_same_tool]
        if repeated:
            self.quarantine.add(
                "tool_repeated",
                f"{intent.name}: {repeated} more than {self.config.max_same_tool} times",
                source=STAGE,
                record_id=record_id,
                payload=payload,
            )
            return
        if not _roundtrip_ok(dialogue.messages):
            self.quarantine.add(
                "codec_roundtrip",
                f"{intent.name}: rendered calls do not parse back",
                source=STAGE,
                record_id=record_id,
                payload=payload,
            )
            return
        findings = [f for text in _gate_texts(dialogue.messages) for f in self.scrubber.findings(text)]
        if findings:
            labels = sorted({f.label for f in findings})
            self.quarantine.add(
                "pii_flagged",
                f"{intent.name}: {self.scrubber.name} flagged {labels}",
                source=STAGE,
                record_id=record_id,
                payload=payload,
            )
            return
        self.counts.update(tools)
        self.rows.append(
            {
                "id": f"p1-{self.split}-{len(self.rows):05d}",
                "split": self.split,
                "intent": intent.name,
                "messages": dialogue.messages,
                "item_ids": sorted(dialogue.backend.touched),
                "tools_used": tools,
            }
        )


def tool_cv(counts: dict[str, int], tools: tuple[str, ...]) -> float:
    values = [counts.get(t, 0) for t in tools]
    return pstdev(values) / mean(values) if mean(values) else float("inf")


def build_phase1(
    items: pl.DataFrame, pairs: pl.DataFrame, scrubber: Scrubber, config: Phase1Config = Phase1Config()
) -> Phase1Result:
    """Trajectories for both splits, the rejected candidates, and the shrinkage report."""
    split_of_course = assign_course_splits(items, config.seed, config.test_item_fraction)
    views = views_from_items(items, split_of_course)
    pair_pools, straddling = pairs_by_split(pairs, config.seed, config.pair_test_fraction)
    quarantine = Quarantine(STAGE)
    builders = {}
    for split, target in (("train", config.train_size), ("test", config.test_size)):
        builder = _SplitBuilder(
            split, [v for v in views if v.split == split], pair_pools[split], scrubber, config, quarantine
        )
        builder.build(target)
        builders[split] = builder
    rows = builders["train"].rows + builders["test"].rows
    Trajectories.validate(trajectory_frame(rows))
    tools = load_registry().names
    counts = {s: dict(sorted(b.counts.items())) for s, b in builders.items()}
    extra: dict[str, Any] = {
        "train_rows": len(builders["train"].rows),
        "test_rows": len(builders["test"].rows),
        "train_courses": sum(1 for s in split_of_course.values() if s == "train"),
        "test_courses": sum(1 for s in split_of_course.values() if s == "test"),
        "pairs_used_train": len(pair_pools["train"]),
        "pairs_used_test": len(pair_pools["test"]),
        "pairs_straddling_split": straddling,
        "not_applicable_attempts": sum(sum(b.not_applicable.values()) for b in builders.values()),
        "tool_cv_train": round(tool_cv(counts["train"], tools), 4),
        "tool_cv_test": round(tool_cv(counts["test"], tools), 4),
        "tool_min_train": min(counts["train"].get(t, 0) for t in tools),
        "tool_min_test": min(counts["test"].get(t, 0) for t in tools),
    }
    report = report_from(
        STAGE,
        rows_in=sum(b.candidates for b in builders.values()),
        rows_out=len(rows),
        quarantine=quarantine,
        **extra,
    )
    return Phase1Result(
        rows=rows,
        quarantine=quarantine,
        report=report,
        split_of_course=split_of_course,
        tool_counts=counts,
        disabled_intents={s: b.planner.disabled for s, b in builders.items()},
    )


def trajectory_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """The flat polars view of phase-1 rows (messages as canonical JSON text)."""
    return pl.DataFrame(
        {
            "id": [r["id"] for r in rows],
            "split": [r["split"] for r in rows],
            "messages_json": [dumps_canonical(r["messages"]) for r in rows],
            "item_ids": [r["item_ids"] for r in rows],
            "tools_used": [r["tools_used"] for r in rows],
        },
        schema={
            "id": pl.String(),
            "split": pl.String(),
            "messages_json": pl.String(),
            "item_ids": pl.List(pl.String()),
            "tools_used": pl.List(pl.String()),
        },
    )
