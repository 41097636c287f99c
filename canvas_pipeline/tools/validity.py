"""What makes tool calls well formed, one call or one text at a time: a call survives
serialize -> parse unchanged; every envelope in a rendered text parses and re-serializes to
the same bytes, and none is left open. G7 and G8 count these over whole datasets; the phase
builders use them to quarantine the single source rows that fail."""

from __future__ import annotations

from canvas_pipeline.tools.codec import (
    CALL_OPEN,
    ENVELOPE_RE,
    ParseError,
    SerializeError,
    ToolCall,
    parse_calls,
    serialize_call,
)


def text_call_names(text: str) -> list[str] | None:
    """The tool names a rendered text calls, in order; None when its calls do not parse."""
    parsed = parse_calls(text)
    return None if isinstance(parsed, ParseError) else [c.name for c in parsed]


def round_trip_problem(call: ToolCall) -> str | None:
    """Why `call` does not serialize and parse back to itself (None when it does)."""
    try:
        parsed = parse_calls(serialize_call(call))
    except SerializeError as exc:
        return f"{call.name} cannot be serialized ({exc})"
    return None if parsed == [call] else f"{call.name} does not parse back to itself"


def envelope_problems(text: str) -> tuple[int, list[str]]:
    """(envelopes checked, problems): each `<|tool_call>...<tool_call|>` in `text` must parse
    and re-serialize to the same bytes; an envelope left open is a problem too."""
    checked, problems = 0, []
    for match in ENVELOPE_RE.finditer(text):
        checked += 1
        envelope = match.group(0)
        parsed = parse_calls(envelope)
        if isinstance(parsed, ParseError):
            problems.append(f"{envelope[:80]!r}: {parsed}")
        elif serialize_call(parsed[0]) != envelope:
            problems.append(f"{envelope[:80]!r} re-serializes differently")
    if CALL_OPEN in ENVELOPE_RE.sub("", text):
        checked += 1
        problems.append(f"an unclosed {CALL_OPEN} envelope")
    return checked, problems
