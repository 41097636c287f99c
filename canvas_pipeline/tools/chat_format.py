"""Whole conversations in the Gemma-4 turn format, and the one system prompt.

`render_conversation` produces the same text as the current Gemma-4 chat template, the
revision TRL vendors as `gemma4_v5.jinja` (and our training template is built from), for
messages with string content: system, user, assistant with `tool_calls`, `tool` responses,
final answers. It follows that revision's rules where earlier ones differ: an assistant
message followed by another assistant message stays open (one model turn), tool responses
followed by a user or system turn are closed, `<|channel>...<channel|>` blocks in assistant
text are dropped, and argument keys are ordered by Jinja's `dictsort` (case-insensitive,
stable). `tool_declaration` ports the template's declaration macro. Tests render both ways
and compare bytes, on constructed conversations and on every generated row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache, lru_cache
from typing import Any

from canvas_pipeline.tools.codec import (
    BOS,
    DECL_CLOSE,
    DECL_OPEN,
    RESPONSE_CLOSE,
    RESPONSE_OPEN,
    STRING_DELIM,
    TURN_CLOSE,
    TURN_OPEN,
    ToolCall,
    serialize_call,
    serialize_value,
)
from canvas_pipeline.tools.registry import ToolRegistry, ToolSpec, load_registry

SYSTEM_INSTRUCTIONS = (
    "You are a study assistant for a university student. You can read the student's Canvas LMS "
    "courses, assignments, grades and announcements, manage their calendar, and plan study time, "
    "only through the tools declared below. Call a tool whenever the answer depends on the "
    "student's data or asks for an action; use the fewest calls that answer the question, in "
    "dependency order (look up a course before a course-specific call, find a free block before "
    "creating an event). Once the tool results answer the question, stop calling tools and reply "
    "in plain language."
)

Message = Mapping[str, Any]

# The thinking channel's markers: the template strips such blocks from assistant text.
CHANNEL_OPEN = "<|channel>"
CHANNEL_CLOSE = "<channel|>"


def _dictsort(mapping: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Jinja's `dictsort`: keys compared case-insensitively, and Python's sort is stable, so
    keys equal but for case keep their insertion order (`{a, b, B}` stays `{a, b, B}`)."""
    return sorted(mapping.items(), key=lambda kv: kv[0].lower())


def _dictsorted(value: Any) -> Any:
    """`value` with every object's keys in `dictsort` order, at every level: the order the
    template's `format_argument` writes them in. The codec's `canonical_arguments` is a fixed
    point of it (its tie-break among keys equal but for case is one insertion order)."""
    if isinstance(value, Mapping):
        return {k: _dictsorted(v) for k, v in _dictsort(value)}
    if isinstance(value, list):
        return [_dictsorted(v) for v in value]
    return value


def strip_thinking(text: str) -> str:
    """The template's `strip_thinking` macro, applied to a model message's text: drops each
    `<|channel>...<channel|>` block (and an unclosed `<|channel>` to the end), then trims."""
    kept = []
    for part in text.split(CHANNEL_CLOSE):
        kept.append(part.split(CHANNEL_OPEN)[0])
    return "".join(kept).strip()


def _upper_type(value: Any) -> str:
    return str(value).upper() if value is not None else ""


