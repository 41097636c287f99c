"""`models/base_model` per profile: what every method starts from.

- tiny: a randomly initialised two-layer Gemma-4 warmed up on the generic tool-call
  corpus (`warmup.py`: four demo terms, command-frame wording disjoint from the bench's),
  half the conversations cut after their first assistant turn and half whole
  (`first_call_rows`); assistant tokens only, through the template's generation markers.
  Trained with a plain `transformers.Trainer`: nothing method-specific happens here.
- e2b: the instruction-tuned Gemma-4 E2B from the Hub (HF_TOKEN from the environment).
- e2b-shape: the E2B architecture with random weights, saved as is.
"""

from __future__ import annotations

import copy
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from canvas_pipeline.data.io import atomic_write_dir
from canvas_pipeline.training.profiles import Profile

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

BASE_SEED = 1234


@dataclass
class BaseModelReport:
    profile: str
    path: Path
    source: str
    parameters: int
    warmup_rows: int = 0
    warmup_steps: int = 0
    warmup_final_loss: float | None = None
    wall_s: float = 0.0
    log: list[dict[str, Any]] = field(default_factory=list)


def first_call_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every other conversation cut after its first assistant turn, so half the rows put
    their loss on choosing and formatting the first call (what G3 scores); the other half
    stay whole, so the base also knows the turn after a tool response and the final answer
    (what phase 1's SFT rows are mostly made of: without them SFT's first step on the base
    had a loss of 4.7 and a gradient norm of 2.1)."""
    out = []
    for index, row in enumerate(rows):
        messages = row["messages"]
        if index % 2:
            out.append(row)
            continue
        end = next((i for i, m in enumerate(messages) if m["role"] == "assistant"), len(messages) - 1)
        out.append({**row, "messages": messages[: end + 1]})
    return out


def assistant_labeled(
    tokenizer: PreTrainedTokenizerBase, conversations: list[list[dict[str, Any]]]
) -> list[dict[str, list[int]]]:
    """Token ids with labels on the assistant tokens only (the template's generation blocks),
    one record per conversation. The system message already carries the tool declarations,
    as in every dataset. One batched call: the renders go to the fast tokenizer together."""
    encoded = tokenizer.apply_chat_template(
        conversations,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    records = []
    for index, (ids, mask) in enumerate(zip(encoded["input_ids"], encoded["assistant_masks"], strict=True)):
        if not any(mask):
            raise ValueError(f"conversation {index} has no assistant tokens to learn from")
        ids = list(ids)
        records.append(
            {
                "input_ids": ids,
                "attention_mask": [1] * len(ids),
                "labels": [t if m else -100 for t, m in zip(ids, mask, strict=True)],
            }
        )
    return records


def _labeled_position_loss_trainer() -> type:
    from torch.nn import functional
    from transformers import Trainer

    class LabeledPositionLossTrainer(Trainer):
        """Next-token loss computed from the hidden states at labelled positions only. A
        row is ~650 tokens of which ~30 are the assistant's call, so projecting every
        position through the LM head (the largest matrix in the tiny model) is ~20x wasted
        work; the loss and its gradients are the same as the model's own."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # type: ignore[no-untyped-def]
            labels = inputs["labels"][:, 1:]
            hidden = model.model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])[0][:, :-1]
            keep = labels != -100
            logits = model.lm_head(hidden[keep])
            loss = functional.cross_entropy(logits.float(), labels[keep], reduction="sum")
            count = num_items_in_batch if num_items_in_batch is not None else keep.sum()
            return loss / count

    return LabeledPositionLossTrainer


