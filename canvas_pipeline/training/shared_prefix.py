"""Run the prompt prefix every row of a batch shares through the backbone once.

Every training row and bench prompt opens with the same system turn: the instructions and
the 18 tool declarations, 615 of a tiny-profile row's ~850 tokens. A causal model's hidden
states and keys/values over that prefix do not depend on what follows it, so computing them
for each row of a batch repeats identical work. `share_prefix` wraps a backbone's forward:
when every row of a batch starts with the same run of attended tokens, the run goes through
the model once (batch 1, its keys/values kept in a cache), and only the rows' own tokens go
through the model against it, packed into one sequence without their padding (a row's
tail is ~35-200 tokens and a batch pads to its longest: ~2.9x the real tokens in the
warm-up's batches), with masks that keep rows apart and apply the sliding window. Hidden
states at attended positions, logits there, losses and gradients are those of the plain
forward (float rounding aside; tests hold them to it); gradients through the shared prefix
are summed over the rows, as autograd does.

The wrapper steps aside (plain forward) whenever the shortcut would not be exact or cannot
apply: left padding or no common prefix of at least `MIN_PREFIX` tokens, a cache or
positions passed in (generation), hidden states or attentions asked for, gradient
checkpointing in training (layers drop caches under it), or KV-shared layers.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn

MIN_PREFIX = 64
_ATTRIBUTE = "_canvas_shared_prefix"


@dataclass
class SharedPrefixStats:
    """What the wrapper did: forwards that shared a prefix, forwards it left alone, and the
    token positions the backbone did not have to run (prefix length x (rows - 1))."""

    shared_forwards: int = 0
    plain_forwards: int = 0
    tokens_saved: int = 0
    padding_skipped: int = 0  # pad positions of the rows' tails that were not run


def common_prefix_length(
    input_ids: torch.Tensor, attention_mask: torch.Tensor | None, minimum: int = MIN_PREFIX
) -> int:
    """Length of the run of token ids, attended in every row, that all rows open with; at
    least one position is left to every row. 0 when shorter than `minimum` or one row."""
    rows, length = input_ids.shape
    if rows < 2 or length <= minimum:
        return 0
    same = (input_ids == input_ids[:1]).all(dim=0)
    if attention_mask is not None:
        same = same & attention_mask.bool().all(dim=0)
    prefix = min(int(same.long().cumprod(dim=0).sum()), length - 1)
    return prefix if prefix >= minimum else 0


def _applicable(backbone: nn.Module, kwargs: dict[str, Any]) -> bool:
    attention_mask = kwargs.get("attention_mask")
    return (
        kwargs.get("input_ids") is not None
        and kwargs.get("inputs_embeds") is None
        and kwargs.get("past_key_values") is None
        and kwargs.get("position_ids") is None
        and kwargs.get("per_layer_inputs") is None
        and not kwargs.get("use_cache")
        and not kwargs.get("output_hidden_states")
        and not kwargs.get("output_attentions")
        and (attention_mask is None or attention_mask.dim() == 2)
        and not (backbone.training and getattr(backbone, "gradient_checkpointing", False))
        and not getattr(backbone.config, "num_kv_shared_layers", 0)
    )


def _left_justified(keep: torch.Tensor) -> bool:
    """Each row's attended tail positions come first (right padding only)."""
    return bool((keep[:, 1:] <= keep[:, :-1]).all())


def packed_tail_masks(
    positions: torch.Tensor, rows: torch.Tensor, prefix: int, window: int | None
) -> dict[str, torch.Tensor]:
    """Boolean masks (True: attend) for the rows' tails packed into one sequence after the
    shared prefix (`positions` and `rows`: each packed token's position and row): a tail
    token sees every prefix token and the earlier tokens of its own row; a sliding layer
    only keys fewer than `window` positions back, as HF's sliding mask does."""
    import torch

    device = positions.device
    key_positions = torch.cat([torch.arange(prefix, device=device), positions])
    key_rows = torch.cat([torch.full((prefix,), -1, device=device), rows])
    visible = (key_rows[None, :] == -1) | (key_rows[None, :] == rows[:, None])
    full = visible & (key_positions[None, :] <= positions[:, None])
    masks = {"full_attention": full[None, None]}
    if window is not None:
        masks["sliding_attention"] = (full & (positions[:, None] - key_positions[None, :] < window))[None, None]
    return masks


