"""Model construction and loading per profile: the tiny Gemma-4 config, the E2B shape,
the Hub download, and loading a saved checkpoint (optionally on a 4-bit NF4 base)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from canvas_pipeline.training.shared_prefix import share_prefix

if TYPE_CHECKING:
    from transformers import Gemma4TextConfig, PreTrainedModel

TINY_HIDDEN = 128
# Gemma-4's per-layer input embeddings give the two-layer model a second view of each
# token; the warmed-up base chose the right first tool more often with them (see base_model).
TINY_PER_LAYER_HIDDEN = 64
# Only the language model's linear layers: attention and MLP projections.
LORA_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def tiny_text_config(
    vocab_size: int, hidden: int = TINY_HIDDEN, per_layer_hidden: int = TINY_PER_LAYER_HIDDEN
) -> Gemma4TextConfig:
    """A two-layer Gemma-4 text config (one sliding, one global layer) that trains on CPU.
    The global head dim is shrunk from its 512 default and the per-layer input embeddings
    from 262144 x 256 to the tiny vocab x `per_layer_hidden` (0 switches them off)."""
    from transformers import Gemma4TextConfig

    config = Gemma4TextConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=32,
        global_head_dim=32,
        vocab_size_per_layer_input=vocab_size,
        hidden_size_per_layer_input=per_layer_hidden,
        max_position_embeddings=4096,
        sliding_window=512,
        layer_types=["sliding_attention", "full_attention"],
        final_logit_softcapping=None,
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
    )
    config._attn_implementation = "sdpa"
    return config


def e2b_shape_config() -> Gemma4TextConfig:
    """Gemma-4 E2B's text model at full size (facts in DESIGN.md): 35 layers, hidden 1536,
    per-layer embeddings of 256 over a 262144 vocab, four sliding layers to one global,
    head dim 256/512, 8 query heads, KV shared across the last 20 layers, double-wide MLP
    in the shared layers, final logit soft-cap 30."""
    from transformers import Gemma4TextConfig

    layer_types = ["full_attention" if (i + 1) % 5 == 0 else "sliding_attention" for i in range(35)]
    return Gemma4TextConfig(
        vocab_size=262144,
        hidden_size=1536,
        intermediate_size=6144,
        num_hidden_layers=35,
        num_attention_heads=8,
        num_key_value_heads=1,
        head_dim=256,
        global_head_dim=512,
        vocab_size_per_layer_input=262144,
        hidden_size_per_layer_input=256,
        sliding_window=512,
        layer_types=layer_types,
        num_kv_shared_layers=20,
        use_double_wide_mlp=True,
        final_logit_softcapping=30.0,
    )


def random_model(config: Gemma4TextConfig, seed: int) -> PreTrainedModel:
    import torch
    from transformers import Gemma4ForCausalLM

    torch.manual_seed(seed)
    model = Gemma4ForCausalLM(config)
    share_prefix(model)
    return model


def download_hub_model(model_id: str, dest: Path) -> Path:
    """Download the model snapshot (weights, config, tokenizer) with the token from HF_TOKEN.
    Raises with the reason when the token is missing, before any network call."""
    from huggingface_hub import snapshot_download

    token = os.environ.get("HF_TOKEN")
    if not token:
        raise PermissionError(f"{model_id} is gated: set HF_TOKEN in the environment to download it")
    return Path(snapshot_download(repo_id=model_id, local_dir=str(dest), token=token))


def nf4_quantization_config() -> Any:
    import torch
    from transformers import BitsAndBytesConfig

    compute = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=compute,
        bnb_4bit_use_double_quant=True,
    )


def load_model(path: Path, *, bf16: bool = False, quantize_4bit: bool = False) -> PreTrainedModel:
    """A saved causal LM from `path`; `quantize_4bit` loads its linear layers as NF4. A folder
    without config.json raises FileNotFoundError; one whose files cannot be loaded (a truncated
    model.safetensors, a corrupt config.json) raises ValueError naming the folder and the reason."""
    import torch
    from transformers import AutoModelForCausalLM

    if not (Path(path) / "config.json").is_file():
        raise FileNotFoundError(f"no model in {path}: materialize it first")
    kwargs: dict[str, Any] = {"dtype": torch.bfloat16 if bf16 else torch.float32}
    if quantize_4bit:
        kwargs["quantization_config"] = nf4_quantization_config()
        kwargs["device_map"] = "cuda:0" if torch.cuda.is_available() else "cpu"
    elif torch.cuda.is_available():
        kwargs["device_map"] = "cuda:0"
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    except Exception as exc:  # safetensors raises a bare SafetensorError for a truncated file
        raise ValueError(f"the model in {path} cannot be loaded: {exc}") from exc
    if quantize_4bit and not torch.cuda.is_available():
        keep_nf4_compute_in_float32(model)
    share_prefix(model)
    return model


def keep_nf4_compute_in_float32(model: PreTrainedModel) -> int:
    """Make every 4-bit layer compute in the float32 the NF4 config asks for on CPU; returns
    how many layers it set. On CPUs with AVX512-BF16, bitsandbytes runs eval-mode no-grad
    forwards through a fused bfloat16 kernel whatever `bnb_4bit_compute_dtype` says (and
    repacks the weights for it in place): the bench would score a bf16 model that was
    trained in float32, results would depend on the CPU, and the released merge could not
    reproduce it (logits 0.046 apart at scale 14 on the tiny base)."""
    count = 0
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
            count += 1
    return count


def parameter_counts(model: PreTrainedModel) -> tuple[int, int]:
    """(trainable, total) parameters; 4-bit tensors count their real element count."""
    trainable = total = 0
    for param in model.parameters():
        n = param.numel()
        if param.__class__.__name__ == "Params4bit":
            n = int(param.quant_state.shape.numel()) if getattr(param, "quant_state", None) else n * 2
        total += n
        trainable += n if param.requires_grad else 0
    return trainable, total
