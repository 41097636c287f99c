"""The bench's own checks, beside G1-G14: a bench decides which checkpoint ships, so it must
be able to judge every tool (coverage and variety) and must not be passable by recalling
training phrasings (phrasing disjointness). Both read `phase4/benchmark.jsonl` and, for
disjointness, every training dataset in the same folder; both are blocking checks on the
`phase4/benchmark` asset and rows of `canvas-train check`."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from canvas_pipeline.data.phase4.overlap import phrasing_overlap, prompt_key, training_conversations, user_turns
from canvas_pipeline.guardrails.inputs import DATASET_FILES, DataDirError
from canvas_pipeline.guardrails.result import GuardrailResult, capped, not_run

COVERAGE_ID, PHRASING_ID = "BENCH", "BENCH_PHRASING"
COVERAGE_NAME = "bench coverage and variety"
PHRASING_NAME = "bench phrasings unseen in training"
MIN_ITEMS = 1000
MIN_FIRST_CALLS = 40
MIN_IRRELEVANCE = 0.08
MIN_IRRELEVANCE_TEXTS = 50
MAX_DUPLICATES = 0.10
MAX_VERBATIM = 0.0
MAX_SKELETON = 0.10
COVERAGE_THRESHOLD = (
    f">= {MIN_ITEMS} items, every tool the first expected call of >= {MIN_FIRST_CALLS}, irrelevance >= "
    f"{MIN_IRRELEVANCE:.0%} with >= {MIN_IRRELEVANCE_TEXTS} distinct texts, duplicate prompts <= {MAX_DUPLICATES:.0%}"
)
PHRASING_THRESHOLD = (
    f"bench user turns verbatim in training {MAX_VERBATIM:.0%}, sharing a skeleton <= {MAX_SKELETON:.0%}"
)
TRAINING_DATASETS = ("phase1", "phase2", "phase3")


def read_rows(path: Path) -> list[dict[str, Any]]:
    """A JSONL dataset's rows; a line that is not a JSON object is an error naming it."""
    rows = []
    for number, line in enumerate(path.read_text("utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataDirError(f"{path}:{number}: malformed JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(row, Mapping) or not isinstance(row.get("prompt", row.get("messages")), list):
            raise DataDirError(f"{path}:{number}: not a row with a `prompt` or `messages` list")
        rows.append(dict(row))
    return rows


def bench_coverage(bench: Sequence[Mapping[str, Any]], tools: Sequence[str]) -> GuardrailResult:
    """The bench can judge every tool and irrelevance with confidence: >= 1000 items; every
    registry tool the first expected call of >= 40 items (selection accuracy is measured on
    the first call, so a tool only ever called second cannot be judged); >= 8% items where
    no call is right, worded >= 50 different ways; <= 10% items repeating another's prompt."""
    first = Counter(str(r["expected_tools"][0]) for r in bench if r.get("expected_tools"))
    irrelevant = [r for r in bench if not r.get("expected_tools")]
    texts = {" ".join(user_turns(r["prompt"])).lower() for r in irrelevant}
    share = len(irrelevant) / len(bench) if bench else 0.0
    keys = Counter(prompt_key(r["prompt"]) for r in bench)
    duplicates = sum(n - 1 for n in keys.values())
    duplicate_share = duplicates / len(bench) if bench else 0.0
    offenders = [
        f"{t}: first call of {first.get(t, 0)} < {MIN_FIRST_CALLS}" for t in tools if first.get(t, 0) < MIN_FIRST_CALLS
    ]
    if len(bench) < MIN_ITEMS:
        offenders.insert(0, f"{len(bench)} items < {MIN_ITEMS}")
    if share < MIN_IRRELEVANCE:
        offenders.append(f"irrelevance {share:.1%} < {MIN_IRRELEVANCE:.0%}")
    if len(texts) < MIN_IRRELEVANCE_TEXTS:
        offenders.append(f"{len(texts)} distinct irrelevance texts < {MIN_IRRELEVANCE_TEXTS}")
    if duplicate_share > MAX_DUPLICATES:
        offenders.append(f"{duplicates} duplicate prompts ({duplicate_share:.1%}) > {MAX_DUPLICATES:.0%}")
    per_course = Counter(c for r in bench for c in r.get("item_ids", []) if str(c).startswith("course:"))
    value = {
        "items": len(bench),
        "courses": len(per_course),
        "items_per_course_min_max": [min(per_course.values(), default=0), max(per_course.values(), default=0)],
        "first_call_min": min((first.get(t, 0) for t in tools), default=0),
        "first_call_min_tool": min(tools, key=lambda t: first.get(t, 0)) if tools else None,
        "irrelevance_share": round(share, 4),
        "irrelevance_texts": len(texts),
        "duplicate_prompts": duplicates,
        "duplicate_share": round(duplicate_share, 4),
        "first_calls": {t: first.get(t, 0) for t in tools},
    }
    details, n = capped(offenders)
    return GuardrailResult(COVERAGE_ID, COVERAGE_NAME, not offenders, value, COVERAGE_THRESHOLD, details, n)


def bench_phrasing(
    bench: Sequence[Mapping[str, Any]], training: Mapping[str, Sequence[Mapping[str, Any]]]
) -> GuardrailResult:
    """No bench request is worded as any training split words one: 0% of bench user turns
    verbatim in a training dataset, <= 10% sharing a skeleton (names, numbers, dates and
    quoted strings masked) with a training user turn."""
    conversations = [c for rows in training.values() for c in training_conversations(rows)]
    overlap = phrasing_overlap(bench, conversations)
    offenders = []
    if overlap.verbatim_share > MAX_VERBATIM:
        offenders.append(f"{overlap.verbatim} bench user turns ({overlap.verbatim_share:.1%}) verbatim in training")
    if overlap.skeleton_share > MAX_SKELETON:
        offenders.append(
            f"{overlap.skeleton} bench user turns ({overlap.skeleton_share:.1%}) share a skeleton with training "
            f"> {MAX_SKELETON:.0%}"
        )
    offenders += [f"e.g. {e}" for e in overlap.examples] if offenders else []
    value = {**overlap.as_dict(), "training_datasets": sorted(training)}
    details, n = capped(offenders)
    return GuardrailResult(PHRASING_ID, PHRASING_NAME, not offenders, value, PHRASING_THRESHOLD, details, n)


def run_bench_checks(data_dir: Path, tools: Sequence[str]) -> list[GuardrailResult]:
    """Both bench checks on a data folder; NOT RUN (with the reason) without a bench, and the
    phrasing check NOT RUN without any training dataset to compare with."""
    data_dir = Path(data_dir)
    bench_path = data_dir / DATASET_FILES["phase4"][0]
    if not bench_path.is_file():
        reason = f"no {bench_path}"
        return [
            not_run(COVERAGE_ID, COVERAGE_NAME, COVERAGE_THRESHOLD, reason),
            not_run(PHRASING_ID, PHRASING_NAME, PHRASING_THRESHOLD, reason),
        ]
    bench = read_rows(bench_path)
    training = {
        name: read_rows(path) for name in TRAINING_DATASETS if (path := data_dir / DATASET_FILES[name][0]).is_file()
    }
    coverage = bench_coverage(bench, tools)
    if not training:
        reason = f"no training dataset ({', '.join(TRAINING_DATASETS)}) in {data_dir} to compare the bench with"
        return [coverage, not_run(PHRASING_ID, PHRASING_NAME, PHRASING_THRESHOLD, reason)]
    return [coverage, bench_phrasing(bench, training)]
