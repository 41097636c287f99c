"""Publishing the data of phases 1-4 as Hugging Face datasets, one dataset repo per phase.

Naming: the model goes to `ORG/NAME`; phase N goes to the dataset repo `ORG/NAME-phaseN`
(`dataset_repo_id`). One repo per phase because each phase has its own columns and its own
trainer (SFT, DPO, KTO, the bench), so each loads with plain `load_dataset("ORG/NAME-phase1")`
and no config name, and carries its own card.

Each phase is written first under `OUT/release/datasets/phaseN/` (what is uploaded, and
nothing else): `data/SPLIT-00000-of-00001.parquet` per split (the layout
`DatasetDict.push_to_hub` writes) and `README.md`, the dataset card with the YAML header
`load_dataset` and the Hub read (`configs` with the split files, `dataset_info` with the
features and split sizes, license, tags). Every row and column of the phase file is kept;
messages are `List(Json())` (`data.hf.full_dataset_dict`), stored as Arrow's JSON
extension type, so each tool call comes back with exactly its own argument keys, values
and key order instead of a struct of every tool's keys.

The token rules are the model's (`hub`): `HF_TOKEN` from the environment, handed only to
`HfApi`; a request without it or without a valid repo id is refused before any work, with
the same messages; private unless asked otherwise. `curated/pii_lexicon.json` (the known
usernames the PII gate catches) never leaves the machine: only `README.md` and
`data/*.parquet` are in the folders and in the upload's `allow_patterns`, and every row is
checked against the lexicon before anything is uploaded (a hit refuses the publish).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from canvas_pipeline.data.io import atomic_write_dir, atomic_write_text, read_jsonl
from canvas_pipeline.data.layout import stage_dir
from canvas_pipeline.data.stages import CURATED, DATASET_FILE, PHASE1, PHASE2, PHASE3, PHASE4, RAW
from canvas_pipeline.release.gate import ReleaseRefused
from canvas_pipeline.release.hub import PublishError, publish_folder, publish_problems

Log = Callable[[str], None]
LICENSE = "gpl-3.0"  # the project's license, as on the model card of a release not built on a Hub base
CARD = "README.md"
DATA_DIR = "data"
UPLOADED = [CARD, f"{DATA_DIR}/*.parquet"]  # the upload's allow_patterns: nothing else can go out
LEXICON = "pii_lexicon.json"
MESSAGES_NOTE = (
    "Conversation columns are lists of `Json` values (Arrow's JSON extension type): each message, "
    "and each tool call's `function.arguments`, comes back exactly as written, with only the "
    "argument keys that call used (no struct padded with every tool's keys set to `None`)."
)


@dataclass(frozen=True)
class Phase:
    """What one phase's dataset is: its rows' kind (`data.hf`), card title, trainer and columns."""

    stage: str
    kind: str
    title: str
    summary: str
    use: str
    tags: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]


_CONTEXT_COLUMNS = (
    ("id", "row id (`p<phase>-<split>-<n>`)"),
    ("split", "`train`, `test` or `bench`, the same as the dataset split holding the row"),
    ("item_ids", "the anonymized Canvas items (and priority-pair items) the row is built from"),
)
_TOOLS = ("tools", "the declared tools as a JSON string (a list of OpenAI-style function schemas), as TRL takes it")
_AXIS = (
    "axis",
    "the failure axis (1-8: tool selection, argument keys, argument values, parsimony, "
    "ordering, format, domain fit, termination) the rejected side violates; a list for a mixed pair",
)

PHASES: dict[str, Phase] = {
    PHASE1: Phase(
        PHASE1,
        "sft",
        "tool-calling conversations (SFT)",
        "Multi-turn conversations in which a study assistant answers a student's request by calling "
        "Canvas LMS, calendar and study-planning tools, then replies in plain language.",
        "TRL's `SFTTrainer` (conversational format, `messages` column)",
        ("sft", "conversational"),
        (
            *_CONTEXT_COLUMNS,
            ("intent", "the request's intent (e.g. `cancel_event`)"),
            (
                "messages",
                "the conversation: system (with the tool declarations), user, assistant turns with "
                "`tool_calls` (`function.name`, `function.arguments`), and `tool` results",
            ),
            ("tools_used", "the tools the conversation calls"),
            ("context", "the simulated term the tools answered from (term, `now`, courses, seed)"),
        ),
    ),
    PHASE2: Phase(
        PHASE2,
        "preference",
        "tool-calling preference pairs (DPO)",
        "Preference pairs at one decision point of a phase-1 conversation: `chosen` is what the "
        "conversation did, `rejected` a named mutation of it that violates exactly the axes it names.",
        "TRL's `DPOTrainer` (conversational preference format with `tools`)",
        ("dpo", "preference"),
        (
            *_CONTEXT_COLUMNS,
            ("prompt", "the conversation up to the decision point"),
            ("chosen", "the assistant turn the conversation took"),
            ("rejected", "the mutated assistant turn"),
            _TOOLS,
            _AXIS,
            ("mutation", "how `rejected` was made (a list for a mixed pair)"),
            ("direction", "for axes with two ways to fail (too many or too few calls), which; empty otherwise"),
            ("source_id", "the phase-1 row and decision point (`<id>@<point>`)"),
        ),
    ),
    PHASE3: Phase(
        PHASE3,
        "kto",
        "tool-calling feedback (KTO)",
        "Unpaired completions at decision points of phase-1 conversations, labelled desirable (what "
        "the conversation did) or undesirable (a single-axis mutation).",
        "TRL's `KTOTrainer` (conversational unpaired format with `tools`)",
        ("kto", "unpaired-preference"),
        (
            *_CONTEXT_COLUMNS,
            ("prompt", "the conversation up to the decision point"),
            ("completion", "the assistant turn judged"),
            ("label", "`true` when the completion is desirable"),
            _TOOLS,
            ("axis", "the failure axis (1-8) of an undesirable completion; null when desirable"),
            ("mutation", "how an undesirable completion was made; null when desirable"),
            ("source_id", "the phase-1 row and decision point (`<id>@<point>`)"),
        ),
    ),
    PHASE4: Phase(
        PHASE4,
        "bench",
        "tool-calling benchmark",
        "Benchmark requests on courses held out of every training split, worded by a phrasebook no "
        "training split uses, with the calls that answer them and the argument values accepted.",
        "the project's bench harness, or any tool-calling evaluation (one `bench` split)",
        ("benchmark", "evaluation"),
        (
            *_CONTEXT_COLUMNS,
            ("intent", "the request's intent; `irrelevance` items need no tool"),
            ("category", "`single`, `multi_step` or `irrelevance`"),
            ("prompt", "the conversation up to the last user turn (same system prompt as training)"),
            ("reference", "a reference answer: the calls, their results and the final reply"),
            ("expected_tools", "the tools the answer calls, in order"),
            ("expected_steps", "the tools per step (calls in one step may come in any order)"),
            (
                "expected_args",
                'per expected call, each argument\'s accepted values (BFCL style; `""` means it may be left out)',
            ),
            ("min_calls", "the fewest calls that answer the request"),
            ("context", "the simulated term the harness rebuilds to answer the calls"),
        ),
    ),
}


@dataclass
class PhaseRelease:
    """One phase's dataset: where it was written, where it goes, what it holds."""

    stage: str
    repo_id: str | None
    path: Path
    splits: dict[str, int]
    published: bool = False
    commit_url: str | None = None


