"""Model-side assets: the profile's tokenizer (the base model and checkpoints come later)."""

import dagster as dg

from canvas_pipeline.defs.resources import DataSettings, ModelSettings
from canvas_pipeline.training.tokenizer import build_tokenizer, profile_tokenizer_dir

TOKENIZER_KEY = dg.AssetKey(["models", "tokenizer"])


@dg.asset(key=TOKENIZER_KEY, group_name="models", kinds={"huggingface"})
def tokenizer(context: dg.AssetExecutionContext, data: DataSettings, model: ModelSettings) -> dg.MaterializeResult:
    """The profile's tokenizer with the Gemma-4 control tokens as single tokens and the
    Gemma-4 training chat template (same text as the model's template, plus generation
    markers). `tiny` trains it here from project-made text, independent of the data;
    `e2b` downloads Gemma's (HF_TOKEN from the environment)."""
    folder = build_tokenizer(model.profile, profile_tokenizer_dir(data.out_path, model.profile))
    from canvas_pipeline.training.tokenizer import load_tokenizer

    loaded = load_tokenizer(folder)
    return dg.MaterializeResult(
        metadata={"profile": model.profile, "vocab_size": len(loaded), "path": dg.MetadataValue.path(str(folder))}
    )


MODEL_ASSETS = [tokenizer]
