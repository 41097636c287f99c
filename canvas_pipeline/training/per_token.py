"""Length-normalised sequence log-probs for SPPO.

TRL's `sppo_hard` regresses each completion's log-ratio, summed over its tokens, to
+-1/(2 beta). Summed, the squared loss and its gradient grow with the completion's length,
the reason TRL averages IPO's log-ratios over the completion's tokens (confirmed with the
IPO authors, TRL notes). SPPO's loss is the same kind of squared regression, so it gets the
same normalisation: a forward hook divides the fused LM head's per-token log-probs of each
row by the row's number of labelled tokens, so the sums TRL takes (policy and reference
alike, precomputed or not) are per-token means. Nothing else in TRL changes.

TRL caches precomputed reference log-probs under a hash of the reference's state dict, so a
hooked model also carries a one-element marker buffer: its hash differs from the same
weights unhooked, and a per-token run never reads a summed run's cache.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

_HANDLE = "_canvas_per_token_log_probs"
MARKER = "per_token_log_probs_marker"


def _mean_over_labelled_tokens(_module: Any, _args: Any, kwargs: dict[str, Any], output: Any) -> Any:
    labels = kwargs.get("labels")
    log_probs = getattr(output, "log_probs", None)
    if labels is None or log_probs is None:
        return output
    # log_probs[:, t] scores labels[:, t + 1] (TRL passes unshifted labels)
    labelled = (labels[:, 1:] if labels.size(1) == log_probs.size(1) + 1 else labels) != -100
    counts = labelled.sum(dim=1, keepdim=True).clamp(min=1).to(log_probs.dtype)
    output.log_probs = log_probs / counts
    return output


def per_token_log_probs(model: nn.Module) -> nn.Module:
    """Make `model`'s fused-LM-head log-probs per-token means (idempotent)."""
    import torch

    if getattr(model, _HANDLE, None) is None:
        setattr(model, _HANDLE, model.register_forward_hook(_mean_over_labelled_tokens, with_kwargs=True))
        model.register_buffer(MARKER, torch.ones(1))
    return model
