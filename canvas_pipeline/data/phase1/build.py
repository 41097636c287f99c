"""Phase 1: quota-balanced, item-disjoint SFT trajectories from the scrubbed snapshot.

Courses (and so their items) are assigned to train, test or bench before anything is
generated; every conversation is made inside one (term, split) view, so no course or item
one split shows can appear in another. Phase 1 uses train and test; the bench (phase 4)
is generated the same way from its own held-out courses. Each candidate passes four gates
before it is kept: arguments valid against the registry, no tool more than
`max_same_tool` times, the codec round-trips its rendered text, and the PII scrubber finds
nothing in it.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from statistics import mean, pstdev
from typing import Any

import polars as pl

from canvas_pipeline.data.backend import Backend, PriorityPair
from canvas_pipeline.data.calendar import Event, build_calendar
from canvas_pipeline.data.io import dumps_canonical
from canvas_pipeline.data.phase1.dialogue import Dialogue, NotApplicable, Phrasebook, RejectedCandidate
from canvas_pipeline.data.phase1.intent_mix import REQUEST_WEIGHTS, IntentMix, realised_shares, solve_mix, spearman
from canvas_pipeline.data.phase1.intents import INTENTS, Intent
from canvas_pipeline.data.phase1.pair_split import PairSplit, split_pairs
from canvas_pipeline.data.pii import Scrubber
from canvas_pipeline.data.schemas import Trajectories
from canvas_pipeline.data.stage import Quarantine, StageReport, report_from
from canvas_pipeline.data.student_view import LOCAL_TZ, StudentView, local_iso, views_from_items
from canvas_pipeline.tools.chat_format import message_calls, render_conversation
from canvas_pipeline.tools.codec import ParseError, parse_calls
from canvas_pipeline.tools.registry import load_registry

STAGE = "phase1/sft_trajectories"
SPLITS = ("train", "test", "bench")
PAIR_TRAIN_SHARE = 0.5  # the train split keeps at least half of the priority pairs


@dataclass(frozen=True)
class Quotas:
    """How a split is filled: its size and every tool's minimum count are floors."""

    min_per_tool: int = 30
    max_same_tool: int = 3
    max_attempts_per_row: int = 20
    intent_give_up_after: int = 60
    no_call_share: float = 0.04


@dataclass(frozen=True)
class Phase1Config:
    seed: int = 0
    train_size: int = 3000
    test_size: int = 400
    test_item_fraction: float = 0.15
    bench_item_fraction: float = 0.15
    # Priority pairs: the least share of all pairs each split keeps (items, not courses, are
    # split; `pair_split`): as many pairs used as the pair graph allows, the rest quarantined.
    pair_test_fraction: float = 0.05
    pair_bench_fraction: float = 0.08
    quotas: Quotas = Quotas()
    # A train conversation's student takes at least this many of the split's courses (a
    # seeded subset; None: all of them, always). The held-out views list other courses and
    # fewer of them; a model that only ever saw one enrollment learns its course list.
    train_min_enrolled: int | None = 2
    # The train split's intents are drawn from the closest mix to these request weights that
    # keeps G4 with a margin (`intent_mix`); None: balance tools only, as the held-out splits do.
    intent_mix: dict[str, float] | None = field(default_factory=lambda: dict(REQUEST_WEIGHTS))
    mix_max_cv: float = 0.25  # G4 fails above 0.3; drawn counts land up to ~0.02 above the mix
    mix_min_calls: int = 60  # twice the per-tool floor, expected, where the size allows
    # Conversations with a step of independent calls made together: phase 2's under-calling
    # pairs (one call where two are needed) come only from them.
    parallel_min_share: float = 0.07
    # Share of the train split's pending calendar changes that go on to the student's yes or no.
    confirmation_share: float = 0.35

    @property
    def split_fractions(self) -> dict[str, float]:
        return {"test": self.test_item_fraction, "bench": self.bench_item_fraction}

    @property
    def pair_fractions(self) -> dict[str, float]:
        return {"train": PAIR_TRAIN_SHARE, "test": self.pair_test_fraction, "bench": self.pair_bench_fraction}


@dataclass
class Phase1Result:
    rows: list[dict[str, Any]]
    quarantine: Quarantine
    report: StageReport
    split_of_course: dict[int, str]
    tool_counts: dict[str, dict[str, int]]
    disabled_intents: dict[str, list[str]] = field(default_factory=dict)
    pair_quarantine: list[dict[str, Any]] = field(default_factory=list)  # priority pairs left out


