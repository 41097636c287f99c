"""PII gate: detect personal data in text and replace it with per-record placeholders like <EMAIL_1>.

`RuleScrubber` is the offline default (regex + names list); `PiiranhaScrubber` wraps the Piiranha
token classifier and imports torch/transformers only when it first runs.
"""

from __future__ import annotations

from collections.abc import Iterable

from canvas_pipeline.data.pii.piiranha import (
    DEFAULT_MODEL,
    GROUP_TO_LABEL,
    PIIRANHA_LABELS,
    PiiranhaScrubber,
    chunk_text,
    map_group,
)
from canvas_pipeline.data.pii.rules import NameList, RuleScrubber
from canvas_pipeline.data.pii.scrubber import PLACEHOLDER_RE, PiiSpan, PlaceholderMap, Scrubber

SCRUBBER_KINDS = ("rule", "piiranha")

__all__ = [
    "DEFAULT_MODEL",
    "GROUP_TO_LABEL",
    "PIIRANHA_LABELS",
    "PLACEHOLDER_RE",
    "SCRUBBER_KINDS",
    "NameList",
    "PiiSpan",
    "PiiranhaScrubber",
    "PlaceholderMap",
    "RuleScrubber",
    "Scrubber",
    "chunk_text",
    "make_scrubber",
    "map_group",
]


def make_scrubber(
    kind: str, *, known_usernames: Iterable[str] = (), model: str | None = None, safe_tokens: Iterable[str] = ()
) -> Scrubber:
    """Build a scrubber by kind: "rule" (uses known_usernames and safe_tokens) or "piiranha" (uses model)."""
    if kind == "rule":
        return RuleScrubber(known_usernames=known_usernames, safe_tokens=safe_tokens)
    if kind == "piiranha":
        return PiiranhaScrubber(model or DEFAULT_MODEL)
    raise ValueError(f"unknown scrubber kind {kind!r}; valid kinds: {', '.join(SCRUBBER_KINDS)}")