def warm_up_tiny(
    tokenizer_dir: Path, dest: Path, profile: Profile, log_sink: Any = None, seed: int = BASE_SEED
) -> BaseModelReport:
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq, TrainingArguments

    from canvas_pipeline.training.callbacks import LogForwarder
    from canvas_pipeline.training.model import random_model, tiny_text_config
    from canvas_pipeline.training.tokenizer import load_tokenizer
    from canvas_pipeline.training.warmup import warmup_corpus

    started = time.perf_counter()
    budget = profile.budget
    tokenizer = load_tokenizer(tokenizer_dir)
    rows = first_call_rows(warmup_corpus(budget.warmup_rows))
    dataset = Dataset.from_list(assistant_labeled(tokenizer, [r["messages"] for r in rows]))
    model = random_model(tiny_text_config(len(tokenizer)), seed)
    forwarder = LogForwarder(log_sink)
    # Rows padded on the right all open with the same system turn at position 0, so the
    # backbone runs it once per batch (`shared_prefix`); the saved tokenizer stays left-padded.
    right_padding = copy.copy(tokenizer)
    right_padding.padding_side = "right"
    with tempfile.TemporaryDirectory() as scratch:
        args = TrainingArguments(
            output_dir=scratch,
            max_steps=budget.warmup_steps,
            per_device_train_batch_size=budget.batch_size,
            learning_rate=budget.warmup_learning_rate,
            lr_scheduler_type="cosine",
            warmup_steps=max(1, budget.warmup_steps // 15),
            weight_decay=0.0,
            logging_steps=max(1, budget.warmup_steps // 10),
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            disable_tqdm=True,
            seed=seed,
            data_seed=seed,
        )
        trainer = _labeled_position_loss_trainer()(
            model=model,
            args=args,
            train_dataset=dataset,
            data_collator=DataCollatorForSeq2Seq(right_padding, padding=True, label_pad_token_id=-100),
            callbacks=[forwarder],
        )
        trainer.train()

    def save(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    atomic_write_dir(dest, save)
    losses = [e["loss"] for e in forwarder.history if "loss" in e]
    return BaseModelReport(
        profile=profile.name,
        path=dest,
        source="random init + generic tool-call warm-up",
        parameters=sum(p.numel() for p in model.parameters()),
        warmup_rows=len(rows),
        warmup_steps=budget.warmup_steps,
        warmup_final_loss=losses[-1] if losses else None,
        wall_s=time.perf_counter() - started,
        log=forwarder.history,
    )


def e2b_shape_base(tokenizer_dir: Path, dest: Path, profile: Profile, seed: int = BASE_SEED) -> BaseModelReport:
    import torch

    from canvas_pipeline.training.model import e2b_shape_config, random_model
    from canvas_pipeline.training.tokenizer import load_tokenizer

    started = time.perf_counter()
    model = random_model(e2b_shape_config(), seed).to(torch.bfloat16)
    tokenizer = load_tokenizer(tokenizer_dir)

    def save(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    atomic_write_dir(dest, save)
    return BaseModelReport(
        profile=profile.name,
        path=dest,
        source="E2B architecture, random weights",
        parameters=sum(p.numel() for p in model.parameters()),
        wall_s=time.perf_counter() - started,
    )


def hub_base(tokenizer_dir: Path, dest: Path, profile: Profile) -> BaseModelReport:
    from canvas_pipeline.training.model import download_hub_model
    from canvas_pipeline.training.tokenizer import load_tokenizer

    assert profile.hub_model_id is not None
    started = time.perf_counter()

    def save(folder: Path) -> None:
        download_hub_model(profile.hub_model_id, folder)  # type: ignore[arg-type]
        load_tokenizer(tokenizer_dir).save_pretrained(folder)  # our training template

    atomic_write_dir(dest, save)
    return BaseModelReport(
        profile=profile.name,
        path=dest,
        source=f"hf://{profile.hub_model_id}",
        parameters=0,
        wall_s=time.perf_counter() - started,
    )


def build_base_model(profile: Profile, tokenizer_dir: Path, dest: Path, log_sink: Any = None) -> BaseModelReport:
    """Write the profile's base model (weights + tokenizer) to `dest` atomically."""
    if profile.name == "tiny":
        return warm_up_tiny(tokenizer_dir, dest, profile, log_sink)
    if profile.name == "e2b-shape":
        return e2b_shape_base(tokenizer_dir, dest, profile)
    return hub_base(tokenizer_dir, dest, profile)