def _rank(seed: int, key: object) -> str:
    return hashlib.sha256(f"{seed}|{key}".encode()).hexdigest()


def assign_course_splits(items: pl.DataFrame, seed: int, fractions: dict[str, float]) -> dict[int, str]:
    """Whole courses to each held-out split in turn (test, then bench), in a seeded order,
    until it holds its fraction of the items; the rest train. Courses with no dated items
    stay in train (they cannot anchor a held-out conversation)."""
    sizes = items.group_by("course_id").agg(pl.len().alias("n"), pl.col("due_at").is_not_null().sum().alias("dated"))
    total = int(sizes["n"].sum())
    split = {int(cid): "train" for cid in sizes["course_id"]}
    order = sorted(sizes.iter_rows(named=True), key=lambda r: _rank(seed, r["course_id"]))
    for name, fraction in fractions.items():
        held = 0
        for row in order:
            if held >= fraction * total:
                break
            cid = int(row["course_id"])
            if split[cid] != "train" or row["dated"] == 0 or held + row["n"] > 2 * fraction * total:
                continue
            split[cid] = name
            held += row["n"]
    missing = [name for name in ("train", *fractions) if name not in split.values()]
    if missing:
        raise ValueError(f"cannot split {len(split)} course(s): no course left for {missing}")
    return split


def pairs_by_split(pairs: pl.DataFrame, seed: int, fractions: dict[str, float]) -> PairSplit:
    """The priority pairs each split may use, and those left out (`pair_split.split_pairs`)."""
    return split_pairs(pairs, seed, fractions)


class QuotaPlanner:
    """Chooses the next intent: drawn from a mix of requests, or so per-tool counts stay level.

    With a `mix` (intent -> weight; the train split, `intent_mix`), intents are drawn from it
    until the split has its size; then tools still under their floor are topped up by the
    balancing rule. Without one (the held-out splits, which score every tool alike), every
    draw balances: an intent that holds less than `floor_share` of the rows so far is taken
    first (variety); otherwise take the least-used tool and the intent containing it whose
    other tools are least used.
    """

    floor_share = 0.008

    def __init__(
        self,
        intents: tuple[Intent, ...],
        no_call_share: float,
        tools_of: Callable[[Intent], tuple[str, ...]] = lambda i: i.tools,
        mix: dict[str, float] | None = None,
    ) -> None:
        # `tools_of`: the tools an intent's rows count toward (all its calls in training, the
        # first expected call on the bench).
        self.tools_of = tools_of
        self.intents = [i for i in intents if i.tools]
        self.no_call = [i for i in intents if not i.tools]
        self.no_call_share = no_call_share if self.no_call else 0.0
        self.used: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.disabled: list[str] = []
        self.mix = mix

    def choose(self, rng: random.Random, counts: Counter[str], topping_up: bool = False) -> Intent:
        """The next intent; `topping_up`: the split has its size and only tool floors are short."""
        if rng.random() < self.no_call_share:
            return self.no_call[rng.randrange(len(self.no_call))]
        if self.mix is not None and not topping_up:
            return rng.choices(self.intents, weights=[self.mix[i.name] for i in self.intents])[0]
        floor = self.floor_share * sum(self.used.values())
        behind = [i for i in self.intents if self.used[i.name] < floor]
        if behind:
            return behind[rng.randrange(len(behind))]
        tools = self.tools()
        target = min(tools, key=lambda t: (counts[t], rng.random()))
        candidates = [i for i in self.intents if target in self.tools_of(i)]
        scored = sorted(candidates, key=lambda i: (max(counts[t] for t in self.tools_of(i)), rng.random()))
        best = max(counts[t] for t in self.tools_of(scored[0]))
        slack = 3 + counts[target] // 10  # lets multi-call intents in, at a bounded cost to balance
        near = [i for i in scored if max(counts[t] for t in self.tools_of(i)) <= best + slack]
        return near[rng.randrange(len(near))]

    def tools(self) -> list[str]:
        """Every tool the remaining intents count toward."""
        return sorted({t for i in self.intents for t in self.tools_of(i)})

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


def prompt_key(messages: list[dict[str, Any]]) -> str:
    """A conversation up to (and with) its last user turn, system prompt left out: what a
    bench item built from it asks."""
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
    return dumps_canonical([m for m in messages[: last_user + 1] if m["role"] != "system"])


def _roundtrip_ok(messages: list[dict[str, Any]]) -> bool:
    expected = [c for m in messages for c in message_calls(m)]
    parsed = parse_calls(render_conversation(messages))
    return not isinstance(parsed, ParseError) and parsed == expected


