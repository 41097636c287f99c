"""The release (phase 6) on the real data slice with real tiny Gemma-4 checkpoints: the
released folder loads with plain transformers, the card states what it must, the gate
refuses with every reason and writes nothing, and publishing goes to a mocked Hub client
only when asked, with the token in the environment and nowhere else.

The checkpoints are random tiny Gemma-4 models (and a LoRA adapter on one) saved the way
`train_method` saves them, with the lineage it records; the selection, bench and base-bench
records are written by hand in the documented formats. The data guardrails run for real on
the real slice, except in the G9/G10 tests, which fake the release's own guardrail run (the
rule they test reads only G9's and G10's results and the check report)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

import dagster as dg
import pytest
import torch
from huggingface_hub import ModelCard
from transformers import AutoModelForCausalLM, AutoTokenizer

from canvas_pipeline.data.layout import base_model_dir, checkpoint_dir
from canvas_pipeline.defs.assets_release import RELEASE_ASSETS, RELEASE_KEY
from canvas_pipeline.defs.resources import DataSettings, ModelSettings
from canvas_pipeline.guardrails.registry import GUARDRAILS
from canvas_pipeline.guardrails.registry import summary as check_summary
from canvas_pipeline.guardrails.result import GuardrailResult, not_run
from canvas_pipeline.release import ReleaseRefused, release_checkpoint, release_dir, release_refusals
from canvas_pipeline.release.card import BENCH_DATASET, STAGE_DATASETS, CardInputs, card_data
from canvas_pipeline.release.export import ExportRecord
from canvas_pipeline.release.gate import (
    G9_NOTE,
    CheckEvidence,
    LineageStep,
    check_binding,
    informational_verdicts,
    lineage_g3,
    lineage_g5,
)
from canvas_pipeline.training.checkpoints import load_checkpoint
from canvas_pipeline.training.model import LORA_TARGET_MODULES, random_model, tiny_text_config
from canvas_pipeline.training.tokenizer import load_tokenizer, profile_tokenizer_dir

FAKE_TOKEN = "hf_FAKEcanvasRELEASEtoken0123456789abcdef"
PHASES = ("raw", "curated", "phase1", "phase2", "phase3", "phase4")
TOOLS = ("canvas.get_assignments", "calendar.list_events", "study.exam_bracket")
RULE = "highest macro-average tool-selection accuracy on the eval split, no tool below 40%"
PROBE = "<|turn>user\nWhat is due this week?<turn|>\n<|turn>model\n"


# ---------------------------------------------------------------- building an out_dir


def _summary(accuracy: float, identical: float | None = None) -> dict[str, Any]:
    return {
        "items": 192,
        "tool_selection_accuracy": accuracy,
        "tool_selection_interval": [round(accuracy - 0.067, 4), round(accuracy + 0.068, 4)],
        "macro_tool_accuracy": accuracy,
        "argument_accuracy": 0.41,
        "parsimony_rate": 0.93,
        "irrelevance_accuracy": 0.5,
        "format_validity": 0.88,
        "full_call_exact": 0.12,
        "identical_to_sft": identical,
    }


def _per_tool(accuracy: float) -> dict[str, Any]:
    return {
        tool: {
            "n": 64,
            "correct": round(64 * accuracy),
            "accuracy": accuracy,
            "low": 0.4,
            "high": 0.66,
            "low_confidence": False,
        }
        for tool in TOOLS
    }


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1))


def write_eval(
    out: Path,
    selected: str | None,
    methods: dict[str, float],
    base_accuracy: float = 0.25,
    identical: dict[str, float] | None = None,
) -> None:
    """Base bench, per-method bench records, the selection and the report, by hand."""
    ev = out / "eval" / "tiny"
    _write_json(
        ev / "base_bench.json", {"method": "base", "summary": _summary(base_accuracy), "per_tool": _per_tool(0.3)}
    )
    for method, acc in methods.items():
        figures = _summary(acc, (identical or {}).get(method))
        record = {"method": method, "profile": "tiny", "summary": figures, "per_tool": _per_tool(acc)}
        seen = round(min(acc + 0.2, 1.0), 4)  # the eval split reuses the training phrasings
        record["eval"] = {**_summary(seen), "per_tool": _per_tool(seen)}
        folder = checkpoint_dir(out, "tiny", method)
        if (folder / "checkpoint.json").is_file():  # what the bench records: the checkpoint and data it scored
            from canvas_pipeline.evaluation.freshness import bench_lineage

            record["lineage"] = bench_lineage(out, "tiny", folder)
        _write_json(ev / "bench" / f"{method}.json", {**record, "outputs": {}, "conversations": []})
    candidates = {
        m: {"macro_tool_accuracy": a, "floor_violations": {} if a >= 0.4 else {TOOLS[0]: a}, "qualifies": a >= 0.4}
        for m, a in methods.items()
    }
    reason = (
        f"{selected} has the highest macro tool-selection accuracy on the eval split (61.0%) with every tool at or "
        "above 40%; next: kto (45.0%)"
        if selected
        else "no checkpoint qualifies: sft: 3 tools under the floor"
    )
    _write_json(
        ev / "selection.json",
        {"selected": selected, "rule": RULE, "reason": reason, "split": "eval", "candidates": candidates},
    )
    (ev / "report").mkdir(parents=True, exist_ok=True)
    (ev / "report" / "report.md").write_text("# Bench report (tiny profile)\n")


def link_data(out: Path, real_slice: Path, tokenizer_dir: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in PHASES:
        (out / name).symlink_to(real_slice / name)
    shutil.copytree(tokenizer_dir, profile_tokenizer_dir(out, "tiny"))


CHECK_WAIVERS = {"G9": "the mini-trains take minutes", "G10": "no container engine on this machine"}


def write_check_report(
    out: Path,
    waivers: dict[str, str] | None = None,
    passed: tuple[str, ...] = (),
    judged: Path | None = None,
    profile: str = "tiny",
    bound: bool = True,
) -> dict[str, Any]:
    """`out/guardrails.json` as `canvas-train check` writes it (the registry's `summary` plus
    `check_binding`): every guardrail PASS but G9 and G10 NOT RUN unless in `passed`, bound to
    the data in `judged` (default `out`), or to nothing when not `bound` (an older report)."""
    results = [
        GuardrailResult(g.id, g.name, True, 1.0, g.threshold)
        if g.id not in ("G9", "G10") or g.id in passed
        else not_run(g.id, g.name, g.threshold, "not run by this check")
        for g in GUARDRAILS
    ]
    report = check_summary(results, waivers)
    if bound:
        report |= check_binding(judged or out, profile)
    _write_json(out / "guardrails.json", report)
    return report


def release_run_guardrails(
    out_dir: Path, profile: str, steps: list[LineageStep], tokenizer_dir: Path | None
) -> list[GuardrailResult]:
    """The release's own guardrail run on a good folder, faked: G1-G8 and G11-G14 PASS, G9 NOT
    RUN (the release never runs the mini-trains), G10 NOT RUN (no container engine)."""
    return [
        not_run(g.id, g.name, g.threshold, G9_NOTE if g.id == "G9" else "engine layer (b) not run: no engine")
        if g.id in ("G9", "G10")
        else GuardrailResult(g.id, g.name, True, 1.0, g.threshold)
        for g in GUARDRAILS
    ]


def _manifest(method: str, adapter: str, base: Path, g5_passed: bool = True) -> dict[str, Any]:
    g5 = {"grad_norm": 0.71 if g5_passed else 52.65, "loss": 2.2, "passed": g5_passed}
    return {
        "method": method,
        "adapter": adapter,
        "base": str(base),
        "metrics": {"g5_dry_run": g5, "g3_base_bench": {"tool_selection_accuracy": 0.25, "items": 192}, "steps": 4},
    }


def record_lineage(out: Path, method: str, folder: Path) -> None:
    """The lineage `train_method` records in checkpoint.json: the data, base and reference
    checkpoint it was made from and its own weights, as they are on disk now."""
    from canvas_pipeline.data.lineage import folder_fingerprint, stage_fingerprint
    from canvas_pipeline.training.gates import reference_fingerprint
    from canvas_pipeline.training.lineage import weights_fingerprint
    from canvas_pipeline.training.methods import get_method

    manifest = json.loads((folder / "checkpoint.json").read_text())
    reference = get_method(method).reference
    manifest["lineage"] = {
        "data": {"phase1": stage_fingerprint(out, "phase1", "tiny")},
        "base": folder_fingerprint(base_model_dir(out, "tiny")),
        **({"reference": reference_fingerprint(checkpoint_dir(out, "tiny", reference))} if reference else {}),
        "checkpoint": weights_fingerprint(folder),
    }
    _write_json(folder / "checkpoint.json", manifest)


def save_model(folder: Path, tokenizer: Any, seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    random_model(tiny_text_config(len(tokenizer)), seed).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))


def write_full_checkpoint(out: Path, method: str = "sft", g5_passed: bool = True) -> Path:
    tokenizer = load_tokenizer(profile_tokenizer_dir(out, "tiny"))
    save_model(base_model_dir(out, "tiny"), tokenizer, seed=0)
    folder = checkpoint_dir(out, "tiny", method)
    save_model(folder, tokenizer, seed=1)
    _write_json(folder / "checkpoint.json", _manifest(method, "full", base_model_dir(out, "tiny"), g5_passed))
    record_lineage(out, method, folder)
    return folder


def write_adapter_checkpoint(out: Path, kind: str = "lora") -> Path:
    """A LoRA adapter (random B, so it changes the outputs) on the saved base model; for
    `qlora` on the base loaded in 4-bit NF4, as training does."""
    from peft import LoraConfig, get_peft_model

    from canvas_pipeline.training.model import load_model

    tokenizer = load_tokenizer(profile_tokenizer_dir(out, "tiny"))
    base = base_model_dir(out, "tiny")
    save_model(base, tokenizer, seed=0)
    config = LoraConfig(r=8, lora_alpha=8, target_modules=list(LORA_TARGET_MODULES), init_lora_weights=False)
    torch.manual_seed(3)
    peft_model = get_peft_model(load_model(base, quantize_4bit=kind == "qlora"), config)
    folder = checkpoint_dir(out, "tiny", kind)
    peft_model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    _write_json(folder / "checkpoint.json", _manifest(kind, kind, base))
    record_lineage(out, kind, folder)
    return folder


def probe_logits(model: Any, tokenizer: Any) -> torch.Tensor:
    ids = tokenizer(PROBE, return_tensors="pt", add_special_tokens=False).input_ids
    with torch.no_grad():
        return model(input_ids=ids).logits


def files_holding(root: Path, secret: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def materialize(
    out: Path, config: dict[str, Any] | None = None, instance: dg.DagsterInstance | None = None
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        RELEASE_ASSETS,
        resources={"data": DataSettings(out_dir=str(out)), "model": ModelSettings(profile="tiny")},
        run_config={"ops": {"release__model": {"config": config or {"publish": False}}}},
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


Released = tuple[Path, dg.ExecuteInProcessResult, str]


# ---------------------------------------------------------------- the dry run, through Dagster


@pytest.fixture(scope="module")
def released(
    real_slice: Path, tiny_tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Released]:
    """A full `sft` checkpoint selected and released by the asset, as a dry run, with a
    (fake) HF_TOKEN in the environment that must not be used or written anywhere."""
    out = tmp_path_factory.mktemp("release_out")
    link_data(out, real_slice, tiny_tokenizer_dir)
    write_full_checkpoint(out)
    write_eval(out, "sft", {"sft": 0.61, "kto": 0.45, "dpo": 0.30})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_TOKEN", FAKE_TOKEN)
        with patch("canvas_pipeline.release.hub.HfApi") as hub:
            instance = dg.DagsterInstance.ephemeral()
            result = materialize(out, instance=instance)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    hub.assert_not_called()
    logs = "\n".join(entry.user_message for entry in instance.all_logs(result.run_id))
    yield out, result, logs


def test_the_released_folder_loads_with_plain_transformers_and_reproduces_the_checkpoint(
    released: Released,
) -> None:
    out, _, _ = released
    dest = release_dir(out, "tiny")
    model = AutoModelForCausalLM.from_pretrained(str(dest))
    tokenizer = AutoTokenizer.from_pretrained(str(dest))
    assert len(tokenizer("<|tool_call>", add_special_tokens=False).input_ids) == 1
    source = checkpoint_dir(out, "tiny", "sft")
    expected = probe_logits(load_checkpoint(source), load_tokenizer(source))
    assert torch.allclose(probe_logits(model, tokenizer), expected, atol=1e-5)
    assert {p.name for p in dest.iterdir()} >= {"model.safetensors", "config.json", "tokenizer.json", "README.md"}
    assert not (dest / "checkpoint.json").exists() and not (dest / "training_args.bin").exists()
    assert (dest / "bench_report" / "report.md").is_file()
    # the released tokenizer reads our dotted tool names (test_response_template checks the whole bench)
    call = "<|tool_call>call:canvas.get_assignments{course_id:4264,horizon_days:7}<tool_call|>"
    function = {"name": "canvas.get_assignments", "arguments": {"course_id": 4264, "horizon_days": 7}}
    assert tokenizer.parse_response(call, prefix="") == {
        "role": "assistant",
        "tool_calls": [{"type": "function", "function": function}],
    }


def test_the_card_parses_and_states_selection_guardrails_data_bench_and_the_disclaimer(
    released: Released,
) -> None:
    out, _, _ = released
    card = ModelCard.load(release_dir(out, "tiny") / "README.md")
    assert card.data.library_name == "transformers" and card.data.language == "en"
    assert card.data.license == "gpl-3.0" and "sft" in card.data.tags
    assert card.data.eval_results[0].metric_value == 0.61
    # Hub metadata: the data the lineage trained on and the bench; `trl`, but no `peft` for a
    # full fine-tune; the bench results stay in `model-index`
    assert card.data.datasets == [STAGE_DATASETS["phase1"], BENCH_DATASET]
    assert "trl" in card.data.tags and "peft" not in card.data.tags
    header = (release_dir(out, "tiny") / "README.md").read_text().split("\n---\n", 1)[0]
    assert "datasets:" in header and "model-index:" in header and "tool_selection_accuracy" in header
    assert {r.metric_type for r in card.data.eval_results} >= {"tool_selection_accuracy", "argument_accuracy"}
    text = card.text
    assert "Demonstration model: not for students' use" in text and "1.6M-parameter random Gemma-4" in text
    assert "sft has the highest macro tool-selection accuracy on the eval split (61.0%)" in text
    assert RULE in text
    for gid in [f"G{i}" for i in range(1, 15)]:
        row = next(line for line in text.splitlines() if line.startswith(f"| {gid} |"))
        assert any(f"**{s}" in row for s in ("PASS**", "FAIL**", "NOT RUN, no waiver**")), row
    # the dry run of README command 1: no check report, so G9 is NOT RUN with no waiver, said at the top
    assert "| G9 | trainer mini-train tests | **NOT RUN, no waiver** |" in text
    notice = text.index(": NOT RUN, no waiver.**")  # "Guardrails G9, G10" (G10 passes where an engine answers)
    assert notice < text.index("## Method") and "> **Guardrail" in text[notice - 30 : notice]
    assert "G9" in text[notice - 30 : notice]
    assert "may not be published (publishing refuses it)" in text
    assert "61.0% [54.3%, 67.8%]" in text  # the Wilson interval of the selected checkpoint
    assert "| phase1/sft_trajectories |" in text and "shrinkage" in text
    assert (
        "go both ways" in text and "misreport" in text and "G14 holds a classifier that never sees the prompt" in text
    )
    assert "| kto |" in text and "| base | 192 |" in text
    # the released method's generalization gap: eval split (seen phrasings) against the bench (unseen)
    gap = text[text.index("### Seen vs unseen phrasings (`sft`)") : text.index("### Per tool")]
    assert "the eval split reuses the training phrasings" in gap
    assert "| eval split (selected the checkpoint) | seen in training | 192 | 81.0% [" in gap
    assert "| bench | unseen | 192 | 61.0% [54.3%, 67.8%] |" in gap
    assert "**+20.0 points**; two-sided Fisher exact p < 0.001" in gap and "higher on seen phrasings" in gap


def test_release_json_and_the_asset_metadata_say_it_was_a_dry_run(
    released: Released,
) -> None:
    out, result, _ = released
    record = json.loads((release_dir(out, "tiny") / "release.json").read_text())
    assert record["method"] == "sft" and record["published"] is False and record["repo_id"] is None
    assert "dry run" in record["dry_run_reason"] and record["selection"]["selected"] == "sft"
    assert [g["id"] for g in record["guardrails"]] == [f"G{i}" for i in range(1, 15)]
    assert {g["id"]: g["status"] for g in record["guardrails"]}["G5"] == "PASS"
    assert record["bench_summary"]["tool_selection_interval"] == [0.543, 0.678]
    assert record["export"]["adapter"] == "full" and record["export"]["max_abs_logit_diff"] < 1e-4
    # README command 1 runs no `canvas-train check`: the dry run goes ahead, G9 shown as not run, never PASS
    g9 = record["informational"]["G9"]
    assert g9["status"] == "NOT RUN" and g9["label"] == "NOT RUN, no waiver" and g9["source"] == "none"
    assert "no `canvas-train check` report in" in g9["detail"] and "G9" in record["not_run_unwaived"]
    assert record["waivers"] == {} and record["check_report"]["used"] is False
    assert any(w.startswith("G9 (trainer mini-train tests): NOT RUN, no waiver") for w in record["warnings"])
    meta = result.asset_materializations_for_node("release__model")[0].metadata
    assert meta["selected"].value == "sft" and meta["published"].value is False
    assert "dry run" in meta["dry_run_reason"].value
    assert meta["guardrails"].value["G1"] == "PASS" and meta["guardrails"].value["G9"] == "NOT RUN"
    assert isinstance(meta["model_card"], dg.MarkdownMetadataValue) and "## Guardrails" in meta["model_card"].value


def test_the_token_is_nowhere_after_a_dry_run(released: Released) -> None:
    out, result, logs = released
    assert files_holding(out / "release", FAKE_TOKEN) == []
    meta = result.asset_materializations_for_node("release__model")[0].metadata
    assert FAKE_TOKEN not in json.dumps({k: str(v) for k, v in meta.items()})
    events = "\n".join(e.message or "" for e in result.all_events)
    assert "release: sft written to" in logs and FAKE_TOKEN not in logs + events


# ---------------------------------------------------------------- publishing (mocked Hub)


def test_publish_merges_the_lora_adapter_and_uploads_to_the_mocked_hub(
    real_slice: Path, tiny_tokenizer_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    link_data(out, real_slice, tiny_tokenizer_dir)
    source = write_adapter_checkpoint(out)
    write_eval(out, "lora", {"sft": 0.5, "lora": 0.61})
    write_check_report(out, waivers=CHECK_WAIVERS)  # publishing needs G9 and G10 passed or waived
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    logs: list[str] = []
    uploaded: list[tuple[set[str], dict[str, Any]]] = []

    def upload_folder(**kwargs: Any) -> SimpleNamespace:
        folder = Path(kwargs["folder_path"])
        uploaded.append(({p.name for p in folder.iterdir()}, json.loads((folder / "release.json").read_text())))
        return SimpleNamespace(commit_url="https://huggingface.co/canvas-test/tiny-lora/commit/abc123")

    with patch("canvas_pipeline.release.hub.HfApi") as hub:
        api = hub.return_value
        api.upload_folder.side_effect = upload_folder
        report = release_checkpoint(out, "tiny", publish=True, repo_id="canvas-test/tiny-lora", log=logs.append)

    hub.assert_called_once_with(token=FAKE_TOKEN)  # the token goes to the Hub client, nowhere else
    api.create_repo.assert_called_once_with("canvas-test/tiny-lora", repo_type="model", private=True, exist_ok=True)
    kwargs = api.upload_folder.call_args.kwargs
    dest = release_dir(out, "tiny")
    assert kwargs["repo_id"] == "canvas-test/tiny-lora" and Path(kwargs["folder_path"]) == dest
    names, uploaded_record = uploaded[0]
    assert names >= {"README.md", "release.json", "model.safetensors", "config.json", "tokenizer.json"}
    assert "adapter_config.json" not in names
    assert uploaded_record["published"] is True and uploaded_record["repo_id"] == "canvas-test/tiny-lora"
    assert report.published and report.repo_id == "canvas-test/tiny-lora" and report.dry_run_reason is None
    record = json.loads((dest / "release.json").read_text())
    assert record["published"] is True and record["commit_url"].endswith("abc123")

    # merged: plain transformers weights whose outputs are the adapter's, not the base's
    released = AutoModelForCausalLM.from_pretrained(str(dest))
    assert not any("lora" in name for name, _ in released.named_parameters())
    tokenizer = load_tokenizer(source)
    got = probe_logits(released, tokenizer)
    assert torch.allclose(got, probe_logits(load_checkpoint(source), tokenizer), atol=1e-4)
    base = AutoModelForCausalLM.from_pretrained(str(base_model_dir(out, "tiny")))
    assert not torch.allclose(got, probe_logits(base, tokenizer), atol=1e-2)
    card = ModelCard.load(dest / "README.md")
    assert "LoRA adapter merged" in card.text
    # the method trained through PEFT (the release merged the adapter): tagged `peft` as well as `trl`
    assert {"trl", "peft"} <= set(card.data.tags)

    # the token: not in any file written, the report, the card or the logs
    assert files_holding(out / "release", FAKE_TOKEN) == []
    assert FAKE_TOKEN not in json.dumps(report.to_dict(), default=str) + report.card + "\n".join(logs)
    assert any("published lora to canvas-test/tiny-lora" in line for line in logs)


def test_publishing_needs_g9_and_g10_passed_or_waived_by_a_check_report_on_this_data(
    real_slice: Path, tiny_tokenizer_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Publishing refuses while G9 or G10 has neither a PASS nor a waiver, naming each and the
    fix; a check report of other data, of another profile or bound to nothing counts for
    nothing; the check report on this data with G9 waived and G10 passed lets it publish, and
    release.json and the card say which, from which report, when."""
    out = tmp_path / "out"
    link_data(out, real_slice, tiny_tokenizer_dir)
    write_full_checkpoint(out)
    write_eval(out, "sft", {"sft": 0.61})
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    monkeypatch.setattr("canvas_pipeline.release.run.lineage_guardrails", release_run_guardrails)
    dest = release_dir(out, "tiny")

    def refused() -> list[str]:
        with pytest.raises(ReleaseRefused) as error:
            release_checkpoint(out, "tiny", publish=True, repo_id="canvas-test/tiny-sft", log=lambda _: None)
        assert not dest.exists()
        return [r for r in error.value.reasons if r.startswith(("G9 ", "G10 "))]

    other = tmp_path / "other"  # the same phases but phase 3, one row shorter
    for name in PHASES:
        if name != "phase3":
            (other / name).parent.mkdir(parents=True, exist_ok=True)
            (other / name).symlink_to(real_slice / name)
    shutil.copytree(real_slice / "phase3", other / "phase3")
    rows = (other / "phase3" / "kto_feedback.jsonl").read_text().splitlines(keepends=True)
    (other / "phase3" / "kto_feedback.jsonl").write_text("".join(rows[:-1]))

    with patch("canvas_pipeline.release.hub.HfApi") as hub:
        hub.return_value.upload_folder.return_value = SimpleNamespace(commit_url="https://hf.co/c/abc123")
        g9, g10 = refused()  # no check report at all
        assert g9.startswith("G9 (trainer mini-train tests) is NOT RUN, no waiver, and a published release needs")
        assert f"no `canvas-train check` report in {out / 'guardrails.json'}" in g9
        assert f"run `canvas-train check --data-dir {out} --profile tiny` on this data" in g9
        assert '--no-g9 --waive G9="why"' in g9 and '--waive G10="why"' in g10

        write_check_report(out, CHECK_WAIVERS, judged=other)
        g9, g10 = refused()
        assert "judged other data: phase3 changed since" in g9 and "judged other data: phase3" in g10
        write_check_report(out, CHECK_WAIVERS, profile="e2b")
        assert "is of the 'e2b' profile, not 'tiny'" in refused()[0]
        write_check_report(out, CHECK_WAIVERS, bound=False)
        assert "records no fingerprints of the data it judged" in refused()[0]
        write_check_report(out, {"G10": CHECK_WAIVERS["G10"]})  # G10 waived; G9 neither passed nor waived
        (only,) = refused()
        assert only.startswith("G9 ") and "did not run it, and no waiver was given" in only
        hub.return_value.upload_folder.assert_not_called()

        check = write_check_report(out, {"G9": CHECK_WAIVERS["G9"]}, passed=("G10",))
        logs: list[str] = []
        report = release_checkpoint(out, "tiny", publish=True, repo_id="canvas-test/tiny-sft", log=logs.append)
    assert report.published and hub.return_value.upload_folder.call_count == 1
    record = json.loads((dest / "release.json").read_text())
    assert record["published"] is True and record["waivers"] == {"G9": CHECK_WAIVERS["G9"]}
    assert record["not_run_unwaived"] == []
    g9, g10 = record["informational"]["G9"], record["informational"]["G10"]
    assert g9["status"] == "NOT RUN" and g9["label"] == "NOT RUN, waived" and g9["waiver"] == CHECK_WAIVERS["G9"]
    assert g10["status"] == "PASS" and g10["source"] == g9["source"] == "check report"
    assert g9["check_report"] == str(out / "guardrails.json") and g9["checked_at"] == check["checked_at"]
    assert record["check_report"] == {
        "path": str(out / "guardrails.json"),
        "checked_at": check["checked_at"],
        "used": True,
        "ignored": None,
        "waived": {"G9": CHECK_WAIVERS["G9"]},
    }
    assert {g["id"]: g["status"] for g in record["guardrails"]}["G9"] == "NOT RUN"  # waived is not passed
    assert report.guardrail_summary()["G9"] == "NOT RUN" and report.guardrail_summary()["G10"] == "PASS"
    text = ModelCard.load(dest / "README.md").text
    source = f"`canvas-train check` report `guardrails.json` of {check['checked_at']}, on this data"
    g9_row = next(line for line in text.splitlines() if line.startswith("| G9 |"))
    assert g9_row.startswith(f'| G9 | trainer mini-train tests | **NOT RUN, waived**: "{CHECK_WAIVERS["G9"]}" |')
    assert source in g9_row
    g10_row = next(line for line in text.splitlines() if line.startswith("| G10 |"))
    assert "| **PASS** |" in g10_row and source in g10_row
    assert f'> **G9 (trainer mini-train tests): NOT RUN, waived** by name: "{CHECK_WAIVERS["G9"]}"' in text
    assert "NOT RUN, no waiver" not in text and str(tmp_path) not in text  # no local path in a published card
    assert any(f"waived by name in the check report {out / 'guardrails.json'}" in line for line in logs)


