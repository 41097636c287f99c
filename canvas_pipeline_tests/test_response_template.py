"""The tokenizer's response template: what a Transformers user reads tool calls with.

`AutoTokenizer.from_pretrained(folder).parse_response(text, prefix=prompt)` on a saved tiny
tokenizer returns every call the codec writes with exactly the arguments the codec's own
parser reads back: the issue's example, every reference call of the real bench (each model
turn with the prompt before it as the prefix), and generated values of every kind. TRL's
Gemma-4 template, which ours copies but for the tool-name pattern, fails on our dotted names.

What transformers' `json` content parser cannot represent, tested as it behaves: a string
argument holding \\x01 or \\x02 (the parser's own placeholders) makes `parse_response` raise
ValueError, though the codec writes and reads it. Everything else the codec writes (strings
with quotes, backslashes, newlines, lookalike markup or other control tokens; nested objects
and arrays; true, false, null; ints of any size, negative zero and floats in any exponent)
comes back with the same types, values and key order."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from canvas_pipeline.data.io import read_jsonl
from canvas_pipeline.tools.chat_format import message_calls, render_conversation
from canvas_pipeline.tools.codec import (
    KEY_RE,
    RESERVED_MARKERS,
    RESPONSE_OPEN,
    TURN_CLOSE,
    ToolCall,
    canonical_arguments,
    parse_calls,
    serialize_call,
    serialize_calls,
)
from canvas_pipeline.training.tokenizer import RESPONSE_TEMPLATE, load_tokenizer, with_response_template

EXAMPLE = "<|tool_call>call:canvas.get_assignments{course_id:4264,horizon_days:7}<tool_call|>"
EXAMPLE_MESSAGE = {
    "role": "assistant",
    "tool_calls": [
        {
            "type": "function",
            "function": {"name": "canvas.get_assignments", "arguments": {"course_id": 4264, "horizon_days": 7}},
        }
    ],
}
MODEL_TURN = "<|turn>model\n"


@pytest.fixture(scope="module")
def tokenizer(tiny_tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The tiny tokenizer as built (and saved) by `build_tokenizer`, saved again and loaded back
    with plain `AutoTokenizer`."""
    folder = tmp_path_factory.mktemp("resaved")
    AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir)).save_pretrained(str(folder))
    return AutoTokenizer.from_pretrained(str(folder))


