"""Guardrails as blocking asset checks: one ERROR-severity check per guardrail on the asset
whose data it judges, so a failure stops everything downstream in the same run."""

import json
import re
from collections.abc import Iterable, Iterator

import dagster as dg

from canvas_pipeline.data import stages
from canvas_pipeline.defs.assets_data import PHASE1_KEY, PHASE2_KEY, PHASE3_KEY, PHASE4_KEY, RAW_KEY, SCRUBBED_KEY
from canvas_pipeline.defs.assets_models import TOKENIZER_KEY
from canvas_pipeline.defs.resources import DataSettings, ModelSettings
from canvas_pipeline.guardrails import GuardrailResult, bench
from canvas_pipeline.guardrails.registry import STAGE_GUARDRAILS, by_id, run_stage_guardrails
from canvas_pipeline.training.guardrail_config import check_config
from canvas_pipeline.training.tokenizer import profile_tokenizer_dir

STAGE_ASSETS = {
    stages.RAW: RAW_KEY,
    stages.CURATED: SCRUBBED_KEY,
    stages.PHASE1: PHASE1_KEY,
    stages.PHASE2: PHASE2_KEY,
    stages.PHASE3: PHASE3_KEY,
    stages.PHASE4: PHASE4_KEY,
}
EXTRA_CHECKS = {"phase4": (bench.COVERAGE_ID, bench.PHRASING_ID)}
EXTRA_DESCRIPTIONS = {
    bench.COVERAGE_ID: ("bench_coverage", f"{bench.COVERAGE_NAME}: {bench.COVERAGE_THRESHOLD}"),
    bench.PHRASING_ID: ("bench_phrasing_disjoint", f"{bench.PHRASING_NAME}: {bench.PHRASING_THRESHOLD}"),
}
NEEDS_TOKENIZER = {"G11"}


def check_name(gid: str) -> str:
    if gid in EXTRA_DESCRIPTIONS:
        return EXTRA_DESCRIPTIONS[gid][0]
    return f"{gid}_" + re.sub(r"[^A-Za-z0-9]+", "_", by_id(gid).name).strip("_").lower()


def check_description(gid: str) -> str:
    if gid in EXTRA_DESCRIPTIONS:
        return EXTRA_DESCRIPTIONS[gid][1]
    return f"{gid}: {by_id(gid).name} ({by_id(gid).threshold})"


def check_metadata(result: GuardrailResult) -> dict:
    return {
        "status": result.status,
        "value": dg.MetadataValue.json(
            result.value if isinstance(result.value, (dict, list)) else {"value": result.value}
        ),
        "threshold": result.threshold,
        "n_offending": result.n_offending,
        "details": dg.MetadataValue.md("\n".join(f"- {d}" for d in result.details) or "none"),
        "reason": result.reason or "",
    }


def blocking_results(
    context: dg.AssetCheckExecutionContext,
    asset_key: dg.AssetKey,
    results: Iterable[GuardrailResult],
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
) -> Iterator[dg.AssetCheckResult]:
    """Each guardrail result as a check result on `asset_key`, logged as it comes: passed only
    when the guardrail ran and passed; a failure, or a guardrail that did not run (status
    NOT RUN and the reason in the metadata), is not passed, and with ERROR severity (the
    default) it blocks what is downstream of a blocking check."""
    for result in results:
        context.log.info(f"{result.id} {result.status}: {json.dumps(result.value, default=str)[:300]}")
        yield dg.AssetCheckResult(
            asset_key=asset_key,
            check_name=check_name(result.id),
            passed=result.passed is True,
            severity=severity,
            metadata=check_metadata(result),
            description=result.reason or None,
        )


def _stage_check(stage: str) -> dg.AssetChecksDefinition:
    asset_key = STAGE_ASSETS[stage]
    ids = STAGE_GUARDRAILS[stage] + EXTRA_CHECKS.get(stage, ())
    needs_tokenizer = bool(NEEDS_TOKENIZER & set(ids))
    specs = [
        dg.AssetCheckSpec(
            check_name(gid),
            asset=asset_key,
            blocking=True,
            description=check_description(gid),
            additional_deps=[TOKENIZER_KEY] if gid in NEEDS_TOKENIZER else None,
        )
        for gid in ids
    ]

    @dg.multi_asset_check(specs=specs, name=f"{stage}_guardrails")
    def _check(
        context: dg.AssetCheckExecutionContext, data: DataSettings, model: ModelSettings
    ) -> Iterator[dg.AssetCheckResult]:
        tokenizer_dir = profile_tokenizer_dir(data.out_path, model.profile) if needs_tokenizer else None
        config = check_config(
            model.profile, tokenizer_dir, {k.split("/")[0]: v for k, v in data.allow_shrinkage.items()}
        )
        yield from blocking_results(context, asset_key, run_stage_guardrails(data.out_path, stage, config))

    _check.__doc__ = (
        f"Guardrails {', '.join(ids)} on {asset_key.to_user_string()}; each blocks everything downstream when it fails."
    )
    return _check


GUARDRAIL_CHECKS = [_stage_check(stage) for stage in STAGE_ASSETS]