def test_a_qlora_adapter_is_released_merged_into_its_dequantized_nf4_base(
    real_slice: Path, tiny_tokenizer_dir: Path, tmp_path: Path
) -> None:
    """The adapter was trained on the NF4 base: the release reproduces that model, which
    merging into the original full-precision base would not."""
    link_data(tmp_path, real_slice, tiny_tokenizer_dir)
    source = write_adapter_checkpoint(tmp_path, "qlora")
    write_eval(tmp_path, "qlora", {"sft": 0.5, "qlora": 0.61})
    report = release_checkpoint(tmp_path, "tiny", log=lambda _: None)
    assert report.export.adapter == "qlora" and "dequantized" in report.export.how
    released = AutoModelForCausalLM.from_pretrained(str(release_dir(tmp_path, "tiny")))
    assert getattr(released.config, "quantization_config", None) is None
    tokenizer = load_tokenizer(source)
    got = probe_logits(released, tokenizer)
    assert torch.allclose(got, probe_logits(load_checkpoint(source), tokenizer), atol=1e-3)
    from peft import PeftModel

    full_base = AutoModelForCausalLM.from_pretrained(str(base_model_dir(tmp_path, "tiny")))
    naive = PeftModel.from_pretrained(full_base, str(source)).merge_and_unload()
    assert not torch.allclose(probe_logits(naive, tokenizer), got, atol=1e-3)


