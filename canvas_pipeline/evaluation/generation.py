"""Greedy generation of the model's next turn for bench prompts.

The prompt is rendered with the same system prompt (tool declarations included) as
training, and the output is decoded with special tokens kept: `skip_special_tokens=True`
would delete `<|tool_call>` and every call with it (the old bench scored 0% that way).
Generation stops at the end of the turn or where a tool response would begin.

Every prompt opens with the same system turn (615 of a tiny-profile prompt's ~820 tokens),
so its keys and values are computed once per call (batch 1) and each batch starts from a
copy of them: a row left-padded by h tokens gets the prefix's cache shifted right by h, so
slot for slot it holds exactly what the row's own prefill would have computed (the pads
stay masked; positions come from the attention mask as usual). The model then prefills
only the rest of each prompt. Outputs are those of the plain batched prefill.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from canvas_pipeline.tools.chat_format import render_conversation
from canvas_pipeline.tools.codec import RESPONSE_OPEN, TURN_CLOSE
from canvas_pipeline.training.shared_prefix import MIN_PREFIX

if TYPE_CHECKING:
    import torch
    from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase

STOP_TOKENS = (TURN_CLOSE, RESPONSE_OPEN)
MAX_NEW_TOKENS = 96
# Measured on the tiny model, 2 CPU cores, 256 bench items as conversations: 32 -> 36.9 s,
# 64 -> 24.8 s, 128 -> 59.3 s (a step costs the same ~34 ms at 32 and 64: overhead-bound).
BATCH_SIZE = 64
MIN_SHARED_PREFIX = MIN_PREFIX  # tokens; below this a cached prefix saves less than it costs
# A batch decodes as long as its slowest row; most turns stop within this many tokens (a call
# with its arguments, or a short answer), so after it only the rows still going continue,
# from their own cache. A step costs ~37 ms at 64 rows and ~7 ms at 13.
FIRST_LEG = 32

PrefixCache = list[tuple["torch.Tensor", "torch.Tensor"]]


def prompt_text(prompt: Sequence[dict[str, Any]], tools: str | None = None) -> str:
    return render_conversation(prompt, add_generation_prompt=True, tools=tools)


def shared_prefix_length(token_ids: Sequence[Sequence[int]]) -> int:
    """Tokens every prompt opens with, leaving each prompt at least one of its own."""
    if not token_ids:
        return 0
    common = len(os.path.commonprefix([list(ids) for ids in token_ids]))
    return min(common, min(len(ids) for ids in token_ids) - 1)


def prefix_cache(model: PreTrainedModel, prefix_ids: Sequence[int]) -> PrefixCache | None:
    """Per layer, the keys and values of `prefix_ids` (batch 1, positions from 0); None for
    models whose layers share KV across layers (their cache is not per layer)."""
    import torch
    from transformers import DynamicCache

    if getattr(model.config.get_text_config(), "num_kv_shared_layers", 0):
        return None
    cache = DynamicCache()  # every layer full length, so sliding layers can be shifted too
    device = next(model.parameters()).device
    with torch.no_grad():
        model(input_ids=torch.tensor([list(prefix_ids)], device=device), past_key_values=cache, use_cache=True)
    return [(layer.keys, layer.values) for layer in cache.layers]


def shifted_cache(prefix: PrefixCache, pads: Sequence[int]) -> DynamicCache:
    """The prefix's cache for rows left-padded by `pads` tokens: row r holds zeros in its
    first pads[r] slots (masked) and the prefix's first P - pads[r] entries after them."""
    from transformers import DynamicCache

    layers = []
    for keys, values in prefix:
        length = keys.shape[2]
        shifted_keys = keys.new_zeros((len(pads), *keys.shape[1:]))
        shifted_values = values.new_zeros((len(pads), *values.shape[1:]))
        for row, pad in enumerate(pads):
            if pad < length:
                shifted_keys[row, :, pad:] = keys[0, :, : length - pad]
                shifted_values[row, :, pad:] = values[0, :, : length - pad]
        layers.append((shifted_keys, shifted_values))
    return DynamicCache(ddp_cache_data=layers)


def greedy_turns(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    max_new_tokens: int = MAX_NEW_TOKENS,
    batch_size: int = BATCH_SIZE,
    temperature: float | None = None,
    seed: int = 0,
) -> list[str]:
    """The greedy continuation of each rendered prompt, up to and including its stop token,
    decoded with special tokens kept; padding is stripped. With a `temperature`, sampled
    from the full distribution at that temperature instead (seeded by `seed`)."""
    import torch

    stop_ids = [tokenizer.convert_tokens_to_ids(t) for t in STOP_TOKENS]
    if tokenizer.padding_side != "left":
        tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    stops = torch.tensor(stop_ids, device=device)
    settings: dict[str, Any] = {"do_sample": False, "eos_token_id": stop_ids, "pad_token_id": tokenizer.pad_token_id}
    if temperature is not None:
        settings |= {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
        torch.manual_seed(seed)
    was_training = model.training
    model.eval()
    outputs: list[str] = []
    # Longest prompts first so each batch pads little; results go back in input order.
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    by_index: dict[int, str] = {}
    try:
        token_ids = tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
        shared = shared_prefix_length(token_ids)
        prefix = prefix_cache(model, token_ids[0][:shared]) if shared >= MIN_SHARED_PREFIX else None
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            encoded = tokenizer.pad({"input_ids": [token_ids[i] for i in batch]}, return_tensors="pt").to(device)
            extra = {}
            if prefix is not None:
                pads = (encoded["attention_mask"] == 0).sum(dim=1).tolist()
                extra["past_key_values"] = shifted_cache(prefix, pads)
            width = encoded["input_ids"].shape[1]
            with torch.no_grad():
                first = model.generate(
                    **encoded,
                    **extra,
                    max_new_tokens=min(FIRST_LEG, max_new_tokens),
                    return_dict_in_generate=True,
                    **settings,
                )
            rows = list(first.sequences)
            going = [r for r, row in enumerate(rows) if not torch.isin(row[width:], stops).any()]
            if going and max_new_tokens > FIRST_LEG:
                cache = first.past_key_values  # every token but each row's last: generate resumes from it
                cache.batch_select_indices(torch.tensor(going, device=device))
                sequences = first.sequences[going]
                attended = torch.cat([encoded["attention_mask"][going], torch.ones_like(sequences[:, width:])], dim=1)
                with torch.no_grad():
                    rest = model.generate(
                        input_ids=sequences,
                        attention_mask=attended,
                        past_key_values=cache,
                        max_new_tokens=max_new_tokens - FIRST_LEG,
                        **settings,
                    )
                for r, row in zip(going, rest, strict=True):
                    rows[r] = row
            for i, row in zip(batch, rows, strict=True):
                ids = [t for t in row[width:].tolist() if t != tokenizer.pad_token_id]
                by_index[i] = tokenizer.decode(ids, skip_special_tokens=False)
    finally:
        model.train(was_training)
    outputs = [by_index[i] for i in range(len(prompts))]
    return outputs
