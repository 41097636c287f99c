"""Piiranha (DeBERTa-v3 token classifier) as a Scrubber; torch/transformers are imported on first use."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from canvas_pipeline.data.pii.scrubber import PiiSpan, Scrubber, normalize_label, resolve_overlaps

DEFAULT_MODEL = "iiiorg/piiranha-v1-detect-personal-information"

#: Piiranha's config id2label (only I- tags plus O).
PIIRANHA_LABELS: dict[int, str] = {
    0: "I-ACCOUNTNUM",
    1: "I-BUILDINGNUM",
    2: "I-CITY",
    3: "I-CREDITCARDNUMBER",
    4: "I-DATEOFBIRTH",
    5: "I-DRIVERLICENSENUM",
    6: "I-EMAIL",
    7: "I-GIVENNAME",
    8: "I-IDCARDNUM",
    9: "I-PASSWORD",
    10: "I-SOCIALNUM",
    11: "I-STREET",
    12: "I-SURNAME",
    13: "I-TAXNUM",
    14: "I-TELEPHONENUM",
    15: "I-USERNAME",
    16: "I-ZIPCODE",
    17: "O",
}

#: Piiranha entity group (BIO prefix dropped) -> placeholder type. Unknown groups keep their own name.
GROUP_TO_LABEL: dict[str, str] = {
    "GIVENNAME": "PERSON",
    "SURNAME": "PERSON",
    "USERNAME": "USERNAME",
    "EMAIL": "EMAIL",
    "TELEPHONENUM": "PHONE",
    "SOCIALNUM": "SSN",
    "STREET": "ADDRESS",
    "BUILDINGNUM": "ADDRESS",
    "CITY": "CITY",
    "ZIPCODE": "ZIPCODE",
    "IDCARDNUM": "ID",
    "DRIVERLICENSENUM": "ID",
    "TAXNUM": "ID",
    "ACCOUNTNUM": "ID",
    "CREDITCARDNUMBER": "ID",
    "PASSWORD": "PASSWORD",
    "DATEOFBIRTH": "DATE_OF_BIRTH",
}

# Characters that glue pieces of one entity ("540-555", "jane.doe", "(540)"); a gap of spaces/tabs or
# of exactly one of these between two same-label spans merges them (a newline never does).
_JOINERS = frozenset("-._@/+()'")

PipelineFactory = Callable[..., Callable[..., Any]]


def map_group(group: str) -> str:
    """Piiranha entity group (with or without a B-/I- prefix) -> placeholder label."""
    bare = normalize_label(group)
    return GROUP_TO_LABEL.get(bare, bare)


def chunk_text(text: str, max_chars: int = 800) -> list[tuple[int, str]]:
    """Split ``text`` into (offset, chunk) pieces of at most ``max_chars``, cutting at whitespace.

    Chunks start at a non-space character (whitespace-only stretches yield nothing) and
    ``text[offset:offset + len(chunk)] == chunk`` always holds.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    chunks: list[tuple[int, str]] = []
    pos, n = 0, len(text)
    while pos < n:
        while pos < n and text[pos].isspace():
            pos += 1
        if pos == n:
            break
        end = min(pos + max_chars, n)
        if end < n and not text[end].isspace():
            # Cut just after the last whitespace in the window; a window without any is cut hard.
            for i in range(end - 1, pos, -1):
                if text[i].isspace():
                    end = i + 1
                    break
        chunks.append((pos, text[pos:end]))
        pos = end
    return chunks


def merge_spans(text: str, spans: Sequence[PiiSpan]) -> list[PiiSpan]:
    """Merge same-label spans that overlap, touch, or are separated by spaces/tabs or one joiner char."""
    merged: list[PiiSpan] = []
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        if merged and merged[-1].label == span.label:
            prev = merged[-1]
            gap = text[prev.end : span.start] if span.start > prev.end else ""
            if span.start <= prev.end or not gap.strip(" \t") or (len(gap) == 1 and gap in _JOINERS):
                end = max(prev.end, span.end)
                merged[-1] = PiiSpan(prev.start, end, prev.label, text[prev.start : end])
                continue
        merged.append(span)
    return resolve_overlaps(merged)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _default_pipeline_factory(task: str, **kwargs: Any) -> Callable[..., Any]:
    from transformers import pipeline

    return pipeline(task, **kwargs)


class PiiranhaScrubber(Scrubber):
    """Token-classification detector (Piiranha by default); the model loads lazily on first use."""

    name = "piiranha"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        device: str | int = "cpu",
        batch_size: int = 16,
        pipeline_factory: PipelineFactory | None = None,
        min_score: float = 0.5,
        max_chars: int = 800,
    ) -> None:
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self.min_score = min_score
        self.max_chars = max_chars
        self._pipeline_factory = pipeline_factory or _default_pipeline_factory
        self._pipe: Callable[..., Any] | None = None

    @property
    def pipeline(self) -> Callable[..., Any]:
        """The underlying transformers pipeline, built on first access."""
        if self._pipe is None:
            self._pipe = self._pipeline_factory(
                "token-classification",
                model=self.model,
                aggregation_strategy="simple",
                device=self.device,
            )
        return self._pipe

    def detect(self, text: str) -> list[PiiSpan]:
        """Detections in one text (chunked, offsets mapped back, same-label neighbours merged)."""
        return self.detect_many([text])[0]

    def detect_many(self, texts: Sequence[str]) -> list[list[PiiSpan]]:
        """Detections for many texts, all chunks going through the pipeline in batches."""
        owners: list[tuple[int, int]] = []
        chunks: list[str] = []
        for index, text in enumerate(texts):
            for offset, chunk in chunk_text(text, self.max_chars):
                owners.append((index, offset))
                chunks.append(chunk)
        raw: list[list[PiiSpan]] = [[] for _ in texts]
        if chunks:
            outputs = list(self.pipeline(chunks, batch_size=self.batch_size))
            if len(chunks) == 1 and (not outputs or isinstance(outputs[0], Mapping)):
                outputs = [outputs]  # a pipeline may flatten a one-item batch
            if len(outputs) != len(chunks):
                raise RuntimeError(f"pipeline returned {len(outputs)} results for {len(chunks)} chunks")
            for (index, offset), chunk, entities in zip(owners, chunks, outputs, strict=True):
                raw[index].extend(self._to_spans(texts[index], chunk, offset, entities))
        return [merge_spans(text, spans) for text, spans in zip(texts, raw, strict=True)]

    def _to_spans(self, text: str, chunk: str, offset: int, entities: Sequence[Mapping[str, Any]]) -> list[PiiSpan]:
        spans: list[PiiSpan] = []
        cursor = 0
        for entity in entities:
            if float(entity.get("score", 1.0)) < self.min_score:
                continue
            group = entity.get("entity_group") or entity.get("entity")
            if not group:
                raise ValueError(f"pipeline entity without a group: {dict(entity)!r}")
            start, end = entity.get("start"), entity.get("end")
            if start is None or end is None:
                # Slow tokenizers give no offsets: locate the word, never drop the detection.
                word = str(entity.get("word", "")).strip()
                found = chunk.find(word, cursor) if word else -1
                if found < 0:
                    raise ValueError(f"cannot place entity {dict(entity)!r} in its text")
                start, end = found, found + len(word)
            cursor = int(end)
            start, end = _trim(text, offset + int(start), offset + int(end))
            if end > start:
                spans.append(PiiSpan(start, end, map_group(str(group)), text[start:end]))
        return spans
