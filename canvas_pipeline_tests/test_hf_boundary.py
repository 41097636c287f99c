"""Phase-1 rows survive the trip into `datasets` unchanged and render, through the real
Gemma-4 chat template TRL ships, to the same text our renderer (and so G8) sees."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
from trl.chat_template_utils import gemma4_chat_template

from canvas_pipeline.data import stages
from canvas_pipeline.data.hf import load_kto_dataset, load_phase1_dataset, load_preference_dataset
from canvas_pipeline.tools.chat_format import render_conversation, system_prompt


def test_phase1_loads_as_trl_conversational_datasets(real_slice: Path) -> None:
    rows = stages.load_trajectories(real_slice)
    ds = load_phase1_dataset(real_slice / "phase1" / "sft_trajectories.jsonl")
    by_id = {r["id"]: r for r in rows}
    for split in ("train", "test"):
        assert ds[split].num_rows == sum(r["split"] == split for r in rows)
        for example in ds[split]:
            assert example["messages"] == by_id[example["id"]]["messages"]  # no argument keys added or lost


def test_every_row_renders_through_the_gemma4_template_as_we_render_it(real_slice: Path) -> None:
    template = jinja2.Environment(extensions=["jinja2.ext.loopcontrols"]).from_string(gemma4_chat_template)
    rows = stages.load_trajectories(real_slice)
    parallel = 0
    for row in rows:
        assert template.render(messages=row["messages"], bos_token="<bos>") == render_conversation(row["messages"])
        parallel += any(len(m.get("tool_calls") or []) > 1 for m in row["messages"])
    assert parallel > 0  # responses to parallel calls are matched by tool_call_id


def test_preference_and_kto_rows_load_and_render_with_their_tools_column(real_slice: Path) -> None:
    template = jinja2.Environment(extensions=["jinja2.ext.loopcontrols"]).from_string(gemma4_chat_template)
    system_turn = render_conversation([{"role": "system", "content": system_prompt()}])
    for loader, stage, sides in (
        (load_preference_dataset, stages.PHASE2, ("chosen", "rejected")),
        (load_kto_dataset, stages.PHASE3, ("completion",)),
    ):
        rows = {r["id"]: r for r in stages.load_rows(real_slice, stage)}
        ds = loader(real_slice / stage / stages.DATASET_FILE[stage])
        assert ds["train"].num_rows + ds["test"].num_rows == len(rows)
        for example in ds["train"].select(range(0, ds["train"].num_rows, 53)):
            row = rows[example["id"]]
            assert example["prompt"] == row["prompt"] and example["axis"] == row["axis"]
            tools = json.loads(example["tools"])
            for side in sides:
                assert example[side] == row[side]
                messages = example["prompt"] + example[side]
                rendered = template.render(messages=messages, tools=tools, bos_token="<bos>")
                assert rendered == render_conversation(messages, tools=example["tools"])
                # the tools column renders exactly the system prompt every other dataset carries
                assert rendered.startswith(system_turn)
