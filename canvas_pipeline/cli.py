"""`canvas-train`: the command line over the same domain functions the Dagster assets call.

Heavy libraries (torch, transformers) are imported inside the commands that need them, so
`canvas-train --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from canvas_pipeline import __version__

DATA_ERRORS: tuple[type[Exception], ...] = (FileNotFoundError, ValueError, RuntimeError)


def _print_report(report: object) -> None:
    from canvas_pipeline.data.stage import StageReport

    assert isinstance(report, StageReport)
    dropped = ", ".join(f"{k}={v}" for k, v in report.dropped.items()) or "none"
    counts = f"in={report.rows_in:<6} out={report.rows_out:<6} retained={report.retained:.1%}"
    print(f"{report.stage:<28} {counts}  dropped: {dropped}")


def cmd_data(args: argparse.Namespace) -> int:
    """Raw ingest -> PII gate -> phase 1, written under --out (layout in the README)."""
    from canvas_pipeline.data import stages
    from canvas_pipeline.data.phase1.build import Phase1Config

    out = Path(args.out)
    config = Phase1Config(seed=args.seed, train_size=args.train_size, test_size=args.test_size)
    _print_report(stages.run_raw_stage(out, Path(args.raw_dir) if args.raw_dir else None, args.seed))
    _print_report(stages.run_scrub_stage(out, args.scrubber, args.piiranha_model))
    _print_report(stages.run_phase1_stage(out, config, args.scrubber, args.piiranha_model))
    print(f"wrote {out.resolve()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="canvas-train",
        description="Build, guard, train and evaluate the canvas_pipeline Gemma-4 tool-calling model.",
    )
    parser.add_argument("--version", action="version", version=f"canvas-train {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = sub.add_parser("data", help="build the raw, scrubbed and phase-1 datasets", description=cmd_data.__doc__)
    data.add_argument("--raw-dir", help="folder of Canvas exports (.jsonl/.json); omit for the generated demo term")
    data.add_argument("--out", required=True, help="output folder")
    data.add_argument(
        "--seed", type=int, default=0, help="seed for the demo term, the split and generation (default 0)"
    )
    data.add_argument(
        "--scrubber", choices=("rule", "piiranha"), default="rule", help="PII detector (default: rule, offline)"
    )
    data.add_argument("--piiranha-model", default=None, help="model id or local path for --scrubber piiranha")
    data.add_argument("--train-size", type=int, default=3000, help="phase-1 train trajectories (default 3000)")
    data.add_argument("--test-size", type=int, default=400, help="phase-1 test trajectories (default 400)")
    data.set_defaults(func=cmd_data)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except DATA_ERRORS as exc:
        print(f"canvas-train {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