@dataclass
class DatasetsReport:
    """What a datasets release did. Holds no secret."""

    private: bool
    phases: list[PhaseRelease] = field(default_factory=list)

    @property
    def published(self) -> bool:
        return bool(self.phases) and all(p.published for p in self.phases)


def dataset_repo_id(repo_id: str, stage: str) -> str:
    """The dataset repo of a phase: the model's repo id with `-<stage>` (`ORG/NAME-phase1`)."""
    return f"{repo_id}-{stage}"


def dataset_repo_ids(repo_id: str) -> dict[str, str]:
    """Every phase's dataset repo (what a model card lists as its `datasets`)."""
    return {stage: dataset_repo_id(repo_id, stage) for stage in PHASES}


def datasets_dir(out_dir: Path) -> Path:
    """Where the phase datasets are written before upload."""
    return Path(out_dir) / "release" / "datasets"


def dataset_publish_problems(repo_id: str | None) -> list[str]:
    """Why the datasets cannot be published (empty when they can): the model's rules (repo id,
    HF_TOKEN), and each phase's repo id valid too. Checked before any work or Hub call."""
    problems = publish_problems(True, repo_id)
    if repo_id and not any("repo_id" in p for p in problems):
        from huggingface_hub.utils import HFValidationError, validate_repo_id

        for stage, target in dataset_repo_ids(repo_id).items():
            try:
                validate_repo_id(target)
            except HFValidationError as exc:
                problems.append(f"publish requested with a repo_id whose {stage} dataset {target!r} is invalid: {exc}")
    return problems


