"""A checkpoint folder's records and loading it back: a full checkpoint and a LoRA adapter
load; a truncated adapter is a ValueError naming the folder (the CLI's exit 2), never a
traceback from deep inside PEFT."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from canvas_pipeline.data.layout import MANIFEST
from canvas_pipeline.training.checkpoints import load_checkpoint, read_manifest
from canvas_pipeline.training.model import LORA_TARGET_MODULES, load_model
from canvas_pipeline.training.tokenizer import load_tokenizer
from canvas_pipeline_tests.test_release import save_model


@pytest.fixture
def lora_checkpoint(tmp_path: Path, tiny_tokenizer_dir: Path) -> Path:
    from peft import LoraConfig, get_peft_model

    base, folder = tmp_path / "base", tmp_path / "lora"
    save_model(base, load_tokenizer(tiny_tokenizer_dir), seed=0)
    config = LoraConfig(r=2, lora_alpha=4, target_modules=list(LORA_TARGET_MODULES), task_type="CAUSAL_LM")
    get_peft_model(load_model(base), config).save_pretrained(str(folder))
    (folder / MANIFEST).write_text(json.dumps({"method": "lora", "adapter": "lora", "base": str(base)}))
    return folder


def test_a_lora_checkpoint_loads_as_base_plus_adapter(lora_checkpoint: Path) -> None:
    model = load_checkpoint(lora_checkpoint)
    assert type(model).__name__ == "PeftModelForCausalLM" and model.active_adapter == "default"


def test_a_truncated_adapter_is_a_value_error_naming_the_folder(lora_checkpoint: Path) -> None:
    weights = lora_checkpoint / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ValueError, match=f"the lora adapter in {lora_checkpoint} cannot be loaded"):
        load_checkpoint(lora_checkpoint)


def test_a_folder_without_a_manifest_is_not_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=f"no checkpoint in {tmp_path}"):
        read_manifest(tmp_path)
