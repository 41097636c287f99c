"""Piiranha (DeBERTa-v3 token classifier) as a Scrubber; torch/transformers are imported on first use."""

from __future__ import annotations

import functools
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

    `PiiranhaScrubber` does not use this: it windows text by tokens with overlap (the pipeline's
    ``stride``), since a character budget says nothing about the model's token window.
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


@functools.cache
def _all_windows_pipeline_class() -> type:
    """The transformers token-classification pipeline, keeping every window's entities.

    With ``stride`` the pipeline resolves entities from overlapping windows by keeping the longest of
    any overlapping ones, so an entity longer than the overlap that straddles a window boundary loses
    the piece the other window saw. A scrubber must cover both pieces: the entities are returned
    as they are and `merge_spans` joins same-label overlaps (their union), `resolve_overlaps` the rest.
    """
    from transformers.pipelines.token_classification import TokenClassificationPipeline

    class AllWindowsTokenClassificationPipeline(TokenClassificationPipeline):
        def aggregate_overlapping_entities(self, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return sorted(entities, key=lambda entity: (entity["start"], entity["end"]))

    return AllWindowsTokenClassificationPipeline


def _default_pipeline_factory(task: str, **kwargs: Any) -> Callable[..., Any]:
    from transformers import pipeline

    return pipeline(task, pipeline_class=_all_windows_pipeline_class(), **kwargs)


class PiiranhaScrubber(Scrubber):
    """Token-classification detector (Piiranha by default); the model loads lazily on first use.

    Text longer than the model's window is read in overlapping token windows by the transformers
    pipeline itself (``stride``): each window holds ``max_tokens`` tokens (the tokenizer's
    ``model_max_length``, capped by the model's ``max_position_embeddings``), consecutive windows
    share ``stride`` tokens (a quarter of the window unless given), and the pipeline maps entities
    back to character offsets in the whole text; same-label detections that overlap across windows
    are joined by `merge_spans`.
    """

    name = "piiranha"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        device: str | int = "cpu",
        batch_size: int = 16,
        pipeline_factory: PipelineFactory | None = None,
        min_score: float = 0.5,
        max_tokens: int | None = None,
        stride: int | None = None,
    ) -> None:
        if max_tokens is not None and max_tokens < 1:
            raise ValueError("max_tokens must be positive")
        if stride is not None and stride < 0:
            raise ValueError("stride must not be negative")
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self.min_score = min_score
        self.max_tokens = max_tokens
        self.stride = stride
        self._pipeline_factory = pipeline_factory or _default_pipeline_factory
        self._pipe: Callable[..., Any] | None = None
        self._stride: int | None = None

    @property
    def pipeline(self) -> Callable[..., Any]:
        """The underlying transformers pipeline, built (and its token window set) on first access."""
        if self._pipe is None:
            pipe = self._pipeline_factory(
                "token-classification",
                model=self.model,
                aggregation_strategy="simple",
                device=self.device,
            )
            self._stride = self._configure_windows(pipe)
            self._pipe = pipe
        return self._pipe

    def _configure_windows(self, pipe: Any) -> int | None:
        """Set the pipeline tokenizer's window and return the stride to call the pipeline with.

        A stand-in pipeline without a tokenizer gets the configured stride as is.
        """
        tokenizer = getattr(pipe, "tokenizer", None)
        if tokenizer is None:
            return self.stride
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError(
                f"{self.model}: reading long text in overlapping token windows needs a fast tokenizer "
                f"(tokenizer.json); got {type(tokenizer).__name__}"
            )
        window = self.max_tokens or int(tokenizer.model_max_length or 0)
        positions = getattr(getattr(getattr(pipe, "model", None), "config", None), "max_position_embeddings", None)
        if isinstance(positions, int) and positions > 0 and not 0 < window <= positions:
            window = positions  # never past the model's positions (an unset model_max_length is a huge sentinel)
        if window < 1:
            raise ValueError(f"{self.model}: cannot tell the model's token window; pass max_tokens")
        room = window - int(tokenizer.num_special_tokens_to_add())
        stride = self.stride if self.stride is not None else room // 4
        if not 0 <= stride < room:
            raise ValueError(
                f"{self.model}: stride {stride} must be less than the {room} text tokens of a {window}-token window"
            )
        tokenizer.model_max_length = window
        return stride

    def detect(self, text: str) -> list[PiiSpan]:
        """Detections in one text (token windows with overlap, same-label neighbours merged)."""
        return self.detect_many([text])[0]

    def detect_many(self, texts: Sequence[str]) -> list[list[PiiSpan]]:
        """Detections for many texts, all going through the pipeline in batches of token windows."""
        owners = [index for index, text in enumerate(texts) if text.strip()]
        raw: list[list[PiiSpan]] = [[] for _ in texts]
        if owners:
            pipe = self.pipeline
            inputs = [texts[index] for index in owners]
            outputs = list(pipe(inputs, batch_size=self.batch_size, stride=self._stride))
            if len(inputs) == 1 and (not outputs or isinstance(outputs[0], Mapping)):
                outputs = [outputs]  # a pipeline may flatten a one-item batch
            if len(outputs) != len(inputs):
                raise RuntimeError(f"pipeline returned {len(outputs)} results for {len(inputs)} texts")
            for index, entities in zip(owners, outputs, strict=True):
                raw[index].extend(self._to_spans(texts[index], entities))
        return [merge_spans(text, spans) for text, spans in zip(texts, raw, strict=True)]

    def _to_spans(self, text: str, entities: Sequence[Mapping[str, Any]]) -> list[PiiSpan]:
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
                found = text.find(word, cursor) if word else -1
                if found < 0:
                    raise ValueError(f"cannot place entity {dict(entity)!r} in its text")
                start, end = found, found + len(word)
            cursor = int(end)
            start, end = _trim(text, int(start), int(end))
            if end > start:
                spans.append(PiiSpan(start, end, map_group(str(group)), text[start:end]))
        return spans
