"""The bench harness on the real bench built from the real Canvas exports: the simulated
backend it rebuilds answers every reference call exactly as the dataset recorded; scripted
model turns (the reference calls, garbage, a loop) flow through the conversation loop and
are scored with their reasons; a real random tiny model runs without a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from canvas_pipeline.data.io import read_jsonl
from canvas_pipeline.evaluation import metrics
from canvas_pipeline.evaluation.backends import BackendFactory
from canvas_pipeline.evaluation.bench import eval_items
from canvas_pipeline.evaluation.harness import Conversation, _advance, run_conversations, turn_budget
from canvas_pipeline.tools.chat_format import message_calls, response_content
from canvas_pipeline.tools.codec import RESPONSE_OPEN, TURN_CLOSE, ToolCall, serialize_calls


@pytest.fixture(scope="module")
def bench(real_slice: Path) -> list[dict[str, Any]]:
    return read_jsonl(real_slice / "phase4" / "benchmark.jsonl")


@pytest.fixture(scope="module")
def backends(real_slice: Path) -> BackendFactory:
    return BackendFactory.from_out_dir(real_slice)


def _reference_pairs(item: dict[str, Any]) -> list[tuple[ToolCall, str]]:
    ref, out = item["reference"], []
    for i, message in enumerate(ref):
        calls = message_calls(message)
        out += [(c, r["content"]) for c, r in zip(calls, ref[i + 1 : i + 1 + len(calls)], strict=True)]
    return out


def test_the_rebuilt_backend_answers_every_reference_call_as_recorded(
    real_slice: Path, bench: list[dict[str, Any]], backends: BackendFactory
) -> None:
    items = bench + eval_items(real_slice, None, 0)
    checked = 0
    for item in items:
        backend = backends.for_item(item)
        for call, recorded in _reference_pairs(item):
            assert response_content(backend.execute(call)) == recorded, f"{item['id']}: {call}"
            checked += 1
    assert checked > 1500


def _turn(calls: list[ToolCall]) -> str:
    return serialize_calls(calls) + RESPONSE_OPEN


def test_the_reference_calls_as_model_turns_are_a_full_exact_parsimonious_answer(
    bench: list[dict[str, Any]], backends: BackendFactory
) -> None:
    item = next(i for i in bench if i["category"] == "multi_step" and len(i["expected_steps"]) >= 2)
    steps = [message_calls(m) for m in item["reference"] if m["role"] == "assistant" and m.get("tool_calls")]
    conversation, cache = Conversation(item, list(item["prompt"])), {}
    for step in steps:
        assert _advance(conversation, _turn(step), backends.for_item, cache)
    assert not _advance(conversation, "Here is what I found." + TURN_CLOSE, backends.for_item, cache)
    fed_back = [m["content"] for m in conversation.messages if m["role"] == "tool"][-len(_reference_pairs(item)) :]
    assert fed_back == [content for _, content in _reference_pairs(item)]
    assert conversation.ended == "answered"
    assert metrics.full_call_exact(conversation) and metrics.parsimonious(conversation)


def test_garbage_turns_end_the_conversation_with_their_reason_never_a_crash(
    bench: list[dict[str, Any]], backends: BackendFactory
) -> None:
    item = next(i for i in bench if i["category"] == "single")
    unclosed = Conversation(item, list(item["prompt"]))
    assert not _advance(unclosed, "<|tool_call>call:canvas.get_course{course_id:4264", backends.for_item, {})
    assert unclosed.ended == "parse_error" and "unclosed_envelope" in (unclosed.failure or "")
    assert not metrics.selected_right(unclosed) and not metrics.format_valid(unclosed)

    invalid = Conversation(item, list(item["prompt"]))
    bad_call = ToolCall("canvas.get_course", {"course_id": "all"})
    assert _advance(invalid, _turn([bad_call]), backends.for_item, {})
    assert "error" in json.loads(invalid.messages[-1]["content"]), "the backend answers invalid values as an API would"

    unknown = Conversation(item, list(item["prompt"]))
    assert _advance(unknown, _turn([ToolCall("canvas.hack_grades", {"all": True})]), backends.for_item, {})
    assert "error" in json.loads(unknown.messages[-1]["content"])

    looping = Conversation(item, list(item["prompt"]))
    cache: dict[str, Any] = {}
    todo = _turn([ToolCall("canvas.get_todo", {})])
    while _advance(looping, todo, backends.for_item, cache):
        pass
    assert looping.ended == "turn_limit" and len(looping.turns) == turn_budget(item)
    assert not metrics.correct_response(looping) and not metrics.full_call_exact(looping)


def test_a_random_tiny_model_is_scored_not_crashed(
    bench: list[dict[str, Any]], backends: BackendFactory, tiny_tokenizer_dir: Path
) -> None:
    from canvas_pipeline.training.model import random_model, tiny_text_config
    from canvas_pipeline.training.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(tiny_tokenizer_dir)
    model = random_model(tiny_text_config(len(tokenizer)), 0)
    items = bench[:6]
    conversations = run_conversations(model, tokenizer, items, backends.for_item, batch_size=3, max_new_tokens=24)
    assert [c.item["id"] for c in conversations] == [i["id"] for i in items]
    allowed = {"answered", "parse_error", "turn_limit", "backend_error"}
    assert all(c.ended in allowed and 1 <= len(c.turns) <= turn_budget(c.item) for c in conversations)
    summary = metrics.summarize(conversations)
    assert summary["items"] == 6 and 0.0 <= summary["format_validity"] <= 1.0
    assert sum(row["n"] for row in summary["per_tool"].values()) == 6
