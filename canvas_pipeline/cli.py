"""`canvas-train`: the command line over the same domain functions the Dagster assets call.

Heavy libraries (torch, transformers) are imported inside the commands that need them, so
`canvas-train --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from canvas_pipeline.cli_args import BASE_METHOD, build_parser

DATA_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError, RuntimeError)


def _print_report(report: object) -> None:
    from canvas_pipeline.data.stage import StageReport

    assert isinstance(report, StageReport)
    dropped = ", ".join(f"{k}={v}" for k, v in report.dropped.items()) or "none"
    counts = f"in={report.rows_in:<6} out={report.rows_out:<6} retained={report.retained:.1%}"
    print(f"{report.stage:<28} {counts}  dropped: {dropped}")
    for key in sorted(k for k in report.extra if k.endswith(".rows_in")):
        name = key[: -len(".rows_in")]
        extra = report.extra
        drops = ", ".join(
            f"{k.split('.dropped.')[1]}={v}" for k, v in extra.items() if k.startswith(f"{name}.dropped.")
        )
        sub = f"in={extra[key]:<6} out={extra[f'{name}.rows_out']:<6} retained={extra[f'{name}.retained']:.1%}"
        print(f"  {name:<26} {sub}  quarantined: {drops or 'none'}")


def cmd_data(args: argparse.Namespace) -> int:
    """Raw ingest -> PII gate -> phases 1-4 and the profile tokenizer, under --out (layout in the README)."""
    from canvas_pipeline.data import stages
    from canvas_pipeline.data.phase1.build import Phase1Config
    from canvas_pipeline.data.phase2.build import Phase2Config
    from canvas_pipeline.data.phase3.build import Phase3Config
    from canvas_pipeline.data.phase4.build import Phase4Config

    out = Path(args.out)
    config = Phase1Config(seed=args.seed, train_size=args.train_size, test_size=args.test_size)
    _print_report(stages.run_raw_stage(out, Path(args.raw_dir) if args.raw_dir else None, args.seed))
    _print_report(stages.run_scrub_stage(out, args.scrubber, args.piiranha_model))
    _print_report(stages.run_phase1_stage(out, config, args.scrubber, args.piiranha_model))
    _print_report(stages.run_phase2_stage(out, Phase2Config(seed=args.seed)))
    _print_report(stages.run_phase3_stage(out, Phase3Config(seed=args.seed)))
    _print_report(
        stages.run_phase4_stage(
            out, Phase4Config(seed=args.seed, size=args.bench_size), args.scrubber, args.piiranha_model
        )
    )
    if not args.no_tokenizer:
        from canvas_pipeline.training.tokenizer import build_tokenizer, profile_tokenizer_dir

        folder = build_tokenizer(args.profile, profile_tokenizer_dir(out, args.profile))
        print(f"{'models/tokenizer':<28} {args.profile} tokenizer in {folder}")
    print(f"wrote {out.resolve()}")
    return 0


def _named_reasons(pairs: list[str], option: str, form: str, key: Callable[[str], str]) -> dict[str, str]:
    """`option NAME=REASON` values as {key(NAME): REASON}; a value without both is an error."""
    reasons = {}
    for pair in pairs:
        name, sep, reason = pair.partition("=")
        if not sep or not name.strip() or not reason.strip():
            raise ValueError(f"{option} takes {form}, got {pair!r}")
        reasons[key(name.strip())] = reason.strip()
    return reasons


def _waivers(pairs: list[str]) -> dict[str, str]:
    """`--waive ID=REASON` values: guardrail id -> the reason it may stay NOT RUN."""
    return _named_reasons(pairs, "--waive", 'ID=REASON (e.g. G9="no time for the mini-trains")', str.upper)


def _shrinkage_allowances(pairs: list[str]) -> dict[str, str]:
    return _named_reasons(pairs, "--allow-shrinkage", "STAGE=REASON", lambda stage: stage.split("/")[0])


NOT_RUN_EXIT = 3  # `check`: nothing failed, but a guardrail did not run and was not waived


def cmd_check(args: argparse.Namespace) -> int:
    """Run G1-G14 in order on a data folder in the documented formats, then the bench's
    coverage and phrasing checks. Exit 0 only when every one ran and passed (a guardrail
    that could not run counts only when waived by name with a reason: --waive G9="...");
    1 when any failed; 3 when none failed but one did not run and was not waived. The report
    records the profile, when it ran and the fingerprints of phases 1-4 it judged: the
    release reads DATA_DIR/guardrails.json for G9's and G10's PASS or waiver, on that data only."""
    import json

    from canvas_pipeline.data.io import atomic_write_text
    from canvas_pipeline.guardrails import load_bundle, run_guardrails, summary
    from canvas_pipeline.guardrails.bench import run_bench_checks
    from canvas_pipeline.tools.registry import load_registry
    from canvas_pipeline.training.guardrail_config import check_config
    from canvas_pipeline.training.tokenizer import profile_tokenizer_dir

    allowances = _shrinkage_allowances(args.allow_shrinkage)
    waivers = _waivers(args.waive)
    from canvas_pipeline.guardrails.bench import COVERAGE_ID, PHRASING_ID
    from canvas_pipeline.guardrails.registry import GUARDRAILS

    unknown = sorted(set(waivers) - {g.id for g in GUARDRAILS} - {COVERAGE_ID, PHRASING_ID})
    if unknown:
        raise ValueError(f"--waive names no guardrail of this check: {', '.join(unknown)}")
    data_dir = Path(args.data_dir)
    bundle = load_bundle(data_dir)
    tokenizer_dir = Path(args.tokenizer) if args.tokenizer else profile_tokenizer_dir(data_dir, args.profile)
    if not args.tokenizer and not tokenizer_dir.exists():
        from canvas_pipeline.training.tokenizer import build_tokenizer

        tokenizer_dir = build_tokenizer(args.profile, _cache_dir() / f"{args.profile}-tokenizer")
    if tokenizer_dir.exists():
        from canvas_pipeline.training.tokenizer import load_tokenizer

        load_tokenizer(tokenizer_dir)  # a corrupt folder is exit 2 with its path and the reason
    config = check_config(
        args.profile,
        tokenizer_dir,
        allowances,
        mini_train_data=None if args.no_g9 else data_dir,
        cli_parser=build_parser,
    )
    from canvas_pipeline.release.gate import check_binding, check_report_path

    binding = check_binding(data_dir, args.profile)  # the data as it is judged: the release ties the report to it
    results = run_guardrails(bundle, config) + run_bench_checks(data_dir, load_registry().names)
    print(f"{'id':<4} {'guardrail':<38} {'status':<8} {'value':<40} threshold")
    for r in results:
        value = json.dumps(r.value, default=str) if r.value is not None else "-"
        value = value if len(value) <= 40 else value[:37] + "..."
        print(f"{r.id:<4} {r.name:<38} {r.status:<8} {value:<40} {r.threshold}")
        shown = r.details if r.passed is not True else ()
        for detail in shown:
            print(f"       {detail}")
        if r.reason:
            print(f"       {'not run: ' if r.passed is None else ''}{r.reason}")
        if r.id in waivers and r.passed is None:
            print(f"       waived: {waivers[r.id]}")
    report = {**summary(results, waivers), **binding}
    target = Path(args.json) if args.json else check_report_path(data_dir)
    atomic_write_text(target, json.dumps(report, indent=2, default=str) + "\n")
    print(f"report: {target}")
    if target.resolve() != check_report_path(data_dir).resolve():
        print(f"note: the release reads G9's and G10's verdicts from {check_report_path(data_dir)}, not from {target}")
    if report["failed"]:
        return 1
    if report["not_run_unwaived"]:
        print(
            f"not run (and not waived): {', '.join(report['not_run_unwaived'])}; a verdict without evidence is "
            'not a pass: run them, or waive each by name with a reason (--waive G9="why")'
        )
        return NOT_RUN_EXIT
    return 0


def cmd_base(args: argparse.Namespace) -> int:
    """Build the profile's base model under DATA_DIR/models/PROFILE/base_model and score it
    on the bench (G3 >= 20%); exits 1 when G3 fails."""
    import json

    from canvas_pipeline.data.layout import base_model_dir
    from canvas_pipeline.evaluation.bench import run_base_bench
    from canvas_pipeline.guardrails.checks import g3_base_bench
    from canvas_pipeline.training.base_model import build_base_model
    from canvas_pipeline.training.profiles import get_profile
    from canvas_pipeline.training.tokenizer import profile_tokenizer_dir

    out, profile = Path(args.data_dir), get_profile(args.profile)
    report = build_base_model(
        profile, profile_tokenizer_dir(out, profile.name), base_model_dir(out, profile.name), print
    )
    print(f"base model: {report.source}, {report.parameters} parameters, {report.wall_s:.0f}s -> {report.path}")
    summary = run_base_bench(out, profile.name, args.seed)
    print(json.dumps({k: v for k, v in summary.items() if k != "per_tool"}))
    g3 = g3_base_bench(summary)
    print(f"G3 {g3.status}: base tool selection {summary['tool_selection_accuracy']:.1%} ({g3.threshold})")
    return 0 if g3.passed else 1


def cmd_train(args: argparse.Namespace) -> int:
    """Train one method (its gates first) into DATA_DIR/models/PROFILE/checkpoints/METHOD;
    exits 1 when G3, G12, G2 or G5 stops it."""
    import json

    from canvas_pipeline.evaluation.on_policy import OnPolicyConfig, self_play
    from canvas_pipeline.training.run import GateError, train_method

    try:
        report = train_method(
            args.method,
            Path(args.data_dir),
            Path(args.data_dir),
            args.profile,
            args.seed,
            require_g3=not args.skip_g3,
            max_steps=args.max_steps,
            save_steps=args.save_steps,
            self_play=self_play(Path(args.data_dir), OnPolicyConfig(seed=args.seed), args.self_play_points),
        )
    except (GateError, FileNotFoundError) as error:
        print(f"canvas-train train: {error}", file=sys.stderr)
        return 1
    print(json.dumps(report.metadata, indent=1, default=str))
    for gate in report.gates:  # the gates that ran before training, as they judged
        print(f"{gate.id:<4} {gate.status:<8} {json.dumps(gate.value, default=str)}")
    print(f"{report.method} checkpoint in {report.path}")
    return 0


def cmd_on_policy(args: argparse.Namespace) -> int:
    """The on-policy data (what `on_policy/preference_data` materializes): the `sft`
    checkpoint under DATA_DIR answers the train split's decision points, its judged answers
    are mixed with phases 2 and 3 into DATA_DIR/on_policy/PROFILE, and G1, G2, G7, G8, G11,
    G12, G13 and G14 judge the result. Exits 1 when a guardrail fails or does not run, or
    when there is no `sft` checkpoint."""
    from canvas_pipeline.evaluation.on_policy import OnPolicyConfig, write_on_policy_stage
    from canvas_pipeline.guardrails.registry import run_on_policy_guardrails
    from canvas_pipeline.training.gates import GateError
    from canvas_pipeline.training.guardrail_config import check_config
    from canvas_pipeline.training.tokenizer import profile_tokenizer_dir

    out = Path(args.data_dir)
    given = {"points": args.points, "samples": args.samples, "share": args.share}
    config = OnPolicyConfig(seed=args.seed, **{k: v for k, v in given.items() if v is not None})
    try:
        report = write_on_policy_stage(out, args.profile, config, log=lambda _line: None)
    except (FileNotFoundError, GateError) as error:
        print(f"canvas-train on-policy: {error}", file=sys.stderr)
        return 1
    print(
        f"on-policy: {report['answers']} answers at {report['points_answered']} points, {report['answers_wrong']} "
        f"wrong ({report['wrong_share']:.1%}); pairs {report['phase2.on_policy_rows']} + "
        f"{report['phase2.phase_rows']} phase-2, feedback {report['phase3.on_policy_rows']} + "
        f"{report['phase3.phase_rows']} phase-3"
    )
    results = run_on_policy_guardrails(
        out, args.profile, check_config(args.profile, profile_tokenizer_dir(out, args.profile))
    )
    for result in results:
        print(f"{result.id:<4} {result.status:<8} {result.reason or ''}".rstrip())
    return 0 if all(r.passed is True for r in results) else 1


def cmd_pipeline(args: argparse.Namespace) -> int:
    """The embedded default through Dagster, in this process, recorded in $DAGSTER_HOME's
    instance: data_job, base_model_job, sft_job (full SFT, its bench, and its judged answers
    mixed with phases 2 and 3: the on-policy data), training_job once per other method
    partition (each run trains and benches its method), then report_job (selection, report,
    and the release of the selected checkpoint: a local dry run unless
    CANVAS_RELEASE_PUBLISH=1 and a repo id are set). A failed data, base or sft run stops
    everything after it; a failed method partition does not stop the others (they do not
    depend on it). Exits 1 if any run failed, naming them."""
    import time

    import dagster as dg

    from canvas_pipeline.definitions import defs
    from canvas_pipeline.training.methods import METHOD_NAMES

    instance = dg.DagsterInstance.get()
    methods = list(args.methods or METHOD_NAMES)
    runs: list[tuple[str, str | None]] = [("data_job", None), ("base_model_job", None)]
    runs += [("sft_job", None)] if "sft" in methods else []
    runs += [("training_job", m) for m in METHOD_NAMES if m in methods and m != "sft"]
    runs += [("report_job", None)]
    failed: list[str] = []
    started_all = time.perf_counter()
    for job_name, partition in runs:
        started = time.perf_counter()
        job = defs.resolve_job_def(job_name)
        result = job.execute_in_process(instance=instance, partition_key=partition, raise_on_error=False)
        label = job_name + (f"[{partition}]" if partition else "")
        status = "ok" if result.success else "FAILED"
        print(f"{label:<28} {status} in {time.perf_counter() - started:.0f}s (run {result.run_id})", flush=True)
        if not result.success:
            failed.append(label)
            if partition is None:
                break
    print(f"pipeline: {time.perf_counter() - started_all:.0f}s, {len(failed)} failed run(s) {failed or ''}".rstrip())
    return 1 if failed else 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Bench the checkpoints (all that exist, or --method ones) on the bench and the eval
    split, then decide the selection and write the report under DATA_DIR/eval/PROFILE;
    exits 1 when a requested checkpoint is missing or no checkpoint clears the tool floor.
    With --items FILE.jsonl it scores your own requests instead (see --items) and touches
    neither the bench records nor the selection or the report."""
    from canvas_pipeline.data.layout import MANIFEST, checkpoint_dir
    from canvas_pipeline.evaluation.bench import run_method_bench
    from canvas_pipeline.evaluation.report import write_report
    from canvas_pipeline.evaluation.results import collect_records, decide_selection
    from canvas_pipeline.training.methods import METHOD_NAMES

    if args.items:
        return cmd_bench_items(args)
    if BASE_METHOD in (args.method or ()):
        print("canvas-train bench: --method base only with --items (`canvas-train base` benches it)", file=sys.stderr)
        return 2
    out = Path(args.data_dir)
    wanted = list(
        args.method or [m for m in METHOD_NAMES if (checkpoint_dir(out, args.profile, m) / MANIFEST).is_file()]
    )
    wanted.sort(key=lambda m: m != "sft")  # the others compare their first turns with SFT's
    missing = [m for m in wanted if not (checkpoint_dir(out, args.profile, m) / MANIFEST).is_file()]
    if missing or not wanted:
        print(f"canvas-train bench: no checkpoint for {missing or 'any method'} under {out}", file=sys.stderr)
        return 1
    for method in wanted:
        summary = run_method_bench(out, args.profile, method, args.seed, args.bench_items, args.selection_items)[
            "summary"
        ]
        print(
            f"{method:<9} tool selection {summary['tool_selection_accuracy']:.1%} "
            f"arguments {summary['argument_accuracy'] or 0:.1%} format {summary['format_validity']:.1%}",
            flush=True,
        )
    records, _ = collect_records(out, args.profile)
    selection = decide_selection(out, args.profile)
    files, _ = write_report(out, args.profile, records, selection)
    print(selection["reason"])
    print(f"report: {files.markdown}")
    return 0 if selection["selected"] else 1


