"""The base model, its bench gate (G3), the `sft` checkpoint and the checkpoints of the
other eight methods (one partition each).

Domain work happens in `canvas_pipeline.training` and `canvas_pipeline.evaluation`; these
assets wire it, forward TRL's logs to the run log and record the metadata. Torch and
friends are imported inside the asset bodies so loading the definitions stays light.
"""

from typing import Any

import dagster as dg

from canvas_pipeline.defs.assets_data import PHASE1_KEY, PHASE2_KEY, PHASE3_KEY, PHASE4_KEY
from canvas_pipeline.defs.assets_models import TOKENIZER_KEY
from canvas_pipeline.defs.checks import blocking_results, check_name
from canvas_pipeline.defs.keys import ON_POLICY_KEY, SFT_KEY
from canvas_pipeline.defs.metadata import json_metadata
from canvas_pipeline.defs.resources import DataSettings, ModelSettings
from canvas_pipeline.guardrails.inputs import Bundle
from canvas_pipeline.guardrails.registry import CheckConfig, by_id
from canvas_pipeline.training.methods import METHOD_NAMES

BASE_MODEL_KEY = dg.AssetKey(["models", "base_model"])
BASE_BENCH_KEY = dg.AssetKey(["eval", "base_bench"])
CHECKPOINT_KEY = dg.AssetKey(["models", "checkpoint"])
# `sft` is its own asset: six methods start from it and read its judged answers
# (`on_policy/preference_data`), so the graph itself orders it before them.
REFERENCE_METHOD = "sft"
METHOD_PARTITIONS = dg.StaticPartitionsDefinition([m for m in METHOD_NAMES if m != REFERENCE_METHOD])
GPU_POOL = "gpu"


@dg.asset(
    key=BASE_MODEL_KEY, deps=[TOKENIZER_KEY], group_name="models", kinds={"pytorch", "huggingface"}, pool=GPU_POOL
)
def base_model(context: dg.AssetExecutionContext, data: DataSettings, model: ModelSettings) -> dg.MaterializeResult:
    """The profile's starting model, weights and tokenizer in one folder. tiny: a random
    two-layer Gemma-4 warmed up on generic tool-call conversations whose wording and items
    are disjoint from the bench; e2b: google/gemma-4-e2b-it from the Hub (HF_TOKEN);
    e2b-shape: the E2B architecture with random weights."""
    from canvas_pipeline.data.layout import base_model_dir
    from canvas_pipeline.training.base_model import build_base_model
    from canvas_pipeline.training.profiles import get_profile
    from canvas_pipeline.training.tokenizer import profile_tokenizer_dir

    report = build_base_model(
        get_profile(model.profile),
        profile_tokenizer_dir(data.out_path, model.profile),
        base_model_dir(data.out_path, model.profile),
        log_sink=context.log.info,
    )
    return dg.MaterializeResult(
        metadata={
            "profile": report.profile,
            "source": report.source,
            "parameters": report.parameters,
            "warmup_rows": report.warmup_rows,
            "warmup_steps": report.warmup_steps,
            "warmup_final_loss": report.warmup_final_loss,
            "wall_s": round(report.wall_s, 1),
            "path": dg.MetadataValue.path(str(report.path)),
        }
    )


@dg.asset(key=BASE_BENCH_KEY, deps=[BASE_MODEL_KEY, PHASE4_KEY], group_name="eval", kinds={"pytorch"})
def base_bench(context: dg.AssetExecutionContext, data: DataSettings, model: ModelSettings) -> dg.MaterializeResult:
    """The bench harness on the base model, with the training system prompt and special
    tokens kept in decoding: tool-selection accuracy overall and per tool. G3 (>= 20%)
    is the blocking check on it, so no method trains on a base the harness cannot score."""
    from canvas_pipeline.data.layout import base_bench_path
    from canvas_pipeline.evaluation.bench import run_base_bench

    summary = run_base_bench(data.out_path, model.profile, data.seed)
    out = base_bench_path(data.out_path, model.profile)
    context.log.info(f"base bench: {summary['tool_selection_accuracy']:.3f} tool selection on {summary['items']} items")
    return dg.MaterializeResult(
        metadata={
            "tool_selection_accuracy": summary["tool_selection_accuracy"],
            "format_validity": summary["format_validity"],
            "items": summary["items"],
            "per_tool": json_metadata(summary["per_tool"]),
            "path": dg.MetadataValue.path(str(out)),
        }
    )


