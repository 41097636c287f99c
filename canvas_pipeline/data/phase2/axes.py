"""What each of the 8 axes means, checked on a continuation with the registry, the codec and
the conversation so far. The builder keeps a pair only when its rejected side violates
every axis it names and its chosen side violates none; the tests hold it to the same."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Any

from canvas_pipeline.data.backend import parse_iso
from canvas_pipeline.data.phase2.points import DecisionPoint
from canvas_pipeline.data.student_view import human_date
from canvas_pipeline.tools.chat_format import message_calls
from canvas_pipeline.tools.codec import CALL_OPEN, ParseError, ToolCall, parse_calls
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


def _family(name: str) -> str:
    return name.split(".", 1)[0]


def _issue_kinds(call: ToolCall) -> set[str]:
    """Schema and value issues together (a mixed pair may break a key and a value at once)."""
    registry = load_registry()
    if call.name not in registry:
        return set()
    return {i.kind for i in registry.validate_arguments(call.name, call.arguments)} | {
        i.kind for i in semantic_issues(call)
    }


def _revealed(point: DecisionPoint) -> str:
    """Everything the model could read before deciding: tool responses and user turns."""
    return "\n".join(str(m.get("content") or "") for m in point.prompt if m["role"] in ("tool", "user"))


def a1_tool_selection(point: DecisionPoint, calls: list[ToolCall], message: dict[str, Any]) -> bool:
    if point.kind != "call":
        return False
    registry = load_registry()
    chosen = {c.name for c in point.calls}
    families = {_family(n) for n in chosen}
    return any(c.name not in registry or (c.name not in chosen and _family(c.name) in families) for c in calls)


def a2_argument_keys(point: DecisionPoint, calls: list[ToolCall], message: dict[str, Any]) -> bool:
    return any(_issue_kinds(c) & {"missing_required", "unknown_key"} for c in calls)


def a3_argument_values(point: DecisionPoint, calls: list[ToolCall], message: dict[str, Any]) -> bool:
    return any(_issue_kinds(c) & {"wrong_type", "bad_enum", "bad_value", "out_of_range"} for c in calls)


def a4_parsimony(point: DecisionPoint, calls: list[ToolCall], message: dict[str, Any]) -> bool:
    return point.kind == "call" and len(calls) >= 4 and len(calls) > len(point.calls)


def _unrevealed_dependency(call: ToolCall, revealed: str) -> bool:
    args = call.arguments
    ids = [args["course_id"]] if isinstance(args.get("course_id"), int) else []
    if isinstance(args.get("course_ids"), list):
        ids += [c for c in args["course_ids"] if isinstance(c, int)]
    if any(f'"course_id":{cid}' not in revealed for cid in ids):
        return True
    if isinstance(args.get("event_id"), str) and f'"event_id":"{args["event_id"]}"' not in revealed:
        return True
    if call.name == "calendar.create_event" and isinstance(args.get("start_iso"), str):
        return f'"start":"{args["start_iso"]}"' not in revealed
    if call.name == "study.spaced_schedule" and isinstance(args.get("exam_iso"), str):
        try:
            stated = human_date(parse_iso(args["exam_iso"]))
        except ValueError:
            return False
        return args["exam_iso"] not in revealed and stated not in revealed
    return False


def a5_ordering(point: DecisionPoint, calls: list[ToolCall], message: dict[str, Any]) -> bool:
    revealed = _revealed(point)
    return any(_unrevealed_dependency(c, revealed) for c in calls)


def a6_format(point: DecisionPoint, calls: list[ToolCall], message: dict[str, Any]) -> bool:
    if point.kind != "call" or message.get("tool_calls"):
        return False
    content = str(message.get("content") or "")
    return CALL_OPEN not in content or isinstance(parse_calls(content), ParseError) or not parse_calls(content)


def a7_domain_fit(point: DecisionPoint, calls: list[ToolCall], message: dict[str, Any]) -> bool:
    if point.kind != "call":
        return False
    families = {_family(c.name) for c in point.calls}
    return any(_family(c.name) not in families for c in calls)


def a8_termination(point: DecisionPoint, calls: list[ToolCall], message: dict[str, Any]) -> bool:
    return point.kind == "answer" and bool(calls)


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
