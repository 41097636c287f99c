"""How SFT-family rows are drawn under a decision-row budget: round-robin across the tool the
turn answering the last request calls (rare tools repeated when asked), cut after that turn
except every n-th row; and which method trains under the profile's reference budget. On the
real phase-1 trajectories, plus property tests of the sampler."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from canvas_pipeline.data.io import read_jsonl
from canvas_pipeline.training.data_prep import (
    decision_rows,
    decision_tool,
    decision_turn,
    load_method_data,
    round_robin,
)
from canvas_pipeline.training.methods import METHOD_NAMES, get_method, is_reference
from canvas_pipeline.training.profiles import get_profile
from canvas_pipeline.training.run import method_and_profile


def _sft_rows(real_slice: Path, split: str) -> list[dict[str, Any]]:
    return [r for r in read_jsonl(real_slice / "phase1" / "sft_trajectories.jsonl") if r["split"] == split]


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=6),
    size=st.integers(min_value=0, max_value=80),
    seed=st.integers(min_value=0, max_value=10),
)
def test_round_robin_keeps_every_stratum_within_one_of_its_share(sizes: list[int], size: int, seed: int) -> None:
    rows = [{"id": f"{s}-{i}", "s": str(s)} for s, n in enumerate(sizes) for i in range(n)]
    once = round_robin(rows, lambda r: r["s"], size, random.Random(seed))
    assert len(once) == min(size, len(rows)) and len({r["id"] for r in once}) == len(once)
    repeated = round_robin(rows, lambda r: r["s"], size, random.Random(seed), repeat=True)
    assert len(repeated) == size
    counts = Counter(r["s"] for r in repeated)
    if size >= len(sizes):
        assert max(counts.values()) - min(counts.values()) <= 1 and len(counts) == len(sizes)
    for stratum, n in enumerate(sizes):  # a stratum is used up before any row repeats
        used = Counter(r["id"] for r in repeated if r["s"] == str(stratum))
        assert max(used.values(), default=0) - min(used.values(), default=0) <= 1 or len(used) < n


def test_the_decision_turn_answers_the_last_request_on_every_real_row(real_slice: Path) -> None:
    rows = _sft_rows(real_slice, "train")
    two_requests = 0
    for row in rows:
        messages = row["messages"]
        turn = decision_turn(messages)
        last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
        assert messages[turn]["role"] == "assistant" and turn > last_user
        assert all(m["role"] != "assistant" for m in messages[last_user + 1 : turn])
        first_assistant = next(i for i, m in enumerate(messages) if m["role"] == "assistant")
        two_requests += turn != first_assistant
    assert 0 < two_requests < len(rows) / 2, "most rows make one request; some make two"


def test_decision_rows_balance_the_decision_tools_and_cut_all_but_every_nth(real_slice: Path) -> None:
    rows = _sft_rows(real_slice, "train")
    natural = Counter(decision_tool(r) for r in rows)
    drawn = decision_rows(rows, 60 * len(natural), seed=3, repeat=True, whole_every=4)
    counts = Counter(decision_tool(r) for r in drawn)
    assert set(counts) == set(natural) and max(counts.values()) - min(counts.values()) <= 1
    assert min(natural.values()) < 60, "the rarest decision is repeated to keep its share"
    by_id = {r["id"]: r for r in rows}
    for index, row in enumerate(drawn):
        original = by_id[row["id"]]["messages"]
        if index % 4 == 3:
            assert row["messages"] == original
        else:
            assert row["messages"] == original[: decision_turn(original) + 1]
    assert sum(len(r["messages"]) < len(by_id[r["id"]]["messages"]) for r in drawn) > len(drawn) / 2
    assert decision_rows(rows, 64, seed=3, repeat=True) == decision_rows(rows, 64, seed=3, repeat=True)
    every = decision_rows(rows, None, seed=3, repeat=True)  # no budget: each row once, cut
    assert sorted(r["id"] for r in every) == sorted(r["id"] for r in rows)


def test_only_the_sft_family_is_drawn_as_decision_rows(real_slice: Path) -> None:
    sft = load_method_data(real_slice, get_method("sft"), 64, 16, 0, decision=True)
    assert all(r["messages"][-1]["role"] == "assistant" for r in sft.train_rows)
    assert sum(len(r["messages"]) for r in sft.train_rows) < sum(
        len(r["messages"]) for r in load_method_data(real_slice, get_method("sft"), 64, 16, 0).train_rows
    )
    dpo = load_method_data(real_slice, get_method("dpo"), 64, 16, 0, decision=True)
    assert dpo.train_rows == load_method_data(real_slice, get_method("dpo"), 64, 16, 0).train_rows
    short = load_method_data(real_slice, get_method("sft"), 8, 8, 0, lambda r: len(r["messages"]) < 5, decision=True)
    assert (short.full_train_rows, short.full_eval_rows) == (sft.full_train_rows, sft.full_eval_rows), "the file's"


def test_sft_alone_trains_under_the_reference_budget() -> None:
    """Six methods start from `sft`: it alone trains under the tiny profile's longer budget
    at its own learning rate; every other method keeps the profile's budget and the table's rate."""
    tiny = get_profile("tiny")
    assert tiny.budget.reference is not None
    assert [m for m in METHOD_NAMES if is_reference(m)] == ["sft"]
    method, profile = method_and_profile("sft", "tiny")
    assert profile.budget == tiny.budget.reference and method.learning_rate == tiny.budget.reference.learning_rate
    assert profile.budget.max_steps > tiny.budget.max_steps
    for name in METHOD_NAMES[1:]:
        method, profile = method_and_profile(name, "tiny")
        assert profile == tiny and method == get_method(name)
    for name in ("e2b", "e2b-shape"):
        assert method_and_profile("sft", name) == (get_method("sft"), get_profile(name))


def test_the_reference_budget_decays_its_rate_where_the_short_ones_keep_it(tmp_path: Path) -> None:
    from canvas_pipeline.training.factory import trainer_args

    sft = trainer_args(*method_and_profile("sft", "tiny"), tmp_path)
    assert sft.lr_scheduler_type == "cosine" and sft.warmup_steps == 6 and sft.max_steps == 128
    assert sft.learning_rate == 2e-3 and sft.gradient_accumulation_steps * sft.per_device_train_batch_size == 64
    dpo = trainer_args(*method_and_profile("dpo", "tiny"), tmp_path)
    assert dpo.lr_scheduler_type == "constant_with_warmup" and dpo.warmup_steps == 0 and dpo.max_steps == 8
    epochs = trainer_args(get_method("sft"), get_profile("e2b"), tmp_path)
    assert epochs.lr_scheduler_type == "cosine" and epochs.warmup_steps == 10 and epochs.num_train_epochs == 1
