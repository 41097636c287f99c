"""TRL's fused LM head scores only the labelled positions on CPU, as it does on CUDA.

TRL 1.16's fused LM head (`add_fused_lm_head`, used by the SFT, DPO and KTO trainers)
projects through the LM head only the positions whose next-token label is not -100 when
Triton runs the kernel, and every position elsewhere: on Neuron-like devices the number of
labelled positions would change the tile shapes each batch and force a recompile. Eager
CPU compiles nothing, so that choice only costs: a tiny-profile row is ~850 positions of
which ~615 are the shared system prompt and never labelled, and scoring them all made the
head ~77% of an SFT step. The per-token log-probs, entropies and the loss are the same
either way (TRL scatters the labelled scores back into the full shape; a test holds the two
paths equal). TRL decides with `trl.trainer.utils._use_triton(device)`, read on each call;
this wraps it to also answer yes for CPU devices. Only that decision changes: the kernel
module keeps its own `_use_triton`, so CPU still folds tiles in torch.
"""

from __future__ import annotations

from typing import Any

_MARK = "_canvas_compact_on_cpu"


def score_labelled_positions_only() -> None:
    """Make TRL's fused LM head compact (labelled positions only) on CPU; idempotent."""
    import trl.trainer.utils as trl_utils

    decide = trl_utils._use_triton
    if getattr(decide, _MARK, False):
        return

    def compact_on_cpu(device: Any) -> bool:
        return device.type == "cpu" or bool(decide(device))

    setattr(compact_on_cpu, _MARK, True)
    trl_utils._use_triton = compact_on_cpu
