"""Model + budget profiles, chosen by configuration, never by editing code.

`max_length` is the profile's training sequence length, which G11 holds rows under. The
MISSION's 1024 was the old pipeline's value, before the bench and training carried the
system prompt: the 18 tool declarations alone take 615 tokens with the tiny tokenizer at
its tightest and about 2k with Gemma's own, so each profile sets a length that fits the
prompt plus a conversation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Budget:
    """How much of each dataset a profile trains on, and for how long. `None` means all of it
    (full epochs). The tiny profile trains seeded subsets for a fixed number of steps so the
    embedded default stays in minutes on two CPU cores; the numbers land in the metadata."""

    max_steps: int | None
    batch_size: int
    grad_accum: int
    train_rows: int | None
    eval_rows: int | None
    bench_items: int | None  # bench items each model is scored on (None: all)
    selection_items: int | None  # eval-split items checkpoint selection is decided on (None: all)
    warmup_rows: int
    warmup_steps: int
    warmup_learning_rate: float
    gradient_checkpointing: bool
    bf16: bool
    save_steps: int
    # Keep every `save_steps` checkpoint as a selection candidate (`checkpoints/M/steps/N`),
    # not only the last: the production checkpoint is the step that scores best on the eval
    # split, and the last one is not always it.
    keep_step_checkpoints: bool = False
    # SFT-family rows cut after the model turn that answers their last request (the turn the
    # bench scores), drawn evenly across the tools those turns call (`data_prep.decision_rows`).
    decision_rows: bool = False
    whole_row_every: int = 0  # under decision_rows: every n-th row stays whole (0: none)
    # Share of SFT-family train rows whose courses are renamed to generated ones
    # (`course_swap`): a small model otherwise learns the train split's course names.
    course_swap: float = 0.0
    learning_rate: float | None = None  # None: the method table's rate
    # G12's second minimum: rows each trainer consumes (steps x batch x accumulation x
    # processes, capped by the dataset's epochs), besides the dataset's own >= 1000.
    min_rows_consumed: int = 1000
    # transformers' scheduler name; None: constant for a fixed step count, cosine for epochs
    lr_scheduler: str | None = None
    # The budget of a method other methods start from (`sft`, the reference and starting
    # policy of six); None: the same budget as every other method.
    reference: Budget | None = None

    def with_steps(self, steps: int) -> Budget:
        """This budget cut (or stretched) to `steps` steps. The train rows scale with the
        steps, so each step draws the rows it would under the whole budget and a short run
        does not prepare rows it never reaches."""
        rows = self.train_rows
        if rows is not None and self.max_steps:
            rows = max(1, math.ceil(rows * steps / self.max_steps))
        return replace(self, max_steps=steps, train_rows=rows)


@dataclass(frozen=True)
class Profile:
    name: str
    max_length: int
    hub_model_id: str | None  # None: built locally (tokenizer trained here, model from a config)
    description: str
    budget: Budget


# Eight optimizer steps of 32 rows (8 per micro-batch, 4 accumulated), each row seen once:
# at 8 rows a step the gradient of full SFT on the tiny model is mostly sampling noise (G5
# measured 1.6-1.8 on two seeds); at 32 it is 0.78-0.88, under G5's limit of 1. Four steps
# left the preference adapters no-ops; eight at the methods' rate move every one of them.
# Step 4 is kept as a selection candidate next to the final weights.
_TINY_METHOD_BUDGET = Budget(
    max_steps=8,
    batch_size=8,
    grad_accum=4,
    train_rows=256,
    eval_rows=32,
    bench_items=192,
    selection_items=128,
    warmup_rows=6400,
    warmup_steps=800,
    warmup_learning_rate=4e-3,
    gradient_checkpointing=False,
    bf16=False,
    save_steps=4,
    keep_step_checkpoints=True,
    decision_rows=True,
    whole_row_every=4,
    course_swap=0.5,
    # The CPU demonstration's eight steps of 32 rows: what two cores train in tens of seconds
    # per method. A trainer that would consume fewer (fewer steps, a smaller batch) fails G12.
    min_rows_consumed=256,
)
# `sft` is where the bench's wording, which the warm-up never uses, is learnt for the six
# methods that start from it. Full SFT from the embedded default's base, first turn scored on
# the eval split's 407 items: 4 steps of 32 whole rows at 2e-4 gave 37.3% macro tool accuracy
# with 9 tools under the 40% floor; 128 steps of 64 decision rows at 2e-3, 87.9-91.3% and 0-1
# (the rarest decision, find_free_blocks, is 48 of 3000 rows: balanced, it is repeated).
# Every row cut, the first step's gradient norm was 0.70-1.0 (G5 allows < 1); with every
# fourth row whole 0.65-0.78, for 25% more time (174 s against 139 s on two cores). Half
# the rows course-swapped: `canvas.get_course` on the eval split's held-out courses went
# from 5/23 to 9-13/23 (docs/measurements.md).
TINY_BUDGET = replace(
    _TINY_METHOD_BUDGET,
    reference=replace(
        _TINY_METHOD_BUDGET,
        max_steps=128,
        grad_accum=8,
        train_rows=8192,
        learning_rate=2e-3,
        lr_scheduler="cosine",
        save_steps=32,
        keep_step_checkpoints=True,
    ),
)
GPU_BUDGET = Budget(
    max_steps=None,
    batch_size=4,
    grad_accum=4,
    train_rows=None,
    eval_rows=None,
    bench_items=None,
    selection_items=None,
    warmup_rows=0,
    warmup_steps=0,
    warmup_learning_rate=0.0,
    gradient_checkpointing=True,
    bf16=True,
    save_steps=100,
)

PROFILES: dict[str, Profile] = {
    "tiny": Profile(
        name="tiny",
        max_length=2048,
        hub_model_id=None,
        description="Gemma4ForCausalLM from a small Gemma4TextConfig and a locally trained tokenizer; CPU, minutes.",
        budget=TINY_BUDGET,
    ),
    "e2b": Profile(
        name="e2b",
        max_length=4096,
        hub_model_id="google/gemma-4-e2b-it",
        description="google/gemma-4-e2b-it from the Hub (token from HF_TOKEN), bf16, GPU.",
        budget=GPU_BUDGET,
    ),
    "e2b-shape": Profile(
        name="e2b-shape",
        max_length=4096,
        hub_model_id=None,
        description="The E2B text architecture at full size with random weights, for speed and memory on a GPU.",
        budget=GPU_BUDGET,
    ),
}


def reference_profile(profile: Profile) -> Profile:
    """`profile` as a method other methods start from trains under it: with its reference
    budget, where it has one."""
    if profile.budget.reference is None:
        return profile
    return replace(profile, budget=profile.budget.reference)


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; profiles: {', '.join(PROFILES)}") from None
