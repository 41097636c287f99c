"""On-policy preference and feedback rows: what a checkpoint itself answers at the training
split's decision points, judged by the same axis functions that label phase 2.

Phase 2's rejected sides are mutations the `sft` checkpoint mostly ranks right already
(DPO's eval reward accuracy before training is ~0.8), so a few adapter steps on them barely
move it. Here the wrong sides are the checkpoint's own: every greedy answer that breaks an
axis (`data.phase2.axes.violated_axes`, judged against what the trajectory did and does
next) is a rejected side against the trajectory's own turn, labelled with every axis it
breaks; every answer that breaks none is a desirable KTO completion. Answers identical to
the trajectory's turn are counted, not paired: a pair needs two different sides.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from canvas_pipeline.data.layout import ON_POLICY, ON_POLICY_MUTATION, on_policy_dir
from canvas_pipeline.data.phase2.axes import violated_axes
from canvas_pipeline.data.phase2.points import DecisionPoint, assistant_calls, assistant_text, decision_points
from canvas_pipeline.evaluation.generation import BATCH_SIZE, STOP_TOKENS, greedy_turns, prompt_text
from canvas_pipeline.tools.chat_format import tools_json
from canvas_pipeline.tools.codec import CALL_OPEN, ParseError, parse_calls

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

MUTATION = ON_POLICY_MUTATION
FORMAT_AXIS = 6


@dataclass(frozen=True)
class OnPolicyConfig:
    """How the checkpoint answers the train split's decision points."""

    # 768 points, each answered greedily and once sampled: ~1500 answers in ~32 s on two CPU
    # cores for the tiny `sft` (512 points: 10 s greedy, 11 s sampled), ~40% of them wrong.
    points: int | None = 768
    """A seeded sample of this many decision points (None: all of them)."""
    samples: int = 1
    """Sampled answers per point besides the greedy one, for variety (0: greedy only)."""
    temperature: float = 1.0
    """Sampling temperature of those answers (the full distribution, no top-k/top-p)."""
    share: float = 0.5
    """The on-policy rows' share of the mixed train split (the rest: the phase's own rows)."""
    min_rows: int = 1000
    """Train rows each mixed file holds at least (G12's minimum), topped up with phase rows."""
    seed: int = 0
    batch_size: int = BATCH_SIZE


@dataclass
class OnPolicyResult:
    pairs: list[dict[str, Any]]  # TRL conversational preference rows, phase 2's schema
    feedback: list[dict[str, Any]]  # KTO rows, phase 3's schema (desirable and undesirable)
    report: dict[str, Any] = field(default_factory=dict)
    repeated: list[str] = field(default_factory=list)  # the point of every answer not kept (a repeat)


def answer_message(output: str, point: DecisionPoint) -> dict[str, Any]:
    """The checkpoint's turn as an assistant message: its calls when it made well-formed ones,
    otherwise its text as written (a broken call stays text, which axis 6 judges)."""
    text = output
    for stop in STOP_TOKENS:
        text = text.removesuffix(stop)
    parsed = parse_calls(output)
    if isinstance(parsed, ParseError) or not parsed:
        return assistant_text(text.strip())
    return assistant_calls(list(parsed), point.next_call_id())


def _broken_call(answer: dict[str, Any]) -> bool:
    """A text answer holding a call envelope that does not parse. Axis 6 judges that only
    where a call was due; where the answer was due it is no right answer either (G8 would
    find it among the desirable completions), so it is a format failure wherever it is."""
    content = str(answer.get("content") or "")
    return not answer.get("tool_calls") and CALL_OPEN in content


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def bare(m: dict[str, Any]) -> Any:
        calls = [[c["function"]["name"], c["function"]["arguments"]] for c in m.get("tool_calls") or []]
        return (m.get("content") or "").strip(), calls

    return bare(a) == bare(b)


def sample_points(rows: Sequence[dict[str, Any]], config: OnPolicyConfig) -> list[DecisionPoint]:
    """The train split's decision points, a seeded sample of `config.points` of them."""
    points = [p for row in rows if row["split"] == "train" for p in decision_points(row)]
    if config.points is None or config.points >= len(points):
        return points
    return random.Random(f"on_policy|{config.seed}").sample(points, config.points)