def typed(value: Any) -> Any:
    """`value` with every leaf's type and every object's key order made part of equality
    (Python has True == 1, 1 == 1.0 and 0.0 == -0.0; key order is otherwise ignored)."""
    if isinstance(value, dict):
        return ("object", [(k, typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("array", [typed(v) for v in value])
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


def calls_of(message: dict[str, Any]) -> list[tuple[str, Any]]:
    """The (name, typed arguments) of each call `parse_response` returned, in order."""
    out = []
    for entry in message.get("tool_calls", []):
        assert entry["type"] == "function" and set(entry) == {"type", "function"}, entry
        out.append((entry["function"]["name"], typed(entry["function"]["arguments"])))
    return out


def codec_calls(text: str) -> list[tuple[str, Any]]:
    parsed = parse_calls(text)
    assert isinstance(parsed, list), parsed
    return [(c.name, typed(c.arguments)) for c in parsed]


def test_the_saved_tokenizer_config_carries_the_template(tiny_tokenizer_dir: Path, tokenizer: Any) -> None:
    config = json.loads((tiny_tokenizer_dir / "tokenizer_config.json").read_text())
    assert config["response_template"] == RESPONSE_TEMPLATE and "response_schema" not in config
    assert tokenizer.response_template == RESPONSE_TEMPLATE


def test_ours_is_trls_gemma4_template_but_for_dotted_tool_names(tokenizer: Any) -> None:
    from trl.chat_template_utils import gemma4_template

    theirs = copy.deepcopy(gemma4_template)
    assert theirs["fields"]["tool_calls"]["open_pattern"] == r"<\|tool_call>call:(?P<name>\w+)"
    theirs["fields"]["tool_calls"]["open_pattern"] = r"<\|tool_call>call:(?P<name>[\w.]+)"
    assert theirs == RESPONSE_TEMPLATE
    # TRL's own stops the name at the dot and hands ".get_assignments{...}" to the JSON parser
    with pytest.raises(ValueError, match="could not parse"):
        tokenizer.parse_response(EXAMPLE, gemma4_template, prefix="")


def test_the_issues_example_parses_to_the_call_with_its_arguments(tokenizer: Any) -> None:
    assert tokenizer.parse_response(EXAMPLE, prefix="") == EXAMPLE_MESSAGE
    # as generated: after the prompt's model header, up to the <|tool_response> the model stops at
    prompt = render_conversation([{"role": "user", "content": "What is due this week?"}], add_generation_prompt=True)
    assert prompt.endswith(MODEL_TURN)
    assert tokenizer.parse_response(EXAMPLE + RESPONSE_OPEN, prefix=prompt) == EXAMPLE_MESSAGE
    # token ids work as well as text (decoded with the control tokens kept)
    ids = tokenizer(EXAMPLE + RESPONSE_OPEN, add_special_tokens=False).input_ids
    assert tokenizer.parse_response(ids, prefix=prompt) == EXAMPLE_MESSAGE
    assert codec_calls(EXAMPLE) == calls_of(EXAMPLE_MESSAGE)


def test_every_bench_reference_turn_parses_as_the_codec_reads_it(real_slice: Path, tokenizer: Any) -> None:
    """Each model turn of each bench item's reference answer as the model writes it (the rendered
    conversation past the prompt: the codec's calls with keys in the template's order, then the
    <|tool_response> it stops at; or the answer, then <turn|>), and the same calls serialized in
    their recorded key order, parsed with the conversation before the turn as the prefix."""
    bench = read_jsonl(real_slice / "phase4" / "benchmark.jsonl")
    calls_checked = answers_checked = 0
    for item in bench:
        conversation = list(item["prompt"])
        for message in item["reference"]:
            if message["role"] == "assistant":
                prefix = render_conversation(conversation, add_generation_prompt=True)
                rendered = render_conversation([*conversation, message])
                assert rendered.startswith(prefix), item["id"]
                turn = rendered[len(prefix) :]
                calls = message_calls(message)
                if calls:
                    canonical = [ToolCall(c.name, canonical_arguments(c.arguments)) for c in calls]
                    assert turn == serialize_calls(canonical) + RESPONSE_OPEN, item["id"]
                    for written in (canonical, calls):
                        text = serialize_calls(written) + RESPONSE_OPEN
                        parsed = tokenizer.parse_response(text, prefix=prefix)
                        expected = codec_calls(text)
                        assert expected == [(c.name, typed(c.arguments)) for c in written]
                        assert calls_of(parsed) == expected, (item["id"], text, parsed)
                        assert set(parsed) == {"role", "tool_calls"}, (item["id"], parsed)
                    calls_checked += len(calls)
                else:
                    assert turn.endswith(TURN_CLOSE + "\n"), item["id"]
                    parsed = tokenizer.parse_response(turn, prefix=prefix)
                    assert parsed == {"role": "assistant", "content": turn.removesuffix(TURN_CLOSE + "\n")}, item["id"]
                    answers_checked += 1
            conversation.append(message)
        # these are the calls the bench expects
        assert [c.name for m in item["reference"] for c in message_calls(m)] == item["expected_tools"]
    assert len(bench) >= 1000 and answers_checked == len(bench)
    assert calls_checked == sum(len(item["expected_tools"]) for item in bench) > len(bench)


EDGE_ARGUMENTS: list[dict[str, Any]] = [
    {},
    {"text": 'he said "hi", then {k:1}, y:2 and \\n \\ backslash', "tab": "a\tb\nc\r\n", "empty": ""},
    {"padded": "  spaced  ", "unicode": "café ünï 😀 \u2028", "lone": "\ud800"},
    {"markup": '<|channel>x<channel|> <|think|> <turn| x<eos call:foo{a:1} <|"|', "lt": "<|tool_call"},
    {"flags": [True, False, None], "t": True, "f": False, "n": None},
    {"ints": [0, -0, 7, -42, 10**30, -(10**40)], "floats": [0.5, -0.0, 1e-07, 1e22, -2.5e-300, 3.141592653589793]},
    {"one": 1, "one_float": 1.0, "zero": 0, "zero_float": 0.0},
    {"nested": {"a": [1, [2, [3, {"b": {"c": []}}]], {}], "d": {"e": {"f": {"g": "deep"}}}}, "arr": [[], [[]], {}]},
    {"zeta": 1, "Alpha": 2, "alpha": 3, "_under": {"z": 1, "a": 2}},
]


@pytest.mark.parametrize("arguments", EDGE_ARGUMENTS, ids=range(len(EDGE_ARGUMENTS)))
def test_strings_nesting_literals_and_numbers_round_trip_exactly(tokenizer: Any, arguments: dict[str, Any]) -> None:
    call = ToolCall("study.plan_sessions", arguments)
    text = serialize_call(call) + serialize_call(ToolCall("canvas.list_courses", {"active_only": True}))
    parsed = tokenizer.parse_response(text + RESPONSE_OPEN, prefix=MODEL_TURN)
    assert calls_of(parsed) == codec_calls(text)
    assert calls_of(parsed)[0] == (call.name, typed(arguments))


def test_text_and_thinking_before_the_calls_land_in_their_own_fields(tokenizer: Any) -> None:
    text = "<|channel>thought\nThe course id is known.<channel|>Let me check." + EXAMPLE + RESPONSE_OPEN
    parsed = tokenizer.parse_response(text, prefix=MODEL_TURN)
    assert parsed == {**EXAMPLE_MESSAGE, "reasoning_content": "The course id is known.", "content": "Let me check."}


@pytest.mark.parametrize("control", ["\x01", "\x02"])
def test_a_string_holding_the_parsers_placeholder_characters_raises(tokenizer: Any, control: str) -> None:
    """The documented gap: the codec writes and reads these, transformers' json parser refuses."""
    text = serialize_call(ToolCall("canvas.search", {"query": f"a{control}b"}))
    assert codec_calls(text) == [("canvas.search", typed({"query": f"a{control}b"}))]
    with pytest.raises(ValueError, match="reserved sentinel characters"):
        tokenizer.parse_response(text, prefix="")


def _writable(text: str) -> bool:
    return "\x01" not in text and "\x02" not in text and not any(m in text for m in RESERVED_MARKERS)


_strings = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(['<|"|', "|>", "<|", '"', "\\", "a:b,"])
_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**25), max_value=10**25)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _strings.filter(_writable)
)
_keys = st.from_regex(KEY_RE, fullmatch=True).filter(lambda k: len(k) <= 8)
_values = st.recursive(
    _leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4), max_leaves=12
)


