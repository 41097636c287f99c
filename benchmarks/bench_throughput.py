"""Bench harness throughput on the tiny model on CPU: batched against one-at-a-time
generation, side by side in one run, and the full bench.

    .venv/bin/python benchmarks/bench_throughput.py --data-dir OUT [--items 64] [--batch 32]

OUT is a folder the embedded default wrote (`canvas-train pipeline`): its phase-4 bench,
curated data (to rebuild the simulated backend) and warmed-up tiny base model. The same
`--items` bench items (round-robin across tools) are run as conversations twice, with
batch size 1 and with `--batch`; both must produce the same conversations (greedy). It
prints items/s of each and the ratio, then the wall time of the whole 1000+ item bench at
`--batch` (goal <= 60 s on 2 cores; skip with --no-full).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="a folder `canvas-train pipeline` wrote")
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--items", type=int, default=64, help="items for the side-by-side comparison")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--no-full", action="store_true", help="skip the full-bench timing")
    args = parser.parse_args()

    import torch

    from canvas_pipeline.evaluation.backends import BackendFactory
    from canvas_pipeline.evaluation.bench import BASE, _load_model, bench_items
    from canvas_pipeline.evaluation.harness import run_conversations
    from canvas_pipeline.evaluation.metrics import summarize

    model, tokenizer = _load_model(args.data_dir, args.profile, BASE)
    backends = BackendFactory.from_out_dir(args.data_dir)
    items = bench_items(args.data_dir, args.items, seed=0)
    print(f"torch threads: {torch.get_num_threads()}; {len(items)} items; model {args.data_dir}")

    timings: dict[int, float] = {}
    records = {}
    for batch in (1, args.batch):
        started = time.perf_counter()
        conversations = run_conversations(model, tokenizer, items, backends.for_item, batch_size=batch)
        timings[batch] = time.perf_counter() - started
        records[batch] = [c.record() for c in conversations]
        turns = sum(len(c.turns) for c in conversations)
        print(f"batch {batch:>3}: {len(items) / timings[batch]:7.2f} items/s ({timings[batch]:.1f} s, {turns} turns)")
    same = sum(a == b for a, b in zip(records[1], records[args.batch], strict=True))
    ratio = timings[1] / timings[args.batch]
    print(f"ratio batched/one-at-a-time: {ratio:.1f}x; identical conversations {same}/{len(items)}")

    if not args.no_full:
        everything = bench_items(args.data_dir, None, seed=0)
        started = time.perf_counter()
        conversations = run_conversations(model, tokenizer, everything, backends.for_item, batch_size=args.batch)
        wall = time.perf_counter() - started
        summary = summarize(conversations)
        print(
            f"full bench: {len(everything)} items in {wall:.1f} s ({len(everything) / wall:.1f} items/s); "
            f"tool selection {summary['tool_selection_accuracy']:.3f}; goal <= 60 s"
        )


if __name__ == "__main__":
    main()
