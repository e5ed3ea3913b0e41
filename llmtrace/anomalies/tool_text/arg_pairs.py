"""Markup whose arguments are ``<arg_key>K</arg_key><arg_value>V</arg_value>`` pairs after the
function name: GLM 4.5–4.7 (``<tool_call>NAME`` then the pairs, GLM-4.5/4.6 with a newline after
the name, GLM-4.7 without), Laguna (Poolside's parser reads the same markup) and Hunyuan V3
(``<tool_calls><tool_call>NAME<tool_sep>`` then the pairs)."""

from __future__ import annotations

import re
from typing import Any

from llmtrace.anomalies.tool_text.reading import json_at, json_or_text, rx

# Between key and value: whitespace, or GLM-4.6's literal "\n" (SGLang's tests).
_PAIR = r"<arg_key>(.*?)</arg_key>(?:\s|\\n)*<arg_value>(.*?)(?:</arg_value>|\Z)"


def pairs(body: str) -> dict[str, Any]:
    return {k.strip(): json_or_text(v) for k, v in rx(_PAIR, re.S).findall(body)}


def glm(name: str, rest: str) -> dict[str, Any]:
    """A GLM call's arguments: the pairs after its name, or (older GLM) one JSON object."""
    if "<arg_key>" in rest:
        return {"name": name, "arguments": pairs(rest)}
    return {"name": name, "arguments": json_at(rest, 0, len(rest))[0] if rest.strip() else {}}


_HUNYUAN_CALL = r"<tool_call>(.*?)<tool_sep>(.*?)(?:</tool_call>|\Z)"


def hunyuan_v3(body: str) -> list[dict[str, Any]]:
    """``<tool_call>NAME<tool_sep><arg_key>…</tool_call>`` blocks."""
    return [{"name": name.strip(), "arguments": pairs(args)} for name, args in rx(_HUNYUAN_CALL, re.S).findall(body)]
