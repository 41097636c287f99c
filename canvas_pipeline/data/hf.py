"""The trainer boundary: the phase datasets as Hugging Face `datasets`, one split each (and,
for the release, every column of a phase file: `full_dataset_dict`).

Messages (and other free-form values such as a mixed pair's list of axes) are stored with
the `Json` feature: Arrow's struct inference would otherwise merge every tool's argument
keys into one struct and hand the chat template `key: None` for each argument a call did
not use. `tools` stays the JSON string TRL decodes itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from canvas_pipeline.data.io import read_jsonl

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict, Features


def _features(kind: str) -> Features:
    from datasets import Features, Json, List, Value

    common = {"id": Value("string"), "split": Value("string"), "item_ids": List(Value("string"))}
    messages = List(Json())
    per_kind = {
        "sft": {
            "intent": Value("string"),
            "messages": messages,
            "tools_used": List(Value("string")),
            "context": Json(),
        },
        "preference": {
            "prompt": messages,
            "chosen": messages,
            "rejected": messages,
            "tools": Value("string"),
            "axis": Json(),
            "mutation": Json(),
            "source_id": Value("string"),
        },
        "kto": {
            "prompt": messages,
            "completion": messages,
            "label": Value("bool"),
            "tools": Value("string"),
            "axis": Json(),
            "mutation": Json(),
            "source_id": Value("string"),
        },
        "bench": {
            "intent": Value("string"),
            "category": Value("string"),
            "prompt": messages,
            "reference": messages,
            "expected_tools": List(Value("string")),
            "expected_steps": List(List(Value("string"))),
            "expected_args": List(Json()),
            "min_calls": Value("int64"),
            "context": Json(),
        },
    }
    return Features({**common, **per_kind[kind]})


def to_dataset(rows: Sequence[dict[str, Any]], kind: str) -> Dataset:
    """One dataset in TRL's format for `kind` (sft, preference, kto)."""
    from datasets import Dataset

    features = _features(kind)
    if not rows:
        return Dataset.from_dict({c: [] for c in features}, features=features)
    return Dataset.from_list([{c: r.get(c) for c in features} for r in rows], features=features)


def dataset_dict(rows: Sequence[dict[str, Any]], kind: str) -> DatasetDict:
    """`train` and `test` datasets in TRL's format for `kind` (sft, preference, kto)."""
    from datasets import DatasetDict

    return DatasetDict(
        {split: to_dataset([r for r in rows if r["split"] == split], kind) for split in ("train", "test")}
    )


SPLIT_ORDER = ("train", "test", "bench")


def _full_features(rows: Sequence[dict[str, Any]], kind: str) -> Features:
    """The kind's features, then every other column the rows carry: a string column when
    each value is a string (or null), otherwise `Json` (any JSON value, kept as written)."""
    from datasets import Features, Json, Value

    features = dict(_features(kind))
    extra = sorted({c for r in rows for c in r} - set(features))
    for column in extra:
        values = [r.get(column) for r in rows]
        features[column] = Value("string") if all(v is None or isinstance(v, str) for v in values) else Json()
    return Features(features)


def full_dataset_dict(rows: Sequence[dict[str, Any]], kind: str) -> DatasetDict:
    """Every row and every column of a phase file, one dataset per value of its `split`
    column (train, test, bench, then any other in order of appearance): what the release
    publishes. Unlike `dataset_dict`, nothing is dropped, so a reloaded row equals its line."""
    from datasets import Dataset, DatasetDict

    features = _full_features(rows, kind)
    seen = list(dict.fromkeys(r["split"] for r in rows))
    splits = [s for s in SPLIT_ORDER if s in seen] + [s for s in seen if s not in SPLIT_ORDER]
    return DatasetDict(
        {
            split: Dataset.from_list(
                [{c: r.get(c) for c in features} for r in rows if r["split"] == split], features=features
            )
            for split in splits
        }
    )


def load_phase1_dataset(path: Path) -> DatasetDict:
    return dataset_dict(read_jsonl(Path(path)), "sft")


def load_preference_dataset(path: Path) -> DatasetDict:
    return dataset_dict(read_jsonl(Path(path)), "preference")


def load_kto_dataset(path: Path) -> DatasetDict:
    return dataset_dict(read_jsonl(Path(path)), "kto")
