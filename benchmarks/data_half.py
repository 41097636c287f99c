"""The data half of the pipeline at default size, against one bare tokenization pass.

    .venv/bin/python benchmarks/data_half.py [--raw-dir ../shared/data/canvas]

Builds raw -> scrubbed -> phases 1-4 into a temporary folder, runs every data guardrail
on the result (what the blocking checks run), and prints the wall time of each stage.
Then it encodes every rendered row once with the profile tokenizer, nothing else, and
prints the ratio of the whole (build + check) to that pass. Goal: <= 3x.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from canvas_pipeline.data import stages
from canvas_pipeline.data.phase1.build import Phase1Config
from canvas_pipeline.data.phase2.build import Phase2Config
from canvas_pipeline.data.phase3.build import Phase3Config
from canvas_pipeline.data.phase4.build import Phase4Config
from canvas_pipeline.guardrails import load_bundle, run_guardrails
from canvas_pipeline.training.guardrail_config import check_config
from canvas_pipeline.training.tokenizer import build_tokenizer, load_tokenizer

DEFAULT_RAW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "canvas"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", type=Path, default=DEFAULT_RAW)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        tokenizer_dir = build_tokenizer("tiny", out / "tokenizer")  # not timed: built once per code version
        steps = (
            ("raw", lambda: stages.run_raw_stage(out, args.raw_dir)),
            ("scrub", lambda: stages.run_scrub_stage(out)),
            ("phase1", lambda: stages.run_phase1_stage(out, Phase1Config())),
            ("phase2", lambda: stages.run_phase2_stage(out, Phase2Config())),
            ("phase3", lambda: stages.run_phase3_stage(out, Phase3Config())),
            ("phase4", lambda: stages.run_phase4_stage(out, Phase4Config())),
        )
        timings: dict[str, float] = {}
        for name, step in steps:
            start = time.perf_counter()
            report = step()
            timings[name] = time.perf_counter() - start
            print(f"{name:<10} {timings[name]:7.2f} s   rows_out {report.rows_out}")
        start = time.perf_counter()
        results = run_guardrails(load_bundle(out), check_config("tiny", tokenizer_dir))
        timings["guardrails"] = time.perf_counter() - start
        print(f"{'guardrails':<10} {timings['guardrails']:7.2f} s   {' '.join(f'{r.id}={r.status}' for r in results)}")
        texts = [text for s in load_bundle(out).all_samples() for text, _ in s.texts]
        backend = load_tokenizer(tokenizer_dir).backend_tokenizer
        start = time.perf_counter()
        backend.encode_batch(texts, add_special_tokens=False)
        bare = time.perf_counter() - start
        total = sum(timings.values())
        print(f"{'total':<10} {total:7.2f} s   ({len(texts)} rendered rows)")
        print(f"{'bare tok.':<10} {bare:7.2f} s")
        print(f"ratio      {total / bare:7.2f}   (goal <= 3)")


if __name__ == "__main__":
    main()
