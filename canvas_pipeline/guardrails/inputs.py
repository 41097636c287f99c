"""Datasets as the guardrails see them: every row rendered once to Gemma-4 native text (the
text training tokenizes), its calls, its split and item ids, and which side it is on.

Positive text is what a model is taught to produce or is shown as correct (SFT
conversations, a preference prompt + chosen, a desirable KTO completion, a bench prompt);
negative text is a rejected or undesirable completion, wrong on purpose, which the
registry (G7), envelope (G8) and repetition (G13) guardrails leave alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from canvas_pipeline.tools.chat_format import message_calls, render_conversation
from canvas_pipeline.tools.codec import ToolCall

# name -> (file under the data dir, row kind); the formats `canvas-train data` writes.
DATASET_FILES: dict[str, tuple[str, str]] = {
    "phase1": ("phase1/sft_trajectories.jsonl", "sft"),
    "phase2": ("phase2/dpo_pairs.jsonl", "preference"),
    "phase3": ("phase3/kto_feedback.jsonl", "kto"),
    "phase4": ("phase4/benchmark.jsonl", "bench"),
}
STAGE_REPORTS = ("raw", "curated", "phase1", "phase2", "phase3", "phase4")
REQUIRED_FIELDS = {
    "sft": ("id", "split", "messages", "item_ids"),
    "preference": ("id", "split", "prompt", "chosen", "rejected", "item_ids"),
    "kto": ("id", "split", "prompt", "completion", "label", "item_ids"),
    "bench": ("id", "prompt", "expected_tools", "item_ids"),
}


class DataDirError(ValueError):
    """A dataset file that cannot be read as its documented format; names file and line."""


@dataclass
class Sample:
    dataset: str
    kind: str
    row_id: str
    split: str | None
    item_ids: frozenset[str]
    texts: list[tuple[str, bool]] = field(default_factory=list)  # (full rendered sequence, positive?)
    calls: list[tuple[ToolCall, bool]] = field(default_factory=list)  # structured calls, with polarity
    positive_tools: list[str] = field(default_factory=list)  # tool names a positive side calls, in order
    completions: dict[str, str] = field(default_factory=dict)  # preference: "chosen"/"rejected" native text
    expected_tools: list[str] = field(default_factory=list)
    # preference and KTO rows: the axes a wrong side is labelled with and the trajectory the
    # row was made from (G14 keeps a trajectory's rows in one fold); a KTO row's completion
    # text is in `completions["completion"]` and its label in `label`
    axes: tuple[int, ...] = ()
    group: str = ""
    label: bool | None = None

    @property
    def ref(self) -> str:
        return f"{self.dataset}:{self.row_id}"


@dataclass
class Bundle:
    data_dir: Path
    samples: dict[str, list[Sample]]
    reports: dict[str, dict[str, Any]]

    def all_samples(self) -> list[Sample]:
        return [s for rows in self.samples.values() for s in rows]

    def split(self, dataset: str, split: str) -> list[Sample]:
        return [s for s in self.samples.get(dataset, []) if s.split == split]

    def item_ids(self, dataset: str) -> dict[str, set[str]]:
        """Item ids per split of a dataset: from its loaded samples, else read lightly from
        its file (ids only, nothing rendered), else empty."""
        if dataset in self.samples:
            rows = ((s.split, s.item_ids) for s in self.samples[dataset])
        else:
            path = self.data_dir / DATASET_FILES[dataset][0]
            if not path.exists():
                return {}
            rows = (
                (r.get("split"), r.get("item_ids", [])) for r in map(json.loads, path.read_text("utf-8").splitlines())
            )
        out: dict[str, set[str]] = {}
        for split, ids in rows:
            out.setdefault(str(split), set()).update(map(str, ids))
        return out


def _messages(value: Any, where: str, field_name: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(m, Mapping) and "role" in m for m in value):
        raise DataDirError(f"{where}: `{field_name}` must be a list of chat messages with a role")
    return [dict(m) for m in value]


def _calls(messages: Sequence[Mapping[str, Any]], where: str) -> list[ToolCall]:
    try:
        return [c for m in messages if m.get("role") == "assistant" for c in message_calls(m)]
    except (KeyError, TypeError, ValueError) as exc:
        raise DataDirError(f"{where}: malformed tool_calls entry ({exc})") from None


def _completion_text(prompt: list[dict[str, Any]], full: str, tools: Any) -> str:
    prefix = render_conversation(prompt, add_generation_prompt=True, tools=tools)
    return full[len(prefix) :] if full.startswith(prefix) else full


def _tools(row: Mapping[str, Any], where: str) -> Any:
    """The TRL `tools` column (a JSON string or a list of tool schemas), validated; a string
    is passed on as it is, so rendering can reuse the declarations it already built."""
    tools = row.get("tools")
    if isinstance(tools, str):
        if not _valid_tools_text(tools):
            raise DataDirError(f"{where}: `tools` is not a JSON list of tool schemas")
        return tools
    if tools is not None and not _valid_tools(tools):
        raise DataDirError(f"{where}: `tools` must be a list of tool schemas")
    return tools or None


def _valid_tools(tools: Any) -> bool:
    return isinstance(tools, list) and all(isinstance(t, Mapping) and "function" in t for t in tools)


@lru_cache(maxsize=32)
def _valid_tools_text(text: str) -> bool:
    try:
        return _valid_tools(json.loads(text))
    except json.JSONDecodeError:
        return False


def _axes(row: Mapping[str, Any], where: str) -> tuple[int, ...]:
    axis = row.get("axis")
    if axis is None:
        return ()
    values = axis if isinstance(axis, list) else [axis]
    if not all(isinstance(a, int) and not isinstance(a, bool) and 1 <= a <= 8 for a in values):
        raise DataDirError(f"{where}: `axis` must be an axis 1-8 or a list of them, not {axis!r}")
    return tuple(values)


def _group(row: Mapping[str, Any]) -> str:
    """The source trajectory: `source_id` up to its decision point (`row@index`), else the row."""
    return str(row.get("source_id") or row["id"]).split("@")[0]


def sample_from_row(dataset: str, kind: str, row: Mapping[str, Any], where: str) -> Sample:
    missing = [f for f in REQUIRED_FIELDS[kind] if f not in row]
    if missing:
        raise DataDirError(f"{where}: missing field(s) {missing} for a {kind} row")
    item_ids = row["item_ids"]
    if not isinstance(item_ids, list):
        raise DataDirError(f"{where}: `item_ids` must be a list")
    sample = Sample(dataset, kind, str(row["id"]), row.get("split"), frozenset(map(str, item_ids)))
    if kind == "sft":
        messages = _messages(row["messages"], where, "messages")
        calls = _calls(messages, where)
        sample.texts.append((render_conversation(messages), True))
        sample.calls += [(c, True) for c in calls]
        sample.positive_tools = [c.name for c in calls]
    elif kind == "preference":
        sample.axes, sample.group = _axes(row, where), _group(row)
        prompt = _messages(row["prompt"], where, "prompt")
        tools = _tools(row, where)
        prompt_calls = _calls(prompt, where)
        for side, positive in (("chosen", True), ("rejected", False)):
            completion = _messages(row[side], where, side)
            full = render_conversation(prompt + completion, tools=tools)
            sample.texts.append((full, positive))
            sample.completions[side] = _completion_text(prompt, full, tools)
            side_calls = _calls(completion, where)
            sample.calls += [(c, positive) for c in side_calls]
            if positive:
                sample.positive_tools = [c.name for c in prompt_calls + side_calls]
        sample.calls += [(c, True) for c in prompt_calls]
    elif kind == "kto":
        prompt = _messages(row["prompt"], where, "prompt")
        completion = _messages(row["completion"], where, "completion")
        if not isinstance(row["label"], bool):
            raise DataDirError(f"{where}: `label` must be true or false")
        positive = row["label"]
        sample.axes, sample.group, sample.label = _axes(row, where), _group(row), positive
        tools = _tools(row, where)
        full = render_conversation(prompt + completion, tools=tools)
        sample.texts.append((full, positive))
        sample.completions["completion"] = _completion_text(prompt, full, tools)
        prompt_calls, completion_calls = _calls(prompt, where), _calls(completion, where)
        sample.calls += [(c, True) for c in prompt_calls] + [(c, positive) for c in completion_calls]
        sample.positive_tools = [c.name for c in prompt_calls + (completion_calls if positive else [])]
    else:  # bench
        prompt = _messages(row["prompt"], where, "prompt")
        sample.texts.append((render_conversation(prompt, add_generation_prompt=True), True))
        sample.calls += [(c, True) for c in _calls(prompt, where)]
        expected = row["expected_tools"]
        if not isinstance(expected, list) or not all(isinstance(t, str) for t in expected):
            raise DataDirError(f"{where}: `expected_tools` must be a list of tool names")
        sample.expected_tools = list(expected)
    return sample


def load_dataset_file(dataset: str, kind: str, path: Path) -> list[Sample]:
    samples = []
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise DataDirError(f"cannot read {path}: {exc.strerror or exc}") from None
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise DataDirError(f"{where}: not UTF-8") from None
        except json.JSONDecodeError as exc:
            raise DataDirError(f"{where}: malformed JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(row, Mapping):
            raise DataDirError(f"{where}: a row must be a JSON object")
        samples.append(sample_from_row(dataset, kind, row, where))
    return samples


def load_bundle(
    data_dir: Path, datasets: Sequence[str] = tuple(DATASET_FILES), stages: Sequence[str] = STAGE_REPORTS
) -> Bundle:
    """The datasets and stage reports present in `data_dir` among those named (what is
    absent is simply absent)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataDirError(f"cannot read {data_dir}: not a directory")
    samples = {}
    for name in datasets:
        relative, kind = DATASET_FILES[name]
        path = data_dir / relative
        if path.exists():
            samples[name] = load_dataset_file(name, kind, path)
    reports = {}
    for stage in stages:
        path = data_dir / stage / "report.json"
        if path.exists():
            try:
                reports[stage] = json.loads(path.read_text("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise DataDirError(f"{path}: not a JSON report ({exc})") from None
    if not samples and not reports:
        raise DataDirError(f"{data_dir} holds none of the dataset files {[f for f, _ in DATASET_FILES.values()]}")
    return Bundle(data_dir, samples, reports)