def _lexicon_pattern(out_dir: Path) -> re.Pattern[str] | None:
    """The known usernames of `curated/pii_lexicon.json` as the rule scrubber matches them
    (case-insensitive, whole handle, 3 characters or more), or None when there are none."""
    path = stage_dir(out_dir, CURATED) / LEXICON
    if not path.is_file():
        return None
    names = sorted({u.strip() for u in json.loads(path.read_text("utf-8")).get("known_usernames", [])}, key=len)
    names = [n for n in reversed(names) if len(n) >= 3]
    if not names:
        return None
    return re.compile(r"(?<![\w.@-])(?:" + "|".join(map(re.escape, names)) + r")(?![\w-]|\.\w|@)", re.IGNORECASE)


def lexicon_hits(rows: Sequence[Mapping[str, Any]], pattern: re.Pattern[str] | None) -> list[str]:
    """The ids of rows in which a known username appears (anywhere in the row)."""
    if pattern is None:
        return []
    return [str(r.get("id")) for r in rows if pattern.search(json.dumps(r, ensure_ascii=False))]


def _size_category(n: int) -> str:
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return label
    return "n>1M"


def _report(out_dir: Path, stage: str) -> dict[str, Any]:
    path = stage_dir(out_dir, stage) / "report.json"
    return json.loads(path.read_text("utf-8")) if path.is_file() else {}


def _provenance(out_dir: Path, stage: str) -> str:
    """Where the rows came from, without any local path."""
    raw, curated, own = _report(out_dir, RAW), _report(out_dir, CURATED), _report(out_dir, stage)
    if raw.get("demo_term") is True:
        source = "a deterministic, generated demo term (no real student's data)"
    elif raw.get("demo_term") is False:
        source = (
            f"anonymized Canvas LMS exports contributed by students ({raw.get('courses', '?')} courses, "
            f'{raw.get("items", "?")} items, {raw.get("pairs", "?")} labelled "which first?" pairs)'
        )
    else:
        source = "Canvas LMS items (no stage report was found for the raw stage)"
    return (
        f"Built by `canvas_pipeline` (`canvas-train data`, stage `{own.get('stage', stage)}`) from {source}. "
        f"The items were scrubbed by the PII gate (`{curated.get('scrubber', 'rule')}` scrubber) first. "
        "The conversations are synthetic: written by deterministic generators against a simulated Canvas, "
        "calendar and study-planning backend built from the scrubbed items; phases 2 and 3 are derived from "
        "phase 1's conversations, phase 4 from courses held out of phases 1-3."
    )


def dataset_card(phase: Phase, dataset: Any, out_dir: Path, repo_id: str | None) -> str:
    """The card: YAML (configs, dataset_info, license, tags) and the text a user reads."""
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard, DatasetCardData

    total = sum(ds.num_rows for ds in dataset.values())
    data = DatasetCardData(
        language="en",
        license=LICENSE,
        pretty_name=f"canvas_pipeline {phase.stage}: {phase.title}",
        task_categories=["text-generation"],
        size_categories=_size_category(total),
        tags=["tool-calling", "function-calling", "canvas-lms", "synthetic", "trl", *phase.tags],
    )
    splits = SplitDict()
    for name, ds in dataset.items():
        splits.add(SplitInfo(name=name, num_bytes=ds.data.nbytes, num_examples=ds.num_rows))
    features = next(iter(dataset.values())).features
    DatasetInfosDict({"default": DatasetInfo(features=features, splits=splits)}).to_dataset_card_data(data)
    files = [{"split": name, "path": f"{DATA_DIR}/{name}-*"} for name in dataset]
    MetadataConfigs({"default": {"data_files": files}}).to_dataset_card_data(data)

    where = dataset_repo_id(repo_id, phase.stage) if repo_id else f"path/to/release/datasets/{phase.stage}"
    others = (
        ", ".join(
            f"[`{dataset_repo_id(repo_id, s)}`](https://huggingface.co/datasets/{dataset_repo_id(repo_id, s)})"
            for s in PHASES
            if s != phase.stage
        )
        if repo_id
        else "the other phases' folders beside this one"
    )
    model = f"[`{repo_id}`](https://huggingface.co/{repo_id})" if repo_id else "the release's model folder"
    split_rows = "\n".join(f"| `{name}` | {ds.num_rows} |" for name, ds in dataset.items())
    column_rows = "\n".join(f"| `{name}` | {text} |" for name, text in phase.columns)
    body = f"""
# canvas_pipeline {phase.stage}: {phase.title}

{phase.summary} For {phase.use}. Released with the model {model}; the other phases: {others}.

## Load

```python
from datasets import load_dataset

dataset = load_dataset("{where}")
```

{MESSAGES_NOTE}

## Splits

| split | rows |
|---|---|
{split_rows}

Splits are made by course, so they share no Canvas item: nothing in `test` or `bench` is in `train`.

## Columns

| column | what it holds |
|---|---|
{column_rows}

## Where it came from

{_provenance(out_dir, phase.stage)}

## Personal data

Scrubbed. The PII gate replaced personal data in the Canvas items (e-mail addresses, phone
numbers, ID numbers, street addresses, personal URLs, usernames, person names) before any
conversation was generated, and every generated conversation was checked again and dropped
on any finding. The list of known usernames the gate matches stays on the machine that
built the data and is not part of this dataset; every row was checked against it again
before this upload.

## License

GPL-3.0, the license of the `canvas_pipeline` project.
"""
    return str(DatasetCard(f"---\n{data.to_yaml()}\n---\n{body}"))


