"""A trajectory under construction: messages in TRL conversational form, with every call
executed against the simulated backend as it is made."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from canvas_pipeline.data.backend import Backend
from canvas_pipeline.data.course_names import student_facing
from canvas_pipeline.data.student_view import Course, StudentView
from canvas_pipeline.tools.chat_format import response_content, system_prompt
from canvas_pipeline.tools.codec import ToolCall, canonical_arguments

PREFIXES = ("", "", "", "Hey, ", "Hi! ", "Quick question: ", "Can you help me out? ", "Okay, ")
SUFFIXES = ("", "", "", " Thanks!", " Thank you.", " Please.", " Thanks in advance.")


class NotApplicable(Exception):
    """This intent has nothing to work with in this view at this time; try another."""


class RejectedCandidate(Exception):
    """The candidate was built but is not fit for the dataset (counted, quarantined)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


class Phrasebook(Protocol):
    """Another way to word an intent's requests (the base model's warm-up corpus uses one
    whose templates share nothing with the intents' own)."""

    def phrase(self, intent: str, index: int, slots: dict[str, Any], rng: random.Random) -> str: ...


@dataclass
class Dialogue:
    backend: Backend
    rng: random.Random
    pair_pool: list[Any] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    intent: str = ""
    phrasebook: Phrasebook | None = None
    # Items so far per course id, when the split spreads its items evenly over its courses.
    course_use: Counter[int] | None = None
    # Share of pending calendar changes whose conversation goes on to the student's yes or no
    # (0: every such conversation ends on the question, as the bench's do).
    carry_confirmations: float = 0.0
    _said: int = 0

    def __post_init__(self) -> None:
        if not self.messages:
            self.messages.append({"role": "system", "content": system_prompt()})

    @property
    def view(self) -> StudentView:
        return self.backend.view

    @property
    def now(self) -> datetime:
        return self.backend.now

    def pick(self, options: list[Any] | tuple[Any, ...]) -> Any:
        if not options:
            raise NotApplicable("nothing to choose from")
        return options[self.rng.randrange(len(options))]

    def pick_course(self, courses: list[Course]) -> Course:
        """A course among `courses`: any (seeded), or the one the split has used least."""
        if self.course_use is None or not courses:
            return self.pick(courses)
        return min(courses, key=lambda c: (self.course_use[c.course_id], self.rng.random()))

    def say(self, templates: tuple[str, ...], **slots: Any) -> str:
        """One phrasing of a request, with a light casual prefix/suffix (or the phrasebook's
        wording of this intent's n-th request, when one is set)."""
        if self.phrasebook is not None:
            self._said += 1
            return self.phrasebook.phrase(self.intent, self._said - 1, slots, self.rng)
        text = self.pick(templates).format(**slots)
        prefix, suffix = self.pick(PREFIXES), self.pick(SUFFIXES)
        if prefix and prefix.endswith(", ") and text[:1].isupper() and not text[:2].isupper():
            text = text[0].lower() + text[1:]
        if suffix and not text.endswith((".", "?", "!")):
            text += "."
        return prefix + text + suffix

    def user(self, text: str) -> None:
        self.messages.append({"role": "user", "content": text})

    def call(self, name: str, **arguments: Any) -> dict[str, Any]:
        return self.calls((name, arguments))[0]

    def calls(self, *specs: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """One model message with these calls (parallel when several), then their responses."""
        calls = [ToolCall(name, canonical_arguments(args)) for name, args in specs]
        first = sum(len(m.get("tool_calls") or []) for m in self.messages)
        ids = [f"call_{first + k}" for k in range(len(calls))]
        self.messages.append(
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [c.to_message_call(i) for c, i in zip(calls, ids, strict=True)],
            }
        )
        responses = []
        for call, call_id in zip(calls, ids, strict=True):
            response = self.backend.execute(call)
            if "error" in response:  # the backend validates arguments against the registry first
                raise RejectedCandidate("backend_error", f"{call.name}: {response['error']}")
            self.messages.append(
                {"role": "tool", "tool_call_id": call_id, "name": call.name, "content": response_content(response)}
            )
            responses.append(response)
        return responses

    def answer(self, text: str) -> None:
        """The assistant's reply, as a student reads it: courses by their spoken names and
        labels, never by registrar codes or anonymisation placeholders."""
        courses = ((c.name, c.short_name, c.code) for c in self.view.courses)
        self.messages.append({"role": "assistant", "content": student_facing(text.strip(), courses)})

    def tools_used(self) -> list[str]:
        return [
            tc["function"]["name"]
            for m in self.messages
            if m["role"] == "assistant"
            for tc in m.get("tool_calls") or []
        ]