def _shared_prefix_forward(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
    """The backbone's forward, bound to the backbone (so a deep copy binds to the copy).

    The prefix runs once; the rows' own tokens then run packed into one sequence (no
    padding) against its cache, with masks that keep rows apart, and are scattered back
    into the padded shape (pad positions get zeros: nothing reads them, their labels are
    -100). A tail whose mask has holes runs padded against the cache repeated per row."""
    import torch
    from transformers import DynamicCache

    stats: SharedPrefixStats = getattr(self, _ATTRIBUTE)
    plain = type(self).forward.__get__(self)
    if args:  # positional calls are not ours to reinterpret
        stats.plain_forwards += 1
        return plain(*args, **kwargs)
    prefix = common_prefix_length(kwargs["input_ids"], kwargs.get("attention_mask")) if _applicable(self, kwargs) else 0
    if not prefix:
        stats.plain_forwards += 1
        return plain(**kwargs)
    input_ids, attention_mask = kwargs.pop("input_ids"), kwargs.pop("attention_mask", None)
    for unused in ("use_cache", "past_key_values", "position_ids", "inputs_embeds", "per_layer_inputs"):
        kwargs.pop(unused, None)  # all None or False here (`_applicable`)
    rows, length = input_ids.shape
    keep = (
        torch.ones_like(input_ids[:, prefix:], dtype=torch.bool)
        if attention_mask is None
        else attention_mask[:, prefix:].bool()
    )
    packed = _left_justified(keep)
    cache = DynamicCache() if packed else DynamicCache(config=self.config)  # packed: full-length layers
    head = plain(
        input_ids=input_ids[:1, :prefix],
        attention_mask=None if attention_mask is None else attention_mask[:1, :prefix],
        past_key_values=cache,
        use_cache=True,
    )
    if packed:
        # right-padded tails: a kept token's column is its offset after the prefix
        positions = (torch.arange(prefix, length, device=input_ids.device).expand(rows, -1))[keep]
        row_of = torch.arange(rows, device=input_ids.device)[:, None].expand(-1, length - prefix)[keep]
        window = getattr(self.config, "sliding_window", None)
        out = plain(
            input_ids=input_ids[:, prefix:][keep][None],
            attention_mask=packed_tail_masks(positions, row_of, prefix, window),
            position_ids=positions[None],
            past_key_values=cache,
            use_cache=True,
            **kwargs,
        )
        packed_hidden = out.last_hidden_state[0]
        tail_hidden = packed_hidden.new_zeros((rows, length - prefix, packed_hidden.shape[-1]))
        tail_hidden = tail_hidden.masked_scatter(keep[..., None], packed_hidden)
        stats.padding_skipped += int((~keep).sum())
    else:
        cache.batch_repeat_interleave(rows)
        out = plain(
            input_ids=input_ids[:, prefix:],
            attention_mask=attention_mask,
            past_key_values=cache,
            use_cache=True,
            **kwargs,
        )
        tail_hidden = out.last_hidden_state
    hidden = torch.cat([head.last_hidden_state.expand(rows, -1, -1), tail_hidden], dim=1)
    stats.shared_forwards += 1
    stats.tokens_saved += prefix * (rows - 1)
    return type(out)(last_hidden_state=hidden)


def share_prefix(model: nn.Module) -> SharedPrefixStats:
    """Wrap the causal LM's backbone (`model.base_model`) so batches with a common prefix
    run it once; idempotent. Returns the wrapper's running stats."""
    backbone = model.base_model
    existing = getattr(backbone, _ATTRIBUTE, None)
    if existing is not None:
        return existing
    stats = SharedPrefixStats()
    setattr(backbone, _ATTRIBUTE, stats)
    backbone.forward = types.MethodType(_shared_prefix_forward, backbone)
    return stats


def shared_prefix_stats(model: nn.Module) -> SharedPrefixStats | None:
    """The running stats of a wrapped model (through PEFT wrappers too), else None."""
    current: Any = model
    for _ in range(4):
        backbone = getattr(current, "base_model", None)
        if backbone is None:
            return None
        stats = getattr(backbone, _ATTRIBUTE, None)
        if stats is not None:
            return stats
        current = backbone
    return None
