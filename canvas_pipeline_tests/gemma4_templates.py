"""The Gemma-4 chat templates TRL 1.16 vendors, rendered as transformers renders them.

`GEMMA4_V5` is the current revision (`trl/chat_templates/gemma4_v5.jinja`, HF 8995379), the
one `render_conversation` follows and our training template is built from; `GEMMA4_FIRST` is
the first revision (`gemma4.jinja`, HF 6b7e72c), kept to document where it differs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from transformers.utils.chat_template_utils import render_jinja_template
from trl.chat_template_utils import gemma4_chat_template, gemma4_v5_chat_template

GEMMA4_V5 = gemma4_v5_chat_template
GEMMA4_FIRST = gemma4_chat_template


def render_template(
    template: str,
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None = None,
    add_generation_prompt: bool = False,
) -> str:
    """What `tokenizer.apply_chat_template(messages, tools=tools, chat_template=template,
    add_generation_prompt=..., tokenize=False)` returns for a tokenizer whose bos token is
    `<bos>`: that method renders through this function (transformers' sandboxed Jinja
    environment, trim_blocks and lstrip_blocks on, `raise_exception` defined)."""
    rendered, _ = render_jinja_template(
        conversations=[list(messages)],
        tools=list(tools) if tools is not None else None,
        chat_template=template,
        add_generation_prompt=add_generation_prompt,
        bos_token="<bos>",
    )
    return rendered[0]
