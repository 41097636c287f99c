"""Argument accuracy in the style of the Berkeley Function Calling Leaderboard's AST check.

An expected call carries, per argument, a list of accepted values; "" in the list means
the argument may be left out. A produced call matches when every argument it gives is
expected and accepted, and every expected argument it leaves out may be left out. How two
values compare depends on what the registry says the argument is:

- ids and integers: exact after type normalization (4264 and 4264.0 are the same id; the
  string "4264" for an integer is a wrong type, as BFCL scores it) (`integer_equal`);
- the end of a window (`WINDOW_END_KEYS`: `end_iso`, `exam_end_iso`): the same instant, or,
  when the expected end is a local midnight, the last minute or second of the day before
  in the same offset (an inclusive end for an exclusive one) (`window_end_equal`);
- every other `*_iso` string (starts, due times, `semester_end_iso`, which names a day
  rather than bounding a window): parsed as ISO-8601, the same instant in any spelling
  (`iso_equal`);
- enums, booleans, and ids given as strings (`event_id`, `calendar_id`): exact
  (`exact_equal`);
- free text (`FREE_TEXT_KEYS`: `rationale`, `description`, `title`, as top-level
  arguments): any non-empty text of at most 300 characters on the expected topic, by
  word-set Jaccard > 0.5 or one shared content word (`text_on_topic`); an empty one counts
  as leaving the argument out;
- other natural-language strings (queries, item labels, titles inside objects): lower-cased,
  punctuation dropped, and matched by word-set Jaccard > 0.5 (`text_equal`);
- arrays: the same multiset of elements, each compared as above;
- objects (array elements such as a semester plan's deadlines): the same keys, each value
  compared as above.

Accepted lists may be widened at bench-build time from the user's own words
(`canvas_pipeline.data.phase4.accepted.widen_accepted`): vague horizons accept a range, and
free-text arguments list several topics (the canned text, the item or event titles, the
request), any one of which a produced text may be on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from canvas_pipeline.data.phase4.accepted import FREE_TEXT_KEYS
from canvas_pipeline.tools.registry import ToolRegistry, load_registry

JACCARD_THRESHOLD = 0.5
MAY_OMIT = ""
WORD_RE = re.compile(r"[a-z0-9]+")
FREE_TEXT_MAX_CHARS = 300

WINDOW_END_KEYS: frozenset[str] = frozenset({"end_iso", "exam_end_iso"})
"""`*_iso` arguments that close a time window (calendar.list_events, create_event and
modify_event's `end_iso`; study.exam_bracket's `exam_end_iso`). `semester_end_iso` is not one:
the registry calls it the last day of the semester, so the evening before is another day."""


@dataclass(frozen=True)
class ArgumentVerdict:
    """Whether a produced call's arguments matched, and if not, the first reason why."""

    matched: bool
    reason: str = ""


def _is_integer(value: Any) -> bool:
    return not isinstance(value, bool) and (isinstance(value, int) or (isinstance(value, float) and value.is_integer()))


def integer_equal(produced: Any, expected: Any) -> bool:
    """The same integer, 4264.0 and 4264 alike; a bool or a string is never an integer."""
    return _is_integer(produced) and _is_integer(expected) and int(produced) == int(expected)


def number_equal(produced: Any, expected: Any) -> bool:
    """The same number, int or float; a bool is not a number."""
    numeric = (int, float)
    if isinstance(produced, bool) or isinstance(expected, bool):
        return False
    return isinstance(produced, numeric) and isinstance(expected, numeric) and float(produced) == float(expected)


def parse_iso(value: Any) -> datetime | None:
    """An ISO 8601 string as a datetime ("Z" for UTC allowed); None when it is not one."""
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


def window_end_equal(produced: Any, expected: Any) -> bool:
    """Whether `produced` ends the same window as `expected`.

    The same instant in any spelling (as `iso_equal`), or an inclusive end for an exclusive
    one: the expected end is a midnight and the produced one is the last minute or second of
    the day before (23:59, 23:59:59, 23:59:59.999...) in the same offset (an aware produced
    value is read in the expected value's offset first). Anything else that differs, such as
    22:00 the day before or the midnight a day later, is rejected."""
    if iso_equal(produced, expected):
        return True
    a, b = parse_iso(produced), parse_iso(expected)
    if a is None or b is None or b.time() != time(0):
        return False
    if a.tzinfo is not None and b.tzinfo is not None:
        a = a.astimezone(b.tzinfo)  # the expected end's offset (fixed, as parsed)
    last_minute = a.hour == 23 and a.minute == 59 and (a.second == 59 or (a.second == 0 and a.microsecond == 0))
    return last_minute and a.date() == b.date() - timedelta(days=1)


def words(text: str) -> frozenset[str]:
    """The lower-cased words and numbers of `text`, punctuation dropped."""
    return frozenset(WORD_RE.findall(text.lower()))


