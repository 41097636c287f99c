"""render_conversation and the system prompt against the real Gemma-4 chat template from TRL:
its current revision, `gemma4_v5` (the first revision, `gemma4_chat_template`, is kept only to
document where it differs)."""

from __future__ import annotations

import json
import string
from functools import cache
from typing import Any

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2.filters import do_dictsort
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from transformers import PreTrainedTokenizerFast

from canvas_pipeline.guardrails import checks
from canvas_pipeline.guardrails.inputs import sample_from_row
from canvas_pipeline.tools.chat_format import (
    SYSTEM_INSTRUCTIONS,
    hf_tool,
    render_conversation,
    strip_thinking,
    system_prompt,
    tool_declaration,
    tool_response_block,
)
from canvas_pipeline.tools.codec import (
    ENVELOPE_RE,
    RESERVED_MARKERS,
    ParseError,
    ToolCall,
    canonical_arguments,
    parse_calls,
    serialize_call,
    serialize_calls,
    serialize_value,
)
from canvas_pipeline.tools.registry import load_registry
from canvas_pipeline_tests.gemma4_templates import GEMMA4_FIRST, GEMMA4_V5
from canvas_pipeline_tests.gemma4_templates import render_template as render_with

Message = dict[str, Any]


@cache
def macros() -> Any:
    """gemma4_v5's top-level macros (format_argument, format_tool_response_block, ...)."""
    env = jinja2.Environment(extensions=["jinja2.ext.loopcontrols"])
    return env.from_string(GEMMA4_V5).make_module(
        vars={"messages": [{"role": "user", "content": "x"}], "bos_token": ""}
    )


def hf_tools() -> list[dict[str, Any]]:
    return [hf_tool(spec) for spec in load_registry()]


def render_template(messages: list[Message], add_generation_prompt: bool = False, template: str = GEMMA4_V5) -> str:
    """The template's text with our system instructions and the 18 tools declared through `tools=`."""
    system = {"role": "system", "content": SYSTEM_INSTRUCTIONS}
    return render_with(template, [system, *messages], tools=hf_tools(), add_generation_prompt=add_generation_prompt)


def render_ours(messages: list[Message], add_generation_prompt: bool = False) -> str:
    return render_conversation(
        [{"role": "system", "content": system_prompt()}, *messages],
        add_generation_prompt=add_generation_prompt,
    )


def tool_call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def assistant_calls(*calls: tuple[str, str, dict[str, Any]], content: str = "") -> Message:
    """An assistant message; arguments are put in canonical (dictsort) key order."""
    return {
        "role": "assistant",
        "content": content,
        "tool_calls": [tool_call(cid, name, canonical_arguments(args)) for cid, name, args in calls],
    }


def tool_result(call_id: str, name: str, payload: Any) -> Message:
    content = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return {"role": "tool", "tool_call_id": call_id, "name": name, "content": content}


def jinja_dictsorted(value: Any) -> Any:
    """`value` with every object's keys in the order Jinja's own `dictsort` filter gives."""
    if isinstance(value, dict):
        return {k: jinja_dictsorted(v) for k, v in do_dictsort(value)}
    if isinstance(value, list):
        return [jinja_dictsorted(v) for v in value]
    return value


def calls_in(messages: list[Message]) -> list[ToolCall]:
    """The messages' calls, keys in the order the template writes them."""
    return [
        ToolCall(tc["function"]["name"], jinja_dictsorted(tc["function"]["arguments"]))
        for message in messages
        for tc in message.get("tool_calls") or []
    ]


def typed(calls: list[ToolCall]) -> str:
    return json.dumps([[c.name, c.arguments] for c in calls])


USER = {"role": "user", "content": "What is due in CS 3114 this week?"}
DEADLINES = {
    "semester_end_iso": "2025-12-12",
    "deadlines": [
        {"title": 'Project 1: {parser}, "quoted", a:b', "due_iso": "2025-10-01T23:59", "estimated_hours": 6},
        {"estimated_hours": 3, "due_iso": "2025-11-15T23:59", "title": "Midterm review [ch. 1-4]"},
    ],
    "weekly_hours_available": 8,
    "ramp_factor": 1.5,
}

