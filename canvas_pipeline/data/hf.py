"""The trainer boundary: phase-1 rows as Hugging Face `datasets`, one split each.

Messages are stored with the `Json` feature: Arrow's struct inference would otherwise
merge every tool's argument keys into one struct and hand the chat template `key: None`
for each argument a call did not use.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from canvas_pipeline.data.io import read_jsonl

if TYPE_CHECKING:
    from datasets import DatasetDict


def phase1_features() -> Any:
    from datasets import Features, Json, List, Value

    return Features(
        {
            "id": Value("string"),
            "split": Value("string"),
            "intent": Value("string"),
            "messages": List(Json()),
            "item_ids": List(Value("string")),
            "tools_used": List(Value("string")),
        }
    )


def phase1_dataset_dict(rows: Sequence[dict[str, Any]]) -> DatasetDict:
    """`train` and `test` datasets in TRL's conversational format (`messages`)."""
    from datasets import Dataset, DatasetDict

    features = phase1_features()
    return DatasetDict(
        {
            split: Dataset.from_list([r for r in rows if r["split"] == split], features=features)
            for split in ("train", "test")
        }
    )


def load_phase1_dataset(path: Path) -> DatasetDict:
    return phase1_dataset_dict(read_jsonl(Path(path)))
