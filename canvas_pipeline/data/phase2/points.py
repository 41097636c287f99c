"""Decision points: the places in a phase-1 trajectory where the model chooses what to say.

A point is the conversation so far (the prompt), the assistant message the trajectory
actually produced there (the chosen continuation), and what came after it. Preference
and KTO rows are all made at decision points; the prompt's system message is the
instructions alone and the tools travel in the TRL `tools` column, which renders the same
text as phase 1's system prompt.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from canvas_pipeline.data.backend import parse_iso
from canvas_pipeline.data.student_view import human_date
from canvas_pipeline.tools.chat_format import SYSTEM_INSTRUCTIONS, message_calls, system_prompt
from canvas_pipeline.tools.codec import ToolCall

Message = dict[str, Any]


@dataclass(frozen=True)
class DecisionPoint:
    row_id: str
    split: str
    intent: str
    item_ids: tuple[str, ...]
    prompt: tuple[Message, ...]
    chosen: Message
    later: tuple[Message, ...]
    index: int  # position of the chosen message in the trajectory

    @property
    def kind(self) -> str:
        return "call" if self.chosen.get("tool_calls") else "answer"

    @property
    def calls(self) -> list[ToolCall]:
        return message_calls(self.chosen)

    def later_calls(self) -> list[ToolCall]:
        return [c for m in self.later if m["role"] == "assistant" for c in message_calls(m)]

    def prompt_messages(self) -> list[Message]:
        return copy.deepcopy(list(self.prompt))

    def next_call_id(self) -> int:
        return sum(len(m.get("tool_calls") or []) for m in self.prompt) + 100

    @property
    def key(self) -> str:
        return f"{self.row_id}@{self.index}"


def _instructions_only(messages: list[Mapping[str, Any]]) -> list[Message]:
    out = [dict(m) for m in messages]
    if out and out[0]["role"] == "system":
        if out[0]["content"] != system_prompt():
            raise ValueError("phase-1 row does not carry the shared system prompt")
        out[0] = {"role": "system", "content": SYSTEM_INSTRUCTIONS}
    return out


def decision_points(row: Mapping[str, Any]) -> Iterator[DecisionPoint]:
    """Every assistant message of a trajectory, as a decision point (call or final answer).
    An answer counts only when it follows tool responses: that is where stopping is a choice."""
    messages = _instructions_only(row["messages"])
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        if not message.get("tool_calls") and messages[index - 1]["role"] != "tool":
            continue
        yield DecisionPoint(
            row_id=row["id"],
            split=row["split"],
            intent=row["intent"],
            item_ids=tuple(row["item_ids"]),
            prompt=tuple(messages[:index]),
            chosen=message,
            later=tuple(messages[index + 1 :]),
            index=index,
        )


def assistant_calls(calls: list[ToolCall], first_id: int) -> Message:
    """An assistant message making `calls` (ids continue the conversation's numbering)."""
    return {
        "role": "assistant",
        "content": "",
        "tool_calls": [c.to_message_call(f"call_{first_id + k}") for k, c in enumerate(calls)],
    }


def assistant_text(text: str) -> Message:
    return {"role": "assistant", "content": text}


def revealed(point: DecisionPoint) -> str:
    """Everything the model could read before deciding: tool responses and user turns."""
    return "\n".join(str(m.get("content") or "") for m in point.prompt if m["role"] in ("tool", "user"))


def prior_calls(point: DecisionPoint) -> list[ToolCall]:
    """Calls already made in the conversation (their results are in the prompt)."""
    return [c for m in point.prompt if m["role"] == "assistant" for c in message_calls(m)]


def unrevealed_dependency(call: ToolCall, revealed: str) -> bool:
    """The call uses an id, a slot or a date the conversation has not shown yet."""
    args = call.arguments
    ids = [args["course_id"]] if isinstance(args.get("course_id"), int) else []
    if isinstance(args.get("course_ids"), list):
        ids += [c for c in args["course_ids"] if isinstance(c, int)]
    if any(f'"course_id":{cid}' not in revealed for cid in ids):
        return True
    if isinstance(args.get("event_id"), str) and f'"event_id":"{args["event_id"]}"' not in revealed:
        return True
    if call.name == "calendar.create_event" and isinstance(args.get("start_iso"), str):
        return f'"start":"{args["start_iso"]}"' not in revealed
    if call.name == "study.spaced_schedule" and isinstance(args.get("exam_iso"), str):
        try:
            stated = human_date(parse_iso(args["exam_iso"]))
        except ValueError:
            return False
        return args["exam_iso"] not in revealed and stated not in revealed
    return False