CONVERSATIONS: dict[str, tuple[list[Message], bool]] = {
    "single call, response, final answer": (
        [
            USER,
            assistant_calls(("c1", "canvas.get_assignments", {"course_id": 4264, "horizon_days": 7})),
            tool_result("c1", "canvas.get_assignments", [{"title": "P1", "due": "2025-10-01"}]),
            {"role": "assistant", "content": "P1 is due on October 1."},
        ],
        False,
    ),
    "two sequential calls with responses": (
        [
            {"role": "user", "content": "Find me 90 minutes to study for CS 3114 and book it."},
            assistant_calls(("c1", "calendar.find_free_blocks", {"min_minutes": 90, "horizon_days": 7})),
            tool_result("c1", "calendar.find_free_blocks", [{"start": "2025-10-01T09:00", "minutes": 120}]),
            assistant_calls(
                (
                    "c2",
                    "calendar.create_event",
                    {
                        "title": "Study CS 3114",
                        "start_iso": "2025-10-01T09:00",
                        "end_iso": "2025-10-01T10:30",
                        "rationale": "first free block",
                    },
                )
            ),
            tool_result("c2", "calendar.create_event", {"event_id": "evt_9", "ok": True}),
            {"role": "assistant", "content": "Booked 9:00-10:30 on October 1."},
        ],
        False,
    ),
    "two parallel calls in one assistant message": (
        [
            {"role": "user", "content": "Grades and todo, please."},
            assistant_calls(("c1", "canvas.get_grades", {"course_id": 4264}), ("c2", "canvas.get_todo", {})),
            tool_result("c1", "canvas.get_grades", {"score": 91.5}),
            tool_result("c2", "canvas.get_todo", []),
            {"role": "assistant", "content": "You have 91.5% and nothing to do."},
        ],
        False,
    ),
    "ends in a tool call with a generation prompt": (
        [USER, assistant_calls(("c1", "canvas.get_assignments", {"course_id": 4264, "horizon_days": 7}))],
        True,
    ),
    "user only with a generation prompt": ([USER], True),
    "multi user turn": (
        [
            USER,
            assistant_calls(("c1", "canvas.get_assignments", {"course_id": 4264})),
            tool_result("c1", "canvas.get_assignments", []),
            {"role": "assistant", "content": "Nothing is due."},
            {"role": "user", "content": "  And which block size for a problem set?  "},
            assistant_calls(("c2", "study.recommend_block_size", {"task_type": "problem_set"})),
            tool_result("c2", "study.recommend_block_size", {"minutes": 50}),
            {"role": "assistant", "content": "Work in 50-minute blocks."},
            {"role": "user", "content": "Thanks!"},
            {"role": "assistant", "content": "You're welcome."},
        ],
        False,
    ),
    "nested semester_schedule deadlines": (
        [
            {"role": "user", "content": "Plan my semester."},
            assistant_calls(("c1", "study.semester_schedule", DEADLINES)),
            tool_result("c1", "study.semester_schedule", {"weeks": [{"week": 1, "hours": 4.5}]}),
            {"role": "assistant", "content": "Here is the plan."},
        ],
        True,
    ),
    "assistant prose plus a call, response matched by name": (
        [
            USER,
            assistant_calls(("c1", "canvas.list_courses", {"active_only": True}), content="Let me look that up."),
            {"role": "tool", "name": "canvas.list_courses", "content": "[]"},
            {"role": "assistant", "content": "You have no courses."},
        ],
        True,
    ),
}


# Shapes no generated row contains yet. On all but the last, gemma4_v5's rules differ from what
# this renderer did before it followed v5; the last shows v5 writing None as the codec does.
# (messages, the tail v5 renders, whether the first template revision renders it differently)
LIST_COURSES = tool_call("c1", "canvas.list_courses", {"active_only": True})


