"""Phase 6, the release: the gate (selection + guardrails on the selected checkpoint's
lineage), plain transformers weights, the model card, and the Hub upload when asked.
Plain Python: no Dagster here, and torch only inside the functions that load models."""

from canvas_pipeline.release.gate import INFORMATIONAL, LINEAGE_GATE, ReleaseRefused, release_refusals
from canvas_pipeline.release.hub import PublishError
from canvas_pipeline.release.run import ReleaseReport, release_checkpoint, release_dir

__all__ = [
    "INFORMATIONAL",
    "LINEAGE_GATE",
    "PublishError",
    "ReleaseRefused",
    "ReleaseReport",
    "release_checkpoint",
    "release_dir",
    "release_refusals",
]
