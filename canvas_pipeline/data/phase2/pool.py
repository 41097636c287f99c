"""What a split's own trajectories offer a wrong continuation: the calls they really make,
the answers they really give, the course and event ids their tool responses reveal.

Rejected sides are drawn from here rather than from fixed lists, so a wrong call looks like
a right call made elsewhere and a premature answer reads like a real answer: nothing but
the conversation so far tells them apart (what G14 measures). Everything stays within its
split, so the pairs keep phase 1's item-disjointness.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from canvas_pipeline.data.phase2.points import DecisionPoint
from canvas_pipeline.tools.codec import ToolCall

_COURSE_ID = re.compile(r'"course_id":(\d+)')
_EVENT_ID = re.compile(r'"event_id":"([^"]+)"')


def family(name: str) -> str:
    return name.split(".", 1)[0]


def call_key(call: ToolCall) -> str:
    return json.dumps([call.name, call.arguments], sort_keys=True)


@dataclass
class SplitPool:
    """Calls, answers and ids of one split's decision points."""

    calls: list[ToolCall] = field(default_factory=list)  # every call made, with repeats
    answers: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # intent -> final answers
    course_ids: list[int] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    arguments: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))  # key -> values seen
    # tool -> calls made beside it in one message somewhere in the split (an over-calling
    # rejected side that adds one of these looks like a real two-call message)
    partners: dict[str, list[ToolCall]] = field(default_factory=lambda: defaultdict(list))
    # family -> pairs whose chosen side is of it minus pairs whose rejected side is (axis 7
    # keeps it near 0, so no family marks a side)
    family_balance: Counter[str] = field(default_factory=Counter)

    @classmethod
    def from_points(cls, points: Sequence[DecisionPoint]) -> SplitPool:
        pool = cls()
        seen: set[str] = set()
        courses: set[int] = set()
        events: set[str] = set()
        for point in points:
            if point.kind == "call":
                pool.calls += point.calls  # every occurrence: sampling follows how often a call is made
                for call in point.calls:
                    for other in point.calls:
                        if other.name != call.name:
                            pool.partners[call.name].append(other)
                    if call_key(call) not in seen:
                        seen.add(call_key(call))
                        for key, value in call.arguments.items():
                            pool.arguments[key].append(value)
            else:
                pool.answers[point.intent].append(str(point.chosen.get("content") or ""))
            for message in point.prompt:
                if message["role"] == "tool":
                    courses.update(int(c) for c in _COURSE_ID.findall(str(message["content"])))
                    events.update(_EVENT_ID.findall(str(message["content"])))
        pool.course_ids, pool.event_ids = sorted(courses), sorted(events)
        return pool

    def calls_of(self, families: set[str], exclude: set[str] = frozenset()) -> list[ToolCall]:
        return [c for c in self.calls if family(c.name) in families and c.name not in exclude]

    def pick(self, options: Sequence[Any], rng: random.Random) -> Any:
        return options[rng.randrange(len(options))]