def courses_listed(content: str, then: Message) -> list[Message]:
    """The user asks; the model writes `content` and calls canvas.list_courses; the tool
    answers `[]`; then `then`."""
    return [
        USER,
        {"role": "assistant", "content": content, "tool_calls": [LIST_COURSES]},
        {"role": "tool", "tool_call_id": "c1", "content": "[]"},
        then,
    ]


V5_SHAPES: dict[str, tuple[list[Message], str, bool]] = {
    # v5 leaves a model message that runs on into another assistant message open: one turn
    "text plus calls, then another assistant message": (
        courses_listed("Let me check.", {"role": "assistant", "content": "You have none."}),
        "<|turn>model\n<|tool_call>call:canvas.list_courses{active_only:true}<tool_call|><|tool_response>response:"
        'canvas.list_courses{value:<|"|>[]<|"|>}<tool_response|>Let me check.You have none.<turn|>\n',
        True,
    ),
    "two assistant texts in a row": (
        [USER, {"role": "assistant", "content": "One moment."}, {"role": "assistant", "content": "Nothing is due."}],
        "<|turn>model\nOne moment.Nothing is due.<turn|>\n",
        True,
    ),
    # v5 closes the model turn when the responses are followed by a user (or system) turn
    "tool responses followed directly by a user turn": (
        courses_listed("", {"role": "user", "content": "Hello?"}),
        '<|tool_response>response:canvas.list_courses{value:<|"|>[]<|"|>}<tool_response|><turn|>\n'
        "<|turn>user\nHello?<turn|>\n",
        True,
    ),
    # strip_thinking: channel blocks leave a model message's text (the first revision did too)
    "channel blocks in assistant text": (
        [
            USER,
            {
                "role": "assistant",
                "content": "Let me look.<|channel>thought\nplan<channel|>",
                "tool_calls": [LIST_COURSES],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "[]"},
            {"role": "user", "content": "And?"},
            {"role": "assistant", "content": "<|channel>thought\nnone<channel|>  You have none.<|channel>unclosed"},
        ],
        "<tool_response|>Let me look.<turn|>\n<|turn>user\nAnd?<turn|>\n<|turn>model\nYou have none.<turn|>\n",
        False,
    ),
    # dictsort is case-insensitive and stable: keys equal but for case keep insertion order
    "argument keys equal but for case": (
        [
            USER,
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [tool_call("c1", "canvas.get_todo", {"b": 2, "a": 1, "B": 3, "n": [{"Z": 1, "z": 2}]})],
            },
        ],
        "<|turn>model\n<|tool_call>call:canvas.get_todo{a:1,b:2,B:3,n:[{Z:1,z:2}]}<tool_call|><|tool_response>",
        False,
    ),
    # a response is named by the call whose id equals its tool_call_id, and an id-less call
    # matches an id-less response: the last such call names it
    "id-less calls and responses": (
        [
            USER,
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"type": "function", "function": {"name": "canvas.get_grades", "arguments": {}}},
                    {"type": "function", "function": {"name": "canvas.get_todo", "arguments": {}}},
                ],
            },
            {"role": "tool", "name": "canvas.get_grades", "content": "1"},
            {"role": "tool", "name": "canvas.get_todo", "content": "2"},
            {"role": "assistant", "content": "Done."},
        ],
        '<|tool_response>response:canvas.get_todo{value:<|"|>1<|"|>}<tool_response|>'
        '<|tool_response>response:canvas.get_todo{value:<|"|>2<|"|>}<tool_response|>Done.<turn|>\n',
        False,
    ),
    # v5 writes None as null, as the codec does (the first revision printed Python's None)
    "a None argument": (
        [USER, assistant_calls(("c1", "canvas.get_assignments", {"course_id": None}))],
        "<|tool_call>call:canvas.get_assignments{course_id:null}<tool_call|><|tool_response>",
        True,
    ),
}


