"""The on-policy preference data: what `models/sft` itself answers at the train split's
decision points, judged by phase 2's axis functions and mixed with phases 2 and 3, and the
guardrails that judge it before any preference method trains on it."""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from canvas_pipeline.defs.assets_data import PHASE1_KEY, PHASE2_KEY, PHASE3_KEY, PHASE4_KEY
from canvas_pipeline.defs.assets_models import TOKENIZER_KEY
from canvas_pipeline.defs.assets_training import GPU_POOL
from canvas_pipeline.defs.checks import blocking_results, check_description, check_name
from canvas_pipeline.defs.keys import ON_POLICY_KEY, SFT_KEY
from canvas_pipeline.defs.metadata import json_metadata
from canvas_pipeline.defs.resources import DataSettings, ModelSettings
from canvas_pipeline.guardrails.registry import ON_POLICY_GUARDRAILS, run_on_policy_guardrails
from canvas_pipeline.training.guardrail_config import check_config
from canvas_pipeline.training.tokenizer import profile_tokenizer_dir


@dg.asset(
    key=ON_POLICY_KEY,
    deps=[SFT_KEY, PHASE1_KEY, PHASE2_KEY, PHASE3_KEY],
    group_name="on_policy",
    kinds={"pytorch", "json"},
    pool=GPU_POOL,
)
def preference_data(
    context: dg.AssetExecutionContext, data: DataSettings, model: ModelSettings
) -> dg.MaterializeResult:
    """`models/sft` answers a seeded sample of the train split's decision points greedily
    and by sampling; every answer the axis judges find wrong is a rejected side against the
    trajectory's own turn, labelled with every axis it breaks, and every answer they find
    right a desirable KTO completion. Mixed with phase 2's and phase 3's train rows at the
    configured on-policy share (the phases' test rows unchanged), these are what the DPO
    family and KTO train on. Repeated answers go to the stage's quarantine, counted. The
    guardrails G1, G2, G7, G8, G11, G12, G13 and G14 judge it, blocking. It is built only
    from phases whose guardrails all passed on their current content, and records their
    fingerprints and `sft`'s (a later change makes it stale for training)."""
    from canvas_pipeline.evaluation.on_policy import OnPolicyConfig, write_on_policy_stage
    from canvas_pipeline.training.gates import GateError

    config = OnPolicyConfig(seed=data.seed)
    try:
        report = write_on_policy_stage(data.out_path, model.profile, config, log=context.log.info)
    except GateError as error:
        raise dg.Failure(description=str(error), metadata={"gate": str(error)}) from error
    metadata: dict[str, Any] = {
        k: (json_metadata(v) if isinstance(v, dict | list) else v) for k, v in report.items() if v is not None
    }
    from canvas_pipeline.data.layout import on_policy_dir

    metadata["path"] = dg.MetadataValue.path(str(on_policy_dir(data.out_path, model.profile)))
    return dg.MaterializeResult(metadata=metadata)


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            check_name(gid),
            asset=ON_POLICY_KEY,
            blocking=True,
            description=check_description(gid),
            additional_deps=[TOKENIZER_KEY, PHASE4_KEY] if gid in ("G11", "G2") else None,
        )
        for gid in ON_POLICY_GUARDRAILS
    ],
    name="on_policy_guardrails",
)
def on_policy_guardrails(
    context: dg.AssetCheckExecutionContext, data: DataSettings, model: ModelSettings
) -> Iterator[dg.AssetCheckResult]:
    """Guardrails G1, G2, G7, G8, G11, G12, G13 and G14 on the on-policy mix, as on phases 2
    and 3: calls on both sides, item-disjoint eval and bench, registry names and envelopes on
    the positive sides, lengths, rows, repetition and no prompt-blind shortcut; each blocks
    the preference checkpoints when it fails."""
    config = check_config(model.profile, profile_tokenizer_dir(data.out_path, model.profile))
    yield from blocking_results(context, ON_POLICY_KEY, run_on_policy_guardrails(data.out_path, model.profile, config))


ON_POLICY_ASSETS = [preference_data]
ON_POLICY_CHECKS = [on_policy_guardrails]
