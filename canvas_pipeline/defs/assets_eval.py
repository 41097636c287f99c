"""The bench on every checkpoint, the production-checkpoint selection and the report.

Domain work happens in `canvas_pipeline.evaluation`; these assets wire it and put the
numbers where people look: the run log, the materialization metadata and the UI.
"""

import base64
from typing import Any

import dagster as dg

from canvas_pipeline.defs.assets_training import (
    BASE_BENCH_KEY,
    CHECKPOINT_KEY,
    GPU_POOL,
    METHOD_PARTITIONS,
    REFERENCE_METHOD,
)
from canvas_pipeline.defs.keys import ON_POLICY_KEY, SFT_KEY
from canvas_pipeline.defs.metadata import json_metadata
from canvas_pipeline.defs.resources import DataSettings, ModelSettings

SFT_BENCH_KEY = dg.AssetKey(["eval", "sft_bench"])
BENCH_RESULTS_KEY = dg.AssetKey(["eval", "bench_results"])
SELECTION_KEY = dg.AssetKey(["eval", "selection"])
REPORT_KEY = dg.AssetKey(["eval", "report"])

HEADLINE = (
    "tool_selection_accuracy",
    "macro_tool_accuracy",
    "argument_accuracy",
    "full_call_exact",
    "parsimony_rate",
    "irrelevance_accuracy",
    "format_validity",
)


def _float_or_none(summary: dict[str, Any], key: str) -> dict[str, Any]:
    value = summary.get(key)
    return {} if value is None else {key: float(value)}


def _bench(
    context: dg.AssetExecutionContext, method: str, data: DataSettings, model: ModelSettings
) -> dg.MaterializeResult:
    from canvas_pipeline.data.layout import bench_record_path
    from canvas_pipeline.evaluation.bench import run_method_bench

    try:
        record = run_method_bench(
            data.out_path, model.profile, method, data.seed, model.bench_items, model.selection_items
        )
    except FileNotFoundError as error:
        raise dg.Failure(description=str(error)) from error
    summary, evaluation = record["summary"], record["eval"]
    context.log.info(
        f"[{method}] bench: tool selection {summary['tool_selection_accuracy']:.3f} on {summary['items']} items; "
        f"eval split macro {evaluation['macro_tool_accuracy']:.3f}"
    )
    metadata: dict[str, Any] = {k: v for key in HEADLINE for k, v in _float_or_none(summary, key).items()}
    metadata |= _float_or_none(summary, "identical_to_sft")
    metadata["identical_flag"] = bool(summary.get("identical_flag"))
    metadata["eval_macro_tool_accuracy"] = float(evaluation["macro_tool_accuracy"] or 0.0)
    metadata["items"] = summary["items"]
    metadata["ended"] = json_metadata(summary["ended"])
    metadata["per_tool"] = json_metadata(record["per_tool"])
    metadata["path"] = dg.MetadataValue.path(str(bench_record_path(data.out_path, model.profile, method)))
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(key=SFT_BENCH_KEY, deps=[SFT_KEY, BASE_BENCH_KEY], group_name="eval", kinds={"pytorch"}, pool=GPU_POOL)
def sft_bench(context: dg.AssetExecutionContext, data: DataSettings, model: ModelSettings) -> dg.MaterializeResult:
    """`models/sft` on the bench and on the eval split, each item run as a conversation with
    the simulated backend: tool selection with its Wilson interval, per tool, argument
    accuracy, full-call exact match, parsimony, irrelevance and format validity, and its
    kept intermediate steps on the eval split. Every other method is compared with it,
    paired on the same items."""
    return _bench(context, REFERENCE_METHOD, data, model)