def test_a_4bit_model_on_cpu_computes_in_the_float32_its_nf4_config_asks_for(tmp_path: Path) -> None:
    """The bench's NF4 forward (eval mode, no grad) matches the same NF4 weights
    dequantized to float32, on any CPU: bitsandbytes' bf16 kernel for AVX512-BF16 CPUs is
    switched off, or the QLoRA release could not reproduce what was benched."""
    from canvas_pipeline.training.model import load_model

    if torch.cuda.is_available():
        pytest.skip("the CPU kernel choice only applies on CPU")
    random_model(tiny_text_config(vocab_size=512), seed=3).save_pretrained(str(tmp_path / "base"))
    ids = torch.randint(3, 512, (2, 24), generator=torch.Generator().manual_seed(0))
    quantized = load_model(tmp_path / "base", quantize_4bit=True).eval()
    four_bit = [m for m in quantized.modules() if type(m).__name__ == "Linear4bit"]
    assert four_bit and all(m.support_avx512bf16_for_cpu is False for m in four_bit)
    with torch.no_grad():
        got = quantized(input_ids=ids).logits
        want = load_model(tmp_path / "base", quantize_4bit=True).dequantize()(input_ids=ids).logits
    assert torch.allclose(got, want, atol=1e-4 * max(1.0, float(want.abs().max())))


