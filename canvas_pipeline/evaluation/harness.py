"""The bench harness: each item run as a conversation with the simulated backend.

Every turn of every open conversation is generated in one batched, greedy, left-padded
pass (`generation.greedy_turns`: the training system prompt and tool declarations,
special tokens kept, stops at `<turn|>` or `<|tool_response>`). A turn whose calls parse
is executed against the item's rebuilt backend and the responses are fed back; a turn with
no call ends the conversation. Whatever the model writes, the conversation ends with a
reason instead of an exception: an envelope the codec cannot parse, a call the backend
cannot run, or still calling tools when the turn budget runs out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from canvas_pipeline.evaluation.generation import BATCH_SIZE, greedy_turns, prompt_text
from canvas_pipeline.tools.chat_format import response_content
from canvas_pipeline.tools.codec import ParseError, ToolCall, parse_calls

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from canvas_pipeline.data.backend import Backend

MAX_TURNS = 6
EXTRA_TURNS = 2  # beyond the reference's own number of steps, before a loop is called a loop

BackendFor = Callable[[dict[str, Any]], "Backend"]


@dataclass
class Conversation:
    """One item's run: the raw text of each model turn, the calls in order (grouped by
    turn), and why it ended."""

    item: dict[str, Any]
    messages: list[dict[str, Any]]
    turns: list[str] = field(default_factory=list)
    steps: list[list[ToolCall]] = field(default_factory=list)
    ended: str = ""  # answered | parse_error | turn_limit | backend_error | backend_unavailable
    failure: str | None = None

    @property
    def calls(self) -> list[ToolCall]:
        return [c for step in self.steps for c in step]

    @property
    def first_turn_parsed(self) -> bool:
        return not (self.ended == "parse_error" and len(self.turns) == 1)

    @property
    def first_calls(self) -> list[ToolCall]:
        return self.steps[0] if self.steps and self.first_turn_parsed else []

    @classmethod
    def from_record(cls, item: dict[str, Any], record: dict[str, Any]) -> Conversation:
        """The conversation a bench record stored (`record()`), for scoring it again."""
        steps = [[ToolCall(c["name"], c["arguments"]) for c in step] for step in record["calls"]]
        return cls(item, [], list(record["turns"]), steps, record["ended"], record.get("failure"))

    def record(self) -> dict[str, Any]:
        return {
            "id": self.item["id"],
            "turns": self.turns,
            "calls": [[{"name": c.name, "arguments": c.arguments} for c in step] for step in self.steps],
            "ended": self.ended,
            "failure": self.failure,
        }


def turn_budget(item: dict[str, Any]) -> int:
    return min(MAX_TURNS, len(item.get("expected_steps") or []) + EXTRA_TURNS)


def _end(conversation: Conversation, how: str, failure: str | None = None) -> None:
    conversation.ended, conversation.failure = how, failure


def _advance(conversation: Conversation, output: str, backend_for: BackendFor | None, backends: dict[str, Any]) -> bool:
    """Take one model turn into the conversation; True while it should go on."""
    conversation.turns.append(output)
    parsed = parse_calls(output)
    if isinstance(parsed, ParseError):
        _end(conversation, "parse_error", f"turn {len(conversation.turns)}: {parsed}")
        return False
    if not parsed:
        _end(conversation, "answered")
        return False
    conversation.steps.append(list(parsed))
    if len(conversation.turns) >= turn_budget(conversation.item):
        _end(conversation, "turn_limit", f"still calling tools after {len(conversation.turns)} turns")
        return False
    if backend_for is None:
        _end(conversation, "backend_unavailable", "no backend to execute the calls (first turn only)")
        return False
    item_id = conversation.item["id"]
    try:
        if item_id not in backends:
            backends[item_id] = backend_for(conversation.item)
        backend = backends[item_id]
        first = sum(len(s) for s in conversation.steps[:-1])
        ids = [f"call_{first + k}" for k in range(len(parsed))]
        conversation.messages.append(
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [c.to_message_call(i) for c, i in zip(parsed, ids, strict=True)],
            }
        )
        for call, call_id in zip(parsed, ids, strict=True):
            response = backend.execute(call)  # invalid arguments come back as {"error": ...}, as from an API
            conversation.messages.append(
                {"role": "tool", "tool_call_id": call_id, "name": call.name, "content": response_content(response)}
            )
    except Exception as error:  # garbage the backend cannot even look at is scored, never raised
        _end(conversation, "backend_error", f"turn {len(conversation.turns)}: {type(error).__name__}: {error}")
        return False
    return True


def run_conversations(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[dict[str, Any]],
    backend_for: BackendFor | None,
    batch_size: int = BATCH_SIZE,
    max_new_tokens: int | None = None,
) -> list[Conversation]:
    """Every item as a conversation, all open ones advanced one turn per batched pass.
    Without `backend_for` only the first turn is run (enough for tool selection)."""
    conversations = [Conversation(item, list(item["prompt"])) for item in items]
    backends: dict[str, Any] = {}
    active = list(conversations)
    extra = {} if max_new_tokens is None else {"max_new_tokens": max_new_tokens}
    while active:
        prompts = [prompt_text(c.messages, c.item.get("tools")) for c in active]
        outputs = greedy_turns(model, tokenizer, prompts, batch_size=batch_size, **extra)
        active = [c for c, out in zip(active, outputs, strict=True) if _advance(c, out, backend_for, backends)]
    return conversations