def singular(word: str) -> str:
    """A light plural folding so a plural meets its singular: sessions -> session, exams ->
    exam, classes -> class, studies -> study, quizzes -> quiz; -ss, -us and -is words stay."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith("zzes"):
        return word[:-3]
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


# Words every request to this assistant may hold whatever it is about: sharing one says
# nothing about the topic ("The student wants banana bread" is not about "The student changed
# their mind.").
REQUEST_FILLER = frozenset(
    {"student", "book", "calendar", "add", "put", "want", "need", "like", "pls", "thanks", "hey"}
)
NOT_TOPIC = ENGLISH_STOP_WORDS | REQUEST_FILLER


def content_words(text: str) -> frozenset[str]:
    """The words of `text` that carry its topic: scikit-learn's English stop words and the
    assistant's request filler (`REQUEST_FILLER`), bare numbers and single letters dropped,
    plurals folded to the singular (`singular`)."""
    out = set()
    for word in WORD_RE.findall(text.lower()):
        if len(word) < 2 or word.isdigit() or word in NOT_TOPIC:
            continue
        folded = singular(word)
        if folded not in NOT_TOPIC:
            out.add(folded)
    return frozenset(out)


def jaccard(a: str, b: str) -> float:
    """Word-set Jaccard similarity of two texts (1.0 for two texts with no words)."""
    left, right = words(a), words(b)
    if not left and not right:
        return 1.0
    return len(left & right) / len(left | right)


def text_equal(produced: Any, expected: Any) -> bool:
    """Natural-language strings that say the same: word-set Jaccard > 0.5."""
    return isinstance(produced, str) and isinstance(expected, str) and jaccard(produced, expected) > JACCARD_THRESHOLD


def text_on_topic(produced: Any, expected: Any) -> bool:
    """Free text on the expected topic: `produced` is a non-blank string of at most 300
    characters (stripped) that either has word-set Jaccard > 0.5 with `expected` or shares a
    content word with it (`content_words`). An empty text, one of stop words only, or one
    on another topic is rejected."""
    if not isinstance(produced, str) or not isinstance(expected, str):
        return False
    text = produced.strip()
    if not text or len(text) > FREE_TEXT_MAX_CHARS:
        return False
    if words(text) and jaccard(text, expected) > JACCARD_THRESHOLD:
        return True
    return bool(content_words(text) & content_words(expected))


def exact_equal(produced: Any, expected: Any) -> bool:
    """Exactly the same value of exactly the same type."""
    return type(produced) is type(expected) and produced == expected


def value_kind(key: str, schema: Mapping[str, Any], *, nested: bool = False) -> str:
    """How an argument's values compare: integer, number, window_end, iso, id, enum, boolean,
    free_text, text, array or object. `nested` is for a key inside an object (a deadline's
    `title` is a label, compared as text, not free prose)."""
    types = schema.get("type")
    kinds = set(types) if isinstance(types, list) else {types}
    kinds.discard("null")
    if "array" in kinds:
        return "array"
    if "object" in kinds:
        return "object"
    if "enum" in schema:
        return "enum"
    if "integer" in kinds:
        return "integer"
    if "number" in kinds:
        return "number"
    if "boolean" in kinds:
        return "boolean"
    if key in WINDOW_END_KEYS and not nested:
        return "window_end"
    if key.endswith("_iso"):
        return "iso"
    if key.endswith("_id") or key == "id":
        return "id"
    if key in FREE_TEXT_KEYS and not nested:
        return "free_text"
    return "text"


COMPARATORS = {
    "integer": integer_equal,
    "number": number_equal,
    "window_end": window_end_equal,
    "iso": iso_equal,
    "free_text": text_on_topic,
    "text": text_equal,
    "id": exact_equal,
    "enum": exact_equal,
    "boolean": exact_equal,
}


def objects_equal(schema: Mapping[str, Any], produced: Any, expected: Any) -> bool:
    """Two objects with the same keys whose values compare equal by their own kinds."""
    if not isinstance(produced, Mapping) or not isinstance(expected, Mapping) or produced.keys() != expected.keys():
        return False
    properties = schema.get("properties") or {}
    return all(values_equal(k, properties.get(k, {}), produced[k], expected[k], nested=True) for k in expected)


def values_equal(key: str, schema: Mapping[str, Any], produced: Any, expected: Any, *, nested: bool = False) -> bool:
    """Whether one produced value answers one accepted value of argument `key`, by its kind
    (`value_kind`); arrays as multisets of elements, objects key by key."""
    if produced is None or expected is None:
        return produced is None and expected is None
    kind = value_kind(key, schema, nested=nested)
    if kind == "object":
        return objects_equal(schema, produced, expected)
    if kind != "array":
        return COMPARATORS[kind](produced, expected)
    if not isinstance(produced, list) or not isinstance(expected, list) or len(produced) != len(expected):
        return False
    element = dict(schema.get("items") or {})
    remaining = list(expected)
    for value in produced:  # a multiset match: each produced element consumes one expected
        hit = next((i for i, e in enumerate(remaining) if values_equal(key, element, value, e, nested=nested)), None)
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
    """Whether a produced call's arguments answer an expected call of the same tool: every
    argument it gives is expected and matches one accepted value (by the rules in this
    module's docstring), and every expected argument it leaves out may be left out. A blank
    free-text argument counts as left out."""
    spec = (registry or load_registry())[tool]
    for key, value in produced.items():
        if key not in accepted:
            known = "not expected here" if key in spec.properties else f"not an argument of {tool}"
            return ArgumentVerdict(False, f"unknown argument {key!r} ({known})")
        if key in FREE_TEXT_KEYS and isinstance(value, str) and not value.strip():
            if MAY_OMIT in accepted[key]:
                continue
            return ArgumentVerdict(False, f"{key} is empty and may not be left out")
        schema = spec.properties.get(key, {})
        if not any(values_equal(key, schema, value, option) for option in accepted[key] if option != MAY_OMIT):
            return ArgumentVerdict(False, f"{key}={value!r} not among {list(accepted[key])!r}")
    for key, options in accepted.items():
        if key not in produced and MAY_OMIT not in options:
            return ArgumentVerdict(False, f"missing argument {key!r}")
    return ArgumentVerdict(True)