def test_card_metadata_lists_the_lineages_datasets_by_hub_id_where_published_and_tags_peft_for_adapters() -> None:
    """A DPO adapter on a full `sft`: the stages both trained on (phase 1; phases 1-3 and the
    on-policy mix) and the bench, by Hub id where the card is given one; `peft` because the
    DPO step went through a LoRA adapter, though the release ships merged weights."""
    export = ExportRecord("lora", "merged", "float32", 1000, 0.0, 1.0, 1e-3)
    steps = [
        LineageStep(
            "dpo",
            Path("dpo"),
            {"adapter": "lora", "lineage": {"data": dict.fromkeys(("phase1", "phase2", "phase3", "on_policy"), "fp")}},
        ),
        LineageStep("sft", Path("sft"), {"adapter": "full", "lineage": {"data": {"phase1": "fp"}}}),
    ]
    summary = {"tool_selection_accuracy": 0.6, "argument_accuracy": 0.5}
    inputs = CardInputs(
        profile="tiny",
        method="dpo",
        steps=steps,
        selection={},
        records={"dpo": {"summary": summary}},
        stage_reports={},
        guardrails=[],
        export=export,
        dataset_repos={"phase1": "canvas-test/phase1-sft", "phase4": "canvas-test/bench"},
    )
    data = card_data(inputs)
    assert data.datasets == [
        "canvas-test/phase1-sft",
        STAGE_DATASETS["phase2"],
        STAGE_DATASETS["phase3"],
        STAGE_DATASETS["on_policy"],
        "canvas-test/bench",
    ]
    assert {"trl", "peft", "dpo"} <= set(data.tags)
    assert [(r.dataset_type, r.metric_type, r.metric_value) for r in data.eval_results] == [
        ("canvas-test/bench", "tool_selection_accuracy", 0.6),
        ("canvas-test/bench", "argument_accuracy", 0.5),
    ]
    # a full fine-tune with no lineage recorded: the stages its method reads, and no `peft`
    full = dataclasses.replace(
        inputs,
        method="kto",
        records={"kto": {"summary": summary}},
        dataset_repos={},
        export=ExportRecord("full", "saved", "float32", 1000, 0.0, 1.0, 1e-3),
        steps=[LineageStep("kto", Path("kto"), {"adapter": "full"})],
    )
    data = card_data(full)
    assert "peft" not in data.tags and "trl" in data.tags
    assert data.datasets == [STAGE_DATASETS[s] for s in ("phase1", "phase2", "phase3", "on_policy")] + [BENCH_DATASET]
    assert data.eval_results[0].dataset_type == "canvas_pipeline/bench"


