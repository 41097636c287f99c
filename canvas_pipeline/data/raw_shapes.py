"""JSON schemas of the three raw input shapes (shared/data/README.md), checked with jsonschema.

A record is checked at its own level first (so a bad course or pair is rejected whole)
and each assignment of a course separately (so one bad assignment costs only itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

_STR_OR_NULL = {"type": ["string", "null"]}
_NUM_OR_NULL = {"type": ["number", "null"]}

SNAPSHOT_RECORD = {
    "type": "object",
    "required": ["type", "course_name", "course_code", "term", "assignments"],
    "properties": {
        "type": {"const": "course_snapshot"},
        "course_name": {"type": "string", "minLength": 1},
        "course_code": {"type": "string", "minLength": 1},
        "term": {"type": "string"},
        "assignments": {"type": "array"},
        "contributor_id": _STR_OR_NULL,
        "collected_at": _STR_OR_NULL,
    },
}

SNAPSHOT_ASSIGNMENT = {
    "type": "object",
    "required": ["name", "type", "due_at", "points_possible", "submission_status"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "type": {"enum": ["ASGN", "QUIZ", "DISC"]},
        "due_at": _STR_OR_NULL,
        "points_possible": _NUM_OR_NULL,
        "submission_types": {"type": "array", "items": {"type": "string"}},
        "submission_status": {"enum": ["GRADED", "SUBMITTED", "NOT_SUBMITTED"]},
    },
}

_PAIR_ITEM = {
    "type": "object",
    "required": ["anon_title", "course", "type", "points", "hours_until", "submitted", "missing", "urgency_score"],
    "properties": {
        "anon_title": {"type": "string", "minLength": 1},
        "course": {"type": "string", "minLength": 1},
        "type": {"type": "string"},
        "points": _NUM_OR_NULL,
        "hours_until": _NUM_OR_NULL,
        "submitted": {"type": "boolean"},
        "missing": {"type": "boolean"},
        "urgency_score": {"type": "number"},
    },
}

PAIR_RECORD = {
    "type": "object",
    "required": ["type", "query", "item_a", "item_b", "preference"],
    "properties": {
        "type": {"const": "pair"},
        "query": {"type": "string", "minLength": 1},
        "item_a": _PAIR_ITEM,
        "item_b": _PAIR_ITEM,
        "preference": {"enum": [0, 1]},
        "difficulty": {"type": "string"},
        "pair_type": {"type": "string"},
    },
}

PAIR_METADATA = {
    "type": "object",
    "required": ["type", "courses"],
    "properties": {
        "type": {"const": "metadata"},
        "courses": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code", "name"],
                "properties": {
                    "code": {"type": "string"},
                    "name": {"type": "string"},
                    "course_type": {"type": "string"},
                    "credits": {"type": ["integer", "null"]},
                },
            },
        },
    },
}

API_COURSE = {
    "type": "object",
    "required": ["id", "name", "course_code", "assignments"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string", "minLength": 1},
        "course_code": {"type": "string", "minLength": 1},
        "term": {"type": ["object", "null"], "properties": {"name": {"type": "string"}}},
        "assignments": {"type": "array"},
    },
}

API_ASSIGNMENT = {
    "type": "object",
    "required": ["id", "name", "due_at", "points_possible", "submission_types"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string", "minLength": 1},
        "due_at": _STR_OR_NULL,
        "points_possible": _NUM_OR_NULL,
        "submission_types": {"type": "array", "items": {"type": "string"}},
        "submission": {
            "type": ["object", "null"],
            "properties": {
                "submitted_at": _STR_OR_NULL,
                "graded_at": _STR_OR_NULL,
                "workflow_state": {"type": "string"},
            },
        },
    },
}

_VALIDATORS = {
    id(schema): Draft202012Validator(schema)
    for schema in (SNAPSHOT_RECORD, SNAPSHOT_ASSIGNMENT, PAIR_RECORD, PAIR_METADATA, API_COURSE, API_ASSIGNMENT)
}

_REASON_BY_VALIDATOR = {"required": "missing_field", "type": "wrong_type", "enum": "bad_value", "const": "bad_value"}


def first_violation(schema: Mapping[str, Any], record: Any) -> tuple[str, str] | None:
    """(reason, detail) for the first way `record` breaks `schema`, or None when it fits."""
    errors = sorted(_VALIDATORS[id(schema)].iter_errors(record), key=lambda e: (len(e.path), list(map(str, e.path))))
    if not errors:
        return None
    err: ValidationError = errors[0]
    where = "/".join(str(p) for p in err.absolute_path) or "<record>"
    return _REASON_BY_VALIDATOR.get(str(err.validator), "bad_value"), f"{where}: {err.message}"