def write_phase_dataset(out_dir: Path, stage: str, repo_id: str | None = None) -> PhaseRelease:
    """Write `OUT/release/datasets/<stage>/` from the phase file: parquet per split and the
    card. Raises ReleaseRefused when the phase file is missing or empty, or when a known
    username of the PII lexicon appears in a row."""
    from canvas_pipeline.data.hf import full_dataset_dict

    phase = PHASES[stage]
    source = stage_dir(out_dir, stage) / DATASET_FILE[stage]
    if not source.is_file():
        raise ReleaseRefused([f"{source} is missing: run `canvas-train data` (or the data_job) first"])
    rows = read_jsonl(source)
    if not rows:
        raise ReleaseRefused([f"{source} has no rows: nothing to publish"])
    if hits := lexicon_hits(rows, _lexicon_pattern(out_dir)):
        raise ReleaseRefused(
            [f"{source}: a known username of {CURATED}/{LEXICON} appears in {len(hits)} rows ({', '.join(hits[:5])})"]
        )
    dataset = full_dataset_dict(rows, phase.kind)
    card = dataset_card(phase, dataset, out_dir, repo_id)

    def write(tmp: Path) -> None:
        (tmp / DATA_DIR).mkdir()
        for name, ds in dataset.items():
            ds.to_parquet(str(tmp / DATA_DIR / f"{name}-00000-of-00001.parquet"))
        atomic_write_text(tmp / CARD, card)
        _check_folder(tmp)

    dest = atomic_write_dir(datasets_dir(out_dir) / stage, write)
    return PhaseRelease(
        stage, dataset_repo_id(repo_id, stage) if repo_id else None, dest, {n: d.num_rows for n, d in dataset.items()}
    )


def _check_folder(folder: Path) -> None:
    """Only the card and the parquet files: anything else (the lexicon above all) is a bug."""
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    stray = [f for f in files if f != CARD and not (f.startswith(f"{DATA_DIR}/") and f.endswith(".parquet"))]
    if stray or any(Path(f).name == LEXICON for f in files):
        raise ReleaseRefused([f"{folder} holds files that must not be uploaded: {', '.join(stray)}"])


def write_datasets(out_dir: Path, repo_id: str | None = None) -> list[PhaseRelease]:
    """Every phase's dataset folder, written (no Hub call)."""
    return [write_phase_dataset(Path(out_dir), stage, repo_id) for stage in PHASES]


def publish_datasets(out_dir: Path, repo_id: str | None, log: Log, private: bool = True) -> DatasetsReport:
    """Write phases 1-4 as dataset folders and upload each to `ORG/NAME-phaseN` (private
    unless `private=False`). Raises ReleaseRefused (logged, before any work or Hub call)
    without a valid repo id or HF_TOKEN, and before any upload when a phase cannot be
    written; PublishError (redacted) when an upload fails, after the ones before it."""
    if problems := dataset_publish_problems(repo_id):
        _refuse(problems, log)
    assert repo_id is not None
    try:
        phases = write_datasets(out_dir, repo_id)
    except ReleaseRefused as error:
        log(str(error))
        raise
    report = DatasetsReport(private=private, phases=phases)
    for phase in phases:
        assert phase.repo_id is not None
        splits = ", ".join(f"{n} {k}" for n, k in phase.splits.items())
        message = f"canvas_pipeline {phase.stage} dataset ({splits})"
        try:
            phase.commit_url = publish_folder(
                phase.path, phase.repo_id, private, message, log, repo_type="dataset", allow_patterns=UPLOADED
            )
        except PublishError as error:
            log(f"release: {error}")
            raise
        phase.published = True
        log(f"release: published {phase.stage} ({splits}) to dataset {phase.repo_id}")
    return report


def _refuse(reasons: list[str], log: Log) -> None:
    error = ReleaseRefused(reasons)
    log(str(error))
    raise error
