"""How much of the bench's language a model could have learned by heart.

A bench request measures generalization only if no training split says it. Two levels:

- **verbatim**: a bench user turn equal (after trimming) to a user turn of a training row;
- **skeleton**: equal after masking what varies between uses of one phrasing — names of
  courses, items and events (any string a tool response in the data calls a `name`,
  `code` or `title`), quoted strings, numbers, clock times, dates, month and weekday names
  — then lower-casing and dropping punctuation. Two turns with one skeleton are one
  phrasing filled with different values.

`phrasing_overlap` measures both over every user turn of the bench prompts against every
user turn of the training datasets (phase 1 train and test, the phase 2 and 3 prompts),
and the bench's own duplication: items whose prompt another item already has.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from canvas_pipeline.data.phase1.build import prompt_key

MONTHS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
).split()
WEEKDAYS = (
    "monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun"
).split()
QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|(?<!\w)'[^']+'(?!\w)")
NUMBER = re.compile(r"\d+(?:[:.,/\-]\d+)*(?:\s*(?:am|pm|a\.m\.|p\.m\.))?(?:st|nd|rd|th)?", re.IGNORECASE)
CALENDAR_WORD = re.compile(r"\b(?:" + "|".join(MONTHS + WEEKDAYS) + r")\b\.?", re.IGNORECASE)
NOT_WORD = re.compile(r"[^\w<>]+")
ENTITY_KEYS = ("name", "code", "title", "short_name")


def response_entities(messages: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every `name`, `code` and `title` string the tool responses of a conversation carry
    (course names and codes, item and event titles)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                if key in ENTITY_KEYS and isinstance(inner, str) and len(inner.strip()) >= 3:
                    found.add(inner.strip())
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    for message in messages:
        if message.get("role") != "tool":
            continue
        try:
            walk(json.loads(message.get("content") or "null"))
        except (TypeError, json.JSONDecodeError):
            continue
    return found


class Skeletons:
    """Masks the given entity strings (longest first, case-insensitive, whole words) and the
    generic value patterns, then normalises case, punctuation and spacing. A text's skeleton
    is computed once: templated datasets repeat a user turn many times, and the alternation
    of every entity name is the expensive part."""

    def __init__(self, entities: Iterable[str] = ()) -> None:
        names = sorted({e.strip() for e in entities if e and e.strip()}, key=len, reverse=True)
        self._entities = (
            re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, names)) + r")(?!\w)", re.IGNORECASE) if names else None
        )
        self._seen: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        if text not in self._seen:
            self._seen[text] = self._skeleton(text)
        return self._seen[text]

    def _skeleton(self, text: str) -> str:
        out = QUOTED.sub(" <q> ", text)
        if self._entities is not None:
            out = self._entities.sub(" <e> ", out)
        out = NUMBER.sub(" <n> ", out)
        out = CALENDAR_WORD.sub(" <d> ", out)
        return " ".join(NOT_WORD.sub(" ", out.lower()).split())


def user_turns(messages: Iterable[Mapping[str, Any]]) -> list[str]:
    return [str(m.get("content") or "").strip() for m in messages if m.get("role") == "user"]


def training_conversations(rows: Iterable[Mapping[str, Any]]) -> Iterable[list[Mapping[str, Any]]]:
    """The conversations a training dataset row shows a model: SFT `messages`, preference
    and KTO `prompt` (with the completions, which hold no user turn of their own)."""
    for row in rows:
        for key in ("messages", "prompt"):
            if isinstance(row.get(key), list):
                yield row[key]


@dataclass(frozen=True)
class PhrasingOverlap:
    bench_turns: int
    verbatim: int
    skeleton: int
    items: int
    duplicate_prompts: int
    examples: tuple[str, ...]

    @property
    def verbatim_share(self) -> float:
        return self.verbatim / self.bench_turns if self.bench_turns else 0.0

    @property
    def skeleton_share(self) -> float:
        return self.skeleton / self.bench_turns if self.bench_turns else 0.0

    @property
    def duplicate_share(self) -> float:
        return self.duplicate_prompts / self.items if self.items else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "bench_user_turns": self.bench_turns,
            "verbatim_turns": self.verbatim,
            "verbatim_share": round(self.verbatim_share, 4),
            "skeleton_turns": self.skeleton,
            "skeleton_share": round(self.skeleton_share, 4),
            "items": self.items,
            "duplicate_prompts": self.duplicate_prompts,
            "duplicate_share": round(self.duplicate_share, 4),
        }


def phrasing_overlap(
    bench: Sequence[Mapping[str, Any]], training: Iterable[Sequence[Mapping[str, Any]]], max_examples: int = 5
) -> PhrasingOverlap:
    """Verbatim and skeleton overlap of the bench prompts' user turns with the training
    conversations' user turns, and how many bench prompts repeat an earlier one."""
    training = list(training)
    entities = set().union(*(response_entities(c) for c in training), *(response_entities(r["prompt"]) for r in bench))
    skeleton = Skeletons(entities)
    seen_text: set[str] = set()
    seen_skeleton: set[str] = set()
    for conversation in training:
        for turn in user_turns(conversation):
            seen_text.add(turn)
            seen_skeleton.add(skeleton(turn))
    turns = verbatim = shared = 0
    examples: list[str] = []
    prompts: set[str] = set()
    duplicates = 0
    for item in bench:
        key = prompt_key(item["prompt"])
        duplicates += key in prompts
        prompts.add(key)
        for turn in user_turns(item["prompt"]):
            turns += 1
            if turn in seen_text:
                verbatim += 1
            if skeleton(turn) in seen_skeleton:
                shared += 1
                if len(examples) < max_examples:
                    examples.append(f"{item.get('id', '?')}: {turn!r} ~ {skeleton(turn)!r}")
    return PhrasingOverlap(turns, verbatim, shared, len(bench), duplicates, tuple(examples))
