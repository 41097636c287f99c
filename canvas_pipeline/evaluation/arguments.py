"""Argument accuracy in the style of the Berkeley Function Calling Leaderboard's AST check.

An expected call carries, per argument, a list of accepted values; "" in the list means
the argument may be left out. A produced call matches when every argument it gives is
expected and accepted, and every expected argument it leaves out may be left out. How two
values compare depends on what the registry says the argument is:

- ids and integers: exact after type normalization (4264 and 4264.0 are the same id; the
  string "4264" for an integer is a wrong type, as BFCL scores it);
- `*_iso` strings: parsed as ISO-8601 before comparing (same instant, any spelling);
- enums, booleans, and ids given as strings (`event_id`, `calendar_id`): exact;
- natural-language strings (titles, rationales, queries, item labels): lower-cased,
  punctuation dropped, and matched by word-set Jaccard > 0.5;
- arrays: the same multiset of elements, each compared as above.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from canvas_pipeline.tools.registry import ToolRegistry, load_registry

JACCARD_THRESHOLD = 0.5
MAY_OMIT = ""
WORD_RE = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class ArgumentVerdict:
    matched: bool
    reason: str = ""


def _is_integer(value: Any) -> bool:
    return not isinstance(value, bool) and (isinstance(value, int) or (isinstance(value, float) and value.is_integer()))


def integer_equal(produced: Any, expected: Any) -> bool:
    return _is_integer(produced) and _is_integer(expected) and int(produced) == int(expected)


def number_equal(produced: Any, expected: Any) -> bool:
    numeric = (int, float)
    if isinstance(produced, bool) or isinstance(expected, bool):
        return False
    return isinstance(produced, numeric) and isinstance(expected, numeric) and float(produced) == float(expected)


def parse_iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def iso_equal(produced: Any, expected: Any) -> bool:
    """Same moment: aware datetimes compare as instants, naive ones as wall-clock times; an
    aware and a naive one compare by wall-clock time (a date with no zone means local)."""
    a, b = parse_iso(produced), parse_iso(expected)
    if a is None or b is None:
        return False
    if (a.tzinfo is None) != (b.tzinfo is None):
        return a.replace(tzinfo=None) == b.replace(tzinfo=None)
    return a == b


def words(text: str) -> frozenset[str]:
    return frozenset(WORD_RE.findall(text.lower()))


def jaccard(a: str, b: str) -> float:
    left, right = words(a), words(b)
    if not left and not right:
        return 1.0
    return len(left & right) / len(left | right)


def text_equal(produced: Any, expected: Any) -> bool:
    return isinstance(produced, str) and isinstance(expected, str) and jaccard(produced, expected) > JACCARD_THRESHOLD


def exact_equal(produced: Any, expected: Any) -> bool:
    return type(produced) is type(expected) and produced == expected


def value_kind(key: str, schema: Mapping[str, Any]) -> str:
    """How an argument's values compare: integer, number, iso, id, enum, boolean, text, array."""
    types = schema.get("type")
    kinds = set(types) if isinstance(types, list) else {types}
    kinds.discard("null")
    if "array" in kinds:
        return "array"
    if "enum" in schema:
        return "enum"
    if "integer" in kinds:
        return "integer"
    if "number" in kinds:
        return "number"
    if "boolean" in kinds:
        return "boolean"
    if key.endswith("_iso"):
        return "iso"
    if key.endswith("_id") or key == "id":
        return "id"
    return "text"


COMPARATORS = {
    "integer": integer_equal,
    "number": number_equal,
    "iso": iso_equal,
    "text": text_equal,
    "id": exact_equal,
    "enum": exact_equal,
    "boolean": exact_equal,
}


def values_equal(key: str, schema: Mapping[str, Any], produced: Any, expected: Any) -> bool:
    if produced is None or expected is None:
        return produced is None and expected is None
    kind = value_kind(key, schema)
    if kind != "array":
        return COMPARATORS[kind](produced, expected)
    if not isinstance(produced, list) or not isinstance(expected, list) or len(produced) != len(expected):
        return False
    element = dict(schema.get("items") or {})
    remaining = list(expected)
    for value in produced:  # a multiset match: each produced element consumes one expected
        hit = next((i for i, e in enumerate(remaining) if values_equal(key, element, value, e)), None)
        if hit is None:
            return False
        remaining.pop(hit)
    return True


def match_arguments(
    tool: str,
    produced: Mapping[str, Any],
    accepted: Mapping[str, Sequence[Any]],
    registry: ToolRegistry | None = None,
) -> ArgumentVerdict:
    """Whether a produced call's arguments answer an expected call of the same tool."""
    spec = (registry or load_registry())[tool]
    for key, value in produced.items():
        if key not in accepted:
            known = "not expected here" if key in spec.properties else f"not an argument of {tool}"
            return ArgumentVerdict(False, f"unknown argument {key!r} ({known})")
        schema = spec.properties.get(key, {})
        if not any(values_equal(key, schema, value, option) for option in accepted[key] if option != MAY_OMIT):
            return ArgumentVerdict(False, f"{key}={value!r} not among {list(accepted[key])!r}")
    for key, options in accepted.items():
        if key not in produced and MAY_OMIT not in options:
            return ArgumentVerdict(False, f"missing argument {key!r}")
    return ArgumentVerdict(True)
