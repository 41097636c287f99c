"""All 14 guardrails in order, each with what it needs from a data folder. G3 reads the
base model's bench record, G5 the methods' dry-run records, G9 runs the nine mini-trains
(when asked: they take minutes), G10 reads docker/ (and builds the image when an engine
answers); a guardrail whose evidence is missing reports NOT RUN with the reason, never PASS."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from canvas_pipeline.data.layout import base_bench_path, dry_run_records, trained_methods
from canvas_pipeline.guardrails import checks
from canvas_pipeline.guardrails.bench import run_bench_checks
from canvas_pipeline.guardrails.inputs import DATASET_FILES, Bundle, load_bundle
from canvas_pipeline.guardrails.result import GuardrailResult, not_run
from canvas_pipeline.tools.registry import load_registry

SPLIT_DATASETS = ("phase1", "phase2", "phase3")


@dataclass(frozen=True)
class CheckConfig:
    """What the data guardrails need besides the data: shrinkage allowances per stage, the
    profile's max_length and a token counter for G11, and raised minimums for G12."""

    allow_shrinkage: Mapping[str, str] = field(default_factory=dict)
    max_length: int = 2048
    count_tokens: Callable[[list[str]], list[int]] | None = None
    tokenizer_note: str = ""
    min_rows: Mapping[str, int] = field(default_factory=dict)
    profile: str = "tiny"
    mini_trains: Callable[[], Sequence[Any]] | None = None  # G9's runner
    g9_note: str = "not requested (canvas-train check runs it unless --no-g9)"
    # G10: the folder holding docker/ (default: the working directory, else this checkout) and
    # its engine layer: "auto" (build and run when `docker info` answers), "on" (required) or
    # "off"; None reads CANVAS_G10_ENGINE (default auto).
    project_root: Path | None = None
    g10_engine: str | None = None
    cli_parser: Callable[[], argparse.ArgumentParser] | None = None  # G10 checks container argv with it


@dataclass(frozen=True)
class Guardrail:
    id: str
    name: str
    threshold: str
    run: Callable[[Bundle, CheckConfig], GuardrailResult]


def _needs(datasets: tuple[str, ...], bundle: Bundle) -> str:
    missing = [d for d in datasets if d not in bundle.samples]
    return f"no {', '.join(missing)} dataset in {bundle.data_dir}" if missing else ""


def _g1(bundle: Bundle, config: CheckConfig) -> GuardrailResult:
    if reason := _needs(("phase2",), bundle):
        return not_run("G1", "tool calls in preference pairs", ">= 80% of chosen and of rejected", reason)
    return checks.g1_tool_calls_in_preferences(bundle.samples["phase2"])


def _g2(bundle: Bundle, config: CheckConfig) -> GuardrailResult:
    """Eval splits of the loaded training datasets; the bench, when loaded, against every
    training dataset in the folder (loaded or only on disk)."""
    loaded = {d: bundle.item_ids(d) for d in SPLIT_DATASETS if d in bundle.samples}
    if "phase4" in bundle.samples:
        bench = set().union(*bundle.item_ids("phase4").values())
        training = {d: ids for d in SPLIT_DATASETS if (ids := bundle.item_ids(d))}
        return checks.g2_eval_disjoint(loaded, bench, training)
    if not loaded:
        return not_run(
            "G2", "non-empty, item-disjoint eval split", "per dataset", f"no split dataset in {bundle.data_dir}"
        )
    return checks.g2_eval_disjoint(loaded)


def _g3(bundle: Bundle, config: CheckConfig) -> GuardrailResult:
    import json

    path = base_bench_path(bundle.data_dir, config.profile)
    if not path.is_file():
        return not_run("G3", "base model bench score", ">= 20% tool selection", f"no {path}: run eval/base_bench")
    try:
        summary = json.loads(path.read_text())["summary"]
    except (ValueError, KeyError, TypeError) as error:
        reason = f"{path} is not a bench record ({type(error).__name__}: {error}): run eval/base_bench again"
        return not_run("G3", "base model bench score", ">= 20% tool selection", reason)
    return checks.g3_base_bench(summary)


def _g5(bundle: Bundle, config: CheckConfig) -> GuardrailResult:
    import json

    runs = dry_run_records(bundle.data_dir, config.profile)
    trained = trained_methods(bundle.data_dir, config.profile)
    if not runs and not trained:
        reason = f"no dry-run record under {bundle.data_dir}: train a models/checkpoint partition"
        return not_run("G5", "one-step dry run per method", "grad_norm < 1.0, no NaN/Inf", reason)
    return checks.g5_dry_runs({m: json.loads(p.read_text()) for m, p in runs.items()}, trained)


