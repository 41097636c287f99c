"""What the JSON schemas cannot say about argument values: ISO 8601 strings must parse, hours
lie on the clock, durations and counts are positive, a spaced schedule has 3-5 sessions.
The registry describes these in prose; the backend, the bench and the mutation tests
hold calls to them here."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from canvas_pipeline.tools.codec import ToolCall
from canvas_pipeline.tools.registry import ArgumentIssue, ToolRegistry, load_registry

POSITIVE_INTEGERS = frozenset(
    {
        "min_minutes",
        "minutes_per_session",
        "review_minutes",
        "horizon_days",
        "past_days",
        "weekly_hours_available",
        "estimated_hours",
    }
)
RANGES: dict[str, tuple[int, int]] = {
    "earliest_hour": (0, 23),
    "latest_hour": (1, 24),
    "preferred_hour": (0, 23),
    "n_sessions": (3, 5),
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _value_issues(tool: str, path: str, key: str, value: Any) -> Iterator[ArgumentIssue]:
    if key.endswith("_iso") and isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            yield ArgumentIssue(tool, "bad_value", path, f"{value!r} is not an ISO 8601 date-time")
    elif key in RANGES and _is_int(value):
        low, high = RANGES[key]
        if not low <= value <= high:
            yield ArgumentIssue(tool, "out_of_range", path, f"{value} is outside {low}..{high}")
    elif key in POSITIVE_INTEGERS and _is_int(value) and value <= 0:
        yield ArgumentIssue(tool, "out_of_range", path, f"{value} must be positive")


def _walk(tool: str, prefix: str, arguments: Mapping[str, Any]) -> Iterator[ArgumentIssue]:
    for key, value in arguments.items():
        path = f"{prefix}{key}"
        yield from _value_issues(tool, path, key, value)
        if isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    yield from _walk(tool, f"{path}.{index}.", item)


def semantic_issues(call: ToolCall) -> list[ArgumentIssue]:
    return list(_walk(call.name, "", call.arguments))


def argument_issues(call: ToolCall, registry: ToolRegistry | None = None) -> list[ArgumentIssue]:
    """Schema issues first; value issues only where the schema holds (a wrong type is one issue)."""
    registry = registry or load_registry()
    issues = registry.validate_arguments(call.name, call.arguments)
    return issues or semantic_issues(call)
