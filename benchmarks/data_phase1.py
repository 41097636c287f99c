"""Throughput of the three data stages on the real Canvas exports, measured in one run.

    .venv/bin/python benchmarks/data_phase1.py [--raw-dir ../shared/data/canvas] [--repeat 3]

Prints rows/s per stage (rows_in over wall time, median of the repeats) and, side by side,
each stage's share of the whole slice. Not part of the test run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from canvas_pipeline.data import stages
from canvas_pipeline.data.phase1.build import Phase1Config

DEFAULT_RAW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "canvas"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", type=Path, default=DEFAULT_RAW)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=3000)
    parser.add_argument("--test-size", type=int, default=400)
    args = parser.parse_args()
    config = Phase1Config(train_size=args.train_size, test_size=args.test_size)
    timings: dict[str, list[float]] = {"raw": [], "scrub": [], "phase1": []}
    rows: dict[str, int] = {}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            steps = (
                ("raw", lambda out=out: stages.run_raw_stage(out, args.raw_dir)),
                ("scrub", lambda out=out: stages.run_scrub_stage(out)),
                ("phase1", lambda out=out: stages.run_phase1_stage(out, config)),
            )
            for name, step in steps:
                start = time.perf_counter()
                report = step()
                timings[name].append(time.perf_counter() - start)
                rows[name] = report.rows_in
    total = sum(statistics.median(v) for v in timings.values())
    print(f"real data: {args.raw_dir}  (median of {args.repeat})")
    print(f"{'stage':<8} {'rows_in':>8} {'seconds':>8} {'rows/s':>10} {'share':>7}")
    for name, values in timings.items():
        seconds = statistics.median(values)
        print(f"{name:<8} {rows[name]:>8} {seconds:>8.2f} {rows[name] / seconds:>10.0f} {seconds / total:>7.1%}")
    print(f"{'slice':<8} {'':>8} {total:>8.2f}")


if __name__ == "__main__":
    main()
