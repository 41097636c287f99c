"""A user's own requests scored like the bench: `canvas-train bench --items FILE.jsonl`.

One JSON object a line (how an engineer scores real logged student questions):

- `messages` (required): the conversation up to the turn to score, in the training
  message format (`user`, `assistant` with optional `tool_calls`, `tool` responses). It
  must end with a user turn. The training system prompt, with the 18 tool declarations,
  is put in front as in training; a leading `system` message the user gives is *replaced*
  by it (the checkpoints only ever saw that one system prompt, and its declarations are
  what they call tools from), and counted in the record as `system_replaced`. A system
  message anywhere else is an error.
- `expected_tools` (required): the registry tools that answer the last user turn, in
  order; `[]` means no call is right (an irrelevance item).
- `expected_args` (optional): one object per expected call, BFCL style: argument ->
  list of accepted values, `""` meaning it may be left out. Without it the item is scored
  for tool selection only and left out of argument accuracy and full-call exact match.
- `context` (optional): `{"term", "split", "now", "seed"}`, the shape of a bench item's
  `context`: what rebuilds the simulated backend that answers the model's calls (and
  replays the calls already in `messages`). Without it the item runs against the bench's
  held-out data at `default_context` of `DATA_DIR/phase4/benchmark.jsonl`: the term most
  bench items ask about, at the median moment those items were asked (a `now` a bench
  item itself has, mid-term, with work both done and due).
- `id` (optional, unique in the file; default `line-N`) and `meta` (optional, any JSON,
  copied into the item's conversation in the record). Any other field is an error, so a
  misspelled `expected_args` is not silently scored as selection only.

Beyond the shape (jsonschema, ITEM_SCHEMA), a line must name registry tools (expected and
in its history), give accepted values only for arguments the tool has, of the types its
schema allows, and accepted values for each required argument (else no correct call could
match), and a context whose term and split the curated data holds. Each expected call is
its own step for the turn budget (the bench's: steps + 2, at most 6). Irrelevance items
count among the argued ones (they expect no arguments).

A line that is not such an object is skipped with its reason (`FILE:LINE: reason`) and
counted; the rest are scored. The record of one method goes to
`DATA_DIR/eval/PROFILE/external/<file stem>/<method>.json` (atomically): the summary, every
conversation, the skipped lines, the items file's path and SHA-256. The bench records, the
selection and the report are not touched.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jsonschema.exceptions import best_match

from canvas_pipeline.data.io import atomic_write_text, iter_json_lines, read_jsonl
from canvas_pipeline.data.layout import eval_dir
from canvas_pipeline.evaluation.arguments import MAY_OMIT
from canvas_pipeline.evaluation.harness import Conversation
from canvas_pipeline.evaluation.metrics import (
    arguments_right,
    correct_response,
    failure_reasons,
    format_valid,
    irrelevance_right,
    is_irrelevance,
    macro_tool_accuracy,
    parsimonious,
    per_tool,
    rate,
    selected_right,
    selected_right_call,
    share,
    summarize,
    wilson_interval,
)
from canvas_pipeline.tools.chat_format import system_prompt
from canvas_pipeline.tools.registry import StrictValidator, ToolRegistry, load_registry

if TYPE_CHECKING:
    from canvas_pipeline.evaluation.backends import BackendFactory

EXTERNAL = "external"
SPLIT = "external"
MAX_REASON = 240  # characters of a skip reason (jsonschema quotes the offending value)
ROLES = ("system", "user", "assistant", "tool")
ARGUMENT_KEYS = ("argument_accuracy", "full_call_exact")

_TOOL_CALL = {
    "type": "object",
    "required": ["function"],
    "properties": {
        "id": {"type": "string"},
        "type": {"const": "function"},
        "function": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "arguments": {"type": ["object", "string"]}},
        },
    },
}
_MESSAGE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"enum": list(ROLES)},
        "content": {"type": ["string", "null"]},
        "tool_calls": {"type": "array", "items": _TOOL_CALL},
        "tool_call_id": {"type": "string"},
        "name": {"type": "string"},
    },
}
CONTEXT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["term", "split", "now", "seed"],
    "additionalProperties": False,
    "properties": {
        "term": {"type": "string", "minLength": 1},
        "split": {"type": "string", "minLength": 1},
        "now": {"type": "string", "minLength": 1},
        "seed": {"type": "integer"},
        "courses": {"type": "array", "items": {"type": "integer"}, "minItems": 1},
    },
}
ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["messages", "expected_tools"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "messages": {"type": "array", "minItems": 1, "items": _MESSAGE},
        "expected_tools": {"type": "array", "items": {"type": "string"}},
        "expected_args": {
            "type": "array",
            "items": {"type": "object", "additionalProperties": {"type": "array", "minItems": 1}},
        },
        "context": CONTEXT_SCHEMA,
        "meta": {},
    },
}
_ITEM_VALIDATOR = StrictValidator(ITEM_SCHEMA)


@dataclass(frozen=True)
class SkippedLine:
    """A line of the items file that was not scored, and why."""

    line: int
    reason: str


@dataclass
class ItemsFile:
    """The items file read and checked: bench-shaped items for its valid lines, the rest skipped."""

    path: Path
    sha256: str
    lines: int
    items: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[SkippedLine] = field(default_factory=list)
    default_context: dict[str, Any] | None = None

    def skip(self, line: int, reason: str) -> None:
        short = reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 3] + "..."
        self.skipped.append(SkippedLine(line, short))
        self.skipped.sort(key=lambda s: s.line)


def _where(path: Sequence[Any]) -> str:
    """A jsonschema error path as `messages[2].role`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


