"""The three places the shared system turn is computed once instead of per row, each held to
the plain computation on real rows built from the real Canvas exports:
- training: the backbone runs a batch's common prefix once (`training/shared_prefix.py`):
  loss, logits and every gradient match the plain forward; left-padded batches and
  generation take the plain path;
- TRL's fused LM head scores only labelled positions on CPU (`training/fused_head.py`):
  log-probs, loss and gradients match TRL's every-position path;
- the bench starts each batch from the prefix's cache shifted per row
  (`evaluation/generation.py`): the greedy turns are the plain batched prefill's, byte
  for byte;
- pair scoring takes logits from the completions' positions only
  (`training/preference_eval.py`): the same log-prob sums and means."""

from __future__ import annotations

import copy
import itertools
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from canvas_pipeline.data.io import read_jsonl
from canvas_pipeline.evaluation import generation
from canvas_pipeline.evaluation.generation import greedy_turns, prompt_text
from canvas_pipeline.training.fused_head import score_labelled_positions_only
from canvas_pipeline.training.model import random_model, tiny_text_config
from canvas_pipeline.training.shared_prefix import MIN_PREFIX, common_prefix_length, shared_prefix_stats
from canvas_pipeline.training.tokenizer import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tiny_tokenizer_dir: Path) -> Any:
    return load_tokenizer(tiny_tokenizer_dir)