@settings(max_examples=200, deadline=None)
@given(
    arguments=st.dictionaries(_keys, _values, max_size=5),
    name=st.from_regex(r"[a-z]{1,6}(\.[a-z_]{1,8}){0,2}", fullmatch=True),
)
def test_any_call_the_codec_writes_parses_back_exactly(tokenizer: Any, arguments: dict[str, Any], name: str) -> None:
    text = serialize_call(ToolCall(name, arguments))
    parsed = tokenizer.parse_response(text + RESPONSE_OPEN, prefix=MODEL_TURN)
    assert calls_of(parsed) == codec_calls(text) == [(name, typed(arguments))]


def test_a_release_export_writes_the_template_even_for_a_checkpoint_saved_without_it(
    tiny_tokenizer_dir: Path, tmp_path: Path
) -> None:
    from canvas_pipeline.release.export import export_model
    from canvas_pipeline.training.model import random_model, tiny_text_config

    folder, dest = tmp_path / "checkpoint", tmp_path / "release"
    tokenizer = load_tokenizer(tiny_tokenizer_dir)
    random_model(tiny_text_config(len(tokenizer)), 0).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    config_file = folder / "tokenizer_config.json"  # as a tokenizer saved before the template was set
    config_file.write_text(json.dumps(json.loads(config_file.read_text()) | {"response_template": None}))
    assert load_tokenizer(folder).response_template is None
    manifest = {"method": "sft", "adapter": "full", "base": str(folder)}
    (folder / "checkpoint.json").write_text(json.dumps(manifest))
    export_model(folder, manifest, dest, bf16=False, log=lambda _: None)
    assert json.loads((dest / "tokenizer_config.json").read_text())["response_template"] == RESPONSE_TEMPLATE
    assert AutoTokenizer.from_pretrained(str(dest)).parse_response(EXAMPLE, prefix="") == EXAMPLE_MESSAGE


def test_the_e2b_tokenizer_from_the_hub_is_saved_with_ours_in_place_of_its_own(
    tiny_tokenizer_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import transformers
    from trl.chat_template_utils import gemma4_template

    from canvas_pipeline.training.tokenizer import build_tokenizer

    hub = load_tokenizer(tiny_tokenizer_dir)  # stands in for Gemma's own, with its \w+ template
    hub.response_template = copy.deepcopy(gemma4_template)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *_, **__: hub)
    folder = build_tokenizer("e2b", tmp_path / "tokenizer")
    monkeypatch.undo()
    assert json.loads((folder / "tokenizer_config.json").read_text())["response_template"] == RESPONSE_TEMPLATE
    assert AutoTokenizer.from_pretrained(str(folder)).parse_response(EXAMPLE, prefix="") == EXAMPLE_MESSAGE
    assert with_response_template(hub).response_template is not RESPONSE_TEMPLATE  # a copy: ours stays as it is