@pytest.mark.parametrize("case", list(CONVERSATIONS) + list(V5_SHAPES))
@pytest.mark.parametrize("add_generation_prompt", [False, True])
def test_render_conversation_is_byte_identical_to_gemma4_v5(case: str, add_generation_prompt: bool) -> None:
    messages = CONVERSATIONS[case][0] if case in CONVERSATIONS else V5_SHAPES[case][0]
    ours = render_ours(messages, add_generation_prompt)
    assert ours == render_template(messages, add_generation_prompt)
    assert ours.startswith("<bos><|turn>system\n" + SYSTEM_INSTRUCTIONS + "<|tool>declaration:")


@pytest.mark.parametrize("case", list(V5_SHAPES))
def test_v5_rules_on_shapes_the_data_does_not_contain_yet(case: str) -> None:
    messages, tail, _ = V5_SHAPES[case]
    assert render_ours(messages).endswith(tail)
    assert render_template(messages).endswith(tail)


@pytest.mark.parametrize("case", list(V5_SHAPES))
def test_where_the_first_gemma4_template_revision_differs(case: str) -> None:
    """The first revision (what these tests pinned before) closes a model message that runs on
    into another assistant message, leaves tool responses open before a user turn, and prints
    None as `None`; it sorts keys and strips channel blocks as v5 does."""
    messages, _, differs = V5_SHAPES[case]
    first = render_template(messages, template=GEMMA4_FIRST)
    assert (first != render_template(messages)) is differs
    if case == "a None argument":
        assert "{course_id:None}" in first
        rejected = parse_calls(first)
        assert isinstance(rejected, ParseError) and rejected.kind == "bad_value"
    elif differs:
        assert render_ours(messages) != first


def test_apply_chat_template_with_v5_renders_as_we_do() -> None:
    """The public path: a tokenizer's `apply_chat_template` with `chat_template=` v5's text."""
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(WordLevel({"<bos>": 0, "<unk>": 1}, unk_token="<unk>")),
        bos_token="<bos>",
        unk_token="<unk>",
    )
    system = {"role": "system", "content": SYSTEM_INSTRUCTIONS}
    for messages, _, _ in V5_SHAPES.values():
        for add_generation_prompt in (False, True):
            theirs = tokenizer.apply_chat_template(
                [system, *messages],
                tools=hf_tools(),
                chat_template=GEMMA4_V5,
                add_generation_prompt=add_generation_prompt,
                tokenize=False,
            )
            assert theirs == render_ours(messages, add_generation_prompt)


def test_strip_thinking_is_the_template_macro() -> None:
    for text in (
        "",
        "  plain  ",
        "<|channel>thought\nx<channel|>answer",
        "a<|channel>b<channel|>c<|channel>d<channel|>e",
        "stray close<channel|> kept",
        "unclosed<|channel>dropped",
        "<|channel>a<|channel>b<channel|>c",
    ):
        assert strip_thinking(text) == macros().strip_thinking(text)


def test_channel_blocks_are_kept_in_user_text() -> None:
    messages = [{"role": "user", "content": "<|channel>mine<channel|>hi"}]
    assert "<|turn>user\n<|channel>mine<channel|>hi<turn|>\n" in render_ours(messages)
    assert render_ours(messages) == render_template(messages)


@pytest.mark.parametrize("case", list(CONVERSATIONS))
def test_calls_in_rendered_conversations_round_trip(case: str) -> None:
    messages, add_generation_prompt = CONVERSATIONS[case]
    text = render_ours(messages, add_generation_prompt)
    parsed = parse_calls(text)
    assert not isinstance(parsed, ParseError), parsed
    assert typed(parsed) == typed(calls_in(messages))
    assert all(serialize_call(call) in text for call in parsed)
    again = parse_calls(serialize_calls(parsed))
    assert isinstance(again, list) and typed(again) == typed(parsed)


def test_conversation_ending_in_a_tool_call_ends_with_tool_response_opener() -> None:
    messages, _ = CONVERSATIONS["ends in a tool call with a generation prompt"]
    text = render_ours(messages, add_generation_prompt=True)
    assert text.endswith(
        "<|turn>model\n<|tool_call>call:canvas.get_assignments{course_id:4264,horizon_days:7}<tool_call|>"
        "<|tool_response>"
    )
    assert render_ours(messages, add_generation_prompt=False).endswith("<|tool_response>")