def judge_answers(points: Sequence[DecisionPoint], outputs: Sequence[str]) -> OnPolicyResult:
    """Pairs and KTO rows from each point's answers (`outputs[i]` answers `points[i]`; a
    point may appear several times, greedy and sampled). An answer that repeats one
    already judged at the same point is counted (`answers_repeated`) and not kept twice."""
    tools = tools_json()
    pairs: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] = []
    broken_axes: Counter[str] = Counter()
    identical = 0
    repeated: list[str] = []
    seen: set[tuple[str, str]] = set()
    for point, output in zip(points, outputs, strict=True):
        answer = answer_message(output, point)
        fingerprint = (point.key, json.dumps(answer.get("tool_calls") or answer.get("content"), sort_keys=True))
        if fingerprint in seen:
            repeated.append(point.key)
            continue
        seen.add(fingerprint)
        common = {
            "prompt": point.prompt_messages(),
            "tools": tools,
            "item_ids": list(point.item_ids),
            "source_id": point.key,
        }
        if _same(answer, point.chosen):
            identical += 1
            feedback.append({**common, "completion": [answer], "label": True, "axis": None, "mutation": None})
            continue
        broken = sorted(violated_axes(point, answer) or ({FORMAT_AXIS} if _broken_call(answer) else set()))
        if not broken:
            # Different from the trajectory but breaking no axis: another right answer.
            feedback.append({**common, "completion": [answer], "label": True, "axis": None, "mutation": None})
            continue
        broken_axes[",".join(map(str, broken))] += 1
        axis: int | list[int] = broken[0] if len(broken) == 1 else broken
        pairs.append(
            {
                **common,
                "chosen": [point.chosen],
                "rejected": [answer],
                "axis": axis,
                "mutation": MUTATION,
                "direction": "",
            }
        )
        feedback.append({**common, "completion": [answer], "label": False, "axis": axis, "mutation": MUTATION})
    for n, row in enumerate(pairs):
        row["id"], row["split"] = f"op2-train-{n:05d}", "train"
    for n, row in enumerate(feedback):
        row["id"], row["split"] = f"op3-train-{n:05d}", "train"
    report = {
        "answers": len(points),
        "points_answered": len({p.key for p in points}),
        "answers_repeated": len(repeated),
        "answers_identical_to_trajectory": identical,
        "answers_right_but_different": len(feedback) - len(pairs) - identical,
        "answers_wrong": len(pairs),
        "wrong_share": round(len(pairs) / len(feedback), 4) if feedback else None,
        **{f"wrong_on_axes.{k}": v for k, v in sorted(broken_axes.items())},
    }
    return OnPolicyResult(pairs, feedback, report, repeated)


def on_policy_rows(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    phase1_rows: Sequence[dict[str, Any]],
    config: OnPolicyConfig = OnPolicyConfig(),
) -> OnPolicyResult:
    """The checkpoint answers a sample of the train split's decision points greedily (the
    bench's decoding) and `config.samples` times by sampling; its answers are judged into
    pairs and KTO rows."""
    points = sample_points(phase1_rows, config)
    prompts = [prompt_text(p.prompt_messages(), tools_json()) for p in points]
    outputs = greedy_turns(model, tokenizer, prompts, batch_size=config.batch_size)
    for draw in range(config.samples):
        outputs += greedy_turns(
            model,
            tokenizer,
            prompts,
            batch_size=config.batch_size,
            temperature=config.temperature,
            seed=config.seed * 1000 + draw,
        )
    return judge_answers(list(points) * (1 + config.samples), outputs)


# ------------------------------------------------------------------ the on-policy stage

STAGE = ON_POLICY
# The stage mirrors the data folder's layout (`phase2/dpo_pairs.jsonl`,
# `phase3/kto_feedback.jsonl`), so the guardrails and the trainers read it as they read the
# phase files.
PAIRS_FILE = "phase2/dpo_pairs.jsonl"
FEEDBACK_FILE = "phase3/kto_feedback.jsonl"


def mix_rows(
    on_policy: Sequence[dict[str, Any]],
    phase_train: Sequence[dict[str, Any]],
    share: float,
    seed: int,
    min_rows: int = 0,
) -> list[dict[str, Any]]:
    """Every on-policy row plus enough of the phase's train rows (a seeded sample, each at
    most once) that on-policy rows are `share` of the result, topped up with phase rows to
    `min_rows` in all when the checkpoint was wrong too rarely for that (G12's minimum: the
    realised share is then lower, and the stage's report says so)."""
    if not 0 < share <= 1:
        raise ValueError(f"on-policy share must be in (0, 1], got {share}")
    wanted = max(round(len(on_policy) * (1 - share) / share), min_rows - len(on_policy))
    rng = random.Random(f"mix|{seed}")
    return [*on_policy, *rng.sample(list(phase_train), min(wanted, len(phase_train)))]


def _input_lineage(out_dir: Path, profile: str, sft: Path, log: Any) -> dict[str, Any]:
    """The fingerprints of what the stage is made from (phases 1-3 and the `sft`
    checkpoint), or GateError when a phase's guardrails did not all pass on its current
    content or the checkpoint is superseded."""
    from canvas_pipeline.training.gates import ON_POLICY_INPUTS, GateError, reference_fingerprint, stage_refusals
    from canvas_pipeline.training.lineage import superseded_reason
    from canvas_pipeline.training.tokenizer import profile_tokenizer_dir

    roots = dict.fromkeys(ON_POLICY_INPUTS, out_dir)
    fingerprints, reasons = stage_refusals(roots, profile, profile_tokenizer_dir(out_dir, profile), log)
    if (marker := superseded_reason(sft)) is not None:
        reasons.append(f"the `sft` checkpoint is superseded: {marker}")
    if reasons:
        raise GateError(None, "the on-policy stage may not be built: " + "; ".join(reasons))
    return {"data": fingerprints, "sft": reference_fingerprint(sft)}


