"""A checkpoint folder as plain transformers weights: what `AutoModelForCausalLM` and
`AutoTokenizer` load with no PEFT, no bitsandbytes and no project code.

- `full`: the checkpoint's weights, saved again.
- `lora` (LoRA, and the preference methods' adapters on `sft`): the adapter merged into its
  base (`merge_and_unload`).
- `qlora`: the NF4 base is dequantized (`model.dequantize()`) and the adapter merged into
  those weights. The adapter was trained and benched on the NF4 base, so merging it into
  the original un-quantized base would ship a different model: on the tiny profile that
  moved logits by up to 1.2 (on a scale of 11), where the dequantized merge reproduces
  the benched model to 4e-6. The released weights are full precision (float32, or bf16
  for bf16 profiles), so they are larger than the 4-bit base the adapter trained on.

Every export is verified: the released folder is loaded back with plain
`AutoModelForCausalLM.from_pretrained` and its logits on a probe prompt are compared with
the checkpoint loaded exactly as the bench loads it (`load_checkpoint`); a difference over
the tolerance stops the release.

The tokenizer is written with the response template (`training.tokenizer.RESPONSE_TEMPLATE`),
so `AutoTokenizer.from_pretrained(release).parse_response(text, prefix=prompt)` returns the
tool calls in `text` with their arguments.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROBE_TEXT = "Which assignments are due in my courses this week, and when can I study for them?"
RELATIVE_TOLERANCE = {"float32": 1e-3, "bfloat16": 5e-2}
Log = Callable[[str], None]


class ExportError(RuntimeError):
    """The exported weights do not reproduce the checkpoint."""


@dataclass(frozen=True)
class ExportRecord:
    adapter: str
    how: str
    dtype: str
    parameters: int
    max_abs_logit_diff: float
    reference_scale: float
    tolerance: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


HOW = {
    "full": "full weights saved as they are",
    "lora": "LoRA adapter merged into its base (merge_and_unload)",
    "qlora": "NF4 base dequantized, then the LoRA adapter merged into it (merge_and_unload)",
}


def _collect() -> None:
    """Return the memory of models the caller has just deleted."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _probe(model: Any, tokenizer: Any) -> Any:
    import torch

    ids = tokenizer(PROBE_TEXT, return_tensors="pt").input_ids.to(model.device)
    with torch.no_grad():
        return model(input_ids=ids).logits.float().cpu()


def merged_model(folder: Path, manifest: dict[str, Any], bf16: bool) -> Any:
    """The checkpoint as one plain transformers model (adapters merged)."""
    from canvas_pipeline.training.model import load_model

    adapter = manifest["adapter"]
    if adapter == "full":
        return load_model(folder, bf16=bf16)
    if adapter not in ("lora", "qlora"):
        raise ExportError(f"unknown adapter kind {adapter!r} in {folder}/checkpoint.json")
    from peft import PeftModel

    base_dir = Path(manifest["base"])
    if adapter == "qlora":
        base = load_model(base_dir, quantize_4bit=True).dequantize()
    else:
        base = load_model(base_dir, bf16=bf16)
    return PeftModel.from_pretrained(base, str(folder)).merge_and_unload()


def _reloaded_logits(dest: Path, tokenizer: Any) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    kwargs = {"device_map": "cuda:0"} if torch.cuda.is_available() else {}
    model = AutoModelForCausalLM.from_pretrained(str(dest), **kwargs)
    logits = _probe(model, tokenizer)
    del model
    _collect()
    return logits


def export_model(folder: Path, manifest: dict[str, Any], dest: Path, bf16: bool, log: Log) -> ExportRecord:
    """Write the checkpoint in `folder` to `dest` as plain weights plus its tokenizer, and
    verify that `dest` reproduces the checkpoint as the bench loads it."""
    from canvas_pipeline.training.checkpoints import load_checkpoint
    from canvas_pipeline.training.tokenizer import load_tokenizer, with_response_template

    # Set here too: a checkpoint saved before tokenizers carried the response template still
    # releases one that `parse_response` reads our dotted tool names with.
    tokenizer = with_response_template(load_tokenizer(folder))
    reference_model = load_checkpoint(folder)
    reference = _probe(reference_model, tokenizer)
    del reference_model
    _collect()
    model = merged_model(folder, manifest, bf16)
    model.config.use_cache = True
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    parameters = sum(p.numel() for p in model.parameters())
    model.save_pretrained(str(dest))
    tokenizer.save_pretrained(str(dest))
    del model
    _collect()
    diff = float((_reloaded_logits(dest, tokenizer) - reference).abs().max())
    scale = float(reference.abs().max())
    tolerance = RELATIVE_TOLERANCE.get(dtype, 5e-2) * max(1.0, scale)
    record = ExportRecord(manifest["adapter"], HOW[manifest["adapter"]], dtype, parameters, diff, scale, tolerance)
    log(f"release: {record.how}; {parameters:,} parameters ({dtype}); reloaded logits differ by {diff:.3g}")
    if diff > tolerance:
        raise ExportError(
            f"the exported weights do not reproduce the checkpoint: logits differ by {diff:.4g} "
            f"(tolerance {tolerance:.4g} at scale {scale:.4g})"
        )
    return record
