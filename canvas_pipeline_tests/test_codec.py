"""Property and example tests of the Gemma-4 native tool-call codec (G8: exact round trip)."""

from __future__ import annotations

import json
import math
import operator
import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canvas_pipeline.tools.codec import (
    MAX_DEPTH,
    RESERVED_MARKERS,
    ParseError,
    SerializeError,
    ToolCall,
    canonical_arguments,
    parse_calls,
    serialize_call,
    serialize_calls,
    serialize_value,
)
from canvas_pipeline.tools.registry import load_registry

PARSE_ERROR_KINDS = {
    "unclosed_envelope",
    "stray_close",
    "bad_call",
    "bad_name",
    "bad_key",
    "bad_value",
    "trailing_text",
}

# Literal spellings, written out here on purpose (not imported) so the text-level
# generator below is independent of the serializer.
OPEN, CLOSE, DELIM = "<|tool_call>", "<tool_call|>", '<|"|>'


# ----------------------------------------------------------------- helpers


def typed(calls: list[ToolCall]) -> str:
    """A type-strict, order-strict fingerprint: True != 1, 1 != 1.0, 0.0 != -0.0, key order kept."""
    assert isinstance(calls, list), calls
    assert all(type(c) is ToolCall for c in calls)
    return json.dumps([[c.name, c.arguments] for c in calls], allow_nan=False)


