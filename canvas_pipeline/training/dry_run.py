"""G5: one optimizer step's forward/backward of a built trainer, before its real training.

The step is what training's first step would be: `gradient_accumulation_steps`
micro-batches from the trainer's own dataloader, each loss scaled by their count, so the
gradient norm is the one the first optimizer step would clip. Forward hooks on every
module watch for NaN/Inf in any activation; the loss and the model's output (logits where
the trainer materialises them) must be finite; the global gradient norm must stay under
the threshold. Gradients are cleared afterwards and no optimizer step is taken, so the
model is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import Trainer

GRAD_NORM_LIMIT = 1.0


@dataclass(frozen=True)
class DryRunResult:
    method: str
    loss: float
    grad_norm: float
    nonfinite_modules: tuple[str, ...]
    modules_watched: int
    limit: float = GRAD_NORM_LIMIT
    largest_grads: tuple[tuple[str, float], ...] = ()  # the parameters that dominate the norm

    @property
    def passed(self) -> bool:
        finite = self.loss == self.loss and abs(self.loss) != float("inf")
        return finite and not self.nonfinite_modules and self.grad_norm < self.limit

    def reason(self) -> str:
        if self.nonfinite_modules:
            return f"NaN/Inf in the output of {', '.join(self.nonfinite_modules[:5])}"
        if self.grad_norm >= self.limit:
            return f"grad_norm {self.grad_norm:.4g} >= {self.limit}"
        if not self.passed:
            return f"loss is {self.loss}"
        return "ok"


def _tensors(value: Any) -> list[Any]:
    import torch

    if isinstance(value, torch.Tensor):
        return [value] if value.is_floating_point() else []
    if isinstance(value, tuple | list):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict) or hasattr(value, "items"):
        return [t for v in value.values() for t in _tensors(v)]
    return []


def dry_run(trainer: Trainer, method: str, limit: float = GRAD_NORM_LIMIT) -> DryRunResult:
    import torch

    model = trainer.model
    bad: list[str] = []

    def watch(name: str) -> Any:
        def hook(_module: Any, _inputs: Any, output: Any) -> None:
            if name not in bad and any(not torch.isfinite(t).all() for t in _tensors(output)):
                bad.append(name)

        return hook

    handles = [m.register_forward_hook(watch(n or "model")) for n, m in model.named_modules()]
    micro_batches = max(1, int(trainer.args.gradient_accumulation_steps))
    total = 0.0
    try:
        model.train()
        batches = iter(trainer.get_train_dataloader())
        for _ in range(micro_batches):
            batch = next(batches, None)
            if batch is None:
                break
            loss = trainer.compute_loss(model, trainer._prepare_inputs(batch)) / micro_batches
            loss.backward()
            total += float(loss.detach())
        named = [(n, p.grad) for n, p in model.named_parameters() if p.grad is not None]
        grad_norm = float(torch.nn.utils.get_total_norm([g for _, g in named])) if named else 0.0
        largest = sorted(((n, float(g.norm())) for n, g in named), key=lambda x: -x[1])[:5]
    finally:
        for handle in handles:
            handle.remove()
        model.zero_grad(set_to_none=True)
    return DryRunResult(method, total, grad_norm, tuple(bad), len(handles), limit, tuple(largest))
