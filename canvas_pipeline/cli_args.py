"""The arguments of `canvas-train`, apart from what each command does (`cli.py`), so that
G10 can check a container's argv against the parser without importing the CLI."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

from canvas_pipeline import __version__

Handler = Callable[[argparse.Namespace], int]
BASE_METHOD = "base"  # evaluation.bench.BASE, spelled here so the parser imports no harness


def _command(sub: Any, handlers: Mapping[str, Handler], name: str, **kwargs: Any) -> argparse.ArgumentParser:
    handler = handlers.get(name)
    parser = sub.add_parser(name, description=handler.__doc__ if handler else None, **kwargs)
    if handler is not None:
        parser.set_defaults(func=handler)
    return parser


def positive_int(text: str) -> int:
    """A step count: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of steps")
    return value


def build_parser(handlers: Mapping[str, Handler] | None = None) -> argparse.ArgumentParser:
    """`canvas-train`'s arguments; `handlers` (command -> function) become each command's
    `func` and description. Without them the parser only parses (what G10 needs)."""
    handlers = dict(handlers or {})

    parser = argparse.ArgumentParser(
        prog="canvas-train",
        description="Build, guard, train and evaluate the canvas_pipeline Gemma-4 tool-calling model.",
    )
    parser.add_argument("--version", action="version", version=f"canvas-train {__version__}")
    parser.add_argument("--check", action="store_true", help="same as the `check` command: run G1-G14")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = _command(sub, handlers, "data", help="build the raw, scrubbed and phase 1-4 datasets")
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
    data.add_argument("--bench-size", type=int, default=1200, help="benchmark items (default 1200)")
    data.add_argument("--profile", default="tiny", help="model profile whose tokenizer to build (default tiny)")
    data.add_argument("--no-tokenizer", action="store_true", help="skip building the profile tokenizer")

    check = _command(sub, handlers, "check", help="run guardrails G1-G14 on a data folder")
    check.add_argument("--data-dir", required=True, help="folder in the layout `canvas-train data` writes")
    check.add_argument(
        "--allow-shrinkage",
        action="append",
        default=[],
        metavar="STAGE=REASON",
        help="let STAGE (raw, curated, phase1, ...) keep under 70%% of its rows, for the reason given (G6)",
    )
    check.add_argument("--profile", default="tiny", help="profile whose tokenizer and max_length G11 uses")
    check.add_argument("--tokenizer", help="tokenizer folder (default: DATA_DIR/models/PROFILE/tokenizer, else built)")
    check.add_argument("--json", help="where to write the JSON report (default DATA_DIR/guardrails.json)")
    check.add_argument(
        "--no-g9", action="store_true", help="skip G9's nine trainer mini-trains (minutes on CPU); G9 reports NOT RUN"
    )
    check.add_argument(
        "--waive",
        action="append",
        default=[],
        metavar="ID=REASON",
        help="accept guardrail ID being NOT RUN, for the reason given (recorded in the report); without it a "
        "guardrail that did not run makes the exit code 3",
    )

    from canvas_pipeline.training.methods import METHOD_NAMES

    base = _command(sub, handlers, "base", help="build the base model and score it on the bench (G3)")
    base.add_argument("--data-dir", required=True, help="folder `canvas-train data` wrote")
    base.add_argument("--profile", default="tiny", help="model profile (default tiny)")
    base.add_argument("--seed", type=int, default=0, help="seed for the bench subset (default 0)")

    train = _command(sub, handlers, "train", help="train one of the 9 methods")
    train.add_argument("--method", required=True, choices=METHOD_NAMES, help="training method")
    train.add_argument("--data-dir", required=True, help="folder with the datasets and the base model")
    train.add_argument("--profile", default="tiny", help="model profile (default tiny)")
    train.add_argument("--seed", type=int, default=0, help="seed for subsets and training (default 0)")
    train.add_argument(
        "--max-steps",
        type=positive_int,
        help="optimizer steps (default: the profile's budget for the method); the train rows scale with them",
    )
    train.add_argument(
        "--save-steps",
        type=positive_int,
        help="save a checkpoint every N steps: a resume point, and a selection candidate where the budget "
        "keeps step checkpoints (default: the profile's budget for the method)",
    )
    train.add_argument(
        "--self-play-points",
        type=int,
        help="sppo: decision points the current policy answers before each later round (default 256)",
    )
    train.add_argument(
        "--skip-g3",
        action="store_true",
        help="train even if the base model's bench record is missing or below G3 (recorded as skipped)",
    )

    on_policy = _command(
        sub,
        handlers,
        "on-policy",
        help="the sft checkpoint's judged answers, mixed with phases 2 and 3",
    )
    on_policy.add_argument("--data-dir", required=True, help="folder with the datasets and the sft checkpoint")
    on_policy.add_argument("--profile", default="tiny", help="model profile (default tiny)")
    on_policy.add_argument("--seed", type=int, default=0, help="seed for the decision points and sampling (default 0)")
    on_policy.add_argument("--points", type=int, help="decision points answered (default: the pipeline's)")
    on_policy.add_argument("--samples", type=int, help="sampled answers per point besides the greedy one")
    on_policy.add_argument("--share", type=float, help="on-policy share of the mixed train rows")

    bench = _command(sub, handlers, "bench", help="bench checkpoints, select the production one, write the report")
    bench.add_argument(
        "--method",
        action="append",
        choices=(*METHOD_NAMES, BASE_METHOD),
        help="method to bench (repeatable; default: all with a checkpoint); `base` (the base model) only with --items",
    )
    bench.add_argument(
        "--items",
        metavar="FILE.jsonl",
        help="score your own requests instead of the bench (one JSON object a line: messages, expected_tools, "
        "optional expected_args, context); writes eval/PROFILE/external/STEM/METHOD.json, not the selection/report",
    )
    bench.add_argument("--data-dir", required=True, help="folder with the datasets and the checkpoints")
    bench.add_argument("--profile", default="tiny", help="model profile (default tiny)")
    bench.add_argument("--seed", type=int, default=0, help="seed for the item subsets (default 0)")
    bench.add_argument("--bench-items", type=int, help="bench items per checkpoint (default: the profile's budget)")
    bench.add_argument("--selection-items", type=int, help="eval-split items per checkpoint (default: the profile's)")

    release = _command(sub, handlers, "release", help="release the selected checkpoint")
    release.add_argument(
        "--data-dir", required=True, help="folder with the checkpoints and eval/PROFILE/selection.json"
    )
    release.add_argument("--profile", default="tiny", help="model profile (default tiny)")
    release.add_argument("--publish", action="store_true", help="upload to the Hub (needs --repo-id and HF_TOKEN)")
    release.add_argument("--repo-id", help="Hub repository, e.g. my-org/canvas-gemma4")
    release.add_argument("--public", action="store_true", help="make the Hub repositories public (default private)")
    release.add_argument(
        "--datasets",
        action="store_true",
        help="also publish phases 1-4 to the dataset repos REPO_ID-phase1..4 (needs --repo-id and HF_TOKEN)",
    )

    for name in ("pipeline", "run"):
        pipeline = _command(
            sub,
            handlers,
            name,
            help="run everything through Dagster: data, base, 9 methods, bench, selection, report, release"
            + (" (same as `pipeline`)" if name == "run" else ""),
        )
        pipeline.add_argument("--methods", nargs="*", choices=METHOD_NAMES, help="methods to train (default: all 9)")
    return parser