def write_on_policy_stage(out_dir: Path, profile: str, config: OnPolicyConfig, log: Any = print) -> dict[str, Any]:
    """The profile's `sft` checkpoint answers the train split's decision points; the judged
    answers, mixed with phase 2's and phase 3's train rows at `config.share`, are written with the
    phases' test rows (unchanged) under `on_policy_dir`, with a report and a quarantine of
    the answers not kept. Returns the report."""
    import time

    from canvas_pipeline.data.io import atomic_write_text, read_jsonl, write_jsonl, write_parquet
    from canvas_pipeline.data.layout import checkpoint_dir
    from canvas_pipeline.data.stage import Quarantine, StageReport
    from canvas_pipeline.training.checkpoints import load_checkpoint
    from canvas_pipeline.training.tokenizer import load_tokenizer

    started = time.perf_counter()
    out_dir = Path(out_dir)
    folder = checkpoint_dir(out_dir, profile, "sft")
    lineage = _input_lineage(out_dir, profile, folder, log)
    model, tokenizer = load_checkpoint(folder), load_tokenizer(folder)
    result = on_policy_rows(model, tokenizer, read_jsonl(out_dir / "phase1/sft_trajectories.jsonl"), config)
    generated_s = time.perf_counter() - started
    dest = on_policy_dir(out_dir, profile)
    counts: dict[str, Any] = {}
    for relative, rows in ((PAIRS_FILE, result.pairs), (FEEDBACK_FILE, result.feedback)):
        phase_rows = read_jsonl(out_dir / relative)
        train = [r for r in phase_rows if r["split"] == "train"]
        mixed = mix_rows(rows, train, config.share, config.seed, config.min_rows)
        write_jsonl(dest / relative, [*mixed, *(r for r in phase_rows if r["split"] != "train")])
        phase = relative.split("/")[0]
        counts |= {
            f"{phase}.on_policy_rows": len(rows),
            f"{phase}.phase_rows": len(mixed) - len(rows),
            f"{phase}.realised_share": round(len(rows) / len(mixed), 4) if mixed else None,
        }
    quarantine = Quarantine(STAGE)
    for key in result.repeated:
        quarantine.add(
            "repeated_answer", "an answer repeating one already judged at this point", source=str(folder), record_id=key
        )
    report = StageReport(
        STAGE,
        rows_in=result.report["answers"],
        rows_out=result.report["answers"] - result.report["answers_repeated"],
        dropped={"repeated_answer": result.report["answers_repeated"]} if result.repeated else {},
        extra={
            **result.report,
            **counts,
            "share": config.share,
            "points": config.points,
            "samples": config.samples,
            "temperature": config.temperature,
            "generation_s": round(generated_s, 1),
            "sft_checkpoint": str(folder),
            "lineage": lineage,
        },
    )
    write_parquet(dest / "quarantine.parquet", quarantine.to_frame())
    metadata = {"stage": STAGE, **report.metadata()}
    atomic_write_text(dest / "report.json", json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    log(f"on-policy: {json.dumps(result.report)}")
    return metadata


# SPPO's later rounds: fewer points than the stage, so a round's answers cost ~10 s on two
# CPU cores for the tiny model.
SELF_PLAY_POINTS = 256


def self_play(out_dir: Path, config: OnPolicyConfig, points: int | None = None) -> Any:
    """SPPO's self-play for `training.run.train_method`: before each later round the current
    policy answers a fresh seeded sample of the train split's decision points (greedy and
    sampled, as the stage does) and its judged wrong answers, each against the trajectory's
    own turn, are that round's pairs. `points`: the decision points each round answers
    (default SELF_PLAY_POINTS)."""
    points = SELF_PLAY_POINTS if points is None else points
    if points < 1:
        raise ValueError(f"self-play needs at least one decision point a round, not {points}")
    from dataclasses import replace

    from canvas_pipeline.data.io import read_jsonl

    rows: list[dict[str, Any]] = []  # read on the first round that needs them

    def play(model: Any, tokenizer: Any, round_index: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        if not rows:
            rows.extend(read_jsonl(Path(out_dir) / "phase1/sft_trajectories.jsonl"))
        round_config = replace(config, points=points, seed=config.seed * 1000 + round_index)
        result = on_policy_rows(model, tokenizer, rows, round_config)
        keys = ("points_answered", "answers", "answers_wrong", "wrong_share")
        return result.pairs, {k: result.report[k] for k in keys}

    return play