def cmd_bench_items(args: argparse.Namespace) -> int:
    """`bench --items FILE.jsonl`: score checkpoints (all that exist, or the --method ones;
    `base` is the base model) on a user's own requests, one JSON object a line (format in
    canvas_pipeline/evaluation/external.py). Bad lines are reported as FILE:LINE: reason and
    skipped; each method's record goes to DATA_DIR/eval/PROFILE/external/STEM/METHOD.json.
    The bench records, selection and report are left alone. Exits 2 when no line is a valid
    item, 1 when a requested checkpoint is missing."""
    from canvas_pipeline.data.layout import MANIFEST, base_model_dir, checkpoint_dir
    from canvas_pipeline.evaluation.external import attach_contexts, read_items
    from canvas_pipeline.training.methods import METHOD_NAMES

    if args.bench_items is not None or args.selection_items is not None:
        print("canvas-train bench: --bench-items/--selection-items do not apply to --items", file=sys.stderr)
        return 2
    out, items_path = Path(args.data_dir), Path(args.items)

    def exists(method: str) -> bool:
        if method == BASE_METHOD:
            return (base_model_dir(out, args.profile) / "config.json").is_file()
        return (checkpoint_dir(out, args.profile, method) / MANIFEST).is_file()

    items_file = read_items(items_path)
    wanted = list(dict.fromkeys(args.method or [m for m in METHOD_NAMES if exists(m)]))
    missing = [m for m in wanted if not exists(m)]
    backends = None
    if items_file.items and wanted and not missing:
        from canvas_pipeline.evaluation.backends import BackendFactory

        backends = BackendFactory.from_out_dir(out)
        attach_contexts(items_file, backends.views, out / "phase4" / "benchmark.jsonl")
    for skipped in items_file.skipped:
        print(f"{args.items}:{skipped.line}: {skipped.reason}", file=sys.stderr)
    counts = f"{len(items_file.items)} item(s) to score, {len(items_file.skipped)} line(s) skipped"
    if not items_file.items:
        print(f"canvas-train bench: no valid item in {args.items} ({counts})", file=sys.stderr)
        return 2
    if missing or not wanted or backends is None:
        print(f"canvas-train bench: no checkpoint for {missing or 'any method'} under {out}", file=sys.stderr)
        return 1
    if items_file.default_context:
        print(f"default context (items without one): {items_file.default_context}")
    print(f"{args.items}: {counts}", flush=True)
    from canvas_pipeline.evaluation.external import run_external_bench

    for method in wanted:
        record, target = run_external_bench(out, args.profile, method, items_file, backends)
        print(_items_line(method, record["summary"]), flush=True)
        print(f"{'':<9} record: {target}")
    return 0


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _items_line(method: str, summary: dict[str, Any]) -> str:
    """One method's line: tool selection with its Wilson 95% interval, arguments, irrelevance, counts."""
    low_high = summary["tool_selection_interval"]
    interval = f" [{low_high[0]:.1%}, {low_high[1]:.1%}]" if low_high else ""
    return (
        f"{method:<9} tool selection {_percent(summary['tool_selection_accuracy'])}{interval} of {summary['items']}"
        f" | arguments {_percent(summary['argument_accuracy'])} of {summary['argument_items']}"
        f" | irrelevance {_percent(summary['irrelevance_accuracy'])} of {summary['irrelevance_items']}"
        f" | scored {summary['scored']}, skipped {summary['skipped']}"
    )