def _format_parameters(properties: Mapping[str, Any], filter_keys: bool = False) -> str:
    """Port of the template's `format_parameters` macro."""
    standard_keys = {"description", "type", "properties", "required", "nullable"}
    parts = []
    for key, value in _dictsort(properties):
        if filter_keys and key in standard_keys:
            continue
        fields = []
        if value.get("description"):
            fields.append(f"description:{STRING_DELIM}{value['description']}{STRING_DELIM}")
        kind = _upper_type(value.get("type"))
        if kind == "STRING":
            if value.get("enum"):
                fields.append(f"enum:{serialize_value(value['enum'], quoted_keys=True)}")
        elif kind == "ARRAY":
            items = value.get("items")
            if isinstance(items, Mapping) and items:
                item_fields = []
                for item_key, item_value in _dictsort(items):
                    if item_value is None:
                        continue
                    if item_key == "properties":
                        inner = _format_parameters(item_value) if isinstance(item_value, Mapping) else ""
                        item_fields.append(f"properties:{{{inner}}}")
                    elif item_key == "required":
                        item_fields.append(_required_list(item_value))
                    elif item_key == "type":
                        item_fields.append(f"type:{serialize_value(_upper_type(item_value), quoted_keys=True)}")
                    else:
                        item_fields.append(f"{item_key}:{serialize_value(item_value, quoted_keys=True)}")
                fields.append("items:{" + ",".join(item_fields) + "}")
        if value.get("nullable"):
            fields.append("nullable:true")
        if kind == "OBJECT":
            if isinstance(value.get("properties"), Mapping):
                fields.append(f"properties:{{{_format_parameters(value['properties'])}}}")
            else:
                fields.append(f"properties:{{{_format_parameters(value, filter_keys=True)}}}")
            if value.get("required"):
                fields.append(_required_list(value["required"]))
        fields.append(f"type:{STRING_DELIM}{kind}{STRING_DELIM}")
        parts.append(f"{key}:{{" + ",".join(fields) + "}")
    return ",".join(parts)


def _required_list(names: Sequence[str]) -> str:
    return "required:[" + ",".join(f"{STRING_DELIM}{n}{STRING_DELIM}" for n in names) + "]"


