"""The release: the selected checkpoint as a model folder with its card, published to the
Hugging Face Hub only when asked.

Domain work happens in `canvas_pipeline.release`; this asset wires it and reports what
happened. Publishing is a per-run decision: `ReleaseConfig` in run config, else the
`CANVAS_RELEASE_*` variables as they are when the run starts (never when the code is
loaded), else a dry run. The Hub token is read from `HF_TOKEN` in the environment by the
domain code at upload time and never passes through config, logs or metadata.
"""

import dagster as dg

from canvas_pipeline.defs.assets_eval import REPORT_KEY, SELECTION_KEY
from canvas_pipeline.defs.metadata import json_metadata
from canvas_pipeline.defs.resources import RELEASE_ENV, DataSettings, ModelSettings, ReleaseSettings, settings_from

RELEASE_KEY = dg.AssetKey(["release", "model"])


class ReleaseConfig(dg.Config):
    """`publish` uploads the release folder to `repo_id` (needs HF_TOKEN in the
    environment); otherwise the release is a dry run. A field left unset is read when the
    run starts from CANVAS_RELEASE_PUBLISH (default off), CANVAS_RELEASE_REPO_ID and
    CANVAS_RELEASE_PRIVATE (default private)."""

    publish: bool | None = None
    repo_id: str | None = None
    private: bool | None = None

    def settings(self) -> ReleaseSettings:
        """What this run does: the fields set here, then the environment now, then the defaults."""
        given = {k: v for k, v in self.model_dump().items() if v is not None}
        return settings_from(ReleaseSettings, RELEASE_ENV, given)


@dg.asset(key=RELEASE_KEY, deps=[SELECTION_KEY, REPORT_KEY], group_name="release", kinds={"huggingface"})
def release_model(
    context: dg.AssetExecutionContext, config: ReleaseConfig, data: DataSettings, model: ModelSettings
) -> dg.MaterializeResult:
    """The checkpoint `eval/selection` chose, released to `release/PROFILE/` under the data
    folder: plain transformers weights (adapters merged; verified to reproduce the
    checkpoint when loaded back with `AutoModelForCausalLM`), the tokenizer, the model card
    (`README.md`) and `release.json`. It materializes only when the selection named a
    checkpoint, G1-G8 and G11-G14 passed on that checkpoint's lineage, and the record it was
    selected on still describes the checkpoint and data on disk; otherwise it fails with
    every reason and writes nothing. G9 and G10 come from `canvas-train check`'s report on
    the same data: any FAIL refuses; a dry run without a PASS or a waiver says "NOT RUN, no
    waiver" in release.json and at the top of the card, and publishing refuses it. It
    uploads to the Hub only with `publish` and a `repo_id` set and HF_TOKEN in the
    environment; without them it says it was a dry run and why."""
    from canvas_pipeline.release import PublishError, ReleaseRefused, release_checkpoint
    from canvas_pipeline.release.export import ExportError

    try:
        settings = config.settings()
    except ValueError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None
    try:
        report = release_checkpoint(
            data.out_path, model.profile, settings.publish, settings.repo_id, context.log.info, settings.private
        )
    except ReleaseRefused as error:
        raise dg.Failure(description=str(error), metadata={"reasons": json_metadata(list(error.reasons))}) from None
    except (ExportError, PublishError) as error:
        raise dg.Failure(description=str(error)) from None
    statuses = report.guardrail_summary()
    return dg.MaterializeResult(
        metadata={
            "selected": report.method,
            "published": report.published,
            "repo_id": report.repo_id or "",
            "dry_run_reason": report.dry_run_reason or "",
            "commit_url": report.commit_url or "",
            "path": dg.MetadataValue.path(str(report.path)),
            "guardrails": json_metadata(statuses),
            "guardrails_passed": sum(s == "PASS" for s in statuses.values()),
            "guardrails_not_run": ", ".join(g for g, s in statuses.items() if s == "NOT RUN"),
            "export": json_metadata(report.export.to_dict()),
            "warnings": json_metadata(report.warnings),
            "model_card": dg.MetadataValue.md(report.card),
        }
    )


RELEASE_ASSETS = [release_model]
