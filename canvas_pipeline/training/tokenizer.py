"""The profile's tokenizer. `tiny` trains a byte-level BPE on a project-made corpus; the
Gemma-4 control tokens are single special tokens, and the chat template is the training
variant of the Gemma-4 template (same text, plus generation markers).

The corpus is the demo term's phase-1 conversations under a fixed seed: it depends on the
code only, never on the data being checked or trained on, so the same tokenizer serves
every dataset version. Text is split at control tokens before BPE training, so merges
never straddle one (at encode time they are split out first, and such merges would be
dead weight); inside a segment merges may cross spaces, which lets the repeated tool
declarations compress to one token per segment.

Every tokenizer built here carries `RESPONSE_TEMPLATE` (written to `tokenizer_config.json` as
`response_template`), so `tokenizer.parse_response(text, prefix=prompt)` reads our tool calls:
TRL's Gemma-4 response template with tool names matched by the codec's `[\\w.]+` (TRL's
`\\w+` stops at the dot of `canvas.get_assignments`, and its JSON step then fails).
"""

from __future__ import annotations

import copy
import re
import tempfile
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from canvas_pipeline.tools.codec import BOS, SPECIAL_TOKENS, TURN_CLOSE

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
# Ids 0, 1, 2 as in Gemma: pad, eos, bos.
TINY_SPECIAL_TOKENS: tuple[str, ...] = (PAD, EOS, BOS, UNK, *SPECIAL_TOKENS, "<|think|>", "<|channel>", "<channel|>")
TINY_VOCAB_SIZE = 4096
CORPUS_SEED = 4242
CORPUS_ROWS = 400
_SPLIT_RE = re.compile("|".join(re.escape(t) for t in TINY_SPECIAL_TOKENS))

# transformers' `response_template` for Gemma-4 output: TRL 1.16's `gemma4_template`
# (`trl.chat_template_utils`) with one change, the tool name pattern `[\w.]+` (the codec's
# NAME_RE) in place of `\w+`, which cannot match our dotted names. A copy rather than an import,
# so a TRL upgrade never changes what a release ships; a test keeps it equal to TRL's otherwise.
# Arguments go through transformers' `json` content parser: `<|"|>` strings become JSON strings,
# bare keys are quoted, then `json.loads`. That reads every value the codec writes exactly,
# except that a string holding the control characters \x01 or \x02 (the parser's own
# placeholders) makes it raise ValueError.
RESPONSE_TEMPLATE: dict[str, Any] = {
    "defaults": {"role": "assistant"},
    "start_anchor_pattern": r"(?:<\|turn>model\n|<tool_response\|>)",
    "fields": {
        "reasoning_content": {
            "open": "<|channel>thought\n",
            "close_pattern": r"<channel\|>\s*",
            "content": "text",
        },
        "tool_calls": {
            "open_pattern": r"<\|tool_call>call:(?P<name>[\w.]+)",
            "close_pattern": r"<tool_call\|>\s*",
            "repeats": True,
            "content": "json",
            "content_args": {"string_delims": [['<|"|>', '<|"|>']], "unquoted_keys": True},
            "transform": {"type": "function", "function": {"name": "{name}", "arguments": "{content}"}},
        },
        "content": {
            "close_pattern": r"(?:<turn\|>|<\|tool_response>|<eos>)\s*|$",
            "content": "text",
        },
    },
}


def response_template() -> dict[str, Any]:
    """A fresh copy of `RESPONSE_TEMPLATE` (a tokenizer may mutate what it holds)."""
    return copy.deepcopy(RESPONSE_TEMPLATE)


