"""What each of the 8 axes means, checked on a continuation with the registry, the codec and
the conversation so far (and, for a needed call, what the trajectory does next). The
builder keeps a pair only when its rejected side violates exactly the axes it names and
its chosen side violates none; the tests hold it to the same."""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from canvas_pipeline.data.phase2.mutations import FREE_TEXT_KEYS
from canvas_pipeline.data.phase2.points import DecisionPoint, prior_calls, revealed, unrevealed_dependency
from canvas_pipeline.data.phase2.pool import call_key, family
from canvas_pipeline.tools.chat_format import message_calls
from canvas_pipeline.tools.codec import CALL_OPEN, ParseError, ToolCall, canonical_arguments, parse_calls
from canvas_pipeline.tools.registry import load_registry
from canvas_pipeline.tools.semantics import semantic_issues

AXES = {
    1: "tool selection",
    2: "argument keys",
    3: "argument values",
    4: "parsimony",
    5: "ordering",
    6: "format",
    7: "domain fit",
    8: "termination",
}
_REPR_CALL = re.compile(r"<\|tool_call>call:([\w.]+)(\{.*?\})<tool_call\|>", re.DOTALL)


def calls_in(message: dict[str, Any]) -> list[ToolCall]:
    """The calls a message makes: structured ones, else native text in its content, else
    (leniently, for judging only) Python-literal arguments in an envelope."""
    structured = message_calls(message)
    if structured:
        return structured
    content = str(message.get("content") or "")
    parsed = parse_calls(content)
    if not isinstance(parsed, ParseError) and parsed:
        return parsed
    calls = []
    for name, body in _REPR_CALL.findall(content):
        try:
            arguments = ast.literal_eval(body)
        except (ValueError, SyntaxError):
            continue
        if isinstance(arguments, dict):
            calls.append(ToolCall(name, arguments))
    return calls


def _issue_kinds(call: ToolCall) -> set[str]:
    """Schema and value issues together (a mixed pair may break a key and a value at once)."""
    registry = load_registry()
    if call.name not in registry:
        return set()
    return {i.kind for i in registry.validate_arguments(call.name, call.arguments)} | {
        i.kind for i in semantic_issues(call)
    }


class _Reading:
    """A continuation read against the point: which calls repeat the conversation's own,
    which needed calls it leaves out, which tools the trajectory uses later."""

    def __init__(self, point: DecisionPoint, calls: list[ToolCall]) -> None:
        self.needed = point.calls
        self.needed_names = {c.name for c in self.needed}
        self.needed_families = {family(c.name) for c in self.needed}
        done = {call_key(c) for c in prior_calls(point)}
        self.repeats = [c for c in calls if call_key(c) in done]
        self.new = [c for c in calls if call_key(c) not in done]
        self.later = {c.name for c in point.later_calls()}
        self.missing = bool(self.needed_names - {c.name for c in calls})

    def substitutes(self, same_family: bool) -> bool:
        """A needed tool is left out and a tool this trajectory never uses stands in for it."""
        return self.missing and any(
            c.name not in self.needed_names
            and c.name not in self.later
            and (family(c.name) in self.needed_families) == same_family
            for c in self.new
        )


def a1_tool_selection(point: DecisionPoint, calls: list[ToolCall], message: dict[str, Any]) -> bool:
    """A tool that does not exist, or a real tool of the right family standing in for the
    one the request needs (not one the trajectory calls later: that is an ordering error)."""
    if point.kind != "call":
        return False
    registry = load_registry()
    return any(c.name not in registry for c in calls) or _Reading(point, calls).substitutes(same_family=True)


def a2_argument_keys(point: DecisionPoint, calls: list[ToolCall], message: dict[str, Any]) -> bool:
    return any(_issue_kinds(c) & {"missing_required", "unknown_key"} for c in calls)


def _differs(key: str, chosen: Any, other: Any) -> bool:
    return key not in FREE_TEXT_KEYS and canonical_arguments(chosen) != canonical_arguments(other)


def _wrong_value(call: ToolCall, needed: list[ToolCall]) -> bool:
    """Same tool and keys as a needed call, with a value that matches none of them."""
    same = [n for n in needed if n.name == call.name and set(n.arguments) == set(call.arguments)]
    return bool(same) and all(any(_differs(k, n.arguments[k], call.arguments[k]) for k in n.arguments) for n in same)


def a3_argument_values(point: DecisionPoint, calls: list[ToolCall], message: dict[str, Any]) -> bool:
    """A value of the wrong type, off its range or not a date; or a well-formed value that is
    not the one the conversation calls for (another course, a day off)."""
    if any(_issue_kinds(c) & {"wrong_type", "bad_enum", "bad_value", "out_of_range"} for c in calls):
        return True
    return point.kind == "call" and any(_wrong_value(c, point.calls) for c in _Reading(point, calls).new)


def a4_parsimony(point: DecisionPoint, calls: list[ToolCall], message: dict[str, Any]) -> bool:
    """Every needed call and more besides, or some of the needed calls and nothing else."""
    if point.kind != "call" or not calls:
        return False
    needed, made = Counter(call_key(c) for c in point.calls), Counter(call_key(c) for c in calls)
    over = not (needed - made) and made.total() > needed.total()
    under = not (made - needed) and made.total() < needed.total()
    return over or under


def a5_ordering(point: DecisionPoint, calls: list[ToolCall], message: dict[str, Any]) -> bool:
    """A call that uses what the conversation has not shown yet, or only prerequisites run
    again (their results are already in) where the call that uses them was due."""
    shown = revealed(point)
    if any(unrevealed_dependency(c, shown) for c in calls):
        return True
    reading = _Reading(point, calls)
    return point.kind == "call" and bool(calls) and not reading.new and reading.missing


def _attempts_call(content: str) -> bool:
    return CALL_OPEN in content or any(name in content for name in load_registry().names)


def a6_format(point: DecisionPoint, calls: list[ToolCall], message: dict[str, Any]) -> bool:
    """A call was due and the message tries one (an envelope, a tool's name) that is not a
    valid native call."""
    if point.kind != "call" or message.get("tool_calls"):
        return False
    content = str(message.get("content") or "")
    if not _attempts_call(content):
        return False
    parsed = parse_calls(content)
    return isinstance(parsed, ParseError) or not parsed


def a7_domain_fit(point: DecisionPoint, calls: list[ToolCall], message: dict[str, Any]) -> bool:
    """A tool of another family standing in for the one the request needs."""
    return point.kind == "call" and _Reading(point, calls).substitutes(same_family=False)


def a8_termination(point: DecisionPoint, calls: list[ToolCall], message: dict[str, Any]) -> bool:
    """Calling on once the answer is known, or answering (no call, no attempt at one)
    before the result the answer needs is in."""
    if point.kind == "answer":
        return bool(calls)
    content = str(message.get("content") or "")
    return not calls and not message.get("tool_calls") and bool(content.strip()) and not _attempts_call(content)


VALIDATORS: dict[int, Callable[[DecisionPoint, list[ToolCall], dict[str, Any]], bool]] = {
    1: a1_tool_selection,
    2: a2_argument_keys,
    3: a3_argument_values,
    4: a4_parsimony,
    5: a5_ordering,
    6: a6_format,
    7: a7_domain_fit,
    8: a8_termination,
}


def violated_axes(point: DecisionPoint, message: dict[str, Any]) -> set[int]:
    calls = calls_in(message)
    return {axis for axis, check in VALIDATORS.items() if check(point, calls, message)}
