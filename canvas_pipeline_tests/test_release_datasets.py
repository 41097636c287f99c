"""Publishing phases 1-4 as Hub datasets (`release.datasets`, `canvas-train release --datasets`).

The push goes to a mocked `HfApi` (patched where `release.hub` imports it) whose
`upload_folder` copies what the real client would send (the folder's files that match the
call's `allow_patterns`) into a scratch folder; `datasets.load_dataset` then reloads that
copy, and every row of every phase, every tool call's arguments above all, must equal the
phase file's line exactly. The refusals are the model publish's: no HF_TOKEN or no valid
repo id, refused before any work or Hub call; private unless asked; the PII lexicon never
goes out."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import MagicMock, patch

import pytest
from huggingface_hub import DatasetCard
from huggingface_hub.utils import filter_repo_objects

from canvas_pipeline.cli import main
from canvas_pipeline.data.io import read_jsonl, write_jsonl
from canvas_pipeline.data.stages import CURATED, DATASET_FILE, PHASE1, PHASE2, PHASE3, PHASE4, RAW
from canvas_pipeline.release.datasets import (
    LEXICON,
    PHASES,
    UPLOADED,
    dataset_publish_problems,
    dataset_repo_id,
    datasets_dir,
    publish_datasets,
)
from canvas_pipeline.release.gate import ReleaseRefused
from canvas_pipeline.release.hub import PublishError, publish_folder, publish_problems

FAKE_TOKEN = "hf_fake_dataset_token_never_real_0123456789"
REPO = "canvas-test/tiny"
STAGES = (PHASE1, PHASE2, PHASE3, PHASE4)
MESSAGE_COLUMNS = ("messages", "prompt", "chosen", "rejected", "completion", "reference")


class FakeHub:
    """A mocked `HfApi` class: records every call; `upload_folder` copies what would be sent."""

    def __init__(self, root: Path, fail_with: str | None = None) -> None:
        self.root, self.fail_with = root, fail_with
        self.cls = MagicMock(name="HfApi")
        self.api = self.cls.return_value
        self.api.upload_folder.side_effect = self._upload
        self.captured: dict[str, Path] = {}

    def _upload(self, **kwargs: Any) -> SimpleNamespace:
        if self.fail_with:
            raise RuntimeError(self.fail_with)
        folder = Path(kwargs["folder_path"])
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        sent = list(filter_repo_objects(files, allow_patterns=kwargs.get("allow_patterns")))
        assert sent == files, f"the folder holds files the upload leaves out: {set(files) - set(sent)}"
        dest = self.root / kwargs["repo_id"].replace("/", "__")
        for name in sent:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(folder / name, dest / name)
        self.captured[kwargs["repo_id"]] = dest
        return SimpleNamespace(commit_url=f"https://huggingface.co/datasets/{kwargs['repo_id']}/commit/abc123")


def _link(out: Path, source: Path) -> Path:
    out.mkdir(parents=True)
    for name in (RAW, CURATED, *STAGES):
        (out / name).symlink_to(source / name)
    return out


def _small(out: Path, source: Path, per_split: int = 6) -> Path:
    """A few rows of each split of each phase, with the reports and the lexicon."""
    for name in (RAW, CURATED):
        (out / name).mkdir(parents=True)
        shutil.copy2(source / name / "report.json", out / name / "report.json")
    shutil.copy2(source / CURATED / LEXICON, out / CURATED / LEXICON)
    for stage in STAGES:
        rows = read_jsonl(source / stage / DATASET_FILE[stage])
        kept: list[dict[str, Any]] = []
        for split in dict.fromkeys(r["split"] for r in rows):
            kept += [r for r in rows if r["split"] == split][:per_split]
        write_jsonl(out / stage / DATASET_FILE[stage], kept)
    return out


def _calls(row: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(column, tool name, arguments) of every tool call in a row's conversation columns."""
    return [
        (column, call["function"]["name"], call["function"]["arguments"])
        for column in MESSAGE_COLUMNS
        for message in row.get(column) or []
        for call in message.get("tool_calls") or []
    ]


def _lexicon(out: Path) -> list[str]:
    return json.loads((out / CURATED / LEXICON).read_text("utf-8"))["known_usernames"]