def _g9(bundle: Bundle, config: CheckConfig) -> GuardrailResult:
    if config.mini_trains is None:
        return not_run("G9", "trainer mini-train tests", "all 9 move the right way", config.g9_note)
    return checks.g9_mini_trains(config.mini_trains())


def _g10(bundle: Bundle, config: CheckConfig) -> GuardrailResult:
    """Layer (a) always: the argv each Dockerfile/compose container runs, composed with Docker's
    semantics, and the training image's argv executed here; layer (b) when an engine answers."""
    from canvas_pipeline.guardrails.g10_container import EngineSettings, g10_containers

    if config.cli_parser is None:
        reason = "no canvas-train parser given: G10 checks each container's argv against it"
        return not_run("G10", "docker build and run --help", "exit 0", reason)
    return g10_containers(config.project_root, EngineSettings.from_env(config.g10_engine), config.cli_parser)


def _g4(bundle: Bundle, config: CheckConfig) -> GuardrailResult:
    if reason := _needs(("phase1",), bundle):
        return not_run("G4", "per-tool counts in SFT train", "every tool >= 30, CV <= 0.3", reason)
    return checks.g4_tool_balance(bundle.split("phase1", "train"), load_registry().names)


def _g6(bundle: Bundle, config: CheckConfig) -> GuardrailResult:
    if not bundle.reports:
        return not_run("G6", "rows kept per stage", ">= 70% retained", f"no stage report in {bundle.data_dir}")
    return checks.g6_retention(bundle.reports, config.allow_shrinkage)


def _g7(bundle: Bundle, config: CheckConfig) -> GuardrailResult:
    return checks.g7_known_tools(bundle.all_samples(), load_registry())


def _g8(bundle: Bundle, config: CheckConfig) -> GuardrailResult:
    return checks.g8_round_trip(bundle.all_samples())


def _g11(bundle: Bundle, config: CheckConfig) -> GuardrailResult:
    if config.count_tokens is None:
        return not_run(
            "G11",
            "rows longer than max_length",
            f"< 1% over {config.max_length}",
            config.tokenizer_note or "no tokenizer",
        )
    return checks.g11_length(bundle.all_samples(), config.count_tokens, config.max_length)


def _g12(bundle: Bundle, config: CheckConfig) -> GuardrailResult:
    sizes = {d: len(bundle.split(d, "train")) for d in SPLIT_DATASETS if d in bundle.samples}
    return checks.g12_min_rows(sizes, checks.validate_min_rows(config.min_rows))


def _g13(bundle: Bundle, config: CheckConfig) -> GuardrailResult:
    return checks.g13_repeated_tool(bundle.all_samples())


def _g14(bundle: Bundle, config: CheckConfig) -> GuardrailResult:
    datasets = {d: bundle.samples[d] for d in ("phase2", "phase3") if d in bundle.samples}
    if not datasets:
        return not_run(
            "G14",
            "prompt-blind shortcut classifier",
            G14_THRESHOLD,
            f"no phase2 or phase3 dataset in {bundle.data_dir}",
        )
    return checks.g14_shortcuts(datasets)


G14_THRESHOLD = "axes 4, 5, 7, 8 <= 75%, all rows <= 85%"

GUARDRAILS: tuple[Guardrail, ...] = (
    Guardrail("G1", "tool calls in preference pairs", ">= 80% of chosen and of rejected", _g1),
    Guardrail("G2", "non-empty, item-disjoint eval split", "eval non-empty, 0 shared items", _g2),
    Guardrail("G3", "base model bench score", ">= 20% tool selection", _g3),
    Guardrail("G4", "per-tool counts in SFT train", "every tool >= 30, CV <= 0.3", _g4),
    Guardrail("G5", "one-step dry run per method", "grad_norm < 1.0, no NaN/Inf", _g5),
    Guardrail("G6", "rows kept per stage", ">= 70% retained or an explicit reason", _g6),
    Guardrail("G7", "tool names exist in the registry", "100%", _g7),
    Guardrail("G8", "serializer -> parser round trip", "100%", _g8),
    Guardrail("G9", "trainer mini-train tests", "all 9 move the right way", _g9),
    Guardrail("G10", "docker build and run --help", "exit 0", _g10),
    Guardrail("G11", "rows longer than max_length", "< 1% over the profile's max_length", _g11),
    Guardrail("G12", "minimum rows per method", "each method's train >= 1000", _g12),
    Guardrail("G13", "one tool repeated in a trajectory", "<= 3 calls of a tool", _g13),
    Guardrail("G14", "prompt-blind shortcut classifier", G14_THRESHOLD, _g14),
)


