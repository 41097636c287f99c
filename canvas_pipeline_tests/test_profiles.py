"""The profiles as configuration: `e2b` runs our code up to the Hub download (the Hub is
mocked, nothing else), with the token only from HF_TOKEN and refused before any network
call without it; `e2b-shape` holds the published E2B text-model facts; `tiny` is small
enough for CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import huggingface_hub
import pytest
import transformers

from canvas_pipeline.training.base_model import build_base_model
from canvas_pipeline.training.model import e2b_shape_config, tiny_text_config
from canvas_pipeline.training.profiles import PROFILES, get_profile
from canvas_pipeline.training.tokenizer import build_tokenizer, load_tokenizer, training_chat_template

TOKEN = "hf_test_token_not_real_0123456789"


class FakeHub:
    """Stands in for `huggingface_hub.snapshot_download`: records the call and writes what
    a snapshot holds (a config), so our code after the download runs for real."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, repo_id: str, local_dir: str, token: str | None = None, **_: Any) -> str:
        self.calls.append({"repo_id": repo_id, "local_dir": local_dir, "token": token})
        Path(local_dir).mkdir(parents=True, exist_ok=True)
        (Path(local_dir) / "config.json").write_text('{"model_type": "gemma4"}')
        return local_dir


def test_e2b_base_refuses_without_hf_token_before_any_download(
    tiny_tokenizer_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = FakeHub()
    monkeypatch.setattr(huggingface_hub, "snapshot_download", hub)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(PermissionError, match="HF_TOKEN"):
        build_base_model(get_profile("e2b"), tiny_tokenizer_dir, tmp_path / "base")
    assert hub.calls == []
    assert not (tmp_path / "base").exists(), "nothing half-written is left behind"


def test_e2b_base_downloads_the_instruct_model_with_the_environment_token(
    tiny_tokenizer_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = FakeHub()
    monkeypatch.setattr(huggingface_hub, "snapshot_download", hub)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    dest = tmp_path / "base"
    report = build_base_model(get_profile("e2b"), tiny_tokenizer_dir, dest)
    assert [c["repo_id"] for c in hub.calls] == ["google/gemma-4-e2b-it"]
    assert hub.calls[0]["token"] == TOKEN
    assert report.source == "hf://google/gemma-4-e2b-it" and report.path == dest
    assert (dest / "config.json").is_file(), "the snapshot lands in the base model folder"
    assert load_tokenizer(dest).chat_template == training_chat_template(), "our training template rides along"
    written = "".join(p.read_text(errors="ignore") for p in dest.rglob("*") if p.is_file())
    assert TOKEN not in written and TOKEN not in repr(report)


def test_e2b_tokenizer_comes_from_the_hub_with_the_training_template(
    tiny_tokenizer_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    hub_tokenizer = load_tokenizer(tiny_tokenizer_dir)  # stands in for Gemma's own
    hub_tokenizer.chat_template = "{{ 'not the training template' }}"

    def from_pretrained(model_id: str, token: str | None = None, **_: Any) -> Any:
        seen.update(model_id=model_id, token=token)
        return hub_tokenizer

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", from_pretrained)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    folder = build_tokenizer("e2b", tmp_path / "tokenizer")
    assert seen == {"model_id": "google/gemma-4-e2b-it", "token": TOKEN}
    assert "{% generation %}" in (folder / "chat_template.jinja").read_text()


def test_e2b_shape_has_the_published_text_model_facts() -> None:
    config = e2b_shape_config().to_dict()
    assert (config["num_hidden_layers"], config["hidden_size"], config["vocab_size"]) == (35, 1536, 262144)
    assert (config["hidden_size_per_layer_input"], config["vocab_size_per_layer_input"]) == (256, 262144)
    assert (config["head_dim"], config["num_attention_heads"]) == (256, 8)
    assert config["sliding_window"] == 512 and config["num_kv_shared_layers"] == 20
    assert config["final_logit_softcapping"] == 30.0 and config["use_double_wide_mlp"]
    kinds = config["layer_types"]
    assert kinds.count("full_attention") == 7 and kinds[:5] == ["sliding_attention"] * 4 + ["full_attention"]
    global_layers = {f"{i:02d}" for i, kind in enumerate(kinds) if kind == "full_attention"}
    assert {k: v["head_dim"] for k, v in config["per_layer_config"].items()} == dict.fromkeys(global_layers, 512)


def test_profiles_differ_by_configuration_only() -> None:
    assert set(PROFILES) == {"tiny", "e2b", "e2b-shape"}
    assert get_profile("tiny").hub_model_id is None and get_profile("e2b").hub_model_id == "google/gemma-4-e2b-it"
    assert get_profile("tiny").budget.max_steps and get_profile("e2b").budget.max_steps is None
    tiny = tiny_text_config(4096).to_dict()
    assert tiny["num_hidden_layers"] == 2 and tiny["vocab_size_per_layer_input"] == 4096
    assert tiny["head_dim"] == 32 and not tiny.get("per_layer_config"), "the global layer's head dim shrunk to 32 too"
    with pytest.raises(ValueError, match="unknown profile"):
        get_profile("e4b")


def test_a_step_override_scales_the_train_rows_with_the_steps() -> None:
    """`canvas-train train --max-steps N` draws the rows N steps consume under the budget,
    not the whole budget's rows: 8 of the tiny reference budget's 128 steps take 512 of its
    8192 rows; an epoch budget (no step count) keeps its rows."""
    reference = get_profile("tiny").budget.reference
    assert reference is not None and (reference.max_steps, reference.train_rows) == (128, 8192)
    short = reference.with_steps(8)
    assert (short.max_steps, short.train_rows) == (8, 512)
    assert short.train_rows == short.max_steps * short.batch_size * short.grad_accum
    assert reference.with_steps(3).train_rows == 192 and reference.with_steps(256).train_rows == 16384
    epochs = get_profile("e2b").budget
    assert epochs.with_steps(10).train_rows == epochs.train_rows and epochs.with_steps(10).max_steps == 10
