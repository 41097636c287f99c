"""Training under several processes ends with one set of weights or fails loudly. The
two-process run itself is in test_training_runs; here the collective is mocked so the
verdict is checked for replicas that agree and replicas that drifted apart."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch

from canvas_pipeline.training.run import _replicas_agree


def _trainer(model: torch.nn.Module, processes: int, wrapper: Any = None) -> Any:
    return SimpleNamespace(
        model=model, model_wrapped=wrapper or model, accelerator=SimpleNamespace(num_processes=processes)
    )


def _gathered(other: str | None) -> Any:
    """A gather over two ranks where rank 1 reports `other` (None: the same as rank 0)."""

    def gather(values: list[str]) -> list[str]:
        return [values[0], values[0] if other is None else other]

    return gather


def test_one_process_has_nothing_to_compare() -> None:
    assert _replicas_agree(_trainer(torch.nn.Linear(3, 2), 1), "lora") is None


def test_replicas_with_the_same_weights_are_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("accelerate.utils.gather_object", _gathered(None))
    model = torch.nn.Linear(3, 2)
    record = _replicas_agree(_trainer(model, 2, torch.nn.Sequential(model)), "lora")
    assert record is not None
    assert record["world_size"] == 2 and record["replicas_agree"] and record["wrapper"] == "Sequential"
    assert len(record["weights_sha256"]) == 64


def test_replicas_that_drifted_apart_fail_naming_the_ranks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("accelerate.utils.gather_object", _gathered("f" * 64))
    with pytest.raises(
        RuntimeError, match=r"lora: the 2 processes ended with different weights \(rank 0: .*rank 1: f{12}\)"
    ):
        _replicas_agree(_trainer(torch.nn.Linear(3, 2), 2), "lora")


def test_only_trainable_weights_are_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    """A frozen base (LoRA) is the same on every rank by construction; the digest covers the
    weights that training changes, so two models differing only in frozen weights agree."""
    seen: list[str] = []

    def gather(values: list[str]) -> list[str]:
        seen.append(values[0])
        return [values[0], values[0]]

    monkeypatch.setattr("accelerate.utils.gather_object", gather)
    torch.manual_seed(0)
    first, second = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    second.bias.data.copy_(first.bias.data)
    for model in (first, second):
        model.weight.requires_grad_(False)
        _replicas_agree(_trainer(model, 2), "lora")
    assert seen[0] == seen[1]