# Which guardrails judge each stage's own output (the Dagster checks on that stage's asset).
STAGE_GUARDRAILS: dict[str, tuple[str, ...]] = {
    "raw": ("G6",),
    "curated": ("G6",),
    "phase1": ("G2", "G4", "G6", "G7", "G8", "G11", "G12", "G13"),
    "phase2": ("G1", "G2", "G6", "G7", "G8", "G11", "G12", "G13", "G14"),
    "phase3": ("G2", "G6", "G7", "G8", "G11", "G12", "G13", "G14"),
    "phase4": ("G2", "G6", "G7", "G8", "G11"),
}
# The on-policy stage's mixed preference and feedback datasets (`data.stages.on_policy_dir`):
# what the phase 2 and 3 checks judge, but G6 (its report counts answers, not source rows).
ON_POLICY_GUARDRAILS: tuple[str, ...] = ("G1", "G2", "G7", "G8", "G11", "G12", "G13", "G14")


def by_id(gid: str) -> Guardrail:
    return next(g for g in GUARDRAILS if g.id == gid)


def run_guardrails(bundle: Bundle, config: CheckConfig, ids: Sequence[str] | None = None) -> list[GuardrailResult]:
    """The guardrails (all 14 by default) in order; a failure is reported, never stops the others."""
    return [g.run(bundle, config) for g in GUARDRAILS if ids is None or g.id in ids]


def run_stage_guardrails(data_dir: Path, stage: str, config: CheckConfig) -> list[GuardrailResult]:
    """The guardrails that judge one stage, on that stage's dataset and report (the bench
    also reads the training datasets' item ids, for G2); phase 4 adds the bench's coverage
    and phrasing checks. The verdicts are recorded against the stage's fingerprint
    (`guardrails.verdicts`), for whoever trains on it later."""
    from canvas_pipeline.guardrails.verdicts import judged

    def run() -> list[GuardrailResult]:
        datasets = (stage,) if stage in DATASET_FILES else ()
        bundle = load_bundle(data_dir, datasets=datasets, stages=(stage,))
        results = run_guardrails(bundle, config, STAGE_GUARDRAILS[stage])
        if stage == "phase4":
            results += run_bench_checks(data_dir, load_registry().names)
        return results

    return judged(data_dir, stage, config.profile, run)


def run_on_policy_guardrails(out_dir: Path, profile: str, config: CheckConfig) -> list[GuardrailResult]:
    """`ON_POLICY_GUARDRAILS` on the on-policy stage's datasets of `profile`, with the bench
    of `out_dir` for G2 (no bench item may be trained on); recorded against the stage's
    fingerprint, as `run_stage_guardrails` records its verdicts."""
    from canvas_pipeline.data.layout import ON_POLICY, on_policy_dir
    from canvas_pipeline.guardrails.verdicts import judged

    def run() -> list[GuardrailResult]:
        bundle = load_bundle(on_policy_dir(out_dir, profile), datasets=("phase2", "phase3"), stages=())
        bench = load_bundle(out_dir, datasets=("phase4",), stages=()).samples.get("phase4")
        if bench is not None:
            bundle.samples["phase4"] = bench
        return run_guardrails(bundle, config, ON_POLICY_GUARDRAILS)

    return judged(out_dir, ON_POLICY, profile, run)


def summary(results: list[GuardrailResult], waivers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The check's report: `passed` only when every guardrail ran and passed or, not run,
    was waived by name with a reason (`waived`); `not_run_unwaived` names the rest."""
    waivers = waivers or {}
    not_run = [r.id for r in results if r.passed is None]
    unwaived = [gid for gid in not_run if gid not in waivers]
    failed = [r.id for r in results if r.passed is False]
    return {
        "passed": not failed and not unwaived,
        "failed": failed,
        "not_run": not_run,
        "not_run_unwaived": unwaived,
        "waived": {gid: waivers[gid] for gid in not_run if gid in waivers},
        "results": [_with_waiver(r, waivers) for r in results],
    }


def _with_waiver(result: GuardrailResult, waivers: Mapping[str, str]) -> dict[str, Any]:
    record = result.to_dict()
    if result.passed is None and result.id in waivers:
        record["waived"] = waivers[result.id]
    return record


def stage_guardrail_ids(stage: str) -> tuple[str, ...]:
    from canvas_pipeline.data.layout import ON_POLICY

    return ON_POLICY_GUARDRAILS if stage == ON_POLICY else STAGE_GUARDRAILS[stage]
