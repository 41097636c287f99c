"""What a guardrail returns: pass/fail (or not run, with why), the measured value, the
threshold, and the offending rows or tools (capped, but counted)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_DETAILS = 20


@dataclass(frozen=True)
class GuardrailResult:
    id: str
    name: str
    passed: bool | None  # None: not run
    value: Any
    threshold: str
    details: tuple[str, ...] = ()
    n_offending: int = 0
    reason: str = ""  # why it was not run, or the allowance it passed under
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "NOT RUN" if self.passed is None else "PASS" if self.passed else "FAIL"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["details"] = list(self.details)
        out["status"] = self.status
        return out


def capped(offenders: Iterable[str], limit: int = MAX_DETAILS) -> tuple[tuple[str, ...], int]:
    """The first `limit` offenders and how many there were in all."""
    items = list(offenders)
    shown = items[:limit]
    if len(items) > limit:
        shown.append(f"... and {len(items) - limit} more")
    return tuple(shown), len(items)


def not_run(gid: str, name: str, threshold: str, reason: str) -> GuardrailResult:
    return GuardrailResult(gid, name, None, None, threshold, reason=reason)