@dg.asset(
    key=BENCH_RESULTS_KEY,
    partitions_def=METHOD_PARTITIONS,
    deps=[CHECKPOINT_KEY, BASE_BENCH_KEY, SFT_BENCH_KEY],
    group_name="eval",
    kinds={"pytorch"},
    pool=GPU_POOL,
)
def bench_results(context: dg.AssetExecutionContext, data: DataSettings, model: ModelSettings) -> dg.MaterializeResult:
    """The partition's checkpoint on the bench and on the eval split, each item run as a
    conversation with the simulated backend: tool selection with its Wilson interval, per
    tool, argument accuracy, full-call exact match, parsimony, irrelevance and format
    validity; for preference methods, the share of first turns identical to SFT's
    (`eval/sft_bench`)."""
    return _bench(context, context.partition_key, data, model)


@dg.asset(key=SELECTION_KEY, deps=[BENCH_RESULTS_KEY, SFT_BENCH_KEY], group_name="eval")
def selection(context: dg.AssetExecutionContext, data: DataSettings, model: ModelSettings) -> dg.MaterializeResult:
    """The production checkpoint: the highest macro-average tool-selection accuracy on the
    eval split among the checkpoints with no tool below 40%, every intermediate step a
    method's training kept (`METHOD@STEP`) a candidate beside its final weights. The decision (and every
    candidate's floor violations) is written either way; when none qualifies the asset
    fails with those violations, and nothing downstream (the release) runs."""
    from canvas_pipeline.evaluation.results import decide_selection, selection_path

    record = decide_selection(data.out_path, model.profile)
    context.log.info(record["reason"])
    if record["selected"] is None:
        raise dg.Failure(
            description=record["reason"],
            metadata={"candidates": json_metadata(record["candidates"]), "missing": json_metadata(record["missing"])},
        )
    return dg.MaterializeResult(
        metadata={
            "selected": record["selected"],
            "selected_candidate": record["selected_candidate"],
            "reason": record["reason"],
            "rule": record["rule"],
            "candidates": json_metadata(record["candidates"]),
            "missing": json_metadata(record["missing"]),
            "path": dg.MetadataValue.path(str(selection_path(data.out_path, model.profile))),
        }
    )


def _embedded(markdown: str, images: dict[str, bytes]) -> str:
    """The report with its plots inlined, so the UI shows them without a file server."""
    for name, png in images.items():
        markdown = markdown.replace(f"({name})", f"(data:image/png;base64,{base64.b64encode(png).decode()})")
    return markdown


@dg.asset(key=REPORT_KEY, deps=[BENCH_RESULTS_KEY, SFT_BENCH_KEY, BASE_BENCH_KEY, ON_POLICY_KEY], group_name="eval")
def report(context: dg.AssetExecutionContext, data: DataSettings, model: ModelSettings) -> dg.MaterializeResult:
    """The bench report: a table of every model (the base first) with tool selection and
    its interval, the eval-split macro accuracy, argument accuracy, parsimony, irrelevance,
    format validity, identical-to-SFT share and which checkpoint was selected and why;
    what each method did against `sft` on the same bench items (the change per metric with
    its exact McNemar p-value, per-axis failure rates with Wilson intervals); per-tool,
    method-comparison and accuracy-per-step plots. Written to `eval/PROFILE/report/` and
    shown here. It is made whether or not a checkpoint qualified: that is when it is needed most."""
    from canvas_pipeline.evaluation.report import effects_markdown, write_report
    from canvas_pipeline.evaluation.results import collect_records, decide_selection

    records, _ = collect_records(data.out_path, model.profile)
    if not records:
        raise dg.Failure(description="no bench records: materialize eval/base_bench and eval/bench_results first")
    record = decide_selection(data.out_path, model.profile)
    files, text = write_report(data.out_path, model.profile, records, record)
    images = {p.name: p.read_bytes() for p in (files.per_tool_png, files.comparison_png, files.steps_png)}
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.md(_embedded(text, images)),
            "selected": str(record["selected"]),
            "what_each_method_did": dg.MetadataValue.md(effects_markdown(files.effects_json, records)),
            "models": len(records),
            "path": dg.MetadataValue.path(str(files.markdown)),
        }
    )


EVAL_ASSETS = [sft_bench, bench_results, selection, report]