def _call_arguments(call: dict[str, Any]) -> dict[str, Any] | None:
    """A history tool call's arguments as an object (a JSON string is decoded), or None."""
    arguments = call["function"].get("arguments") or {}
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return None
    return arguments if isinstance(arguments, dict) else None


def _message_problem(messages: list[dict[str, Any]], registry: ToolRegistry) -> str | None:
    calls_open = False  # whether a tool message may come next
    for i, message in enumerate(messages):
        role, content, where = message["role"], message.get("content"), f"messages[{i}]"
        if role == "system" and i > 0:
            return f"{where}: a system message may only come first (it is replaced by the training system prompt)"
        if role == "user" and not (isinstance(content, str) and content.strip()):
            return f"{where}: a user message needs non-empty text content"
        if role == "tool" and not calls_open:
            return f"{where}: a tool message must follow an assistant message with tool_calls"
        if role == "assistant":
            calls = message.get("tool_calls") or []
            if not calls and not (isinstance(content, str) and content.strip()):
                return f"{where}: an assistant message needs content or tool_calls"
            for j, call in enumerate(calls):
                name = call["function"]["name"]
                if name not in registry:
                    return f"{where}.tool_calls[{j}]: unknown tool {name!r}"
                if _call_arguments(call) is None:
                    return f"{where}.tool_calls[{j}]: arguments are not a JSON object"
        calls_open = (role == "assistant" and bool(message.get("tool_calls"))) or (role == "tool" and calls_open)
    last = messages[-1]["role"]
    if last != "user":
        return f"messages: the last message must be the user turn to score, not {last!r}"
    return None


def _expected_problem(tools: list[str], args: list[dict[str, Any]] | None, registry: ToolRegistry) -> str | None:
    for k, name in enumerate(tools):
        if name not in registry:
            return f"expected_tools[{k}]: unknown tool {name!r}"
    if args is None:
        return None
    if len(args) != len(tools):
        return f"expected_args has {len(args)} entries for {len(tools)} expected tools (one per expected call)"
    for k, (name, accepted) in enumerate(zip(tools, args, strict=True)):
        spec = registry[name]
        for key, options in accepted.items():
            if key not in spec.properties:
                return f"expected_args[{k}]: {key!r} is not an argument of {name}"
            for option in options:
                if option == MAY_OMIT:
                    continue
                issues = [  # the other required arguments are missing from this one-argument probe
                    i
                    for i in registry.validate_arguments(name, {key: option})
                    if not (i.kind == "missing_required" and not i.path)
                ]
                if issues:
                    where = f"expected_args[{k}].{key}"
                    return f"{where}: accepted value {option!r} does not fit {name} ({issues[0].message})"
        for key in spec.required:
            if key not in accepted:
                return f"expected_args[{k}]: required argument {key!r} of {name} has no accepted values"
    return None


def _context_problem(context: dict[str, Any] | None) -> str | None:
    if context is None:
        return None
    try:
        datetime.fromisoformat(context["now"])
    except ValueError:
        return f"context.now: {context['now']!r} is not an ISO-8601 time"
    return None