def gemma_parameters(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A registry JSON schema in the Gemma declaration dialect: a `["T", "null"]` type
    becomes type T with `nullable: true` (the template upper-cases a single type name)."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, list):
            kinds = [k for k in value if k != "null"]
            out["type"] = kinds[0] if len(kinds) == 1 else kinds
            if "null" in value:
                out["nullable"] = True
        elif key == "properties":
            out[key] = {name: gemma_parameters(sub) for name, sub in value.items()}
        elif key == "items" and isinstance(value, Mapping):
            out[key] = gemma_parameters(value)
        else:
            out[key] = value
    return out


def hf_tool(spec: ToolSpec) -> dict[str, Any]:
    """The tool as a transformers/TRL `tools=` entry."""
    return {
        "type": "function",
        "function": {
            "name": spec.name,
            "description": spec.description,
            "parameters": gemma_parameters(spec.parameters),
        },
    }


def tool_declaration(spec: ToolSpec) -> str:
    """`<|tool>declaration:NAME{...}<tool|>`, as the template's `format_function_declaration`."""
    params = gemma_parameters(spec.parameters)
    text = f"declaration:{spec.name}{{description:{STRING_DELIM}{spec.description}{STRING_DELIM}"
    if params:
        text += ",parameters:{"
        if params.get("properties"):
            text += f"properties:{{{_format_parameters(params['properties'])}}},"
        if params.get("required"):
            text += _required_list(params["required"]) + ","
        if params.get("type"):
            text += f"type:{STRING_DELIM}{_upper_type(params['type'])}{STRING_DELIM}}}"
    text += "}"
    return DECL_OPEN + text.strip() + DECL_CLOSE


def system_prompt_for(registry: ToolRegistry) -> str:
    return SYSTEM_INSTRUCTIONS + "".join(tool_declaration(spec) for spec in registry)


@cache
def tools_json() -> str:
    """The 18 tools as a TRL `tools` column value (a JSON string, which TRL decodes): with a
    system message of SYSTEM_INSTRUCTIONS it renders exactly the text of `system_prompt()`."""
    return json.dumps([hf_tool(spec) for spec in load_registry()], sort_keys=True, separators=(",", ":"))


def _declarations(tools: Sequence[Mapping[str, Any]] | str) -> str:
    return _declarations_of(tools if isinstance(tools, str) else json.dumps(tools, sort_keys=True))


@lru_cache(maxsize=32)
def _declarations_of(tools_text: str) -> str:
    """Declarations for a `tools` JSON text (every preference row carries the same one)."""
    specs = [
        ToolSpec(t["function"]["name"], t["function"].get("description", ""), t["function"].get("parameters") or {})
        for t in json.loads(tools_text)
    ]
    return "".join(tool_declaration(spec) for spec in specs)


@cache
def system_prompt() -> str:
    """The one system prompt of training, data and bench: instructions plus the 18 declarations."""
    return system_prompt_for(load_registry())


def tool_response_block(name: str, content: Any) -> str:
    """`<|tool_response>response:NAME{value:...}<tool_response|>` for a `tool` message's content."""
    if isinstance(content, Mapping):
        inner = ",".join(f"{k}:{serialize_value(_dictsorted(v))}" for k, v in _dictsort(content))
        return f"{RESPONSE_OPEN}response:{name}{{{inner}}}{RESPONSE_CLOSE}"
    return f"{RESPONSE_OPEN}response:{name}{{value:{serialize_value(_dictsorted(content))}}}{RESPONSE_CLOSE}"


def response_content(payload: Any) -> str:
    """The `tool` message content for a backend response: compact JSON, keys sorted."""
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def message_calls(message: Message) -> list[ToolCall]:
    return [ToolCall.from_message_call(tc) for tc in message.get("tool_calls") or []]


def _response_name(message: Message, follow: Message) -> str:
    """The name a `tool` message's response is written under, as the template resolves it:
    the message's `name`, replaced by the name of each call whose `id` equals its
    `tool_call_id` (the last such call wins; a call without an id matches a response without
    one, which is why a message with several calls gives each an id)."""
    name = follow.get("name") or "unknown"
    for tc in message["tool_calls"]:
        if tc.get("id") == follow.get("tool_call_id"):
            name = tc["function"]["name"]
    return name


def render_conversation(
    messages: Sequence[Message],
    add_generation_prompt: bool = False,
    tools: Sequence[Mapping[str, Any]] | str | None = None,
) -> str:
    """The conversation in Gemma-4 native text, byte-identical to the `gemma4_v5` chat template
    (with `tools` declared after the system text, as the template's `tools=` does)."""
    out = [BOS]
    rest = list(messages)
    last_kind: str | None = None  # the template's `prev_message_type`
    declarations = _declarations(tools) if tools else ""
    if rest and rest[0]["role"] in ("system", "developer"):
        out.append(f"{TURN_OPEN}system\n{str(rest[0]['content']).strip()}{declarations}{TURN_CLOSE}\n")
        rest = rest[1:]
    elif declarations:
        out.append(f"{TURN_OPEN}system\n{declarations}{TURN_CLOSE}\n")
    previous_role: str | None = None  # role of the last message that is not a tool response
    for index, message in enumerate(rest):
        role = message["role"]
        if role == "tool":
            continue
        last_kind = None
        turn = "model" if role == "assistant" else role
        if not (turn == "model" and previous_role == "assistant"):
            out.append(f"{TURN_OPEN}{turn}\n")
        calls = message_calls(message)
        if calls:  # the template dictsorts argument keys at every level
            out.extend(serialize_call(ToolCall(c.name, _dictsorted(c.arguments))) for c in calls)
            last_kind = "tool_call"
        responded = False
        if calls:
            for follow in rest[index + 1 :]:
                if follow["role"] != "tool":
                    break
                out.append(tool_response_block(_response_name(message, follow), follow.get("content")))
                responded = True
                last_kind = "tool_response"
        content = str(message.get("content") or "")
        content = strip_thinking(content) if turn == "model" else content.strip()
        out.append(content)
        following = next((m["role"] for m in rest[index + 1 :] if m["role"] != "tool"), None)
        # a model message running on into the next assistant message leaves the turn open
        continues = turn == "model" and following == "assistant" and (not calls or responded)
        if last_kind == "tool_call" and not responded:
            out.append(RESPONSE_OPEN)
        elif continues:
            pass
        elif not (responded and not content and following is None):
            out.append(f"{TURN_CLOSE}\n")
        previous_role = role
    if add_generation_prompt and last_kind not in ("tool_response", "tool_call"):
        out.append(f"{TURN_OPEN}model\n")
    return "".join(out)
