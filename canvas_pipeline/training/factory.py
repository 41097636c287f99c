"""The one trainer factory: a method config, a model and its data in, a TRL trainer out.

It refuses to build a trainer without a non-empty eval dataset that shares no item with
the train dataset (G2 enforced at the trainer, not only at the data).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from canvas_pipeline.guardrails.checks import g2_eval_disjoint
from canvas_pipeline.training.fused_head import score_labelled_positions_only
from canvas_pipeline.training.methods import MethodConfig
from canvas_pipeline.training.model import LORA_TARGET_MODULES
from canvas_pipeline.training.profiles import Profile

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer, TrainerCallback

# Projections inside the language model only: never a vision or audio tower's.
LORA_TARGET_REGEX = r"^(?!.*(?:vision|audio)).*\.(?:" + "|".join(LORA_TARGET_MODULES) + r")$"


class EvalDatasetError(ValueError):
    """A trainer was asked for without a usable eval dataset (G2)."""


def require_eval_dataset(method: str, eval_dataset: Dataset | None, item_ids: Mapping[str, set[str]]) -> None:
    if eval_dataset is None or len(eval_dataset) == 0:
        raise EvalDatasetError(f"G2: {method} needs a non-empty eval_dataset; none was given")
    result = g2_eval_disjoint({method: dict(item_ids)})
    if not result.passed:
        raise EvalDatasetError(f"G2: {method} eval_dataset is not item-disjoint from train: {list(result.details)}")


def lora_config(profile: Profile) -> Any:
    from peft import LoraConfig

    rank = 8 if profile.name == "tiny" else 16
    return LoraConfig(
        r=rank,
        lora_alpha=rank,  # scaling 1: at 2 the DPO-family first-step gradient doubled past G5's limit
        lora_dropout=0.0 if profile.name == "tiny" else 0.05,
        target_modules=LORA_TARGET_REGEX,
        task_type="CAUSAL_LM",
    )


def trainer_args(
    method: MethodConfig,
    profile: Profile,
    output_dir: Path,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
    seed: int = 0,
) -> Any:
    """The TRL config for `method` under `profile`'s budget."""
    import torch
    from trl import DPOConfig, KTOConfig, SFTConfig

    budget = profile.budget
    schedule = budget.lr_scheduler or ("constant_with_warmup" if budget.max_steps else "cosine")
    common: dict[str, Any] = {
        "output_dir": str(output_dir),
        "learning_rate": method.learning_rate,
        "per_device_train_batch_size": budget.batch_size,
        "per_device_eval_batch_size": budget.batch_size,
        "gradient_accumulation_steps": budget.grad_accum,
        "max_length": profile.max_length,
        "gradient_checkpointing": budget.gradient_checkpointing,
        "bf16": budget.bf16,
        "use_cpu": not torch.cuda.is_available(),
        "logging_steps": 1 if budget.max_steps and budget.max_steps <= 50 else 10,
        "save_strategy": "steps",
        "save_steps": budget.save_steps,
        # Every save is a selection candidate under `keep_step_checkpoints`; else the
        # last one is only a resume point.
        "save_total_limit": None if budget.keep_step_checkpoints else 1,
        "report_to": "none",
        "disable_tqdm": True,
        "seed": seed,
        "data_seed": seed,
        "lr_scheduler_type": schedule,
        # a decaying schedule warms up over ~5% of its steps (10 for a full epoch)
        "warmup_steps": 0 if schedule.startswith("constant") else max(1, (budget.max_steps or 200) // 20),
        "dataloader_num_workers": 0,
    }
    if budget.max_steps is not None:
        common["max_steps"] = budget.max_steps
    else:
        common["num_train_epochs"] = 1
    if method.trainer == "sft":
        # The eval loss before training is the Trainer's own evaluation at the start of
        # `train()`, after accelerate has prepared the model. `trainer.evaluate()` called
        # before `train()` prepares it in evaluation mode, which marks it prepared: training
        # then skips the DistributedDataParallel wrap and every rank trains its own replica.
        return SFTConfig(assistant_only_loss=True, eval_on_start=True, **common)
    if method.trainer == "dpo":
        return DPOConfig(loss_type=[method.loss_type], beta=method.beta, precompute_ref_log_probs=True, **common)
    return KTOConfig(
        beta=method.beta,
        desirable_weight=desirable_weight,
        undesirable_weight=undesirable_weight,
        precompute_ref_log_probs=True,
        **common,
    )


def build_trainer(
    method: MethodConfig,
    profile: Profile,
    *,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    train_dataset: Dataset,
    eval_dataset: Dataset | None,
    item_ids: Mapping[str, set[str]],
    output_dir: Path,
    ref_model: PreTrainedModel | None = None,
    callbacks: Sequence[TrainerCallback] = (),
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
    seed: int = 0,
) -> Trainer:
    """The TRL trainer for `method`; raises EvalDatasetError before building anything when
    the eval dataset is missing, empty or shares items with train."""
    from trl import DPOTrainer, KTOTrainer, SFTTrainer

    require_eval_dataset(method.name, eval_dataset, item_ids)
    score_labelled_positions_only()
    if len(train_dataset) == 0:
        raise ValueError(f"{method.name}: empty train_dataset")
    args = trainer_args(method, profile, output_dir, desirable_weight, undesirable_weight, seed)
    from peft import PeftModel

    # A model that already carries the adapter (SPPO's later rounds) keeps training it.
    wrapped = isinstance(model, PeftModel)
    peft_config = lora_config(profile) if method.adapter in ("lora", "qlora") and not wrapped else None
    if method.per_token_log_probs:
        # Hooked before TRL precomputes the reference log-probs in its constructor: the
        # adapter is attached here so the hook sits on the module TRL calls.
        from peft import get_peft_model
        from transformers import set_seed

        from canvas_pipeline.training.per_token import per_token_log_probs

        if peft_config is not None:
            # PEFT draws the adapter's A matrices from the global RNG. TRL seeds it before it
            # wraps a model; wrapped here, before TRL, the draw must be seeded the same way or
            # it depends on whatever ran earlier in the process (the pipeline's other jobs).
            set_seed(args.seed)
            model, peft_config, wrapped = get_peft_model(model, peft_config), None, True
        per_token_log_probs(model)
        if ref_model is not None and not wrapped:
            per_token_log_probs(ref_model)
    common: dict[str, Any] = {
        "args": args,
        "train_dataset": train_dataset,
        "eval_dataset": eval_dataset,
        "processing_class": tokenizer,
        "callbacks": list(callbacks),
    }
    if method.trainer == "sft":
        return SFTTrainer(model=model, peft_config=peft_config, **common)
    trainer_class = DPOTrainer if method.trainer == "dpo" else KTOTrainer
    if peft_config is not None or wrapped:
        # The adapter-disabled policy is the reference (a PeftModel from an earlier round
        # gets TRL's frozen copy of its adapter): no second copy of the model.
        return trainer_class(model=model, ref_model=None, peft_config=peft_config, **common)
    if ref_model is None:
        raise ValueError(f"{method.name}: the reference model ({method.reference}) is required")
    return trainer_class(model=model, ref_model=ref_model, **common)
