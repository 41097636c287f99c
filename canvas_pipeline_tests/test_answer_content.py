"""What the chosen answers teach, on the real exports: semester plans spend the hours the
tool was given and nothing on deadlines already past; a pending calendar change ends on a
question (and in part of train the student answers it); answers are composed from responses (dates in words, English plurals), not the
tool's strings pasted whole."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from canvas_pipeline.data import stages
from canvas_pipeline.data.backend import parse_iso


@pytest.fixture(scope="module")
def rows(real_slice: Path) -> list[dict[str, Any]]:
    return stages.load_rows(real_slice, stages.PHASE1)


def _responses(row: dict[str, Any], tool: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(call arguments, response) for each call of `tool` in a conversation."""
    out, calls = [], {}
    for message in row["messages"]:
        for call in message.get("tool_calls") or []:
            calls[call["id"]] = call["function"]
        if message["role"] == "tool" and calls.get(message.get("tool_call_id"), {}).get("name") == tool:
            out.append((calls[message["tool_call_id"]]["arguments"], json.loads(message["content"])))
    return out


def test_semester_plans_spend_the_estimated_hours_and_skip_past_deadlines(rows: list[dict[str, Any]]) -> None:
    plans = [(r, a, p) for r in rows for a, p in _responses(r, "study.semester_schedule")]
    assert len(plans) >= 100
    for row, args, plan in plans:
        assert "error" not in plan, row["id"]
        planned = sum(w["hours"] for w in plan["weeks"])
        assert planned == pytest.approx(plan["total_estimated_hours"] - plan.get("unscheduled_hours", 0), abs=0.6)
        last_due = max(parse_iso(d["due_iso"]) for d in args["deadlines"])
        past = set(plan.get("skipped_past_deadlines", []))
        for week in plan["weeks"]:
            assert week["focus"] not in past and week["week_of"] <= last_due.date().isoformat(), row["id"]


def test_pending_changes_ask_and_some_conversations_carry_the_answer_through(rows: list[dict[str, Any]]) -> None:
    """The reply to a pending change asks for confirmation; in part of train the student then
    says yes or no, and the reply to that makes no call (the yes is the confirmation the tool
    asked for) and says what happened. Held-out splits always end on the question."""
    carried: dict[str, list[str]] = {"train": [], "test": []}
    pending = 0
    for row in rows:
        messages = row["messages"]
        at = [k for k, m in enumerate(messages) if m["role"] == "tool" and "pending_confirmation" in m["content"]]
        if not at:
            continue
        pending += 1
        question = messages[at[-1] + 1]
        assert not question.get("tool_calls") and question["content"].rstrip().endswith("?"), row["id"]
        if len(messages) > at[-1] + 2:
            reply, answer = messages[at[-1] + 2 :]
            assert reply["role"] == "user" and answer["role"] == "assistant" and not answer.get("tool_calls")
            assert answer["content"].startswith(("Done:", "Okay,")), answer["content"]
            carried[row["split"]].append(answer["content"])
    assert pending >= 100
    assert len(carried["train"]) >= 0.2 * pending and not carried["test"]
    assert any(a.startswith("Done:") for a in carried["train"]) and any(a.startswith("Okay,") for a in carried["train"])


def test_answers_are_composed_not_pasted(rows: list[dict[str, Any]]) -> None:
    answers = [m["content"] for r in rows for m in r["messages"] if m["role"] == "assistant" and m.get("content")]
    assert not [a for a in answers if "quizs" in a]
    syllabus = [a for r in rows if r["intent"].startswith("syllabus") for a in [r["messages"][-1]["content"]]]
    assert syllabus and not [a for a in syllabus if re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", a)]
    assert not [a for a in syllabus if "Credit hours: not listed in Canvas" in a]  # the tool's string, pasted