def typed_equal(a: object, b: object) -> bool:
    """Recursive equality that also compares exact types and float signs."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(typed_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(typed_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return a == b


def no_markers(text: str) -> bool:
    return not any(marker in text for marker in RESERVED_MARKERS)


def call_text(name: str, body: str) -> str:
    return f"{OPEN}call:{name}{body}{CLOSE}"


def assert_parse_result_shape(text: str, result: object) -> None:
    """parse_calls returns a list of ToolCall or a ParseError, and never a silent partial list."""
    if isinstance(result, ParseError):
        assert result.kind in PARSE_ERROR_KINDS, result
        assert 0 <= result.position <= len(text), result
        assert isinstance(result.message, str) and result.message
        assert result.call_index >= 0
        return
    assert isinstance(result, list), type(result)
    for call in result:
        assert type(call) is ToolCall
        assert isinstance(call.name, str) and re.fullmatch(r"[\w.]+", call.name)
        assert isinstance(call.arguments, dict)
    # Every envelope in accepted text became exactly one call: nothing was skipped.
    assert len(result) == text.count(OPEN) == text.count(CLOSE)


# ----------------------------------------------------------------- value strategies

TRICKY_STRINGS = [
    "",
    " ",
    '"',
    "'",
    "''",
    '""',
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\n",
    "\\",
    "\\n",
    '\\"',
    "\t\r\n",
    "\x00",
    "\u2028",
    "😀",
    "🎓📚 study 👩‍🎓",
    "é中文ß",
    "a:b,c",
    "{x:1}",
    '{"x": 1}',
    "[1, 2]",
    "null",
    "true",
    "None",
    "1e5",
    "-0",
    "call:a{}",
    "<|tool_call",
    "tool_call|>",
    "<tool_call|",
    '<|"',
    '<|"|',
    '|"|>',
    "|>",
    "<",
    ">",
    "|",
    "}<tool_call|",
    "<|turn",
    "Study CS 3114",
]

_text_alphabet = "{}[],:\"'\\\n<|> a😀.-0e"
json_strings = st.one_of(
    st.text(max_size=8),
    st.sampled_from(TRICKY_STRINGS),
    st.text(alphabet=_text_alphabet, max_size=8),
).filter(no_markers)
# Flat on purpose (fewer nested choices = faster generation): special values first.
_SPECIAL_SCALARS = [
    None, True, False, 0, 1, -1, 2**53 + 1, 2**63, -(2**63), 10**20, -(10**25), 10**300,
    0.0, -0.0, 1.0, -1.0, 1e16, -1e16, 5e-324, -5e-324, 1.7976931348623157e308, 0.1, -2.5, 1e-7,
    *TRICKY_STRINGS,
]  # fmt: skip
json_scalars = st.one_of(
    st.sampled_from(_SPECIAL_SCALARS),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8).filter(no_markers),
    st.text(alphabet=_text_alphabet, max_size=8).filter(no_markers),
)
_KEY_FIRST = string.ascii_letters + "_"
_KEY_REST = _KEY_FIRST + string.digits
identifier_keys = st.one_of(
    st.sampled_from(["course_id", "horizon_days", "title", "deadlines", "x", "a", "A", "_", "true", "null"]),
    st.builds(operator.add, st.sampled_from(_KEY_FIRST), st.text(alphabet=_KEY_REST, max_size=6)),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(identifier_keys, children, max_size=3),
    ),
    max_leaves=5,
)
argument_dicts = st.dictionaries(identifier_keys, json_values, max_size=3)
registry_names = st.sampled_from(load_registry().names)
tool_names = st.one_of(
    registry_names,
    # [\w.]+ with unicode word characters (letters and numbers of any script)
    st.text(alphabet=st.characters(categories=["L", "N"], include_characters="._"), min_size=1, max_size=12).filter(
        lambda n: re.fullmatch(r"[\w.]+", n) is not None
    ),
)
tool_calls = st.builds(ToolCall, name=tool_names, arguments=argument_dicts)
call_lists = st.lists(tool_calls, max_size=4)


# ----------------------------------------------------------------- canonical text strategies


def _canonical_float(text: str) -> bool:
    number = float(text)
    return math.isfinite(number) and repr(number) == text


# Canonical integers: plain digits, no leading zeros, no "-0".
_SIGN = st.sampled_from(["", "-"])
_DIGITS = "0123456789"
int_text = st.one_of(
    st.just("0"),
    st.builds(
        lambda sign, head, tail: sign + head + tail,
        _SIGN,
        st.sampled_from("123456789"),
        st.text(alphabet=_DIGITS, max_size=25),
    ),
)
# Canonical floats are Python's shortest repr: a '.' form for 1e-4 <= |x| < 1e16, else
# d[.ddd]e[+-]XX with a sign and at least two exponent digits. Spellings are composed as
# text and kept only when canonical, so "1E+2", "3.5e-7", "1.50", "-0" never appear.
plain_float_text = st.builds(
    lambda sign, whole, frac: f"{sign}{whole}.{frac.rstrip('0') or '0'}",
    _SIGN,
    st.one_of(st.just("0"), st.integers(min_value=1, max_value=10**8).map(str)),
    st.text(alphabet=_DIGITS, min_size=1, max_size=7),
)
exp_float_text = st.builds(
    lambda sign, head, frac, exp: f"{sign}{head}{'.' + frac.rstrip('0') if frac.rstrip('0') else ''}e{exp}",
    _SIGN,
    st.sampled_from("123456789"),
    st.text(alphabet=_DIGITS, max_size=9),
    st.one_of(
        st.integers(min_value=16, max_value=308).map(lambda e: f"+{e:02d}"),
        st.integers(min_value=5, max_value=324).map(lambda e: f"-{e:02d}"),
    ),
)
float_text = st.one_of(
    plain_float_text,
    exp_float_text,
    st.sampled_from(["0.0", "-0.0", "1e+16", "5e-324", "1.7976931348623157e+308", "0.1", "-2.5", "1e-07"]),
).filter(_canonical_float)
scalar_text = st.one_of(
    st.sampled_from(["null", "true", "false"]),
    int_text,
    float_text,
    json_strings.map(lambda s: DELIM + s + DELIM),
)


def _object_text(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.dictionaries(identifier_keys, children, max_size=3).map(
        lambda d: "{" + ",".join(f"{k}:{v}" for k, v in d.items()) + "}"
    )


value_text = st.recursive(
    scalar_text,
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(lambda xs: "[" + ",".join(xs) + "]"),
        _object_text(children),
    ),
    max_leaves=5,
)
one_call_text = st.tuples(tool_names, _object_text(value_text)).map(lambda t: call_text(*t))
calls_text = st.lists(one_call_text, max_size=4).map("".join)


# ----------------------------------------------------------------- round-trip properties


def _check_canonical_order(value: object) -> None:
    if isinstance(value, dict):
        keys = list(value)
        assert keys == sorted(keys, key=lambda k: (k.lower(), k))
        for item in value.values():
            _check_canonical_order(item)
    elif isinstance(value, list):
        for item in value:
            _check_canonical_order(item)


PROSE = ["", "Let me check. ", "\n", "I will call canvas.get_todo{} now: ", '{"x": 1} ', "<tool_call", "😀 "]


@settings(max_examples=1000, deadline=None)
@given(call_lists)
def test_round_trip_of_generated_calls(calls: list[ToolCall]) -> None:
    """parse(serialize(calls)) == calls type-strictly, serialize(parse(s)) == s, prose is ignored."""
    text = serialize_calls(calls)
    parsed = parse_calls(text)
    assert not isinstance(parsed, ParseError), (parsed, text)
    # type-strict and order-strict: True != 1, 1 != 1.0, -0.0 != 0.0, key order kept
    assert typed(parsed) == typed(calls)
    assert parsed == calls
    for got, want in zip(parsed, calls, strict=True):
        assert got.name == want.name
        assert typed_equal(got.arguments, want.arguments)
    # the other direction, on serializer output
    assert serialize_calls(parsed) == text
    assert "".join(serialize_call(c) for c in parsed) == text

    # prose before, between and after the calls changes nothing
    pieces = [PROSE[len(calls) % len(PROSE)]]
    for index, call in enumerate(calls):
        pieces += [serialize_call(call), PROSE[(index * 3 + 1) % len(PROSE)]]
    with_prose = parse_calls("".join(pieces))
    assert isinstance(with_prose, list), with_prose
    assert typed(with_prose) == typed(calls)

    for call in calls:
        # every argument value alone round-trips through serialize_value
        for value in call.arguments.values():
            alone = parse_calls(call_text("t", "{v:" + serialize_value(value) + "}"))
            assert isinstance(alone, list) and typed_equal(alone[0].arguments["v"], value)
        # canonical_arguments: same JSON, keys dictsorted at every level, idempotent, round-trips
        canon = canonical_arguments(call.arguments)
        _check_canonical_order(canon)
        assert typed_equal(canon, canonical_arguments(canon))
        assert json.dumps(canon, sort_keys=True) == json.dumps(call.arguments, sort_keys=True)
        again = parse_calls(serialize_call(ToolCall(call.name, canon)))
        assert isinstance(again, list) and typed_equal(again[0].arguments, canon)


BAD_CALL = "<|tool_call>call:bad{x:None}<tool_call|>"


@settings(max_examples=1000, deadline=None)
@given(calls_text, st.integers(min_value=-1, max_value=4))
def test_round_trip_of_grammar_generated_text(text: str, bad_at: int) -> None:
    """Canonical native text, generated from the grammar (not by serialize), survives
    serialize(parse(s)) == s; the same text with one bad call spliced in is an error."""
    parsed = parse_calls(text)
    assert not isinstance(parsed, ParseError), (parsed, text)
    assert len(parsed) == text.count(OPEN)
    assert serialize_calls(parsed) == text
    again = parse_calls(serialize_calls(parsed))
    assert isinstance(again, list)
    assert typed(again) == typed(parsed)

    if bad_at >= 0:
        cuts = [m.end() for m in re.finditer(re.escape(CLOSE), text)]
        index = min(bad_at, len(cuts))
        cut = ([0] + cuts)[index]
        result = parse_calls(text[:cut] + BAD_CALL + text[cut:])
        assert isinstance(result, ParseError)
        assert (result.kind, result.call_index) == ("bad_value", index)


def test_numbers_keep_their_type_and_sign() -> None:
    arguments = {
        "i": 1,
        "f": 1.0,
        "b": True,
        "z": 0.0,
        "nz": -0.0,
        "n": None,
        "big": 10**20,
        "e": 1e16,
        "tiny": 5e-324,
    }
    text = serialize_call(ToolCall("t", arguments))
    assert text == call_text(
        "t", "{i:1,f:1.0,b:true,z:0.0,nz:-0.0,n:null,big:100000000000000000000,e:1e+16,tiny:5e-324}"
    )
    parsed = parse_calls(text)
    assert isinstance(parsed, list)
    assert typed_equal(parsed[0].arguments, arguments)
    got = parsed[0].arguments
    assert type(got["i"]) is int and type(got["f"]) is float and got["b"] is True
    assert math.copysign(1.0, got["nz"]) == -1.0


@pytest.mark.parametrize(
    ("spelling", "value", "canonical"),
    [
        ("-0", 0, "0"),
        ("1E+2", 100.0, "100.0"),
        ("1e2", 100.0, "100.0"),
        ("3.5e-7", 3.5e-7, "3.5e-07"),
        ("1.50", 1.5, "1.5"),
        ("12", 12, "12"),
        ("-0.0", -0.0, "-0.0"),
    ],
)
def test_non_canonical_number_spellings_parse_to_the_json_value(spelling: str, value: object, canonical: str) -> None:
    parsed = parse_calls(call_text("t", "{x:" + spelling + "}"))
    assert isinstance(parsed, list)
    assert typed_equal(parsed[0].arguments["x"], value)
    assert serialize_calls(parsed) == call_text("t", "{x:" + canonical + "}")


# ----------------------------------------------------------------- prose, order, examples


def test_native_example_from_the_mission() -> None:
    text = "<|tool_call>call:canvas.get_assignments{course_id:4264,horizon_days:7}<tool_call|>"
    assert parse_calls(text) == [ToolCall("canvas.get_assignments", {"course_id": 4264, "horizon_days": 7})]
    created = ToolCall("calendar.create_event", {"title": "Study CS 3114"})
    assert serialize_call(created) == (
        '<|tool_call>call:calendar.create_event{title:<|"|>Study CS 3114<|"|>}<tool_call|>'
    )


def test_prose_only_and_empty_text_give_no_calls() -> None:
    assert parse_calls("") == []
    assert parse_calls("I will call canvas.get_assignments for you.") == []
    assert parse_calls("call:canvas.get_todo{}") == []  # no envelope: prose, not a call


def test_multiple_calls_keep_order() -> None:
    text = (
        "Let me look.\n"
        + call_text("calendar.find_free_blocks", "{min_minutes:90}")
        + " then "
        + call_text("calendar.create_event", '{title:<|"|>A<|"|>,start_iso:<|"|>s<|"|>,end_iso:<|"|>e<|"|>}')
        + call_text("canvas.get_todo", "{}")
        + "\ndone"
    )
    parsed = parse_calls(text)
    assert isinstance(parsed, list)
    names = ["calendar.find_free_blocks", "calendar.create_event", "canvas.get_todo"]
    assert [c.name for c in parsed] == names
    assert parsed[1].arguments == {"title": "A", "start_iso": "s", "end_iso": "e"}


# ----------------------------------------------------------------- malformed text

DEEP_ARRAY_OK = "[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH
DEEP_ARRAY_BAD = "[" * (MAX_DEPTH + 1) + "1" + "]" * (MAX_DEPTH + 1)
DEEP_OBJECT_BAD = "{a:" * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1)

MALFORMED = [
    ("<|tool_call>call:a{", "unclosed_envelope"),
    ("<|tool_call>call:a{}", "unclosed_envelope"),
    ("prose <|tool_call>", "unclosed_envelope"),
    ("<|tool_call>call:a{}<tool_call|><|tool_call>call:b{", "unclosed_envelope"),
    ("<|tool_call>call:a{<|tool_call>call:b{}<tool_call|>", "unclosed_envelope"),
    ("<tool_call|>", "stray_close"),
    ("text call:a{}<tool_call|>", "stray_close"),
    ("<|tool_call>call:a{}<tool_call|><tool_call|>", "stray_close"),
    ("<|tool_call>call:a{}<tool_call|>x<tool_call|><|tool_call>call:b{}<tool_call|>", "stray_close"),
    ("<|tool_call>a{}<tool_call|>", "bad_call"),
    ("<|tool_call><tool_call|>", "bad_call"),
    ("<|tool_call> call:a{}<tool_call|>", "bad_call"),
    ("<|tool_call>Call:a{}<tool_call|>", "bad_call"),
    ("<|tool_call>call:{}<tool_call|>", "bad_name"),
    ("<|tool_call>call:a b{}<tool_call|>", "bad_name"),
    ("<|tool_call>call:a-b{}<tool_call|>", "bad_name"),
    ("<|tool_call>call:a<tool_call|>", "bad_name"),
    ("<|tool_call>call:a(x=1)<tool_call|>", "bad_name"),
    ('<|tool_call>call:a{"x":1}<tool_call|>', "bad_key"),
    ("<|tool_call>call:a{1x:1}<tool_call|>", "bad_key"),
    ("<|tool_call>call:a{x:1,x:2}<tool_call|>", "bad_key"),
    ("<|tool_call>call:a{x:{y:1,y:1}}<tool_call|>", "bad_key"),
    ("<|tool_call>call:a{x:1,}<tool_call|>", "bad_key"),
    ("<|tool_call>call:a{ x:1}<tool_call|>", "bad_key"),
    ("<|tool_call>call:a{x=1}<tool_call|>", "bad_key"),
    ("<|tool_call>call:a{x}<tool_call|>", "bad_key"),
    ("<|tool_call>call:a{é:1}<tool_call|>", "bad_key"),
    ('<|tool_call>call:a{<|"|>x<|"|>:1}<tool_call|>', "bad_key"),
    ("<|tool_call>call:a{x:'single'}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:None}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:True}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:False}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:NaN}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:Infinity}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:-Infinity}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:1e999}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:-1e999}<tool_call|>", "bad_value"),
    ('<|tool_call>call:a{x:"s"}<tool_call|>', "bad_value"),
    ('<|tool_call>call:a{x:<|"|>unterminated}<tool_call|>', "bad_value"),
    ("<|tool_call>call:a{x:}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x: 1}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:1 }<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:01}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:+1}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:.5}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:1.}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:-}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:1e}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:0x1F}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:[1,]}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:[1}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:{y:1]}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:nul}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:truex}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:1", "unclosed_envelope"),
    ("<|tool_call>call:a{x:1<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:" + DEEP_ARRAY_BAD + "}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{x:" + DEEP_OBJECT_BAD + "}<tool_call|>", "bad_value"),
    ("<|tool_call>call:a{}}<tool_call|>", "trailing_text"),
    ("<|tool_call>call:a{} <tool_call|>", "trailing_text"),
    ("<|tool_call>call:a{}\n<tool_call|>", "trailing_text"),
    ("<|tool_call>call:a{}{}<tool_call|>", "trailing_text"),
    ("<|tool_call>call:a{}junk<tool_call|>", "trailing_text"),
]


@pytest.mark.parametrize(("text", "kind"), MALFORMED)
def test_malformed_text_is_a_parse_error(text: str, kind: str) -> None:
    result = parse_calls(text)
    assert isinstance(result, ParseError), result
    assert result.kind == kind, result
    assert 0 <= result.position <= len(text)
    assert str(result).startswith(kind)


def test_parse_error_is_returned_not_raised_and_reports_the_failing_call() -> None:
    assert not issubclass(ParseError, BaseException)
    good = call_text("a", "{x:1}")
    result = parse_calls(good + " and " + call_text("b", "{x:None}"))
    assert isinstance(result, ParseError)
    assert result.kind == "bad_value"
    assert result.call_index == 1
    bad_at = len(good + " and " + OPEN + "call:b{x:")
    assert result.position == bad_at


def test_nesting_up_to_max_depth_is_accepted() -> None:
    text = call_text("a", "{x:" + DEEP_ARRAY_OK + "}")
    parsed = parse_calls(text)
    assert isinstance(parsed, list)
    assert serialize_calls(parsed) == text


FRAGMENTS = [
    OPEN,
    CLOSE,
    DELIM,
    "call:",
    "canvas.get_todo",
    "a.b",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "x",
    "x:",
    "null",
    "true",
    "false",
    "None",
    "-",
    "0",
    "1",
    "12.5",
    ".",
    "e",
    "E+",
    "1e999",
    "\n",
    " ",
    '"',
    "'",
    "<|turn>",
    "<turn|>",
    "<bos>",
    "<|tool_response>",
    "<|",
    "|>",
]
fragment = st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=3))


@st.composite
def spliced_text(draw: st.DrawFn) -> str:
    base = draw(st.one_of(calls_text, call_lists.map(serialize_calls)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        start = draw(st.integers(min_value=0, max_value=len(base)))
        end = draw(st.integers(min_value=start, max_value=min(len(base), start + 6)))
        base = base[:start] + draw(fragment) + base[end:]
    return base


arbitrary_text = st.one_of(
    st.text(),
    st.lists(fragment, max_size=40).map("".join),
    spliced_text(),
)


@settings(max_examples=1000, deadline=None)
@given(arbitrary_text)
def test_parse_never_raises_on_arbitrary_text(text: str) -> None:
    result = parse_calls(text)
    assert_parse_result_shape(text, result)
    if isinstance(result, list):
        # whatever parses, re-serialized, parses back to the same calls
        try:
            again_text = serialize_calls(result)
        except SerializeError:
            return  # a reserved marker inside a string: see test_parsed_strings_are_serializable
        again = parse_calls(again_text)
        assert isinstance(again, list)
        assert typed(again) == typed(result)


# ----------------------------------------------------------------- serialize refusals


@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        math.inf,
        -math.inf,
        [1, math.nan],
        {"a": {"b": math.inf}},
    ],
)
def test_serialize_refuses_non_finite_numbers(value: object) -> None:
    with pytest.raises(SerializeError):
        serialize_call(ToolCall("t", {"x": value}))


@pytest.mark.parametrize("key", ["1x", "a-b", "", "a b", "é", "x:y", '"x"', "x\n", 1, None, ("a",)])
def test_serialize_refuses_non_identifier_keys(key: object) -> None:
    with pytest.raises(SerializeError):
        serialize_call(ToolCall("t", {key: 1}))
    with pytest.raises(SerializeError):
        serialize_call(ToolCall("t", {"ok": [{key: 1}]}))


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(RESERVED_MARKERS), st.text(max_size=10), st.text(max_size=10), st.integers(0, 2))
def test_serialize_refuses_reserved_markers_in_strings(marker: str, before: str, after: str, where: int) -> None:
    text = before + marker + after
    value = [text, {"k": text}, [[text]]][where]
    with pytest.raises(SerializeError):
        serialize_call(ToolCall("t", {"x": value}))
    with pytest.raises(SerializeError):
        serialize_value(value)


@pytest.mark.parametrize("value", [{1, 2}, b"bytes", bytearray(b"x"), object(), 1j, frozenset(), range(3)])
def test_serialize_refuses_non_json_types(value: object) -> None:
    with pytest.raises(SerializeError):
        serialize_call(ToolCall("t", {"x": value}))
    with pytest.raises(SerializeError):
        serialize_value(value)


@pytest.mark.parametrize("name", ["", "a b", "a{", "call:x", "a-b", "a\n"])
def test_serialize_refuses_bad_tool_names(name: str) -> None:
    with pytest.raises(SerializeError):
        serialize_call(ToolCall(name, {}))


@pytest.mark.parametrize("arguments", [[1, 2], "x", None, 3])
def test_serialize_refuses_non_object_arguments(arguments: object) -> None:
    with pytest.raises(SerializeError):
        serialize_call(ToolCall("t", arguments))  # type: ignore[arg-type]


# ----------------------------------------------------------------- consistency between the two halves
# These state the codec's own contract ("parse_calls accepts exactly [canonical] text, so
# serialize_calls(parse_calls(s)) == s for every s it accepts", G8) at its edges.


def _nested_list(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def test_serialize_refuses_what_parse_would_reject() -> None:
    """Either serialize raises SerializeError, or its text parses back: never a silent G8 failure."""
    problems = []
    for depth in (MAX_DEPTH, MAX_DEPTH + 1, 1000, 5000):
        call = ToolCall("t", {"x": _nested_list(depth)})
        try:
            text = serialize_call(call)
        except SerializeError:
            continue
        except Exception as exc:  # noqa: BLE001 - the point is which exception escapes
            problems.append(f"depth {depth}: serialize raised {type(exc).__name__}, not SerializeError")
            continue
        parsed = parse_calls(text)
        if not (isinstance(parsed, list) and typed(parsed) == typed([call])):
            problems.append(f"depth {depth}: serialized fine but parse_calls gave {parsed}")
    assert problems == []


def test_parsed_strings_are_serializable() -> None:
    """A text parse_calls accepts must serialize back to itself (or parse must reject it)."""
    problems = []
    for marker in RESERVED_MARKERS:
        if marker == DELIM:
            continue  # the string delimiter itself ends the string
        text = call_text("t", "{x:" + DELIM + "a" + marker + "b" + DELIM + "}")
        parsed = parse_calls(text)
        if isinstance(parsed, ParseError):
            continue
        try:
            again = serialize_calls(parsed)
        except SerializeError as exc:
            problems.append(f"{marker!r}: parse accepted, serialize raised {exc}")
            continue
        if again != text:
            problems.append(f"{marker!r}: serialize gave {again!r}")
    assert problems == []


def test_huge_integer_literal_does_not_raise() -> None:
    """parse_calls returns, never raises: an integer literal past Python's int-str digit limit."""
    text = call_text("t", "{x:" + "1" * 5000 + "}")
    result = parse_calls(text)
    assert isinstance(result, (list, ParseError))


def test_serialize_of_huge_integer_raises_serialize_error_or_round_trips() -> None:
    call = ToolCall("t", {"x": 10**5000})
    try:
        text = serialize_call(call)
    except SerializeError:
        return
    parsed = parse_calls(text)
    assert parsed == [call]
