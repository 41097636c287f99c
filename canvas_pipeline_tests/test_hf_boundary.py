"""Phase-1 rows survive the trip into `datasets` unchanged and render, through the real
Gemma-4 chat template TRL ships, to the same text our renderer (and so G8) sees."""

from __future__ import annotations

from pathlib import Path

import jinja2
from trl.chat_template_utils import gemma4_chat_template

from canvas_pipeline.data import stages
from canvas_pipeline.data.hf import load_phase1_dataset
from canvas_pipeline.tools.chat_format import render_conversation


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
