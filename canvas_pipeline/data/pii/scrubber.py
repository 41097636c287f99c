"""Detector-agnostic core of the PII gate: spans, per-record placeholders and the Scrubber base."""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: An already-inserted placeholder such as ``<EMAIL_1>`` or ``<CREDIT_CARD_2>``.
PLACEHOLDER_RE = re.compile(r"<[A-Z][A-Z0-9_]*_\d+>")

_BIO_PREFIX_RE = re.compile(r"^[BIELS]-", re.IGNORECASE)

# Labels whose values are compared by their digits only, so "540-555-0142" and "(540) 555-0142"
# share one placeholder within a record.
_DIGIT_KEYED_LABELS = frozenset({"PHONE", "SSN", "ZIPCODE"})


@dataclass(frozen=True)
class PiiSpan:
    """One detection: ``text == source[start:end]``; ``label`` is an upper-case type without BIO prefix."""

    start: int
    end: int
    label: str
    text: str


def normalize_label(label: str) -> str:
    """Upper-case a label and drop a BIO prefix, so it can be used inside a placeholder."""
    label = _BIO_PREFIX_RE.sub("", label.strip())
    cleaned = re.sub(r"[^A-Z0-9]+", "_", label.upper()).strip("_")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"PII_{cleaned}" if cleaned else "PII"
    return cleaned


def _value_key(label: str, value: str) -> str:
    if label in _DIGIT_KEYED_LABELS:
        digits = re.sub(r"\D", "", value)
        if label == "PHONE" and len(digits) == 11 and digits.startswith("1"):
            digits = digits[1:]  # "+1 540 555 0142" is the same number as "540-555-0142"
        if digits:
            return digits
    return " ".join(value.split()).casefold()


class PlaceholderMap:
    """Per-record map value->placeholder: the same value gets the same placeholder within a record;
    numbering per type starts at 1: <EMAIL_1>, <EMAIL_2>, <PERSON_1>..."""

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}

    def placeholder(self, label: str, value: str) -> str:
        """Return the placeholder for ``value`` of type ``label``, allocating the next number if new."""
        label = normalize_label(label)
        key = (label, _value_key(label, value))
        existing = self._by_value.get(key)
        if existing is not None:
            return existing
        count = self._counts.get(label, 0) + 1
        self._counts[label] = count
        placeholder = f"<{label}_{count}>"
        self._by_value[key] = placeholder
        return placeholder

    def reserve(self, text: str) -> None:
        """Skip numbers already used by placeholders in ``text``, so new ones cannot collide with them."""
        for m in PLACEHOLDER_RE.finditer(text):
            label, _, number = m.group()[1:-1].rpartition("_")
            self._counts[label] = max(self._counts.get(label, 0), int(number))

    def __len__(self) -> int:
        return len(self._by_value)

    def counts(self) -> dict[str, int]:
        """How many distinct values were replaced, per label."""
        return dict(self._counts)


def resolve_overlaps(spans: Sequence[PiiSpan]) -> list[PiiSpan]:
    """Sort by start and keep, left to right, the longest span at each position; drop overlapping ones."""
    ordered = sorted(spans, key=lambda s: (s.start, -(s.end - s.start)))
    kept: list[PiiSpan] = []
    for span in ordered:
        if span.end <= span.start:
            continue
        if kept and span.start < kept[-1].end:
            continue
        kept.append(span)
    return kept


def _inside_placeholders(text: str, span: PiiSpan, regions: Sequence[tuple[int, int]]) -> bool:
    """True when, outside placeholder regions, the span holds no letter or digit."""
    covered = [False] * (span.end - span.start)
    for start, end in regions:
        for i in range(max(start, span.start), min(end, span.end)):
            covered[i - span.start] = True
    return not any(ch.isalnum() for i, ch in enumerate(text[span.start : span.end]) if not covered[i])


def _trim_to_placeholders(text: str, span: PiiSpan, regions: Sequence[tuple[int, int]]) -> PiiSpan:
    """Cut a span's ends out of placeholders it only partly covers, so replacing it keeps them whole."""
    start, end = span.start, span.end
    for r_start, r_end in regions:
        if r_start < start < r_end or (r_start == start and end > r_end):
            start = r_end
        if r_start < end < r_end or (r_end == end and start < r_start):
            end = r_start
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if (start, end) == (span.start, span.end):
        return span
    return PiiSpan(start, end, span.label, text[start:end])


class Scrubber(abc.ABC):
    """A PII detector plus the shared logic that turns its detections into placeholders."""

    name: str = "scrubber"

    @abc.abstractmethod
    def detect(self, text: str) -> list[PiiSpan]:
        """Raw detections, sorted by start, non-overlapping."""

    def detect_many(self, texts: Sequence[str]) -> list[list[PiiSpan]]:
        """detect() for each text; batching detectors override this."""
        return [self.detect(text) for text in texts]

    def findings(self, text: str) -> list[PiiSpan]:
        """detect() minus spans lying inside an existing placeholder (so scrubbed text is not re-flagged)."""
        return self._filter_placeholders(text, self.detect(text))

    def findings_many(self, texts: Sequence[str]) -> list[list[PiiSpan]]:
        """findings() for each text, using the batched detect_many()."""
        return [self._filter_placeholders(t, s) for t, s in zip(texts, self.detect_many(texts), strict=True)]

    @staticmethod
    def _filter_placeholders(text: str, spans: Sequence[PiiSpan]) -> list[PiiSpan]:
        regions = [m.span() for m in PLACEHOLDER_RE.finditer(text)]
        if not regions:
            return list(spans)
        kept: list[PiiSpan] = []
        for span in spans:
            if _inside_placeholders(text, span, regions):
                continue
            kept.append(_trim_to_placeholders(text, span, regions))
        return kept

    def scrub(self, text: str, placeholders: PlaceholderMap) -> tuple[str, list[PiiSpan]]:
        """Replace each finding by its placeholder; return the new text and the replaced spans."""
        placeholders.reserve(text)
        return self._apply(text, self.findings(text), placeholders)

    @staticmethod
    def _apply(text: str, spans: Sequence[PiiSpan], placeholders: PlaceholderMap) -> tuple[str, list[PiiSpan]]:
        spans = resolve_overlaps(spans)
        parts: list[str] = []
        cursor = 0
        for span in spans:
            parts.append(text[cursor : span.start])
            parts.append(placeholders.placeholder(span.label, span.text))
            cursor = span.end
        parts.append(text[cursor:])
        return "".join(parts), spans

    def scrub_record(self, fields: Mapping[str, str | None]) -> tuple[dict[str, str | None], list[PiiSpan]]:
        """Scrub every field with one PlaceholderMap shared by the record; None stays None.

        Returned spans carry offsets into their own (original) field, in field order.
        """
        placeholders = PlaceholderMap()
        keys = [k for k, v in fields.items() if v is not None]
        texts = [fields[k] or "" for k in keys]
        for text in texts:
            placeholders.reserve(text)
        found = self.findings_many(texts)
        out: dict[str, str | None] = dict(fields)
        replaced: list[PiiSpan] = []
        for key, text, spans in zip(keys, texts, found, strict=True):
            new_text, used = self._apply(text, spans, placeholders)
            out[key] = new_text
            replaced.extend(used)
        return out, replaced
