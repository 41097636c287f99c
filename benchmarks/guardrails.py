"""Guardrail cost against one bare tokenization pass, measured side by side in one run.

    .venv/bin/python benchmarks/guardrails.py [--data-dir OUT] [--repeat 3]

Without --data-dir it first builds the real-data slice (../shared/data/canvas) into a
temporary folder. "Check" is what `canvas-train check` does after the tokenizer exists:
read every dataset file, render every row, run G1-G14. "Bare tokenization" encodes the
same rendered rows once with the same tokenizer, nothing else. Goal: ratio <= 3.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from canvas_pipeline.cli_args import build_parser
from canvas_pipeline.data import stages
from canvas_pipeline.data.phase1.build import Phase1Config
from canvas_pipeline.guardrails import load_bundle, run_guardrails
from canvas_pipeline.training.guardrail_config import check_config
from canvas_pipeline.training.tokenizer import build_tokenizer, load_tokenizer, profile_tokenizer_dir

DEFAULT_RAW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "canvas"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp)
        if args.data_dir is None:
            stages.run_raw_stage(data_dir, DEFAULT_RAW)
            stages.run_scrub_stage(data_dir)
            stages.run_phase1_stage(data_dir, Phase1Config())
        tokenizer_dir = profile_tokenizer_dir(data_dir, "tiny")
        if not tokenizer_dir.exists():
            build_tokenizer("tiny", tokenizer_dir)
        config = check_config("tiny", tokenizer_dir, cli_parser=build_parser)
        backend = load_tokenizer(tokenizer_dir).backend_tokenizer
        texts = [text for s in load_bundle(data_dir).all_samples() for text, _ in s.texts]
        check_times, bare_times = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            results = run_guardrails(load_bundle(data_dir), config)
            check_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            backend.encode_batch(texts, add_special_tokens=False)
            bare_times.append(time.perf_counter() - start)
        check, bare = statistics.median(check_times), statistics.median(bare_times)
        print(f"data: {data_dir}  rows rendered: {len(texts)}  (median of {args.repeat})")
        print(f"check (load + render + G1-G14): {check:8.2f} s   {' '.join(f'{r.id}={r.status}' for r in results)}")
        print(f"bare tokenization pass:         {bare:8.2f} s")
        print(f"ratio:                          {check / bare:8.2f}  (goal <= 3)")


if __name__ == "__main__":
    main()