def cmd_release(args: argparse.Namespace) -> int:
    """Release the selected checkpoint: merged weights, tokenizer and model card under
    DATA_DIR/release/PROFILE, published to the Hub only with --publish, --repo-id and
    HF_TOKEN in the environment. With --datasets, also publish phases 1-4 (parquet per
    split and a dataset card, written under DATA_DIR/release/datasets/) to the dataset repos
    REPO_ID-phase1 .. REPO_ID-phase4, after the model's release succeeded; --datasets needs
    --repo-id and HF_TOKEN as --publish does (checked first), and --public applies to both.
    Exits 1 when the release is refused (selection failed, a guardrail on the checkpoint's
    lineage failed or did not run) or an upload failed."""
    from canvas_pipeline.release import PublishError, ReleaseRefused
    from canvas_pipeline.release.datasets import dataset_publish_problems, dataset_repo_ids, publish_datasets
    from canvas_pipeline.release.export import ExportError
    from canvas_pipeline.release.run import release_checkpoint

    if args.datasets and (problems := dataset_publish_problems(args.repo_id)):
        print(ReleaseRefused(problems))  # before any work, as a refused --publish
        return 1
    try:
        report = release_checkpoint(
            Path(args.data_dir),
            args.profile,
            args.publish,
            args.repo_id,
            print,
            private=not args.public,
            dataset_repos=dataset_repo_ids(args.repo_id) if args.datasets else None,
        )
    except (ReleaseRefused, ExportError, PublishError):
        return 1  # the reasons were printed through the log as they were found
    where = f"published to {report.repo_id}" if report.published else f"dry run ({report.dry_run_reason})"
    print(f"released {report.method} to {report.path}: {where}")
    if args.datasets:
        try:
            datasets = publish_datasets(Path(args.data_dir), args.repo_id, print, private=not args.public)
        except (ReleaseRefused, PublishError):
            return 1
        print("released datasets: " + ", ".join(f"{p.stage} -> {p.repo_id}" for p in datasets.phases))
    return 0


def _cache_dir() -> Path:
    import os

    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "canvas_pipeline"


HANDLERS = {
    "data": cmd_data,
    "check": cmd_check,
    "base": cmd_base,
    "train": cmd_train,
    "on-policy": cmd_on_policy,
    "bench": cmd_bench,
    "release": cmd_release,
    "pipeline": cmd_pipeline,
    "run": cmd_pipeline,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--check"]:  # `canvas-train --check ...` is `canvas-train check ...`
        argv[0] = "check"
    args = build_parser(HANDLERS).parse_args(argv)
    try:
        return int(args.func(args))
    except DATA_ERRORS as exc:
        print(f"canvas-train {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
