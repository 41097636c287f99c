"""The trainer boundary: the phase datasets as Hugging Face `datasets`, one split each.

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


def load_phase1_dataset(path: Path) -> DatasetDict:
    return dataset_dict(read_jsonl(Path(path)), "sft")


def load_preference_dataset(path: Path) -> DatasetDict:
    return dataset_dict(read_jsonl(Path(path)), "preference")


def load_kto_dataset(path: Path) -> DatasetDict:
    return dataset_dict(read_jsonl(Path(path)), "kto")