@dg.asset_check(asset=BASE_BENCH_KEY, blocking=True, name=check_name("G3"))
def g3_base_bench(
    context: dg.AssetCheckExecutionContext, data: DataSettings, model: ModelSettings
) -> dg.AssetCheckResult:
    """G3: the bench harness scores the base model at >= 20% tool selection before any
    fine-tune is trained or tested (ERROR severity: blocks the checkpoints). A bench record
    that is missing or unreadable is NOT RUN with the reason: not passed, so it blocks too."""
    result = by_id("G3").run(Bundle(data.out_path, {}, {}), CheckConfig(profile=model.profile))
    return next(blocking_results(context, BASE_BENCH_KEY, [result]))


def _train(
    context: dg.AssetExecutionContext, method: str, data: DataSettings, model: ModelSettings
) -> dg.MaterializeResult:
    from canvas_pipeline.evaluation.on_policy import OnPolicyConfig, self_play
    from canvas_pipeline.training.run import GateError, train_method

    try:
        report = train_method(
            method,
            data.out_path,
            data.out_path,
            model.profile,
            data.seed,
            context.log.info,
            model.require_g3,
            self_play=self_play(data.out_path, OnPolicyConfig(seed=data.seed)),
        )
    except GateError as error:
        raise dg.Failure(description=str(error), metadata={"gate": str(error)}) from error
    except FileNotFoundError as error:
        raise dg.Failure(description=str(error)) from error
    meta: dict[str, Any] = {}
    for key, value in report.metadata.items():
        meta[key] = json_metadata(value) if isinstance(value, dict | list) else value
    meta["path"] = dg.MetadataValue.path(str(report.path))
    skipped = {} if model.require_g3 else {"G3": "skipped"}
    meta["gates"] = json_metadata(skipped | {g.id: g.status for g in report.gates})
    return dg.MaterializeResult(metadata={k: v for k, v in meta.items() if v is not None})


@dg.asset(
    key=SFT_KEY,
    deps=[PHASE1_KEY, BASE_MODEL_KEY, BASE_BENCH_KEY],
    group_name="models",
    kinds={"pytorch", "huggingface"},
    pool=GPU_POOL,
)
def sft(context: dg.AssetExecutionContext, data: DataSettings, model: ModelSettings) -> dg.MaterializeResult:
    """Full supervised fine-tuning of the base on phase 1 (TRL SFTTrainer, assistant-only
    loss), under the profile's reference budget. Before it trains: G3 (the base bench record
    scores >= 20%), G12 (dataset rows and rows the trainer consumes), G2 (non-empty,
    item-disjoint eval) and a G5 dry run of one optimizer step (grad_norm < 1, no NaN/Inf);
    any failure fails the asset with the reason. It is the starting policy and, as
    weights, the frozen reference of the DPO family and KTO. The metadata holds losses,
    grad norms, parameter counts, tokens/s, peak memory and wall time."""
    return _train(context, REFERENCE_METHOD, data, model)


@dg.asset(
    key=CHECKPOINT_KEY,
    partitions_def=METHOD_PARTITIONS,
    deps=[PHASE1_KEY, PHASE2_KEY, PHASE3_KEY, BASE_MODEL_KEY, BASE_BENCH_KEY, SFT_KEY, ON_POLICY_KEY],
    group_name="models",
    kinds={"pytorch", "huggingface"},
    pool=GPU_POOL,
)
def checkpoint(context: dg.AssetExecutionContext, data: DataSettings, model: ModelSettings) -> dg.MaterializeResult:
    """One training method per partition, trained by TRL/PEFT from the method table.
    Before it trains: G3 (the base bench record scores >= 20%), G12 (dataset rows and rows
    the trainer consumes) and G2 (non-empty, item-disjoint eval) on its dataset, and a G5
    dry run of one optimizer step (grad_norm < 1, no NaN/Inf); any failure fails the
    partition with the reason. The DPO-family and KTO partitions train a LoRA adapter on
    `models/sft` (with the adapter disabled, their reference) on `on_policy/preference_data`:
    `sft`'s own judged answers mixed with phase 2 or 3. The metadata holds losses, per-axis
    eval reward margins, grad norms, parameter counts, tokens/s, peak memory, wall time
    (the bench, the share of outputs identical to SFT's included, is `eval/bench_results`
    of the same partition). A killed run resumes from its last saved trainer state."""
    return _train(context, context.partition_key, data, model)


TRAINING_ASSETS = [base_model, base_bench, sft, checkpoint]
TRAINING_CHECKS = [g3_base_bench]