def with_response_template(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """`tokenizer` with our response template set (replacing any it had, such as a Hub
    tokenizer's `\\w+` one), so `save_pretrained` writes it and `parse_response` uses it."""
    tokenizer.response_template = response_template()
    return tokenizer


@cache
def training_chat_template() -> str:
    """The Gemma-4 training template shipped in the package (see the file's header)."""
    return resources.files("canvas_pipeline.training").joinpath("templates/gemma4_training.jinja").read_text("utf-8")


def tokenizer_corpus(seed: int = CORPUS_SEED, rows: int = CORPUS_ROWS) -> list[str]:
    """Rendered conversations from the demo term (both splits), built by the phase-1 code."""
    from canvas_pipeline.data import stages
    from canvas_pipeline.data.phase1.build import Phase1Config
    from canvas_pipeline.tools.chat_format import render_conversation

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        stages.run_raw_stage(out, None, seed=seed)
        stages.run_scrub_stage(out)
        # Tool-balanced, as the held-out splits are: the vocabulary learns every tool's words
        # alike, whatever mix of requests the train split draws.
        config = Phase1Config(seed=seed, train_size=rows, test_size=rows // 4, intent_mix=None, confirmation_share=0.0)
        stages.run_phase1_stage(out, config)
        return [render_conversation(r["messages"]) for r in stages.load_trajectories(out)]


def _segments(texts: list[str]) -> Iterator[str]:
    for text in texts:
        yield from (s for s in _SPLIT_RE.split(text) if s)


def train_tiny_tokenizer(texts: list[str], vocab_size: int = TINY_VOCAB_SIZE) -> PreTrainedTokenizerBase:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens(list(TINY_SPECIAL_TOKENS))
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(TINY_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(_segments(texts), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=list(TINY_SPECIAL_TOKENS[4:]),
        chat_template=training_chat_template(),
        response_template=response_template(),
        model_max_length=2048,
        padding_side="left",
    )


def build_tokenizer(profile_name: str, out_dir: Path) -> Path:
    """Write the profile's tokenizer to `out_dir` (tiny: trained here; e2b: from the Hub,
    token from HF_TOKEN), with the training chat template and `RESPONSE_TEMPLATE`, and return
    the folder."""
    from canvas_pipeline.training.profiles import get_profile

    profile = get_profile(profile_name)
    out_dir = Path(out_dir)
    if profile.hub_model_id is None:
        tokenizer = train_tiny_tokenizer(tokenizer_corpus())
        tokenizer.model_max_length = profile.max_length
    else:
        tokenizer = hub_tokenizer(profile.hub_model_id)
        tokenizer.chat_template = training_chat_template()
    with_response_template(tokenizer)
    with tempfile.TemporaryDirectory(dir=out_dir.parent if out_dir.parent.exists() else None) as tmp:
        tokenizer.save_pretrained(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        for path in Path(tmp).iterdir():
            path.replace(out_dir / path.name)
    return out_dir


def hub_tokenizer(model_id: str) -> PreTrainedTokenizerBase:
    import os

    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_id, token=os.environ.get("HF_TOKEN"))


def load_tokenizer(folder: Path) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    if not (Path(folder) / "tokenizer_config.json").is_file():
        raise FileNotFoundError(
            f"no tokenizer in {folder}: build it first (models/tokenizer asset or canvas-train data)"
        )
    try:
        return AutoTokenizer.from_pretrained(str(folder))
    except Exception as exc:  # the tokenizers backend raises bare Exceptions for a corrupt file
        raise ValueError(f"the tokenizer in {folder} cannot be loaded: {exc}") from exc


def token_counter(tokenizer: PreTrainedTokenizerBase) -> Callable[[list[str]], list[int]]:
    """Token counts of already-rendered texts (they carry <bos> themselves), batched on the
    fast backend: the G11 measurement.

    Special tokens are split out before any other tokenization step, so the text up to and
    including the first `<turn|>` (the system turn: the 18 tool declarations, identical in
    most rows) tokenizes independently of what follows; its count is computed once per
    distinct head, which makes counting a dataset several times faster."""
    backend = tokenizer.backend_tokenizer

    def encoded_lengths(texts: list[str]) -> list[int]:
        return [len(encoding.ids) for encoding in backend.encode_batch(texts, add_special_tokens=False)]

    def count(texts: list[str]) -> list[int]:
        heads, tails = [], []
        for text in texts:
            cut = text.find(TURN_CLOSE)
            cut = len(text) if cut < 0 else cut + len(TURN_CLOSE)
            heads.append(text[:cut])
            tails.append(text[cut:])
        distinct = sorted(set(heads))
        head_length = dict(zip(distinct, encoded_lengths(distinct), strict=True))
        return [head_length[h] + n for h, n in zip(heads, encoded_lengths(tails), strict=True)]

    return count


def profile_tokenizer_dir(out_dir: Path, profile_name: str) -> Path:
    return Path(out_dir) / "models" / profile_name / "tokenizer"
