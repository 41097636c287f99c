"""Model + budget profiles, chosen by configuration, never by editing code.

`max_length` is the profile's training sequence length, which G11 holds rows under. The
MISSION's 1024 was the old pipeline's value, before the bench and training carried the
system prompt: the 18 tool declarations alone take 615 tokens with the tiny tokenizer at
its tightest and about 2k with Gemma's own, so each profile sets a length that fits the
prompt plus a conversation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    max_length: int
    hub_model_id: str | None  # None: built locally (tokenizer trained here, model from a config)
    description: str


PROFILES: dict[str, Profile] = {
    "tiny": Profile(
        name="tiny",
        max_length=2048,
        hub_model_id=None,
        description="Gemma4ForCausalLM from a small Gemma4TextConfig and a locally trained tokenizer; CPU, minutes.",
    ),
    "e2b": Profile(
        name="e2b",
        max_length=4096,
        hub_model_id="google/gemma-4-e2b-it",
        description="google/gemma-4-e2b-it from the Hub (token from HF_TOKEN), bf16, GPU.",
    ),
    "e2b-shape": Profile(
        name="e2b-shape",
        max_length=4096,
        hub_model_id=None,
        description="The E2B text architecture at full size with random weights, for speed and memory on a GPU.",
    ),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; profiles: {', '.join(PROFILES)}") from None