@pytest.fixture(scope="module")
def batch(real_slice: Path, tokenizer: Any) -> dict[str, torch.Tensor]:
    """Six real phase-1 conversations, right-padded, labels on the assistant turns only."""
    rows = read_jsonl(real_slice / "phase1" / "sft_trajectories.jsonl")[:6]
    encoded = [
        tokenizer.apply_chat_template(r["messages"], tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
        for r in rows
    ]
    width = max(len(e["input_ids"]) for e in encoded)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for row, e in enumerate(encoded):
        n = len(e["input_ids"])
        ids[row, :n] = torch.tensor(e["input_ids"])
        mask[row, :n] = 1
        labels[row, :n] = torch.where(torch.tensor(e["assistant_masks"]) == 1, ids[row, :n], -100)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _plain_and_shared(tokenizer: Any) -> tuple[Any, Any]:
    shared = random_model(tiny_text_config(len(tokenizer)), seed=3)
    plain = copy.deepcopy(shared)
    plain.model.forward = type(plain.model).forward.__get__(plain.model)  # the unwrapped forward
    return plain, shared


def _loss_and_grads(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    model.train()
    model.zero_grad()
    out = model(**batch)
    out.loss.backward()
    return out.loss.detach(), out.logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def test_the_backbone_runs_the_shared_system_turn_once_with_the_plain_forwards_loss_and_gradients(
    tokenizer: Any, batch: dict[str, torch.Tensor]
) -> None:
    plain, shared = _plain_and_shared(tokenizer)
    stats = shared_prefix_stats(shared)
    assert stats is not None and shared_prefix_stats(plain) is not stats
    twin = copy.deepcopy(shared)  # a deep copy's wrapper runs the copy's weights, not the original's
    with torch.no_grad():
        twin.model.layers[1].mlp.down_proj.weight.zero_()  # backbone only (the head is tied to the embeddings)
        assert not torch.equal(twin(**batch).logits, shared(**batch).logits)
    stats.shared_forwards = stats.tokens_saved = stats.padding_skipped = 0
    prefix = common_prefix_length(batch["input_ids"], batch["attention_mask"])
    assert prefix > 600, "the system turn with the 18 declarations is the shared prefix"
    loss, logits, grads = _loss_and_grads(plain, batch)
    shared_loss, shared_logits, shared_grads = _loss_and_grads(shared, batch)
    assert stats.shared_forwards == 1 and stats.tokens_saved == prefix * (len(batch["input_ids"]) - 1)
    assert stats.padding_skipped == int((batch["attention_mask"] == 0).sum()) > 0, "tails ran packed, pads skipped"
    attended = batch["attention_mask"].bool()
    torch.testing.assert_close(shared_loss, loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(shared_logits[attended], logits[attended], rtol=1e-4, atol=1e-4)
    for name, grad in grads.items():
        torch.testing.assert_close(shared_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_a_tail_with_holes_in_its_mask_runs_padded_against_the_repeated_prefix(
    tokenizer: Any, batch: dict[str, torch.Tensor]
) -> None:
    plain, shared = _plain_and_shared(tokenizer)
    stats = shared_prefix_stats(shared)
    assert stats is not None
    holed = {k: v.clone() for k, v in batch.items()}
    prefix = common_prefix_length(holed["input_ids"], holed["attention_mask"])
    holed["attention_mask"][0, prefix + 3] = 0  # not right padding: cannot be packed
    holed["labels"][0, prefix + 3] = -100
    loss, logits, grads = _loss_and_grads(plain, holed)
    shared_loss, shared_logits, shared_grads = _loss_and_grads(shared, holed)
    assert stats.shared_forwards == 1 and stats.padding_skipped == 0
    attended = holed["attention_mask"].bool()
    torch.testing.assert_close(shared_loss, loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(shared_logits[attended], logits[attended], rtol=1e-4, atol=1e-4)
    for name, grad in grads.items():
        torch.testing.assert_close(shared_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_left_padded_batches_and_generation_take_the_plain_path(tokenizer: Any, batch: dict[str, torch.Tensor]) -> None:
    plain, shared = _plain_and_shared(tokenizer)
    stats = shared_prefix_stats(shared)
    assert stats is not None
    left = {k: torch.flip(v, dims=[1]) for k, v in batch.items()}  # pads first: no common attended run at 0
    plain.eval(), shared.eval()
    with torch.no_grad():
        torch.testing.assert_close(shared(**left).logits, plain(**left).logits)
        prompt = batch["input_ids"][:1, :40]
        generated = shared.generate(prompt, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] == 44
    assert stats.shared_forwards == 0 and stats.plain_forwards >= 2


@settings(max_examples=60, deadline=None)
@given(
    prefix=st.integers(min_value=0, max_value=120),
    rows=st.integers(min_value=1, max_value=5),
    tail=st.integers(min_value=1, max_value=20),
    masked=st.booleans(),
)
def test_common_prefix_length_is_the_attended_run_every_row_opens_with(
    prefix: int, rows: int, tail: int, masked: bool
) -> None:
    generator = torch.Generator().manual_seed(prefix * 31 + rows * 7 + tail)
    head = torch.randint(5, 50, (prefix,), generator=generator)
    ids = torch.cat([head.expand(rows, -1), torch.randint(50, 99, (rows, tail), generator=generator)], dim=1)
    ids[:, prefix] = torch.arange(rows) + 100  # rows part ways right after the prefix
    mask = torch.ones_like(ids)
    if masked and prefix:
        mask[-1, prefix // 2] = 0
    found = common_prefix_length(ids, mask)
    attended = prefix // 2 if masked and prefix else prefix
    expected = attended if rows > 1 and attended >= MIN_PREFIX and ids.shape[1] > MIN_PREFIX else 0
    assert found == expected


def test_trls_fused_head_on_cpu_scores_labelled_positions_only_with_the_same_log_probs(
    tokenizer: Any, batch: dict[str, torch.Tensor], monkeypatch: pytest.MonkeyPatch
) -> None:
    import trl.trainer.utils as trl_utils
    from trl.kernels.chunked_logprob import _use_triton as every_position_on_cpu
    from trl.trainer.utils import add_fused_lm_head

    model = random_model(tiny_text_config(len(tokenizer)), seed=4)
    add_fused_lm_head(model)
    model.train()
    results = {}
    for name in ("every_position", "labelled_only"):
        if name == "every_position":
            monkeypatch.setattr(trl_utils, "_use_triton", every_position_on_cpu)
        else:
            monkeypatch.undo()
            score_labelled_positions_only()
            score_labelled_positions_only()  # idempotent
            assert trl_utils._use_triton(torch.device("cpu"))
        model.zero_grad()
        out = model(**batch, fused_lm_head=True)
        out.loss.backward()
        results[name] = (out.loss.detach(), out.log_probs.detach(), [p.grad.clone() for p in model.parameters()])
    (loss, log_probs, grads), (compact_loss, compact_log_probs, compact_grads) = results.values()
    labelled = batch["labels"][:, 1:] != -100
    assert 0 < int(labelled.sum()) < labelled.numel() // 4, "most positions are the unlabelled system turn"
    torch.testing.assert_close(compact_loss, loss)
    torch.testing.assert_close(compact_log_probs, log_probs)
    for grad, compact in zip(grads, compact_grads, strict=True):
        torch.testing.assert_close(compact, grad, rtol=1e-4, atol=1e-6)


def test_bench_turns_from_the_shifted_prefix_cache_are_the_plain_batched_prefills(
    real_slice: Path, tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = random_model(tiny_text_config(len(tokenizer)), seed=5)
    items = read_jsonl(real_slice / "phase4" / "benchmark.jsonl")[:9]
    prompts = [prompt_text(i["prompt"], i.get("tools")) for i in items]
    ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    assert generation.shared_prefix_length(ids) >= 600 and len({len(i) for i in ids}) > 3
    built: list[list[int]] = []
    real_shifted_cache = generation.shifted_cache
    monkeypatch.setattr(
        generation, "shifted_cache", lambda p, pads: built.append(list(pads)) or real_shifted_cache(p, pads)
    )
    cached = greedy_turns(model, tokenizer, prompts, max_new_tokens=20, batch_size=4)
    assert len(built) == 3 and any(max(pads) > 0 for pads in built), "rows with left padding got shifted caches"
    monkeypatch.setattr(generation, "MIN_SHARED_PREFIX", 10**9)
    plain = greedy_turns(model, tokenizer, prompts, max_new_tokens=20, batch_size=4)
    assert len(built) == 3
    assert cached == plain
    assert all(len(out) > 0 for out in cached)


def test_rows_still_going_after_the_first_leg_continue_alone_with_the_same_turns(
    real_slice: Path, tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After FIRST_LEG tokens the rows that stopped leave the batch and the others resume
    from their own cache: the turns are those of one uninterrupted batched decode."""
    model = random_model(tiny_text_config(len(tokenizer)), seed=6)
    items = read_jsonl(real_slice / "phase4" / "benchmark.jsonl")[:9]
    prompts = [prompt_text(i["prompt"], i.get("tools")) for i in items]
    monkeypatch.setattr(generation, "FIRST_LEG", 24)
    free = greedy_turns(model, tokenizer, prompts, max_new_tokens=24, batch_size=5)
    # the token most rows (not all) emit early becomes a stop token: those finish in the first leg
    heads = [set(tokenizer(t, add_special_tokens=False)["input_ids"][:6]) for t in free]
    early = Counter(t for head in heads for t in head if not all(t in h for h in heads)).most_common(1)[0][0]
    monkeypatch.setattr(generation, "STOP_TOKENS", (*generation.STOP_TOKENS, tokenizer.convert_ids_to_tokens(early)))
    one_leg = greedy_turns(model, tokenizer, prompts, max_new_tokens=24, batch_size=5)
    batch_rows: list[int] = []
    real_generate = model.generate
    monkeypatch.setattr(model, "generate", lambda **kw: batch_rows.append(len(kw["input_ids"])) or real_generate(**kw))
    monkeypatch.setattr(generation, "FIRST_LEG", 8)
    two_legs = greedy_turns(model, tokenizer, prompts, max_new_tokens=24, batch_size=5)
    assert two_legs == one_leg
    assert any(0 < later < first for first, later in itertools.pairwise(batch_rows)), (
        f"in some batch a few rows stopped and the rest went on: {batch_rows}"
    )
    assert sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) > 8 for t in two_legs) > 0


def test_completion_log_probs_from_the_completion_positions_only_are_every_positions(
    real_slice: Path, tokenizer: Any
) -> None:
    """Pair scoring (SPPO's rounds, the per-axis eval margins) takes logits only from the
    earliest completion on, not over the prompts' ~90% of positions; the sums and per-token
    means are those of log-probs over every position."""
    from canvas_pipeline.tools.chat_format import render_conversation
    from canvas_pipeline.training.preference_eval import completion_logps

    pairs = read_jsonl(real_slice / "phase2" / "dpo_pairs.jsonl")[:5]
    examples = [(p["prompt"], p[side], p.get("tools")) for p in pairs for side in ("chosen", "rejected")]
    model = random_model(tiny_text_config(len(tokenizer)), seed=5).eval()
    expected_sums, expected_means = [], []
    for prompt, completion, tools in examples:
        start = len(tokenizer(render_conversation(prompt, add_generation_prompt=True, tools=tools))["input_ids"])
        ids = tokenizer(render_conversation([*prompt, *completion], tools=tools), return_tensors="pt")["input_ids"]
        with torch.no_grad():
            logps = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)
        token_logps = logps.gather(-1, ids[0, 1:, None])[start - 1 :, 0]
        expected_sums.append(float(token_logps.sum()))
        expected_means.append(float(token_logps.mean()))
    for per_token, expected in ((False, expected_sums), (True, expected_means)):
        found = completion_logps(model, tokenizer, examples, batch_size=4, per_token=per_token)
        assert found == pytest.approx(expected, rel=1e-4, abs=1e-3)
    assert len(set(expected_sums)) == len(expected_sums), "every completion scores differently"