@pytest.fixture(scope="module")
def pushed(real_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Phases 1-4 of the real slice pushed once to the mocked Hub with the default settings."""
    tmp = tmp_path_factory.mktemp("pushed")
    out = _link(tmp / "out", real_slice)
    hub = FakeHub(tmp / "hub")
    logs: list[str] = []
    with pytest.MonkeyPatch.context() as mp, patch("canvas_pipeline.release.hub.HfApi", hub.cls):
        mp.setenv("HF_TOKEN", FAKE_TOKEN)
        report = publish_datasets(out, REPO, logs.append)
    yield {"out": out, "hub": hub, "report": report, "logs": logs, "cache": tmp / "cache"}


@pytest.fixture(scope="module")
def small_source(real_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _small(tmp_path_factory.mktemp("small") / "out", real_slice)


@pytest.fixture
def small(small_source: Path, tmp_path: Path) -> Path:
    """A fresh copy of a few rows per split of each phase (tests may change it)."""
    return Path(shutil.copytree(small_source, tmp_path / "out"))


def test_pushed_datasets_reload_with_exact_rows_and_arguments(pushed: dict[str, Any]) -> None:
    """Each phase's upload, reloaded with `load_dataset(folder)`, is a DatasetDict with the
    phase file's splits, and every row equals its line: every column, and every tool call's
    name and arguments (keys, values, types and key order), for all rows of all phases."""
    from datasets import DatasetDict, Json, List, load_dataset

    hub, out = pushed["hub"], pushed["out"]
    assert set(hub.captured) == {dataset_repo_id(REPO, s) for s in STAGES}
    total_calls = 0
    for stage in STAGES:
        source = read_jsonl(out / stage / DATASET_FILE[stage])
        reloaded = load_dataset(str(hub.captured[dataset_repo_id(REPO, stage)]), cache_dir=str(pushed["cache"]))
        assert isinstance(reloaded, DatasetDict)
        expected_splits = {s: sum(r["split"] == s for r in source) for s in dict.fromkeys(r["split"] for r in source)}
        assert {s: ds.num_rows for s, ds in reloaded.items()} == expected_splits, stage
        for ds in reloaded.values():
            for column in MESSAGE_COLUMNS:
                if column in ds.features:
                    assert ds.features[column] == List(Json()), (stage, column)
        by_id = {r["id"]: r for ds in reloaded.values() for r in ds}
        assert len(by_id) == len(source), stage
        for line in source:
            row = by_id[line["id"]]
            assert row["split"] in reloaded and set(row) == set(line), (stage, line["id"])
            for column, value in line.items():
                assert json.dumps(row[column]) == json.dumps(value), (stage, line["id"], column)
            calls, expected = _calls(row), _calls(line)
            assert len(calls) == len(expected), (stage, line["id"])
            for (col, name, args), (want_col, want_name, want_args) in zip(calls, expected, strict=True):
                assert (col, name) == (want_col, want_name)
                assert json.dumps(args) == json.dumps(want_args), (stage, line["id"], name)
                if isinstance(want_args, dict):
                    assert list(args) == list(want_args)  # exactly its own keys, in order: no merged struct
            total_calls += len(expected)
    assert total_calls > 10_000  # the slice's conversations do call tools: the comparison is not vacuous


def test_push_is_private_with_the_token_only_in_the_client(pushed: dict[str, Any]) -> None:
    hub, logs, report = pushed["hub"], pushed["logs"], pushed["report"]
    assert hub.cls.call_args_list == [((), {"token": FAKE_TOKEN})] * len(STAGES)
    repos = [dataset_repo_id(REPO, s) for s in STAGES]
    assert [c.args for c in hub.api.create_repo.call_args_list] == [(r,) for r in repos]
    for call in hub.api.create_repo.call_args_list:
        assert call.kwargs == {"repo_type": "dataset", "private": True, "exist_ok": True}
    for call, repo in zip(hub.api.upload_folder.call_args_list, repos, strict=True):
        assert call.kwargs["repo_id"] == repo and call.kwargs["repo_type"] == "dataset"
        assert call.kwargs["allow_patterns"] == UPLOADED
    assert report.published and report.private
    assert [p.repo_id for p in report.phases] == repos and all(p.commit_url for p in report.phases)
    assert all(FAKE_TOKEN not in line for line in logs)
    for folder in hub.captured.values():
        for path in folder.rglob("*"):
            assert not path.is_file() or FAKE_TOKEN.encode() not in path.read_bytes()


def test_lexicon_is_never_uploaded(pushed: dict[str, Any]) -> None:
    """No uploaded file is the lexicon or holds it, and no known username is in any row."""
    from datasets import load_dataset

    hub, out = pushed["hub"], pushed["out"]
    lexicon_bytes = (out / CURATED / LEXICON).read_bytes()
    usernames = _lexicon(out)
    assert usernames, "the real slice's lexicon names at least one username: this test would be vacuous"
    for repo, folder in hub.captured.items():
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        assert files[0] == "README.md" and all(f.startswith("data/") and f.endswith(".parquet") for f in files[1:])
        for path in folder.rglob("*"):
            if path.is_file():
                assert path.name != LEXICON and lexicon_bytes not in path.read_bytes(), (repo, path)
        card = (folder / "README.md").read_text("utf-8").lower()
        text = json.dumps([r for ds in load_dataset(str(folder), cache_dir=str(pushed["cache"])).values() for r in ds])
        for name in usernames:
            assert name.lower() not in card and name.lower() not in text.lower(), repo


def test_cards_carry_the_metadata_load_dataset_and_the_hub_read(pushed: dict[str, Any]) -> None:
    hub = pushed["hub"]
    for stage in STAGES:
        folder = hub.captured[dataset_repo_id(REPO, stage)]
        card = DatasetCard.load(folder / "README.md")
        data = card.data.to_dict()
        assert data["license"] == "gpl-3.0" and "tool-calling" in data["tags"]
        splits = [f["split"] for f in data["configs"][0]["data_files"]]
        assert splits == (["bench"] if stage == PHASE4 else ["train", "test"])
        assert [f["path"] for f in data["configs"][0]["data_files"]] == [f"data/{s}-*" for s in splits]
        features = {f["name"]: f for f in data["dataset_info"]["features"]}
        for column, _ in PHASES[stage].columns:
            assert column in features and f"`{column}`" in card.text, (stage, column)
        conversation = "messages" if stage == PHASE1 else "prompt"
        assert features[conversation] == {"name": conversation, "list": "json"}
        assert f'load_dataset("{dataset_repo_id(REPO, stage)}")' in card.text
        assert "## Personal data" in card.text and "Scrubbed" in card.text
        assert "/work" not in card.content and str(pushed["out"]) not in card.content  # no local path


def test_public_when_asked(small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    hub = FakeHub(tmp_path / "hub")
    with patch("canvas_pipeline.release.hub.HfApi", hub.cls):
        report = publish_datasets(small, REPO, lambda _line: None, private=False)
    assert not report.private and len(hub.captured) == len(STAGES)
    assert all(c.kwargs["private"] is False for c in hub.api.create_repo.call_args_list)


@pytest.mark.parametrize(
    ("token", "repo_id"),
    [(None, REPO), (FAKE_TOKEN, None), (FAKE_TOKEN, "not a/valid//repo"), (None, None)],
)
def test_refused_like_the_model_publish_before_any_work(
    small: Path, monkeypatch: pytest.MonkeyPatch, token: str | None, repo_id: str | None
) -> None:
    """Without HF_TOKEN or a valid repo id: refused with the model publish's reasons, before
    any folder is written or the Hub client is made."""
    if token:
        monkeypatch.setenv("HF_TOKEN", token)
    else:
        monkeypatch.delenv("HF_TOKEN", raising=False)
    logs: list[str] = []
    with patch("canvas_pipeline.release.hub.HfApi") as hub, pytest.raises(ReleaseRefused) as refused:
        publish_datasets(small, repo_id, logs.append)
    assert list(refused.value.reasons) == publish_problems(True, repo_id) != []
    assert logs == [str(refused.value)]
    hub.assert_not_called()
    assert not datasets_dir(small).exists()


def test_a_phase_repo_id_too_long_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    repo = "o/" + "n" * 94  # valid as the model's repo id, 2 characters too long with "-phase1"
    assert publish_problems(False, repo) == []
    problems = dataset_publish_problems(repo)
    assert len(problems) == 4 and all("dataset" in p for p in problems)


def test_a_known_username_in_a_row_refuses_before_any_upload(small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    lexicon = small / CURATED / LEXICON
    lexicon.write_text(json.dumps({"known_usernames": [*_lexicon(small), "zzplanted_user9"]}))
    path = small / PHASE3 / DATASET_FILE[PHASE3]
    rows = read_jsonl(path)
    rows[1]["completion"][0]["content"] = "Ask zzplanted_user9 about it."
    write_jsonl(path, rows)
    with patch("canvas_pipeline.release.hub.HfApi") as hub, pytest.raises(ReleaseRefused) as refused:
        publish_datasets(small, REPO, lambda _line: None)
    assert rows[1]["id"] in str(refused.value) and LEXICON in str(refused.value)
    hub.assert_not_called()


def test_a_failed_upload_is_redacted(small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    hub = FakeHub(tmp_path / "hub", fail_with=f"401 for token {FAKE_TOKEN}")
    logs: list[str] = []
    with patch("canvas_pipeline.release.hub.HfApi", hub.cls), pytest.raises(PublishError) as failed:
        publish_datasets(small, REPO, logs.append)
    assert FAKE_TOKEN not in str(failed.value) and "[redacted]" in str(failed.value)
    assert all(FAKE_TOKEN not in line for line in logs)
    assert hub.api.upload_folder.call_count == 1  # stops at the first failure


def test_model_publish_is_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The model's upload still goes to a model repo with the same calls as before."""
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    with patch("canvas_pipeline.release.hub.HfApi") as hub:
        hub.return_value.upload_folder.return_value = SimpleNamespace(commit_url="https://hf.co/c/1")
        assert publish_folder(tmp_path, REPO, True, "m", lambda _line: None) == "https://hf.co/c/1"
    hub.return_value.create_repo.assert_called_once_with(REPO, repo_type="model", private=True, exist_ok=True)
    hub.return_value.upload_folder.assert_called_once_with(
        repo_id=REPO, folder_path=str(tmp_path), repo_type="model", commit_message="m"
    )


def _fake_release(calls: list[tuple[Any, ...]]) -> Any:
    def release(
        out: Path,
        profile: str,
        publish: bool,
        repo_id: str | None,
        log: Any,
        private: bool,
        dataset_repos: dict[str, str] | None = None,
    ) -> Any:
        calls.append((out, profile, publish, repo_id, private, dataset_repos))
        reason = None if publish else "dry run: publishing was not requested"
        path = out / "release" / profile
        return SimpleNamespace(method="sft", path=path, published=publish, repo_id=repo_id, dry_run_reason=reason)

    return release


def test_cli_release_datasets(
    small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`canvas-train release --datasets --repo-id ORG/NAME`: the model's release as before
    (a dry run without --publish), then the four dataset repos, private unless --public."""
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    for public in (False, True):
        calls: list[tuple[Any, ...]] = []
        hub = FakeHub(tmp_path / f"hub{public}")
        argv = ["release", "--data-dir", str(small), "--datasets", "--repo-id", REPO] + ["--public"] * public
        with (
            patch("canvas_pipeline.release.run.release_checkpoint", _fake_release(calls)),
            patch("canvas_pipeline.release.hub.HfApi", hub.cls),
        ):
            assert main(argv) == 0
        # the model card links the dataset repos published with it
        assert calls == [(small, "tiny", False, REPO, not public, {s: dataset_repo_id(REPO, s) for s in STAGES})]
        assert set(hub.captured) == {dataset_repo_id(REPO, s) for s in STAGES}
        assert all(c.kwargs["private"] is (not public) for c in hub.api.create_repo.call_args_list)
        printed = capsys.readouterr().out
        assert "dry run" in printed and f"phase4 -> {REPO}-phase4" in printed and FAKE_TOKEN not in printed


def test_cli_release_datasets_without_token_is_refused_first(
    small: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    calls: list[tuple[Any, ...]] = []
    with (
        patch("canvas_pipeline.release.run.release_checkpoint", _fake_release(calls)),
        patch("canvas_pipeline.release.hub.HfApi") as hub,
    ):
        assert main(["release", "--data-dir", str(small), "--datasets", "--repo-id", REPO]) == 1
        assert main(["release", "--data-dir", str(small), "--datasets"]) == 1
    assert calls == [] and not hub.called and not datasets_dir(small).exists()
    printed = capsys.readouterr().out
    assert "release refused:" in printed and "without HF_TOKEN in the environment" in printed
    assert "without a repo_id" in printed
