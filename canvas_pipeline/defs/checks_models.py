"""G5 and G9 as asset checks on the checkpoints they speak for: `models/sft` (the `sft`
method) and `models/checkpoint` (the run's partition, i.e. its method; all eight when the
check is run on its own, without a partition).

- G5, the one-step dry run (grad_norm < 1, no NaN/Inf) every method records before it
  trains: blocking, ERROR. Training already refuses on a failed dry run; the check shows
  the recorded grad norm in the UI, and a checkpoint without a record (never dry-run) or
  with a failed one blocks its bench, the on-policy data (for `sft`) and what follows.
  Reading a JSON file, it runs in `sft_job` and `training_job`.
- G9, the method's mini-train (a random tiny Gemma-4 trained on the phase datasets must
  move the right way: eval loss down for the SFT family, reward margins up for the others):
  WARN and not blocking. It proves the objective, not these weights (the bench right after
  measures those), and takes tens of seconds to minutes per method on CPU (about 4.5 min
  for all nine on two cores), so `sft_job` and `training_job` (README command 1) leave it
  out (`SLOW_CHECKS`); it runs when the asset is materialized from the UI or the check is
  executed on its own, and `canvas-train check` runs all nine. Its verdict shows on the
  checkpoint it speaks for; the release gate takes G9 from `canvas-train check`'s report
  (`release.gate`), not from this check.

A guardrail that cannot run (no record, no tokenizer, no phase data) is reported NOT RUN
with the reason, never passed.
"""

import dataclasses
import json
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import dagster as dg

from canvas_pipeline.defs.assets_data import PHASE1_KEY, PHASE2_KEY, PHASE3_KEY
from canvas_pipeline.defs.assets_models import TOKENIZER_KEY
from canvas_pipeline.defs.assets_training import CHECKPOINT_KEY, METHOD_PARTITIONS, REFERENCE_METHOD
from canvas_pipeline.defs.checks import blocking_results, check_description, check_name
from canvas_pipeline.defs.keys import SFT_KEY
from canvas_pipeline.defs.resources import DataSettings, ModelSettings
from canvas_pipeline.guardrails.checks import g5_dry_runs, g9_mini_trains
from canvas_pipeline.guardrails.inputs import DATASET_FILES
from canvas_pipeline.guardrails.registry import by_id
from canvas_pipeline.guardrails.result import GuardrailResult, not_run

MINI_TRAIN_DATASETS = ("phase1", "phase2", "phase3")


def g5_result(out_dir: Path, profile: str, methods: Sequence[str]) -> GuardrailResult:
    """G5 on `methods`: each one's recorded dry run, and a record for each one with a
    checkpoint; NOT RUN when none of them has either."""
    from canvas_pipeline.data.layout import dry_run_records, models_dir, trained_methods

    records = {m: json.loads(p.read_text()) for m, p in dry_run_records(out_dir, profile).items() if m in methods}
    trained = [m for m in trained_methods(out_dir, profile) if m in methods]
    if not records and not trained:
        spec = by_id("G5")
        where = models_dir(out_dir, profile) / "runs"
        return not_run("G5", spec.name, spec.threshold, f"no dry-run record for {', '.join(methods)} under {where}")
    return g5_dry_runs(records, trained)


def g9_result(out_dir: Path, profile: str, methods: Sequence[str]) -> GuardrailResult:
    """G9 on `methods`: each one's mini-train from the one random start model, on the phase
    datasets and the profile's tokenizer; NOT RUN, naming what is missing, without them."""
    from canvas_pipeline.training.tokenizer import profile_tokenizer_dir

    spec = by_id("G9")
    threshold = f"{', '.join(methods)}: {'moves' if len(methods) == 1 else 'each moves'} the right way"
    tokenizer_dir = profile_tokenizer_dir(out_dir, profile)
    needed = [tokenizer_dir, *(out_dir / DATASET_FILES[d][0] for d in MINI_TRAIN_DATASETS)]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        return not_run("G9", spec.name, threshold, f"no {', '.join(missing)}: materialize data_job first")
    from canvas_pipeline.training.mini_train import run_mini_trains

    with tempfile.TemporaryDirectory(prefix="g9-") as work:
        outcomes = run_mini_trains(out_dir, tokenizer_dir, Path(work), methods=list(methods))
    return dataclasses.replace(g9_mini_trains(outcomes), threshold=threshold)


def _methods(context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey) -> list[str]:
    if asset_key == SFT_KEY:
        return [REFERENCE_METHOD]
    if context.has_partition_key:
        return [context.partition_key]
    if context.has_partition_key_range:  # a backfill of several partitions in one run
        return list(context.partition_keys)
    return METHOD_PARTITIONS.get_partition_keys()


def _model_check(
    gid: str,
    asset_key: dg.AssetKey,
    judge: Callable[[Path, str, Sequence[str]], GuardrailResult],
    *,
    blocking: bool,
    severity: dg.AssetCheckSeverity,
    scope: str,
    additional_deps: Sequence[dg.AssetKey] = (),
) -> dg.AssetChecksDefinition:
    spec = dg.AssetCheckSpec(
        check_name(gid),
        asset=asset_key,
        blocking=blocking,
        description=f"{check_description(gid)}: {scope}",
        additional_deps=list(additional_deps) or None,
    )

    @dg.multi_asset_check(specs=[spec], name=f"{asset_key.to_python_identifier()}_{gid}")
    def _check(
        context: dg.AssetCheckExecutionContext, data: DataSettings, model: ModelSettings
    ) -> Iterator[dg.AssetCheckResult]:
        result = judge(data.out_path, model.profile, _methods(context, asset_key))
        yield from blocking_results(context, asset_key, [result], severity)

    _check.__doc__ = f"{gid} on {asset_key.to_user_string()}: {scope}"
    return _check


G9_DEPS = (PHASE1_KEY, PHASE2_KEY, PHASE3_KEY, TOKENIZER_KEY)
G5_SCOPE = (
    "the dry run of one optimizer step this method recorded before it trained; a checkpoint "
    "without a record, or with a failed one, fails and blocks what is downstream"
)
G9_SCOPE = (
    "this method's mini-train on the phase datasets moves the right way (WARN, not blocking: "
    "it proves the objective, not these weights; minutes on CPU, so sft_job and training_job leave it out)"
)

g5_sft = _model_check("G5", SFT_KEY, g5_result, blocking=True, severity=dg.AssetCheckSeverity.ERROR, scope=G5_SCOPE)
g5_checkpoint = _model_check(
    "G5", CHECKPOINT_KEY, g5_result, blocking=True, severity=dg.AssetCheckSeverity.ERROR, scope=G5_SCOPE
)
g9_sft, g9_checkpoint = (
    _model_check(
        "G9",
        key,
        g9_result,
        blocking=False,
        severity=dg.AssetCheckSeverity.WARN,
        scope=G9_SCOPE,
        additional_deps=G9_DEPS,
    )
    for key in (SFT_KEY, CHECKPOINT_KEY)
)

MODEL_CHECKS = [g5_sft, g5_checkpoint, g9_sft, g9_checkpoint]
# Checks the jobs of README command 1 leave out: they add minutes and are run on demand.
SLOW_CHECKS = [g9_sft, g9_checkpoint]
