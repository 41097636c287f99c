"""Pandera (polars backend) schemas at every stage boundary."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

ITEM_KINDS = ["assignment", "quiz", "discussion"]
SUBMISSION_STATES = ["graded", "submitted", "unsubmitted"]
SOURCE_KINDS = ["contributor_snapshot", "canvas_api"]

ITEMS_DTYPES: dict[str, pl.DataType] = {
    "source_kind": pl.String(),
    "source_file": pl.String(),
    "source_line": pl.Int64(),
    "course_id": pl.Int64(),
    "course_code": pl.String(),
    "course_name": pl.String(),
    "term": pl.String(),
    "item_id": pl.Int64(),
    "item_kind": pl.String(),
    "title": pl.String(),
    "due_at": pl.Datetime("us", "UTC"),
    "points": pl.Float64(),
    "submission_types": pl.List(pl.String()),
    "submission_state": pl.String(),
    "is_exam": pl.Boolean(),
    "contributor_id": pl.String(),
    "collected_at": pl.Datetime("us", "UTC"),
}

PAIR_SIDE_DTYPES: dict[str, pl.DataType] = {
    "title": pl.String(),
    "course": pl.String(),
    "type": pl.String(),
    "points": pl.Float64(),
    "hours_until": pl.Float64(),
    "submitted": pl.Boolean(),
    "missing": pl.Boolean(),
    "urgency": pl.Float64(),
}

PAIRS_DTYPES: dict[str, pl.DataType] = {
    "source_file": pl.String(),
    "source_line": pl.Int64(),
    "pair_id": pl.String(),
    "query": pl.String(),
    "preferred": pl.String(),
    "difficulty": pl.String(),
    "pair_type": pl.String(),
    **{f"a_{k}": v for k, v in PAIR_SIDE_DTYPES.items()},
    **{f"b_{k}": v for k, v in PAIR_SIDE_DTYPES.items()},
}


class ScrubbedItems(pa.DataFrameModel):
    """One row per Canvas item (assignment, quiz, discussion) with its course, after the
    PII gate: no contributor column, every free-text field scrubbed."""

    source_kind: str = pa.Field(isin=SOURCE_KINDS)
    source_file: str
    source_line: int = pa.Field(ge=1)
    course_id: int = pa.Field(gt=0)
    course_code: str = pa.Field(str_length={"min_value": 1})
    course_name: str = pa.Field(str_length={"min_value": 1})
    term: str
    item_id: int = pa.Field(gt=0, unique=True)
    item_kind: str = pa.Field(isin=ITEM_KINDS)
    title: str = pa.Field(str_length={"min_value": 1})
    due_at: pl.Datetime(time_unit="us", time_zone="UTC") = pa.Field(nullable=True)  # type: ignore[valid-type]
    points: float = pa.Field(nullable=True, ge=0)
    submission_types: pl.List(pl.String())  # type: ignore[valid-type]
    submission_state: str = pa.Field(isin=SUBMISSION_STATES)
    is_exam: bool
    collected_at: pl.Datetime(time_unit="us", time_zone="UTC") = pa.Field(nullable=True)  # type: ignore[valid-type]

    class Config:
        strict = True


class CanvasItems(ScrubbedItems):
    """Raw items as ingested: the scrubbed shape plus the contributor (personal data)."""

    contributor_id: str = pa.Field(nullable=True)

    class Config:
        strict = True


class PriorityPairs(pa.DataFrameModel):
    """One row per "which first?" pair: two anonymized items and the preferred side."""

    source_file: str
    source_line: int = pa.Field(ge=1)
    pair_id: str = pa.Field(unique=True)
    query: str = pa.Field(str_length={"min_value": 1})
    preferred: str = pa.Field(isin=["A", "B"])
    difficulty: str = pa.Field(nullable=True)
    pair_type: str = pa.Field(nullable=True)
    a_title: str
    a_course: str
    a_type: str
    a_points: float = pa.Field(nullable=True)
    a_hours_until: float = pa.Field(nullable=True)
    a_submitted: bool
    a_missing: bool
    a_urgency: float
    b_title: str
    b_course: str
    b_type: str
    b_points: float = pa.Field(nullable=True)
    b_hours_until: float = pa.Field(nullable=True)
    b_submitted: bool
    b_missing: bool
    b_urgency: float

    class Config:
        strict = True


class Trajectories(pa.DataFrameModel):
    """Phase-1 rows, flat view (messages as canonical JSON text)."""

    id: str = pa.Field(unique=True)
    split: str = pa.Field(isin=["train", "test"])
    messages_json: str
    item_ids: pl.List(pl.String())  # type: ignore[valid-type]
    tools_used: pl.List(pl.String())  # type: ignore[valid-type]

    class Config:
        strict = True