@dataclass
class SplitStats:
    candidates: int = 0
    not_applicable: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)
    disabled: list[str] = field(default_factory=list)


class SplitGenerator:
    """Generates one split's conversations until its size and tool quotas hold."""

    def __init__(
        self,
        split: str,
        views: list[StudentView],
        pairs: list[PriorityPair],
        scrubber: Scrubber,
        seed: int,
        quotas: Quotas,
        quarantine: Quarantine,
        stage: str = STAGE,
        id_prefix: str = "p1",
        counted_tools: Callable[[list[dict[str, Any]]], list[str]] | None = None,
        phrasebook: Phrasebook | None = None,
        planned_tools: Callable[[Intent], tuple[str, ...]] | None = None,
        mix: IntentMix | None = None,
        carry_confirmations: float = 0.0,
        unique_prompts: bool = False,
        spread_courses: bool = False,
        min_enrolled: int | None = None,
    ) -> None:
        self.split, self.views, self.pair_pool, self.scrubber = split, views, pairs, scrubber
        self.seed, self.quotas, self.quarantine, self.stage, self.id_prefix = seed, quotas, quarantine, stage, id_prefix
        # Which calls of a conversation count toward the tool quotas (the bench counts only
        # the calls it expects, those after the last user turn).
        self.counted_tools = counted_tools
        self.phrasebook = phrasebook
        # The bench keeps one item per prompt: a repeated request measures nothing new.
        self.unique_prompts = unique_prompts
        self.prompts: set[str] = set()
        # Each conversation's student takes a seeded subset of the view's courses, at least
        # `min_enrolled` of them (None: every course of the view, always).
        self.min_enrolled = min_enrolled
        # Spread items evenly over the split's courses instead of by their item counts.
        self.course_use: Counter[int] | None = Counter() if spread_courses else None
        self.pair_lookup = {(p.item_a, p.item_b): p for p in pairs}
        intents = tuple(i for i in INTENTS if split in i.splits and (pairs or not i.needs_pairs))
        self.carry_confirmations = carry_confirmations
        self.planner = QuotaPlanner(
            intents, quotas.no_call_share, planned_tools or (lambda i: i.tools), mix.weights if mix else None
        )
        self.stats = SplitStats()
        self.rows: list[dict[str, Any]] = []
        self.calendars: dict[tuple[str, str, tuple[int, ...], date], list[Event]] = {}

    def calendar(self, view: StudentView, now: datetime) -> list[Event]:
        """The view's calendar around `now`; it depends only on the local date, so it is built once per day."""
        key = (view.term, view.split, tuple(c.course_id for c in view.courses), now.astimezone(LOCAL_TZ).date())
        if key not in self.calendars:
            self.calendars[key] = build_calendar(view, now, self.seed)
        return self.calendars[key]

    def build(self, target: int) -> list[dict[str, Any]]:
        if not self.views:
            raise ValueError(f"no {self.split} courses to build conversations from")
        weights = [1 + len(v.dated_items()) for v in self.views]
        tools = self.planner.tools()
        counts = self.stats.counts
        attempt = 0
        # The size is a floor, and so is every tool's quota: keep going until both hold.
        while len(self.rows) < target or min(counts[t] for t in tools) < self.quotas.min_per_tool:
            attempt += 1
            if attempt > target * self.quotas.max_attempts_per_row:
                short = {t: counts[t] for t in tools if counts[t] < self.quotas.min_per_tool}
                raise RuntimeError(
                    f"{self.stage} {self.split}: gave up after {attempt - 1} attempts with {len(self.rows)}/{target} "
                    f"conversations; tools under the quota of {self.quotas.min_per_tool}: {short}; "
                    f"rejections so far: {self.quarantine.reason_counts()}"
                )
            rng = random.Random(f"{self.id_prefix}|{self.seed}|{self.split}|{attempt}")
            intent = self.planner.choose(rng, counts, topping_up=len(self.rows) >= target)
            view = self.enroll(self.choose_view(rng, weights), rng)
            try:
                now = _choose_now(view, rng)
                backend = Backend(
                    view.as_of(now, self.seed), now, self.seed, pairs=self.pair_lookup, events=self.calendar(view, now)
                )
                dialogue = Dialogue(
                    backend,
                    rng,
                    pair_pool=self.pair_pool,
                    intent=intent.name,
                    phrasebook=self.phrasebook,
                    course_use=self.course_use,
                    carry_confirmations=self.carry_confirmations,
                )
                intent.run(dialogue)
            except NotApplicable:
                self.stats.not_applicable[intent.name] += 1
                self.planner.failed(intent, self.quotas.intent_give_up_after)
                continue
            except RejectedCandidate as rejected:
                self.stats.candidates += 1
                self.quarantine.add(
                    rejected.reason,
                    f"{self.split} {intent.name}: {rejected.detail}",
                    source=self.stage,
                    record_id=f"{self.split}:{attempt}",
                )
                continue
            self.planner.succeeded(intent)
            self.stats.candidates += 1
            self.accept(intent, dialogue, attempt, view, now)
        self.stats.disabled = self.planner.disabled
        return self.rows

    def choose_view(self, rng: random.Random, weights: list[int]) -> StudentView:
        """A view by its dated items, or, spreading courses, the view of the least-used course."""
        if self.course_use is None:
            return rng.choices(self.views, weights=weights)[0]
        use = self.course_use
        return min(self.views, key=lambda v: (min(use[c.course_id] for c in v.courses), rng.random()))

    def enroll(self, view: StudentView, rng: random.Random) -> StudentView:
        """The courses one student of the view takes: with `min_enrolled` set, a seeded subset
        of between that many and all of them, so the split's conversations do not all list the
        same enrollment (a held-out view lists other courses, and a different number of them)."""
        low = self.min_enrolled
        if low is None or len(view.courses) <= low:
            return view
        size = rng.randint(low, len(view.courses))
        if size == len(view.courses):
            return view
        return view.enrolled(c.course_id for c in rng.sample(view.courses, size))

    def rejection(self, tools: list[str], dialogue: Dialogue) -> tuple[str, str] | None:
        """Why a finished conversation is not fit for the split (reason, detail), or None: a
        tool repeated too often, calls that do not parse back, (bench) a prompt already
        asked, text the PII scrubber flags."""
        repeated = [t for t, n in Counter(tools).items() if n > self.quotas.max_same_tool]
        if repeated:
            return "tool_repeated", f"{repeated} more than {self.quotas.max_same_tool} times"
        if not _roundtrip_ok(dialogue.messages):
            return "codec_roundtrip", "rendered calls do not parse back"
        if self.unique_prompts and prompt_key(dialogue.messages) in self.prompts:
            return "duplicate_prompt", "the same conversation up to its last request is already an item"
        findings = [f for text in _gate_texts(dialogue.messages) for f in self.scrubber.findings(text)]
        if findings:
            return "pii_flagged", f"{self.scrubber.name} flagged {sorted({f.label for f in findings})}"
        return None

    def context(self, view: StudentView, now: datetime) -> dict[str, Any]:
        """What the simulated backend is rebuilt from (the bench harness): the view, the clock,
        the seed, and the student's courses when they are a subset of the view's."""
        context: dict[str, Any] = {"term": view.term, "split": view.split, "now": local_iso(now), "seed": self.seed}
        full = next(v for v in self.views if (v.term, v.split) == (view.term, view.split))
        if len(view.courses) < len(full.courses):
            context["courses"] = [c.course_id for c in view.courses]
        return context

    def accept(self, intent: Intent, dialogue: Dialogue, attempt: int, view: StudentView, now: datetime) -> None:
        tools = dialogue.tools_used()
        if sorted(tools) != sorted(intent.tools):
            raise RuntimeError(f"intent {intent.name} called {tools}, declared {intent.tools}")
        rejection = self.rejection(tools, dialogue)
        if rejection is not None:
            reason, detail = rejection
            self.quarantine.add(
                reason,
                f"{intent.name}: {detail}",
                source=self.stage,
                record_id=f"{self.split}:{attempt}",
                payload={"intent": intent.name, "messages": dialogue.messages[1:]},
            )
            return
        if self.unique_prompts:
            self.prompts.add(prompt_key(dialogue.messages))
        if self.course_use is not None:
            self.course_use.update(int(i.split(":")[1]) for i in dialogue.backend.touched if i.startswith("course:"))
        self.stats.counts.update(self.counted_tools(dialogue.messages) if self.counted_tools else tools)
        self.rows.append(
            {
                "id": f"{self.id_prefix}-{self.split}-{len(self.rows):05d}",
                "split": self.split,
                "intent": intent.name,
                "messages": dialogue.messages,
                "item_ids": sorted(dialogue.backend.touched),
                "tools_used": tools,
                # What the simulated backend needs to answer these calls again (the bench harness).
                "context": self.context(view, now),
            }
        )