def item_problem(value: Any, registry: ToolRegistry | None = None) -> str | None:
    """Why one parsed line is not a valid item (the first problem found), or None.

    The shape is checked against ITEM_SCHEMA with jsonschema; then the registry (tool names,
    argument names, accepted values that fit the tool's schema, required arguments with
    accepted values) and the conversation (roles in order, ending with a user turn)."""
    if not isinstance(value, dict):
        return f"not a JSON object (a JSON {type(value).__name__})"
    error = best_match(_ITEM_VALIDATOR.iter_errors(value))
    if error is not None:
        return f"{_where(error.absolute_path) or 'item'}: {error.message}"
    registry = registry or load_registry()
    return (
        _message_problem(value["messages"], registry)
        or _expected_problem(value["expected_tools"], value.get("expected_args"), registry)
        or _context_problem(value.get("context"))
    )


def external_item(value: dict[str, Any], line: int) -> dict[str, Any]:
    """A valid line as a bench item: the training system prompt in front of its messages,
    each expected call its own step (the turn budget), `expected_args` None when not given
    (selection only), the context None until one is attached."""
    messages = list(value["messages"])
    replaced = bool(messages) and messages[0]["role"] == "system"
    if replaced:
        messages = messages[1:]
    tools = list(value["expected_tools"])
    args = value.get("expected_args")
    return {
        "id": value.get("id") or f"line-{line}",
        "split": SPLIT,
        "line": line,
        "category": "irrelevance" if not tools else "single" if len(tools) == 1 else "multi_step",
        "prompt": [{"role": "system", "content": system_prompt()}, *messages],
        "expected_tools": tools,
        "expected_steps": [[t] for t in tools],
        "expected_args": [] if not tools else args,
        "min_calls": len(tools),
        "context": value.get("context"),
        "context_source": "item" if value.get("context") else "default",
        "system_replaced": replaced,
        "meta": value.get("meta"),
    }


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file's bytes, hex."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_items(path: Path, registry: ToolRegistry | None = None) -> ItemsFile:
    """Every non-blank line of `path` checked (`item_problem`, unique ids); a file that cannot
    be read raises UnreadableInputError naming it."""
    path = Path(path)
    lines = list(iter_json_lines(path))
    out = ItemsFile(path, file_sha256(path), len(lines))
    first_line_of: dict[str, int] = {}
    for entry in lines:
        problem = entry.error or item_problem(entry.value, registry)
        if problem is None:
            item = external_item(entry.value, entry.line)
            if item["id"] in first_line_of:
                problem = f"id {item['id']!r} already used on line {first_line_of[item['id']]}"
            else:
                first_line_of[item["id"]] = entry.line
                out.items.append(item)
        if problem is not None:
            out.skip(entry.line, problem)
    return out


