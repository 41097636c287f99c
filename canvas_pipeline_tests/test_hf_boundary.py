"""Generated rows survive the trip into `datasets` unchanged, and every row of phases 1-4
renders, through the current Gemma-4 chat template TRL vendors (`gemma4_v5`), to the same
text our renderer (and so G8, the bench prompts and the tokenizer corpus) sees."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from canvas_pipeline.data import stages
from canvas_pipeline.data.hf import load_kto_dataset, load_phase1_dataset, load_preference_dataset
from canvas_pipeline.tools.chat_format import render_conversation, system_prompt
from canvas_pipeline.tools.codec import TURN_CLOSE
from canvas_pipeline_tests.gemma4_templates import GEMMA4_V5, render_template

# Every FULL_RENDER_EVERY-th conversation with a tools column is also rendered by v5 in one
# piece, tools and all, checking the splice `Rendered` makes for the rest.
FULL_RENDER_EVERY = 53


@dataclass(frozen=True)
class Conversation:
    ref: str
    messages: list[dict[str, Any]]
    tools: str | None  # the TRL `tools` column: a JSON string
    add_generation_prompt: bool = False


def generated_conversations(out: Path) -> Iterator[Conversation]:
    """Every conversation the pipeline renders from the generated rows: phase-1 trajectories;
    each preference and KTO row's prompt (as generation and evaluation render it, with the
    generation prompt) and prompt plus each side; each bench item's prompt and its reference."""
    for row in stages.load_trajectories(out):
        yield Conversation(f"phase1:{row['id']}", row["messages"], None)
    for stage, sides in ((stages.PHASE2, ("chosen", "rejected")), (stages.PHASE3, ("completion",))):
        for row in stages.load_rows(out, stage):
            yield Conversation(f"{stage}:{row['id']}:prompt", row["prompt"], row["tools"], True)
            for side in sides:
                yield Conversation(f"{stage}:{row['id']}:{side}", row["prompt"] + row[side], row["tools"])
    for row in stages.load_rows(out, stages.PHASE4):
        yield Conversation(f"phase4:{row['id']}:prompt", row["prompt"], None, True)
        yield Conversation(f"phase4:{row['id']}:reference", row["prompt"] + row["reference"], None)


@cache
def _declarations(tools: str) -> str:
    """v5's declarations block for a tools column (every generated row carries the same one)."""
    head = "<bos><|turn>system\n"
    text = render_template(GEMMA4_V5, [{"role": "system", "content": ""}], tools=json.loads(tools))
    assert text.startswith(head) and text.endswith(TURN_CLOSE + "\n")
    return text[len(head) : -len(TURN_CLOSE + "\n")]


def render_v5(conversation: Conversation) -> str:
    """v5's text for the conversation. With a tools column, v5 renders the messages without
    `tools=` and its declarations for those tools are put where `tools=` puts them (after the
    system text, before the system turn's close): the template writes them there and nowhere
    else, and only `prev_message_type` ('tool') carries on, which the first message resets.
    Rendering the 18 declarations takes four times as long as the rest, once per conversation."""
    messages, tools = conversation.messages, conversation.tools
    plain = render_template(GEMMA4_V5, messages, add_generation_prompt=conversation.add_generation_prompt)
    if tools is None:
        return plain
    assert messages[0]["role"] == "system" and len(messages) > 1
    head = "<bos><|turn>system\n" + str(messages[0]["content"]).strip()
    assert plain.startswith(head + TURN_CLOSE)
    return head + _declarations(tools) + plain[len(head) :]


@pytest.fixture(scope="module")
def conversations(real_slice: Path) -> list[tuple[Conversation, str]]:
    """Each generated conversation with v5's text for it."""
    rendered = []
    with_tools = 0
    for conversation in generated_conversations(real_slice):
        theirs = render_v5(conversation)
        if conversation.tools is not None:
            if with_tools % FULL_RENDER_EVERY == 0:
                whole = render_template(
                    GEMMA4_V5,
                    conversation.messages,
                    tools=json.loads(conversation.tools),
                    add_generation_prompt=conversation.add_generation_prompt,
                )
                assert whole == theirs, conversation.ref
            with_tools += 1
        rendered.append((conversation, theirs))
    return rendered


def test_every_generated_row_renders_as_gemma4_v5_renders_it(conversations: list[tuple[Conversation, str]]) -> None:
    counts: dict[str, int] = {}
    parallel = 0
    for conversation, theirs in conversations:
        ours = render_conversation(
            conversation.messages,
            add_generation_prompt=conversation.add_generation_prompt,
            tools=conversation.tools,
        )
        assert ours == theirs, conversation.ref
        phase = conversation.ref.split(":")[0]
        counts[phase] = counts.get(phase, 0) + 1
        parallel += any(len(m.get("tool_calls") or []) > 1 for m in conversation.messages)
    assert set(counts) == {"phase1", "phase2", "phase3", "phase4"} and min(counts.values()) > 1000, counts
    assert parallel > 0  # responses to parallel calls are matched by tool_call_id


def test_phase1_loads_as_trl_conversational_datasets(real_slice: Path) -> None:
    rows = stages.load_trajectories(real_slice)
    ds = load_phase1_dataset(real_slice / "phase1" / "sft_trajectories.jsonl")
    by_id = {r["id"]: r for r in rows}
    for split in ("train", "test"):
        assert ds[split].num_rows == sum(r["split"] == split for r in rows)
        for example in ds[split]:
            assert example["messages"] == by_id[example["id"]]["messages"]  # no argument keys added or lost


def test_preference_and_kto_rows_load_and_render_with_their_tools_column(real_slice: Path) -> None:
    system_turn = render_conversation([{"role": "system", "content": system_prompt()}])
    for loader, stage, sides in (
        (load_preference_dataset, stages.PHASE2, ("chosen", "rejected")),
        (load_kto_dataset, stages.PHASE3, ("completion",)),
    ):
        rows = {r["id"]: r for r in stages.load_rows(real_slice, stage)}
        ds = loader(real_slice / stage / stages.DATASET_FILE[stage])
        assert ds["train"].num_rows + ds["test"].num_rows == len(rows)
        for example in ds["train"].select(range(0, ds["train"].num_rows, FULL_RENDER_EVERY)):
            row = rows[example["id"]]
            assert example["prompt"] == row["prompt"] and example["axis"] == row["axis"]
            tools = json.loads(example["tools"])
            for side in sides:
                assert example[side] == row[side]
                messages = example["prompt"] + example[side]
                rendered = render_template(GEMMA4_V5, messages, tools=tools)
                assert rendered == render_conversation(messages, tools=example["tools"])
                # the tools column renders exactly the system prompt every other dataset carries
                assert rendered.startswith(system_turn)