def test_user_only_with_generation_prompt_ends_with_model_turn() -> None:
    text = render_ours([USER], add_generation_prompt=True)
    assert text.endswith("<|turn>user\nWhat is due in CS 3114 this week?<turn|>\n<|turn>model\n")
    assert render_ours([USER]).endswith("<turn|>\n")


def test_single_call_conversation_text() -> None:
    messages, _ = CONVERSATIONS["single call, response, final answer"]
    text = render_ours(messages)
    tail = (
        "<|turn>user\nWhat is due in CS 3114 this week?<turn|>\n"
        "<|turn>model\n<|tool_call>call:canvas.get_assignments{course_id:4264,horizon_days:7}<tool_call|>"
        '<|tool_response>response:canvas.get_assignments{value:<|"|>[{"due":"2025-10-01","title":"P1"}]<|"|>}'
        "<tool_response|>P1 is due on October 1.<turn|>\n"
    )
    assert text.endswith(tail)


def test_none_renders_as_null_as_the_codec_writes_it() -> None:
    messages = [USER, assistant_calls(("c1", "canvas.get_assignments", {"course_id": None}))]
    ours = render_ours(messages, add_generation_prompt=True)
    assert "<|tool_call>call:canvas.get_assignments{course_id:null}<tool_call|>" in ours
    assert ours == render_template(messages, add_generation_prompt=True)
    assert parse_calls(ours) == [ToolCall("canvas.get_assignments", {"course_id": None})]


def test_argument_key_order_does_not_change_the_rendering() -> None:
    """render_conversation promises the template's bytes; the template dictsorts call arguments
    (recursively), so a message whose arguments are not already in that order must render the same."""
    unsorted = [
        USER,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                tool_call("c1", "canvas.get_assignments", {"horizon_days": 7, "course_id": 4264}),
                tool_call("c2", "study.semester_schedule", dict(reversed(list(DEADLINES.items())))),
            ],
        },
    ]
    assert render_ours(unsorted, True) == render_template(unsorted, True)


def test_keys_equal_but_for_case_canonical_order_g8_and_round_trip() -> None:
    """Keys equal but for case keep their insertion order in the rendering, as Jinja's stable
    `dictsort` leaves them. The codec's `canonical_arguments` breaks such ties itself (`B`
    before `b`), an order `dictsort` keeps: data built from canonical arguments renders the
    same either way. G8 holds for both orders, and the parser reads back the rendered order."""
    inserted = {"b": 2, "a": 1, "B": 3, "n": {"z": 1, "Z": 2}}
    canon = canonical_arguments(inserted)
    assert list(canon) == ["a", "B", "b", "n"] and list(canon["n"]) == ["Z", "z"]
    assert jinja_dictsorted(canon) == canon and list(jinja_dictsorted(canon)) == list(canon)
    for arguments, text in (
        (inserted, "call:canvas.get_todo{a:1,b:2,B:3,n:{z:1,Z:2}}"),
        (canon, "call:canvas.get_todo{a:1,B:3,b:2,n:{Z:2,z:1}}"),
    ):
        messages = [
            USER,
            {"role": "assistant", "content": "", "tool_calls": [tool_call("c1", "canvas.get_todo", arguments)]},
        ]
        ours = render_ours(messages)
        assert f"<|tool_call>{text}<tool_call|>" in ours
        assert ours == render_template(messages)
        parsed = parse_calls(ours)
        assert isinstance(parsed, list) and typed(parsed) == typed(
            [ToolCall("canvas.get_todo", jinja_dictsorted(arguments))]
        )
        row = {
            "id": "r1",
            "split": "train",
            "item_ids": [],
            "messages": [{"role": "system", "content": system_prompt()}, *messages],
        }
        result = checks.g8_round_trip([sample_from_row("phase1", "sft", row, "test")])
        assert result.passed and result.value == 1.0, result.details