def test_publish_without_a_token_or_repo_refuses_before_any_hub_call_or_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    write_eval(tmp_path, "sft", {"sft": 0.61})
    with patch("canvas_pipeline.release.hub.HfApi") as hub:
        with pytest.raises(ReleaseRefused) as refused:
            release_checkpoint(tmp_path, "tiny", publish=True, repo_id="canvas-test/tiny", log=lambda _: None)
        assert any("HF_TOKEN" in r for r in refused.value.reasons)
        monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
        with pytest.raises(ReleaseRefused) as no_repo:
            release_checkpoint(tmp_path, "tiny", publish=True, repo_id=None, log=lambda _: None)
        assert any("repo_id" in r for r in no_repo.value.reasons) and FAKE_TOKEN not in str(no_repo.value)
        monkeypatch.delenv("HF_TOKEN")
        result = materialize(tmp_path, {"publish": True, "repo_id": "canvas-test/tiny"})
    hub.assert_not_called()
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "HF_TOKEN" in failure.step_failure_data.user_failure_data.description
    assert not (tmp_path / "release").exists()


# ---------------------------------------------------------------- the gate refusing


def test_a_failed_selection_refuses_naming_it_and_the_guardrails_not_run(tmp_path: Path) -> None:
    write_eval(tmp_path, None, {"sft": 0.2})
    with pytest.raises(ReleaseRefused) as refused:
        release_checkpoint(tmp_path, "tiny", log=lambda _: None)
    reasons = refused.value.reasons
    assert reasons[0].startswith("checkpoint selection failed: no checkpoint qualifies")
    assert any(r.startswith("G1 (") and "was not run" in r for r in reasons)  # no data in this folder
    assert any(r.startswith("G5 (") and "was not run" in r for r in reasons)
    assert not (tmp_path / "release").exists()