def tool_cv(counts: dict[str, int], tools: tuple[str, ...]) -> float:
    values = [counts.get(t, 0) for t in tools]
    return pstdev(values) / mean(values) if mean(values) else float("inf")


def train_mix(config: Phase1Config, has_pairs: bool) -> IntentMix | None:
    """The intent mix the train split draws from (None: tool balancing only)."""
    if config.intent_mix is None:
        return None
    intents = [i for i in INTENTS if "train" in i.splits and (has_pairs or not i.needs_pairs)]
    rows = round(config.train_size * (1 - config.quotas.no_call_share))
    tools = {t for i in intents for t in i.tools}
    # A small split cannot promise every tool its margin in expectation; the top-up still
    # brings each tool to its floor.
    min_calls = min(config.mix_min_calls, rows // len(tools))
    parallel = tuple(i.name for i in intents if i.parallel_calls)
    return solve_mix(
        intents,
        config.intent_mix,
        rows=rows,
        min_calls=min_calls,
        max_cv=config.mix_max_cv,
        group_floors={parallel: config.parallel_min_share},
    )


def mix_report(mix: IntentMix | None, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How the train split's intents compare with the target and with the mix they were drawn from."""
    if mix is None:
        return {"intent_mix": None}
    drawn = realised_shares([r["intent"] for r in rows], list(mix.weights))
    return {
        **mix.report(),
        "intent_mix.realised_total_variation_from_mix": round(
            0.5 * sum(abs(drawn[k] - mix.weights[k]) for k in drawn), 4
        ),
        "intent_mix.realised_total_variation_from_target": round(
            0.5 * sum(abs(drawn[k] - mix.target[k]) for k in drawn), 4
        ),
        "intent_mix.rank_correlation_with_target": round(spearman(drawn, mix.target), 4),
        "intent_mix.most_common": [[k, round(v, 4)] for k, v in sorted(drawn.items(), key=lambda kv: -kv[1])[:8]],
        "intent_mix.target_most_common": [
            [k, round(v, 4)] for k, v in sorted(mix.target.items(), key=lambda kv: -kv[1])[:8]
        ],
    }


def build_phase1(
    items: pl.DataFrame, pairs: pl.DataFrame, scrubber: Scrubber, config: Phase1Config = Phase1Config()
) -> Phase1Result:
    """Trajectories for the train and test splits, the rejected candidates, and the report."""
    split_of_course = assign_course_splits(items, config.seed, config.split_fractions)
    views = views_from_items(items, split_of_course)
    pair_split = pairs_by_split(pairs, config.seed, config.pair_fractions)
    pair_pools = pair_split.pools
    quarantine = Quarantine(STAGE)
    mix = train_mix(config, bool(pair_pools["train"]))
    generators = {}
    for split, target in (("train", config.train_size), ("test", config.test_size)):
        generator = SplitGenerator(
            split,
            [v for v in views if v.split == split],
            pair_pools[split],
            scrubber,
            config.seed,
            config.quotas,
            quarantine,
            min_enrolled=config.train_min_enrolled if split == "train" else None,
            mix=mix if split == "train" else None,
            carry_confirmations=config.confirmation_share if split == "train" else 0.0,
        )
        generator.build(target)
        generators[split] = generator
    rows = generators["train"].rows + generators["test"].rows
    Trajectories.validate(trajectory_frame(rows))
    tools = load_registry().names
    counts = {s: dict(sorted(g.stats.counts.items())) for s, g in generators.items()}
    extra: dict[str, Any] = {
        "train_rows": len(generators["train"].rows),
        "test_rows": len(generators["test"].rows),
        "no_call_rows": sum(1 for r in rows if not r["tools_used"]),
        **{f"{s}_courses": sum(1 for v in split_of_course.values() if v == s) for s in SPLITS},
        **pair_split.report(),
        "not_applicable_attempts": sum(sum(g.stats.not_applicable.values()) for g in generators.values()),
        "tool_cv_train": round(tool_cv(counts["train"], tools), 4),
        "tool_cv_test": round(tool_cv(counts["test"], tools), 4),
        "tool_min_train": min(counts["train"].get(t, 0) for t in tools),
        "tool_min_test": min(counts["test"].get(t, 0) for t in tools),
        **mix_report(mix, generators["train"].rows),
    }
    report = report_from(
        STAGE,
        rows_in=sum(g.stats.candidates for g in generators.values()),
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
        disabled_intents={s: g.stats.disabled for s, g in generators.items()},
        pair_quarantine=pair_split.left_out,
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
