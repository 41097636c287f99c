"""Trainer callbacks: forward TRL's progress and loss logs to a sink (the Dagster run log
or stdout), and measure peak memory."""

from __future__ import annotations

import resource
import sys
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback


class LogForwarder(TrainerCallback):
    """Keeps every log entry and sends `step k/N: {...}` lines to `sink` (a callable taking
    one string; None means no forwarding)."""

    def __init__(self, sink: Callable[[str], None] | None = None, label: str = "") -> None:
        self.sink = sink
        self.label = label
        self.history: list[dict[str, Any]] = []

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not logs:
            return
        entry = {"step": state.global_step, **{k: v for k, v in logs.items() if isinstance(v, int | float)}}
        self.history.append(entry)
        if self.sink is not None:
            shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in entry.items())
            self.sink(f"{self.label}step {state.global_step}/{state.max_steps}: {shown}")


def peak_memory_bytes() -> dict[str, int]:
    """Peak RSS of this process (CPU) and the CUDA max allocated (GPU), in bytes."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {"peak_rss_bytes": rss if sys.platform == "darwin" else rss * 1024}
    import torch

    if torch.cuda.is_available():
        out["cuda_max_allocated_bytes"] = int(torch.cuda.max_memory_allocated())
    return out


def eval_loss_at_start(trainer: Any) -> float:
    """The eval loss the Trainer measured at the start of training (`eval_on_start`). A
    resumed run's log history is the checkpoint's, so its first entry is still the one from
    before the first step."""
    losses = [e["eval_loss"] for e in trainer.state.log_history if "eval_loss" in e]
    if not losses:
        raise RuntimeError("the trainer logged no eval loss at the start of training (eval_on_start)")
    return float(losses[0])