# ----------------------------------------------------------------- system prompt and declarations


def test_system_prompt_declares_every_registry_tool_once_in_order() -> None:
    prompt = system_prompt()
    registry = load_registry()
    assert prompt.startswith(SYSTEM_INSTRUCTIONS)
    assert prompt.count("<|tool>declaration:") == 18 == len(registry)
    assert prompt.count("<tool|>") == 18
    positions = [prompt.index(f"<|tool>declaration:{spec.name}{{") for spec in registry]
    assert positions == sorted(positions)
    for spec in registry:
        assert prompt.count(f"<|tool>declaration:{spec.name}{{") == 1
        assert tool_declaration(spec) in prompt
    assert prompt == SYSTEM_INSTRUCTIONS + "".join(tool_declaration(spec) for spec in registry)
    for marker in RESERVED_MARKERS:
        if marker not in ("<|tool>", "<tool|>", '<|"|>'):
            assert marker not in prompt


@pytest.mark.parametrize("name", load_registry().names)
def test_tool_declaration_matches_the_template_macro(name: str) -> None:
    spec = load_registry()[name]
    expected = macros().format_function_declaration(hf_tool(spec)).strip()
    assert tool_declaration(spec) == "<|tool>" + expected + "<tool|>"


def test_hf_tool_shape_and_nullable_types() -> None:
    entry = hf_tool(load_registry()["canvas.get_assignments"])
    assert entry["type"] == "function"
    assert entry["function"]["name"] == "canvas.get_assignments"
    course_id = entry["function"]["parameters"]["properties"]["course_id"]
    assert course_id["type"] == "integer" and course_id["nullable"] is True
    assert 'nullable:true,type:<|"|>INTEGER<|"|>' in tool_declaration(load_registry()["canvas.get_assignments"])
    semester = hf_tool(load_registry()["study.semester_schedule"])["function"]["parameters"]
    assert semester["properties"]["deadlines"]["items"]["required"] == ["title", "due_iso", "estimated_hours"]


def test_tool_response_block() -> None:
    assert (
        tool_response_block("canvas.get_todo", "[]")
        == '<|tool_response>response:canvas.get_todo{value:<|"|>[]<|"|>}<tool_response|>'
    )
    mapping = {"b": [1, 2.5, True], "a": "x", "C": {"z": 1, "y": False}}
    block = tool_response_block("t", mapping)
    assert block == '<|tool_response>response:t{a:<|"|>x<|"|>,b:[1,2.5,true],C:{y:false,z:1}}<tool_response|>'
    assert block == macros().format_tool_response_block("t", mapping)
    colliding = {"b": 1, "B": None, "a": {"y": 2, "Y": [{"q": 1, "Q": 2}]}}
    block = tool_response_block("t", colliding)
    assert block == "<|tool_response>response:t{a:{y:2,Y:[{q:1,Q:2}]},b:1,B:null}<tool_response|>"
    assert block == macros().format_tool_response_block("t", colliding)


# ----------------------------------------------------------------- generated conversations

_KEY_FIRST = string.ascii_letters + "_"
_keys = st.one_of(
    st.sampled_from(["course_id", "title", "a", "A", "b", "B", "_x", "deadlines"]),
    st.builds(
        lambda a, b: a + b,
        st.sampled_from(_KEY_FIRST),
        st.text(alphabet=_KEY_FIRST + "0123456789", max_size=5),
    ),
)


def _no_markers(text: str) -> bool:
    return not any(marker in text for marker in RESERVED_MARKERS)


_strings = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["", " ", '"', "{", "}", "[", "]", ",", ":", "\n", "\\", "😀", "a:b,c"]),
).filter(_no_markers)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1e16, 5e-324, 10**20]),
    _strings,
)
_values = st.recursive(
    _scalars,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(_keys, children, max_size=3)),
    max_leaves=6,
)
_arguments = st.dictionaries(_keys, _values, max_size=3)
_names = st.sampled_from(load_registry().names)
_prose = st.sampled_from(
    [
        "",
        "Done.",
        "  Here you go.  ",
        "I looked it up:\nnothing due.",
        "{not a call}",
        "<|channel>thought\nlook it up<channel|>Here.",
        " <|channel>a<channel|> b <|channel>unclosed",
    ]
)


