"""Our training path against a plain TRL script, measured side by side in one run.

    .venv/bin/python benchmarks/training_overhead.py [--data-dir OUT] [--method lora] [--repeat 2]

Both train the same random tiny Gemma-4 on the same rows with the same hyperparameters:
once by materializing the `models/checkpoint` partition in-process through Dagster (our
asset: gates, G5 dry run, log forwarding, resumable checkpoints, measurements), once with
a bare `SFTTrainer`/`DPOTrainer` built from a literal config in this file. It prints the
training tokens/s of each (tokens the trainer processed over the wall time of `train()`),
and the ratio ours/plain. Goal: >= 0.95. Without --data-dir the real exports are built to
phases 1-4 in a temporary folder first. The base model is the folder's warmed-up base when
it has one, else a fixed random init; the asset runs with G3 skipped (a random base would
not pass it, and this measures training speed, not the base). The default method is LoRA:
full SFT's G5 dry run rightly stops on a random base.

The plain run is TRL as a user gets it: the model loaded with `AutoModelForCausalLM` (no
shared-prefix backbone) and TRL's own LM-head decision (every position scored on CPU), even
when our asset ran first in this process. Ours runs the shared system turn once and scores
labelled positions only (`training/shared_prefix.py`, `training/fused_head.py`), so the
ratio is above 1 by what those save, minus the asset's gates and measurements.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RAW = ROOT.parent / "shared" / "data" / "canvas"


def plain_trl(method_name: str, data_dir: Path, base_dir: Path, work: Path) -> float:
    """Tokens/s of a plain TRL run: the SFT trainer built here, not by our factory."""
    import torch
    import trl.trainer.utils as trl_utils
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer
    from trl.kernels.chunked_logprob import _use_triton as trls_own_decision

    from canvas_pipeline.training.data_prep import load_method_data
    from canvas_pipeline.training.methods import get_method
    from canvas_pipeline.training.profiles import get_profile
    from canvas_pipeline.training.run import _epochs_seen, _token_count
    from canvas_pipeline.training.tokenizer import load_tokenizer

    method, profile = get_method(method_name), get_profile("tiny")
    budget = profile.budget
    data = load_method_data(data_dir, method, budget.train_rows, budget.eval_rows, seed=0)
    train, evals = data.datasets()
    common: dict[str, Any] = {
        "output_dir": str(work),
        "learning_rate": method.learning_rate,
        "per_device_train_batch_size": budget.batch_size,
        "per_device_eval_batch_size": budget.batch_size,
        "gradient_accumulation_steps": budget.grad_accum,
        "max_steps": budget.max_steps,
        "max_length": profile.max_length,
        "gradient_checkpointing": False,
        "bf16": budget.bf16,  # TRL's configs default to bf16, which on CPU is autocast and ~5x slower
        "use_cpu": True,
        "save_strategy": "no",
        "report_to": "none",
        "lr_scheduler_type": "constant_with_warmup",
        "seed": 0,
        "data_seed": 0,
    }
    tokenizer = load_tokenizer(base_dir)
    trainer: Any = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32),
        args=SFTConfig(assistant_only_loss=True, **common),
        peft_config=LoraConfig(
            r=8,
            lora_alpha=16,
            lora_dropout=0.0,
            target_modules=r".*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)$",
            task_type="CAUSAL_LM",
        )
        if method.adapter == "lora"
        else None,
        train_dataset=train,
        eval_dataset=evals,
        processing_class=tokenizer,
    )
    ours = trl_utils._use_triton
    trl_utils._use_triton = trls_own_decision
    try:
        started = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - started
    finally:
        trl_utils._use_triton = ours
    return _token_count(trainer.train_dataset) * _epochs_seen(trainer) / wall


def through_asset(method_name: str, data_dir: Path) -> float:
    """Tokens/s the `models/checkpoint` partition records when materialized in-process."""
    import dagster as dg

    from canvas_pipeline.defs.assets_training import checkpoint
    from canvas_pipeline.defs.resources import DataSettings, ModelSettings

    result = dg.materialize(
        [checkpoint],
        partition_key=method_name,
        resources={
            "data": DataSettings(out_dir=str(data_dir)),
            "model": ModelSettings(profile="tiny", require_g3=False),
        },
        instance=dg.DagsterInstance.ephemeral(),
    )
    materialization = result.asset_materializations_for_node("models__checkpoint")[0]
    return float(materialization.metadata["tokens_per_s"].value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--method", default="lora", choices=("sft", "lora"), help="an SFT-family method (lora)")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    from canvas_pipeline.data.layout import base_model_dir
    from canvas_pipeline.data.stages import run_data_stages
    from canvas_pipeline.training.mini_train import save_start_model
    from canvas_pipeline.training.tokenizer import build_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data_dir = args.data_dir or work / "data"
        if args.data_dir is None:
            run_data_stages(data_dir, DEFAULT_RAW)  # through phase 4: the asset records bench outputs
        base = base_model_dir(data_dir, "tiny")
        if not (base / "config.json").is_file():
            save_start_model(build_tokenizer("tiny", work / "tokenizer"), base)
        ours, plain = [], []
        for round_ in range(args.repeat):
            plain.append(plain_trl(args.method, data_dir, base, work / f"plain-{round_}"))
            ours.append(through_asset(args.method, data_dir))
            print(f"round {round_ + 1}: asset {ours[-1]:.0f} tokens/s, plain TRL {plain[-1]:.0f} tokens/s")
    mine, theirs = statistics.median(ours), statistics.median(plain)
    print(f"{args.method}: asset {mine:.0f} tokens/s, plain TRL {theirs:.0f} tokens/s (medians of {args.repeat})")
    print(f"ratio asset/plain: {mine / theirs:.3f} (goal >= 0.95)")


if __name__ == "__main__":
    main()