def test_failed_guardrails_on_the_lineage_refuse_with_every_reason_and_write_nothing(
    real_slice: Path, tiny_tokenizer_dir: Path, tmp_path: Path
) -> None:
    link_data(tmp_path, real_slice, tiny_tokenizer_dir)
    write_full_checkpoint(tmp_path, g5_passed=False)
    write_eval(tmp_path, "sft", {"sft": 0.61}, base_accuracy=0.1)
    logs: list[str] = []
    with pytest.raises(ReleaseRefused) as refused:
        release_checkpoint(tmp_path, "tiny", log=logs.append)
    reasons = refused.value.reasons
    assert [r.split(" ")[0] for r in reasons] == ["G3", "G5"], reasons
    assert "base model selects the right tool on 10.0% of items" in reasons[0]
    assert "sft:" in reasons[1] and "threshold grad_norm < 1.0" in reasons[1]
    assert "release refused" in logs[-1]
    assert not (tmp_path / "release").exists()


def test_a_no_op_checkpoint_is_refused_whatever_selected_it(
    real_slice: Path, tiny_tokenizer_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A selection record naming a checkpoint whose first bench turns are 96% identical to
    SFT's (a hand-edited or stale selection: the selection itself never picks one) is refused.
    (The guardrails pass here as on a good folder: the test above runs them for real.)"""
    monkeypatch.setattr("canvas_pipeline.release.run.lineage_guardrails", release_run_guardrails)
    link_data(tmp_path, real_slice, tiny_tokenizer_dir)
    write_full_checkpoint(tmp_path, method="dpo")
    write_eval(tmp_path, "dpo", {"dpo": 0.61}, identical={"dpo": 0.96})
    with pytest.raises(ReleaseRefused) as refused:
        release_checkpoint(tmp_path, "tiny", log=lambda _: None)
    assert any(
        "96% of dpo's first bench turns are byte-identical to SFT's: it is a no-op" in r for r in refused.value.reasons
    )
    assert not (tmp_path / "release").exists()


def test_a_checkpoint_significantly_worse_than_sft_is_refused_whatever_selected_it(
    real_slice: Path, tiny_tokenizer_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A selection record naming a candidate the paired test found worse than sft (the
    selection itself never picks one) is refused with the change and the p-value. (The
    guardrails pass here as on a good folder.)"""
    monkeypatch.setattr("canvas_pipeline.release.run.lineage_guardrails", release_run_guardrails)
    link_data(tmp_path, real_slice, tiny_tokenizer_dir)
    write_full_checkpoint(tmp_path, method="dpo")
    write_eval(tmp_path, "dpo", {"dpo": 0.61})
    path = tmp_path / "eval" / "tiny" / "selection.json"
    selection = json.loads(path.read_text())
    selection["candidates"]["dpo"] |= {"worse_than_sft": True, "vs_sft": {"change": -0.2, "p_value": 0.001}}
    path.write_text(json.dumps(selection))
    with pytest.raises(ReleaseRefused) as refused:
        release_checkpoint(tmp_path, "tiny", log=lambda _: None)
    assert any(
        "dpo is significantly worse than sft on the eval split's tool selection (-20.0%, exact McNemar p=0.001)" in r
        for r in refused.value.reasons
    ), refused.value.reasons
    assert not (tmp_path / "release").exists()


# ---------------------------------------------------------------- the gate as a pure function


def _passing(ids: list[str]) -> list[GuardrailResult]:
    return [GuardrailResult(gid, f"guardrail {gid}", True, 1.0, "t") for gid in ids]


SELECTED = {"selected": "dpo", "reason": "dpo won"}
ALL = [f"G{i}" for i in range(1, 15)]


def test_a_dry_run_passes_with_g9_and_g10_not_run_publishing_needs_a_pass_or_waiver_any_failure_refuses() -> None:
    results = _passing([g for g in ALL if g not in ("G9", "G10")])
    results += [not_run("G9", "mini-trains", "all 9", "minutes"), not_run("G10", "docker", "exit 0", "no engine")]
    assert release_refusals(SELECTED, results) == []  # a dry run: it says NOT RUN, no waiver (tested below)
    published = release_refusals(SELECTED, results, publish=True, data_dir="/data", profile="tiny")
    assert [r.split(" ")[0] for r in published] == ["G9", "G10"]
    assert published[0].startswith("G9 (mini-trains) is NOT RUN, no waiver, and a published release needs a PASS")
    assert "run `canvas-train check --data-dir /data --profile tiny` on this data" in published[0]
    assert '`canvas-train check --data-dir /data --profile tiny --no-g9 --waive G9="why"`' in published[0]
    assert '--waive G10="why"' in published[1]
    with pytest.raises(ReleaseRefused, match="G9 .* NOT RUN, no waiver"):
        from canvas_pipeline.release.gate import require_release

        require_release(SELECTED, results)  # as strict as publishing by default

    # from a check report on this data: G9 waived by name, G10 passed there
    check = {
        "G9": {"id": "G9", "status": "NOT RUN", "reason": "not requested", "waived": "no time"},
        "G10": {"id": "G10", "status": "PASS", "details": ["docker run --rm canvas-train:g10 --help exit 0"]},
    }
    evidence = CheckEvidence(Path("/data/guardrails.json"), "2026-12-02T10:00:00+00:00", check, {"G9": "no time"})
    verdicts = informational_verdicts(results, evidence)
    assert [(v.id, v.label, v.waiver, v.source) for v in verdicts] == [
        ("G9", "NOT RUN, waived", "no time", "check report"),
        ("G10", "PASS", None, "check report"),
    ]
    assert release_refusals(SELECTED, results, publish=True, verdicts=verdicts) == []
    # the same report judged other data: it counts for nothing
    ignored = CheckEvidence(evidence.path, evidence.checked_at, check, evidence.waived, ignored="other data")
    assert [v.label for v in informational_verdicts(results, ignored)] == ["NOT RUN, no waiver"] * 2
    # a FAIL refuses even a dry run: in the release's own run, or in the check report on this data
    failed_g10 = [*results[:-1], GuardrailResult("G10", "docker", False, 1, "exit 0", ("exit code 2",))]
    assert release_refusals(SELECTED, failed_g10) == ["G10 (docker) failed: exit code 2 (threshold exit 0)"]
    check["G9"] = {"id": "G9", "status": "FAIL", "details": ["dpo: reward margin went down"]}
    failed_g9 = informational_verdicts(results, CheckEvidence(evidence.path, evidence.checked_at, check, {}))
    assert release_refusals(SELECTED, results, verdicts=failed_g9) == [
        "G9 (mini-trains) failed in the check report /data/guardrails.json (2026-12-02T10:00:00+00:00): "
        "dpo: reward margin went down"
    ]


def test_the_gate_names_every_reason_selection_not_run_failed_and_missing() -> None:
    results = _passing([g for g in ALL if g not in ("G4", "G7", "G12")])
    results.append(not_run("G4", "per-tool counts", "every tool >= 30", "no phase1 dataset"))
    results.append(GuardrailResult("G7", "tool names", False, 0.98, "100%", ("phase2:row-9: canvas.list_assignments",)))
    reasons = release_refusals({"selected": None, "reason": "no checkpoint qualifies"}, results)
    assert reasons == [
        "checkpoint selection failed: no checkpoint qualifies",
        "G4 (per-tool counts) was not run: no phase1 dataset",
        "G7 (tool names) failed: phase2:row-9: canvas.list_assignments (threshold 100%)",
        "G12 has no result: it was not run on this lineage",
    ]
    assert release_refusals(None, _passing(ALL)) == ["no selection record: materialize eval/selection first"]
    with pytest.raises(ReleaseRefused, match="G12 has no result"):
        from canvas_pipeline.release.gate import require_release

        require_release(SELECTED, results)


def test_lineage_g5_judges_each_checkpoint_on_the_lineage_and_g3_fails_a_skipped_base_bench() -> None:
    good = LineageStep("sft", Path("sft"), _manifest("sft", "full", Path("base")))
    bad = LineageStep("dpo", Path("dpo"), _manifest("dpo", "lora", Path("sft"), g5_passed=False))
    assert lineage_g5([good]).passed is True and lineage_g5([good]).value == {"sft": 0.71}
    judged = lineage_g5([bad, good])
    assert judged.passed is False and judged.details == ("dpo: dry run failed",)
    bare = LineageStep("kto", Path("kto"), {"method": "kto", "adapter": "lora", "metrics": {}})
    assert lineage_g5([bare, good]).passed is None and "kto" in lineage_g5([bare, good]).reason
    assert lineage_g5([]).passed is None
    skipped = LineageStep("sft", Path("sft"), {"metrics": {"g3_base_bench": "skipped (require_g3=False)"}})
    registry_g3 = GuardrailResult("G3", "base model bench score", True, {"tool_selection_accuracy": 0.25}, ">= 20%")
    assert lineage_g3(registry_g3, [good]) is registry_g3
    assert lineage_g3(registry_g3, [skipped]).passed is False


def test_the_release_asset_is_keyed_release_model_after_the_selection() -> None:
    spec = RELEASE_ASSETS[0]
    assert spec.key == RELEASE_KEY == dg.AssetKey(["release", "model"])
    assert dg.AssetKey(["eval", "selection"]) in spec.asset_deps[RELEASE_KEY]
