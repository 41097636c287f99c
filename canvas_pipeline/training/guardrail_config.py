"""The guardrails' configuration a profile implies: its max_length, a token counter from its
tokenizer (G11), G9's nine mini-trains and the CLI parser G10 checks argv with."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from canvas_pipeline.guardrails.registry import CheckConfig
from canvas_pipeline.training.mini_train import run_mini_trains
from canvas_pipeline.training.profiles import get_profile
from canvas_pipeline.training.tokenizer import load_tokenizer, token_counter


def check_config(
    profile_name: str,
    tokenizer_dir: Path | None,
    allow_shrinkage: Mapping[str, str] | None = None,
    min_rows: Mapping[str, int] | None = None,
    mini_train_data: Path | None = None,
    cli_parser: Callable[[], argparse.ArgumentParser] | None = None,
) -> CheckConfig:
    """The configuration the CLI and the Dagster checks share: the profile's max_length, a
    token counter from the tokenizer folder (G11 is NOT RUN, with the reason, without one),
    G9's nine mini-trains on `mini_train_data`'s phase datasets when it is given, and the
    parser G10 checks container argv against (`cli_args.build_parser`)."""

    profile = get_profile(profile_name)
    counter, note = None, ""
    if tokenizer_dir is not None:
        try:
            counter = token_counter(load_tokenizer(tokenizer_dir))
        except (OSError, ValueError) as exc:
            note = f"the {profile.name} tokenizer could not be loaded: {exc}"
    else:
        note = f"no {profile.name} tokenizer given"
    return CheckConfig(
        allow_shrinkage=dict(allow_shrinkage or {}),
        max_length=profile.max_length,
        count_tokens=counter,
        tokenizer_note=note,
        min_rows=dict(min_rows or {}),
        profile=profile.name,
        mini_trains=_mini_trains(mini_train_data, tokenizer_dir) if mini_train_data and counter else None,
        cli_parser=cli_parser,
    )


def _mini_trains(data_dir: Path, tokenizer_dir: Path) -> Callable[[], Sequence[Any]]:
    def run() -> Sequence[Any]:
        with tempfile.TemporaryDirectory(prefix="g9-") as work:
            return run_mini_trains(Path(data_dir), Path(tokenizer_dir), Path(work))

    return run
