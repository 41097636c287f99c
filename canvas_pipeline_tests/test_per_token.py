"""SPPO's per-token log-ratios (`training/per_token.py`): TRL's own precomputed reference
log-probs of the SPPO trainer are the summed ones of the same trainer unhooked divided by
each completion's token count, and TRL's reference-log-prob cache, keyed by the model's
state dict, never hands one form to the other (built in this order, a shared cache would
make the ratio exactly 1). The hook needs the adapter attached before TRL attaches it, and
that early adapter starts from the same seeded weights as TRL's own."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from canvas_pipeline.training.data_prep import MethodData, load_method_data
from canvas_pipeline.training.factory import build_trainer
from canvas_pipeline.training.methods import MethodConfig, get_method
from canvas_pipeline.training.mini_train import mini_profile, save_start_model
from canvas_pipeline.training.model import load_model
from canvas_pipeline.training.tokenizer import load_tokenizer

if TYPE_CHECKING:
    from transformers import Trainer


def _trainer(method: MethodConfig, start: Path, data: MethodData, output_dir: Path) -> Trainer:
    """`method`'s TRL trainer on the mini profile, from a fresh load of `start`."""
    train, evals = data.datasets()
    return build_trainer(
        method,
        mini_profile(method.name),
        model=load_model(start),
        tokenizer=load_tokenizer(start),
        train_dataset=train,
        eval_dataset=evals,
        item_ids=data.item_ids(),
        output_dir=output_dir,
    )


def test_sppo_log_ratios_are_per_token_means_of_trls_sums(
    real_slice: Path, tiny_tokenizer_dir: Path, tmp_path: Path
) -> None:
    start = save_start_model(tiny_tokenizer_dir, tmp_path / "start")
    per_token = get_method("sppo")
    summed = dataclasses.replace(per_token, per_token_log_probs=False)
    assert per_token.per_token_log_probs and per_token.per_token_reward and not summed.per_token_reward
    data = load_method_data(real_slice, per_token, 8, 8, 0)
    columns = {}
    for name, method in (("summed", summed), ("per_token", per_token), ("summed_again", summed)):
        columns[name] = _trainer(method, start, data, tmp_path / name).train_dataset
    assert columns["summed_again"]["ref_chosen_logps"] == columns["summed"]["ref_chosen_logps"]
    for side in ("chosen", "rejected"):
        sums, means = columns["summed"][f"ref_{side}_logps"], columns["per_token"][f"ref_{side}_logps"]
        for row, (total, mean) in enumerate(zip(sums, means, strict=True)):
            tokens = total / mean
            length = len(columns["per_token"][row][f"{side}_ids"])
            assert abs(tokens - round(tokens)) < 1e-3 * tokens, (side, row, total, mean)
            assert 1 <= round(tokens) <= length + 1, (side, row, tokens, length)
            assert round(tokens) > 1, "a per-token mean equal to the sum: the cache or the hook is wrong"


def test_sppos_adapter_starts_from_the_same_weights_as_dpos_whatever_ran_before(
    real_slice: Path, tiny_tokenizer_dir: Path, tmp_path: Path
) -> None:
    """SPPO attaches its adapter before TRL does (for the per-token hook). Its random A
    matrices must come from the trainer's seed, as TRL's do, not from the process's RNG
    state: the pipeline trains SPPO after other jobs in one process, `canvas-train train`
    in a fresh one, and both must train the same model."""
    import torch

    start = save_start_model(tiny_tokenizer_dir, tmp_path / "start")
    data = load_method_data(real_slice, get_method("sppo"), 8, 8, 0)
    adapters = {}
    for name, method, noise in (("sppo-a", "sppo", 1), ("sppo-b", "sppo", 2), ("dpo", "dpo", 3)):
        torch.manual_seed(noise)
        torch.rand(1000)  # what an earlier job in the process might have drawn
        trainer = _trainer(get_method(method), start, data, tmp_path / name)
        adapters[name] = {
            k: v.detach().clone() for k, v in trainer.model.named_parameters() if "lora_A" in k and ".default." in k
        }
    assert adapters["dpo"], "no LoRA A matrices found"
    assert adapters["sppo-a"].keys() == adapters["dpo"].keys()
    for key, weight in adapters["dpo"].items():
        assert torch.equal(adapters["sppo-a"][key], weight), key
        assert torch.equal(adapters["sppo-b"][key], weight), key
