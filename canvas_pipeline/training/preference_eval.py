"""Reward margins on eval pairs, per pair type (axis), for the preference methods and KTO.

The implicit reward of a completion is beta * (log pi(y|x) - log pi_ref(y|x)), summed over
the completion's tokens; the text is rendered with the same template and tool
declarations as training (a per-token mean instead of the sum for IPO and SPPO, whose
losses work on length-normalised log-ratios). DPO family: the margin is reward(chosen) - reward(rejected) per
pair and accuracy the share of pairs with a positive margin. KTO, trained on unpaired
feedback, is measured on the phase-2 eval pairs the same way (`data_prep.judging_pairs`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from canvas_pipeline.tools.chat_format import render_conversation
from canvas_pipeline.training.data_prep import pair_type

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def completion_logps(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[tuple[list[dict[str, Any]], list[dict[str, Any]], str | None]],
    batch_size: int = 8,
    per_token: bool = False,
) -> list[float]:
    """Sum of log-probs of each (prompt, completion, tools) completion's tokens, or their
    mean per token with `per_token`."""
    import torch

    texts, starts = [], []
    for prompt, completion, tools in examples:
        head = render_conversation(prompt, add_generation_prompt=True, tools=tools)
        full = render_conversation([*prompt, *completion], tools=tools)
        if not full.startswith(head):
            raise ValueError("completion rendering does not extend its prompt")
        texts.append(full)
        starts.append(len(tokenizer(head, add_special_tokens=False)["input_ids"]))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: list[float] = []
    try:
        for i in range(0, len(texts), batch_size):
            chunk = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts[i : i + batch_size]]
            width = max(len(ids) for ids in chunk)
            ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, seq in enumerate(chunk):
                ids[row, : len(seq)] = torch.tensor(seq)
                mask[row, : len(seq)] = 1
            # Logits only from the position before the earliest completion token on: the
            # prompts (system turn and tool declarations) are ~90% of a row and their
            # logits over the whole vocabulary would be computed only to be thrown away.
            first = min(starts[i : i + len(chunk)]) - 1
            with torch.no_grad():
                logits = model(
                    input_ids=ids.to(device), attention_mask=mask.to(device), logits_to_keep=width - first
                ).logits.float()
            logps = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, first + 1 :, None].to(device))[..., 0]
            for row, seq in enumerate(chunk):
                start = starts[i + row]
                total = float(logps[row, start - 1 - first : len(seq) - 1 - first].sum())
                out.append(total / max(1, len(seq) - start) if per_token else total)
    finally:
        model.train(was_training)
    return out


def _stats(values: list[float]) -> dict[str, float]:
    """Mean margin, accuracy (margin > 0), n, and one-sided t-test p-values that the mean
    margin is below (`p_below`) or above (`p_above`) zero (1.0 when they cannot be computed)."""
    from scipy.stats import ttest_1samp

    below = above = 1.0
    if len(values) > 1 and len(set(values)) > 1:
        below = float(ttest_1samp(values, 0.0, alternative="less").pvalue)
        above = float(ttest_1samp(values, 0.0, alternative="greater").pvalue)
    return {
        "margin": sum(values) / len(values),
        "accuracy": sum(v > 0 for v in values) / len(values),
        "n": len(values),
        "p_below": below,
        "p_above": above,
    }


def pair_examples(
    rows: Sequence[dict[str, Any]],
) -> list[tuple[list[dict[str, Any]], list[dict[str, Any]], str | None]]:
    """Each pair's chosen then rejected completion, with its prompt and tools."""
    return [(r["prompt"], r[side], r.get("tools")) for r in rows for side in ("chosen", "rejected")]


def pair_margins(
    policy: PreTrainedModel,
    reference: PreTrainedModel | None,
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[dict[str, Any]],
    beta: float,
    per_token: bool = False,
    reference_logps: Sequence[float] | None = None,
) -> dict[str, dict[str, float]]:
    """Per pair type and overall: mean reward margin and accuracy (margin > 0); a None
    `reference` means the policy is a PEFT model whose disabled adapter is the reference. With
    `per_token` the log-ratios are means over each completion's tokens (the score IPO
    optimizes) instead of sums. `reference_logps`, when given, are the reference's
    `completion_logps` of `pair_examples(rows)`, already computed."""
    examples = pair_examples(rows)
    pol = completion_logps(policy, tokenizer, examples, per_token=per_token)
    if reference_logps is not None:
        if len(reference_logps) != len(examples):
            raise ValueError(f"{len(reference_logps)} reference log-probs for {len(examples)} completions")
        ref = list(reference_logps)
    elif reference is None:  # an adapter on the reference: the policy with its adapters disabled
        with policy.disable_adapter():
            ref = completion_logps(policy, tokenizer, examples, per_token=per_token)
    else:
        ref = completion_logps(reference, tokenizer, examples, per_token=per_token)
    rewards = [beta * (p - q) for p, q in zip(pol, ref, strict=True)]
    margins: dict[str, list[float]] = defaultdict(list)
    for k, row in enumerate(rows):
        margin = rewards[2 * k] - rewards[2 * k + 1]
        margins[pair_type(row)].append(margin)
        margins["all"].append(margin)
    return {key: _stats(values) for key, values in sorted(margins.items())}
