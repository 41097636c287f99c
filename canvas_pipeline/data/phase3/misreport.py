"""An undesirable answer no axis names: one that misreports what a tool returned.

At a final answer, one figure the answer took from a tool response (a score, a count, a
number of points or minutes, a day of the month) is changed; the rest of the answer is
kept word for word, so only reading the responses in the prompt tells it from the right
one."""

from __future__ import annotations

import random
import re
from typing import Any

from canvas_pipeline.data.phase2.points import DecisionPoint, assistant_text

NUMBER = re.compile(r"(?<![\w.:-])\d+(?:\.\d+)?(?![\w:])")


def _changed(value: str, rng: random.Random) -> str:
    if "." in value:
        decimals = len(value.split(".")[1])
        step = rng.choice((-5.0, -2.5, -1.0, 1.0, 2.5, 5.0))
        return f"{max(0.0, float(value) + step):.{decimals}f}"
    number = int(value)
    return str(max(0, number + rng.choice((-3, -2, -1, 1, 2, 3)))) if number > 3 else str(number + rng.randint(1, 3))


def _year(value: str) -> bool:
    return len(value) == 4 and value[:2] in ("19", "20")


def misreported_answer(point: DecisionPoint, rng: random.Random) -> dict[str, Any] | None:
    """The point's answer with one figure from the tool responses changed; None when the
    answer quotes no such figure (years are left alone: changing one reads as a typo)."""
    if point.kind != "answer":
        return None
    text = str(point.chosen.get("content") or "")
    responses = "\n".join(str(m.get("content") or "") for m in point.prompt if m["role"] == "tool")
    figures = [
        m
        for m in NUMBER.finditer(text)
        if m.group(0) in responses and not (len(m.group(0)) == 4 and m.group(0)[:2] in ("19", "20"))
    ]
    if not figures:
        return None
    figure = figures[rng.randrange(len(figures))]
    new = _changed(figure.group(0), rng)
    if new == figure.group(0):
        return None
    return assistant_text(text[: figure.start()] + new + text[figure.end() :])