@st.composite
def conversations(draw: st.DrawFn) -> tuple[list[Message], bool]:
    """User turns, assistant calls (arguments in canonical or in drawn key order, prose or
    none beside them) with their responses, final answers; the responses may be followed by
    another assistant message, a user turn or nothing, and answers may run on."""
    messages: list[Message] = [{"role": "user", "content": draw(_prose) or "hi"}]
    counter = 0
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        calls = []
        for _ in range(draw(st.integers(min_value=1, max_value=2))):
            counter += 1
            calls.append((f"call_{counter}", draw(_names), draw(_arguments)))
        content = draw(st.sampled_from(["", "", "Checking.", "<|channel>thought\nx<channel|>Checking."]))
        if draw(st.booleans()):
            messages.append(assistant_calls(*calls, content=content))
        else:  # keys as drawn: the renderer must order them as the template does
            messages.append({"role": "assistant", "content": content, "tool_calls": [tool_call(*c) for c in calls]})
        if draw(st.integers(min_value=0, max_value=5)) == 0:
            return messages, draw(st.booleans())  # ends on the call, awaiting the response
        for call_id, name, _ in calls:
            messages.append(tool_result(call_id, name, draw(_values)))
        follow = draw(st.sampled_from(["assistant", "assistant", "user", "end"]))
        if follow == "user":
            messages.append({"role": "user", "content": draw(_prose) or "and?"})
        elif follow == "end":
            return messages, draw(st.booleans())
    for _ in range(draw(st.integers(min_value=1, max_value=2))):
        messages.append({"role": "assistant", "content": draw(_prose)})
    if draw(st.booleans()):
        messages.append({"role": "user", "content": draw(_prose) or "more?"})
    return messages, draw(st.booleans())


@settings(max_examples=300, deadline=None)
@given(conversations())
def test_generated_conversations_match_the_template_and_round_trip(case: tuple[list[Message], bool]) -> None:
    messages, add_generation_prompt = case
    ours = render_ours(messages, add_generation_prompt)
    assert ours == render_template(messages, add_generation_prompt)
    parsed = parse_calls(ours)
    assert isinstance(parsed, list), parsed
    assert typed(parsed) == typed(calls_in(messages))
    for match in ENVELOPE_RE.finditer(ours):  # G8: each envelope re-serializes to its own bytes
        again = parse_calls(match.group(0))
        assert isinstance(again, list) and serialize_call(again[0]) == match.group(0)


@settings(max_examples=500, deadline=None)
@given(_values)
def test_serialize_value_matches_the_template_format_argument(value: Any) -> None:
    """Our value text is the template's `format_argument` (bare keys in calls, quoted in declarations)."""
    canon = canonical_arguments(value)
    # the template dictsorts (stable, case-insensitive): canonical order is a fixed point of it
    assert serialize_value(canon) == macros().format_argument(canon, escape_keys=False)
    assert serialize_value(canon, quoted_keys=True) == macros().format_argument(canon)
    assert macros().format_argument(value, escape_keys=False) == macros().format_argument(canon, escape_keys=False) or (
        _has_case_colliding_keys(value)
    )
    # in any key order, the template writes Jinja's dictsort order, as tool responses do here
    assert serialize_value(jinja_dictsorted(value)) == macros().format_argument(value, escape_keys=False)
    assert tool_response_block("t", value) == macros().format_tool_response_block("t", value)


def _has_case_colliding_keys(value: Any) -> bool:
    if isinstance(value, dict):
        lowered = [k.lower() for k in value]
        return len(set(lowered)) < len(lowered) or any(_has_case_colliding_keys(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_case_colliding_keys(v) for v in value)
    return False