def default_context(bench: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The context an item without one runs in: the term most bench items ask about (its
    most common split and seed: the held-out `bench` view), at the lower median of those
    items' `now`s, so the backend is in a state the bench itself exercises."""
    contexts = [item["context"] for item in bench if item.get("context")]
    if not contexts:
        raise ValueError("the bench has no item with a context to take the default context from")
    term = Counter(c["term"] for c in contexts).most_common(1)[0][0]
    in_term = [c for c in contexts if c["term"] == term]
    split, seed = Counter((c["split"], int(c["seed"])) for c in in_term).most_common(1)[0][0]
    nows = sorted(
        {c["now"] for c in in_term if c["split"] == split and int(c["seed"]) == seed}, key=datetime.fromisoformat
    )
    return {"term": term, "split": split, "now": nows[(len(nows) - 1) // 2], "seed": seed}


def attach_contexts(
    items_file: ItemsFile, views: Collection[tuple[str, str]], bench_path: Path | None = None
) -> ItemsFile:
    """Give every item the context its backend is rebuilt from: its own, or the default
    one taken from `bench_path` (read only when some item needs it). An item whose (term,
    split) the curated data has no view of is skipped."""
    kept: list[dict[str, Any]] = []
    for item in items_file.items:
        if item["context"] is None:
            if items_file.default_context is None:
                if bench_path is None or not Path(bench_path).is_file():
                    raise FileNotFoundError(
                        f"items without a context run in the bench's default context, but there is no {bench_path}"
                    )
                items_file.default_context = default_context(read_jsonl(Path(bench_path)))
            item["context"] = dict(items_file.default_context)
        key = (item["context"]["term"], item["context"]["split"])
        if key in views:
            kept.append(item)
        else:
            known = ", ".join(sorted(f"{t!r}/{s}" for t, s in views))
            items_file.skip(item["line"], f"context: no {key[1]} view of term {key[0]!r} in the data (known: {known})")
    items_file.items = kept
    return items_file


def summarize_items(conversations: Sequence[Conversation]) -> dict[str, Any]:
    """`metrics.summarize` for items of which only some carry `expected_args`: tool
    selection, irrelevance, parsimony and format over every item; argument accuracy and
    full-call exact match are summarize's own, over the items with arguments (irrelevance
    items always count: they expect no arguments). With every item argued it is
    `summarize(conversations)` plus the counts below."""
    argued = [c for c in conversations if c.item["expected_args"] is not None]
    by_arguments = summarize(argued) if argued else dict.fromkeys(ARGUMENT_KEYS)
    n, correct = len(conversations), sum(selected_right(c) for c in conversations)
    interval = wilson_interval(correct, n)
    tools = per_tool(conversations)
    irrelevant = [c for c in conversations if is_irrelevance(c.item)]
    return {
        "items": n,
        "tool_selection_accuracy": rate(correct, n) or 0.0,
        "tool_selection_correct": correct,
        "tool_selection_interval": [interval.low, interval.high] if interval else None,
        "macro_tool_accuracy": macro_tool_accuracy(tools),
        "argument_accuracy": by_arguments["argument_accuracy"],
        "argument_items": sum(selected_right_call(c) for c in argued),
        "argued_items": len(argued),
        "full_call_exact": by_arguments["full_call_exact"],
        "parsimony_rate": share(conversations, parsimonious, among=correct_response),
        "irrelevance_accuracy": share(irrelevant, irrelevance_right),
        "irrelevance_items": len(irrelevant),
        "format_validity": share(conversations, format_valid) or 0.0,
        "ended": failure_reasons(conversations),
        "per_tool": tools,
    }


def conversation_record(c: Conversation) -> dict[str, Any]:
    """The bench record of one conversation plus what it was scored against and how."""
    argued = c.item["expected_args"] is not None
    return {
        **c.record(),
        "line": c.item["line"],
        "expected_tools": c.item["expected_tools"],
        "context_source": c.item["context_source"],
        "selected_right": selected_right(c),
        "arguments_right": arguments_right(c) if argued and selected_right_call(c) else None,
        "meta": c.item["meta"],
    }


def external_record_path(out_dir: Path, profile: str, items_path: Path, method: str) -> Path:
    """`DATA_DIR/eval/PROFILE/external/<items file stem>/<method>.json` (two files with one
    stem share it: the record names the file and its SHA-256)."""
    return eval_dir(Path(out_dir), profile) / EXTERNAL / Path(items_path).stem / f"{method}.json"


def external_record(
    method: str, profile: str, items_file: ItemsFile, conversations: Sequence[Conversation]
) -> dict[str, Any]:
    """One method's record: the summary with the file's counts, per tool, the skipped lines,
    each first turn and each conversation, and which file (path, SHA-256) was scored."""
    summary = summarize_items(conversations)
    return {
        "method": method,
        "profile": profile,
        "items_file": str(Path(items_file.path).resolve()),
        "items_sha256": items_file.sha256,
        "default_context": items_file.default_context,
        "summary": {
            **{k: v for k, v in summary.items() if k != "per_tool"},
            "lines": items_file.lines,
            "scored": len(conversations),
            "skipped": len(items_file.skipped),
            "default_context_items": sum(c.item["context_source"] == "default" for c in conversations),
            "system_replaced": sum(bool(c.item["system_replaced"]) for c in conversations),
        },
        "per_tool": summary["per_tool"],
        "skipped_lines": [{"line": s.line, "reason": s.reason} for s in items_file.skipped],
        "outputs": {c.item["id"]: c.turns[0] if c.turns else "" for c in conversations},
        "conversations": [conversation_record(c) for c in conversations],
    }


def run_external_bench(
    out_dir: Path,
    profile: str,
    method: str,
    items_file: ItemsFile,
    backends: BackendFactory,
) -> tuple[dict[str, Any], Path]:
    """One checkpoint (or `base`) on the items as conversations, its record written
    atomically to `external_record_path`; returns the record and where it went."""
    from canvas_pipeline.evaluation.bench import _load_model
    from canvas_pipeline.evaluation.harness import run_conversations

    model, tokenizer = _load_model(Path(out_dir), profile, method)
    conversations = run_conversations(model, tokenizer, items_file.items, backends.for_item)
    record = external_record(method, profile, items_file, conversations)
    target = external_record_path(out_dir, profile, items_file.path, method)
    atomic_write_text(target, json.dumps(record, indent=1, default=str))
    return record, target
