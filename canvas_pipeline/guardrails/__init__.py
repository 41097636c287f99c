"""G1-G14 as pure functions over datasets (no Dagster here): each returns a GuardrailResult
with the measured value, the threshold and the offending rows."""

from canvas_pipeline.guardrails.inputs import Bundle, DataDirError, load_bundle
from canvas_pipeline.guardrails.registry import GUARDRAILS, CheckConfig, run_guardrails, summary
from canvas_pipeline.guardrails.result import GuardrailResult

__all__ = [
    "GUARDRAILS",
    "Bundle",
    "CheckConfig",
    "DataDirError",
    "GuardrailResult",
    "load_bundle",
    "run_guardrails",
    "summary",
]
