"""Gemma-4 native tool-call codec: serialize calls to text and parse text back, exactly inverse.

Grammar of one call (MISSION.md, "Native Gemma-4 format"):

    <|tool_call>call:NAME{key:value,...}<tool_call|>

NAME is ``[\\w.]+``; keys are bare identifiers; values are JSON numbers, ``true``,
``false``, ``null``, arrays and objects (whose keys are bare too), and strings are
wrapped in the delimiter token ``<|"|>`` instead of JSON quotes. The canonical text
has no whitespace between tokens, keys in the order given, ints as plain digits and
floats in Python's shortest repr. :func:`parse_calls` reads any JSON number spelling,
so ``serialize_calls(parse_calls(s)) == s`` holds for every canonical ``s`` and
``parse_calls(serialize_calls(calls)) == calls`` for every serializable ``calls``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

BOS = "<bos>"
TURN_OPEN = "<|turn>"
TURN_CLOSE = "<turn|>"
CALL_OPEN = "<|tool_call>"
CALL_CLOSE = "<tool_call|>"
RESPONSE_OPEN = "<|tool_response>"
RESPONSE_CLOSE = "<tool_response|>"
STRING_DELIM = '<|"|>'
DECL_OPEN = "<|tool>"
DECL_CLOSE = "<tool|>"

SPECIAL_TOKENS: tuple[str, ...] = (
    TURN_OPEN,
    TURN_CLOSE,
    CALL_OPEN,
    CALL_CLOSE,
    RESPONSE_OPEN,
    RESPONSE_CLOSE,
    STRING_DELIM,
    DECL_OPEN,
    DECL_CLOSE,
)
# Text that would turn into control tokens when tokenized; no string value may hold it.
RESERVED_MARKERS: tuple[str, ...] = (*SPECIAL_TOKENS, BOS, "<eos>", "<pad>")

NAME_RE = re.compile(r"[\w.]+")
KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
ENVELOPE_RE = re.compile(re.escape(CALL_OPEN) + r"(.*?)" + re.escape(CALL_CLOSE), re.DOTALL)
MAX_DEPTH = 64

JSONValue = Any


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, JSONValue] = field(default_factory=dict)

    def to_message_call(self, call_id: str | None = None) -> dict[str, Any]:
        """The OpenAI/TRL `tool_calls` entry for this call. Give an id whenever a message holds
        several calls: the chat template matches responses to calls by `tool_call_id`."""
        entry: dict[str, Any] = {"type": "function", "function": {"name": self.name, "arguments": self.arguments}}
        if call_id is not None:
            entry["id"] = call_id
        return entry

    @classmethod
    def from_message_call(cls, entry: Mapping[str, Any]) -> ToolCall:
        fn = entry["function"]
        args = fn.get("arguments") or {}
        if isinstance(args, str):
            args = json.loads(args)
        return cls(name=fn["name"], arguments=dict(args))


class SerializeError(ValueError):
    """A value that has no native-text form (NaN, a non-identifier key, a reserved marker...)."""


@dataclass(frozen=True)
class ParseError:
    """Why native text is not a valid sequence of tool calls. Returned, never raised."""

    kind: str  # unclosed_envelope | stray_close | bad_call | bad_name | bad_key | bad_value | trailing_text
    message: str
    position: int  # offset into the text handed to parse_calls
    call_index: int = 0

    def __str__(self) -> str:
        return f"{self.kind} at {self.position} (call {self.call_index}): {self.message}"


# ---------------------------------------------------------------- serialize


def serialize_value(value: JSONValue, *, quoted_keys: bool = False, _depth: int = 0) -> str:
    """Native text of one value. `quoted_keys` wraps object keys in the string delimiter
    (the chat template does that inside tool declarations, never in calls). Nesting is
    limited to what the parser accepts (MAX_DEPTH), counted the same way."""
    if isinstance(value, (Mapping, list, tuple)) and _depth > MAX_DEPTH:
        raise SerializeError(f"nesting deeper than {MAX_DEPTH}")
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError as exc:  # beyond Python's int-to-text digit limit
            raise SerializeError(f"integer too long to write: {exc}") from None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SerializeError(f"non-finite number {value!r} has no JSON form")
        return json.dumps(value)
    if isinstance(value, str):
        for marker in RESERVED_MARKERS:
            if marker in value:
                raise SerializeError(f"string holds the reserved marker {marker!r}: {value[:60]!r}")
        return STRING_DELIM + value + STRING_DELIM
    if isinstance(value, Mapping):
        parts = []
        for key, item in value.items():
            if not isinstance(key, str) or not KEY_RE.fullmatch(key):
                raise SerializeError(f"object key {key!r} is not a bare identifier")
            shown = STRING_DELIM + key + STRING_DELIM if quoted_keys else key
            parts.append(f"{shown}:{serialize_value(item, quoted_keys=quoted_keys, _depth=_depth + 1)}")
        return "{" + ",".join(parts) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(serialize_value(v, quoted_keys=quoted_keys, _depth=_depth + 1) for v in value) + "]"
    raise SerializeError(f"{type(value).__name__} value {value!r} has no native-text form")


def serialize_call(call: ToolCall) -> str:
    if not NAME_RE.fullmatch(call.name):
        raise SerializeError(f"tool name {call.name!r} does not match [\\w.]+")
    if not isinstance(call.arguments, Mapping):
        raise SerializeError(f"arguments of {call.name} must be an object, got {type(call.arguments).__name__}")
    return f"{CALL_OPEN}call:{call.name}{serialize_value(call.arguments)}{CALL_CLOSE}"


def serialize_calls(calls: Sequence[ToolCall]) -> str:
    return "".join(serialize_call(c) for c in calls)


# ---------------------------------------------------------------- parse


class _Fail(Exception):
    def __init__(self, kind: str, message: str, position: int) -> None:
        super().__init__(message)
        self.kind, self.message, self.position = kind, message, position


class _Reader:
    """Recursive-descent reader over one envelope body."""

    def __init__(self, text: str, offset: int) -> None:
        self.text, self.pos, self.offset = text, 0, offset

    def fail(self, kind: str, message: str) -> _Fail:
        return _Fail(kind, message, self.offset + self.pos)

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def expect(self, literal: str, kind: str = "bad_value") -> None:
        if not self.text.startswith(literal, self.pos):
            got = self.text[self.pos : self.pos + 12]
            raise self.fail(kind, f"expected {literal!r}, found {got!r}")
        self.pos += len(literal)

    def call(self) -> ToolCall:
        self.expect("call:", "bad_call")
        match = NAME_RE.match(self.text, self.pos)
        if not match:
            raise self.fail("bad_name", "tool name missing or not [\\w.]+")
        self.pos = match.end()
        if self.peek() != "{":
            raise self.fail("bad_name", f"tool name must be followed by '{{', found {self.peek()!r}")
        arguments = self.object(0)
        if self.pos != len(self.text):
            raise self.fail("trailing_text", f"text after the arguments: {self.text[self.pos : self.pos + 20]!r}")
        return ToolCall(match.group(0), arguments)

    def object(self, depth: int) -> dict[str, JSONValue]:
        if depth > MAX_DEPTH:
            raise self.fail("bad_value", f"nesting deeper than {MAX_DEPTH}")
        self.expect("{")
        out: dict[str, JSONValue] = {}
        if self.peek() == "}":
            self.pos += 1
            return out
        while True:
            match = KEY_RE.match(self.text, self.pos)
            if not match:
                raise self.fail("bad_key", f"expected a bare key, found {self.text[self.pos : self.pos + 12]!r}")
            key = match.group(0)
            if key in out:
                raise self.fail("bad_key", f"duplicate key {key!r}")
            self.pos = match.end()
            self.expect(":", "bad_key")
            out[key] = self.value(depth + 1)
            if self.peek() == ",":
                self.pos += 1
                continue
            self.expect("}")
            return out

    def array(self, depth: int) -> list[JSONValue]:
        if depth > MAX_DEPTH:
            raise self.fail("bad_value", f"nesting deeper than {MAX_DEPTH}")
        self.expect("[")
        out: list[JSONValue] = []
        if self.peek() == "]":
            self.pos += 1
            return out
        while True:
            out.append(self.value(depth + 1))
            if self.peek() == ",":
                self.pos += 1
                continue
            self.expect("]")
            return out

    def value(self, depth: int) -> JSONValue:
        if self.text.startswith(STRING_DELIM, self.pos):
            start = self.pos + len(STRING_DELIM)
            end = self.text.find(STRING_DELIM, start)
            if end < 0:
                raise self.fail("bad_value", "unterminated string")
            text = self.text[start:end]
            for marker in RESERVED_MARKERS:
                if marker in text:
                    raise self.fail("bad_value", f"string holds the control token {marker!r}")
            self.pos = end + len(STRING_DELIM)
            return text
        head = self.peek()
        if head == "{":
            return self.object(depth)
        if head == "[":
            return self.array(depth)
        for literal, parsed in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(literal, self.pos):
                self.pos += len(literal)
                return parsed
        match = NUMBER_RE.match(self.text, self.pos)
        if not match:
            raise self.fail("bad_value", f"not a value: {self.text[self.pos : self.pos + 16]!r}")
        self.pos = match.end()
        token = match.group(0)
        if token.lstrip("-").isdigit():
            try:
                return int(token)
            except ValueError:  # beyond Python's int-from-text digit limit
                raise self.fail("bad_value", f"integer with {len(token)} digits is too long") from None
        number = float(token)
        if not math.isfinite(number):
            raise self.fail("bad_value", f"number {token!r} overflows a float")
        return number


def parse_calls(text: str) -> list[ToolCall] | ParseError:
    """Every tool call in `text`, in order, or the first reason the text is malformed.

    Text outside envelopes (prose around calls) is ignored; an opening marker without
    its close, a close without an opening, or a body that is not ``call:NAME{...}`` is
    an error, never a silent skip.
    """
    calls: list[ToolCall] = []
    cursor = 0
    for index, match in enumerate(ENVELOPE_RE.finditer(text)):
        between = text[cursor : match.start()]
        if CALL_CLOSE in between:
            pos = cursor + between.index(CALL_CLOSE)
            return ParseError("stray_close", f"{CALL_CLOSE} without an opening {CALL_OPEN}", pos, index)
        body = match.group(1)
        if CALL_OPEN in body:
            pos = match.start(1) + body.index(CALL_OPEN)
            return ParseError("unclosed_envelope", f"{CALL_OPEN} opened before the previous call closed", pos, index)
        try:
            calls.append(_Reader(body, match.start(1)).call())
        except _Fail as fail:
            return ParseError(fail.kind, fail.message, fail.position, index)
        cursor = match.end()
    rest = text[cursor:]
    if CALL_OPEN in rest:
        return ParseError(
            "unclosed_envelope", f"{CALL_OPEN} without {CALL_CLOSE}", cursor + rest.index(CALL_OPEN), len(calls)
        )
    if CALL_CLOSE in rest:
        return ParseError(
            "stray_close", f"{CALL_CLOSE} without an opening {CALL_OPEN}", cursor + rest.index(CALL_CLOSE), len(calls)
        )
    return calls


def canonical_arguments(value: JSONValue) -> JSONValue:
    """Object keys sorted the way the Gemma-4 chat template's ``dictsort`` orders them
    (case-insensitive), recursively, so our text and the template's text agree."""
    if isinstance(value, Mapping):
        return {k: canonical_arguments(value[k]) for k in sorted(value, key=lambda k: (k.lower(), k))}
    if isinstance(value, list):
        return [canonical_arguments(v) for v in value]
    return value
