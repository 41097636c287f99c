"""LoRA against QLoRA on a mid-size Gemma-4 config on CPU: parameter memory and peak RSS,
measured side by side in one run, and their ratios.

    .venv/bin/python benchmarks/qlora_memory.py [--data-dir OUT] [--steps 3]

One random mid-size Gemma4ForCausalLM (8 layers, hidden 1024, MLP 4096: ~110M
parameters) is saved once; each variant then runs in its own process, so its peak RSS is
its own: load (float32, or NF4 through bitsandbytes with float32 compute), the factory's
LoRA adapter on the language model's projections, and a few SFT steps through our
`build_trainer` on real phase-1 rows. Parameter memory is the bytes the model's
parameters hold (NF4 weights count their packed bytes). Without --data-dir the real
exports are built to phase 1 in a temporary folder first.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RAW = ROOT.parent / "shared" / "data" / "canvas"


def mid_size_model(dest: Path, tokenizer_dir: Path) -> None:
    from canvas_pipeline.training.model import random_model, tiny_text_config
    from canvas_pipeline.training.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_dir)
    config = tiny_text_config(len(tokenizer), hidden=1024)
    config.num_hidden_layers = 8
    config.layer_types = ["sliding_attention", "sliding_attention", "sliding_attention", "full_attention"] * 2
    config.intermediate_size = 4096
    random_model(config, seed=0).save_pretrained(dest)
    tokenizer.save_pretrained(dest)


def measure(variant: str, model_dir: Path, data_dir: Path, steps: int) -> dict[str, float]:
    """One variant, in this process: parameter bytes after loading, peak RSS after training."""
    from peft import prepare_model_for_kbit_training

    from canvas_pipeline.training.data_prep import load_method_data
    from canvas_pipeline.training.factory import build_trainer
    from canvas_pipeline.training.methods import get_method
    from canvas_pipeline.training.model import load_model
    from canvas_pipeline.training.profiles import get_profile
    from canvas_pipeline.training.tokenizer import load_tokenizer

    method = get_method(variant)
    profile = get_profile("tiny")
    budget = dataclasses.replace(profile.budget, max_steps=steps, batch_size=2, save_steps=10_000)
    profile = dataclasses.replace(profile, budget=budget, max_length=1024)
    model = load_model(model_dir, quantize_4bit=variant == "qlora")
    parameter_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    if variant == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    data = load_method_data(data_dir, method, 2 * steps, 4, seed=0)
    train, evals = data.datasets()
    with tempfile.TemporaryDirectory() as out:
        trainer = build_trainer(
            method,
            profile,
            model=model,
            tokenizer=load_tokenizer(model_dir),
            train_dataset=train,
            eval_dataset=evals,
            item_ids=data.item_ids(),
            output_dir=Path(out),
        )
        loss = trainer.train().training_loss
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    return {"parameter_bytes": parameter_bytes, "peak_rss_bytes": peak, "train_loss": float(loss)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--variant", choices=("lora", "qlora"), help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:  # child process: one measurement, as JSON on the last line
        print(json.dumps(measure(args.variant, args.model_dir, args.data_dir, args.steps)))
        return

    from canvas_pipeline.data.stages import run_data_stages
    from canvas_pipeline.training.tokenizer import build_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data_dir = args.data_dir or work / "data"
        if args.data_dir is None:
            run_data_stages(data_dir, DEFAULT_RAW, through="phase1")
        model_dir = work / "mid_model"
        mid_size_model(model_dir, build_tokenizer("tiny", work / "tokenizer"))
        results = {}
        for variant in ("lora", "qlora"):
            command = [sys.executable, __file__, "--variant", variant, "--model-dir", str(model_dir)]
            command += ["--data-dir", str(data_dir), "--steps", str(args.steps)]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode:
                raise SystemExit(f"{variant} failed:\n{done.stderr[-3000:]}")
            results[variant] = json.loads(done.stdout.strip().splitlines()[-1])
    mib = 2**20
    print(f"{'variant':<8} {'parameter MiB':>14} {'peak RSS MiB':>13} {'train loss':>11}")
    for variant, r in results.items():
        params, peak = r["parameter_bytes"] / mib, r["peak_rss_bytes"] / mib
        print(f"{variant:<8} {params:>14.1f} {peak:>13.1f} {r['train_loss']:>11.3f}")
    lora, qlora = results["lora"], results["qlora"]
    print(f"parameter memory QLoRA/LoRA: {qlora['parameter_bytes'] / lora['parameter_bytes']:.3f}")
    print(f"peak RSS QLoRA/LoRA: {qlora['peak_rss_bytes'] / lora['peak_rss_bytes']:.3f}")


if __name__ == "__main__":
    main()
