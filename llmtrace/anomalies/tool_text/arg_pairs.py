"""Markup whose arguments are ``<arg_key>K</arg_key><arg_value>V</arg_value>`` pairs after the
function name: GLM 4.5–4.7 (``<tool_call>NAME`` then the pairs, GLM-4.5/4.6 with a newline after
the name, GLM-4.7 without), Laguna (Poolside's parser reads the same markup) and Hunyuan V3
(``<tool_calls><tool_call>NAME<tool_sep>`` then the pairs). Solar Open 2 spells its pairs with
special tokens (``<|tool_arg:start|>K<|tool_arg:value|>V<|tool_arg:end|>``)."""

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


_SOLAR_START, _SOLAR_END = "<|tool_call:start|>", "<|tool_call:end|>"
_SOLAR_PAIR = r"<\|tool_arg:start\|>(.*?)<\|tool_arg:value\|>(.*?)(?:<\|tool_arg:end\|>|(?=<\|tool_arg:start\|>)|\Z)"


def solar_open2(text: str, m: re.Match, stop: int) -> tuple:
    """``<|tool_call:start|>NAME`` (the rest of its line) then the pairs, to ``<|tool_call:end|>``; a
    call whose end token was dropped runs to the next call's start (vLLM's solar_open2 parser)."""
    nxt = text.find(_SOLAR_START, m.end(), stop)
    limit = stop if nxt == -1 else nxt
    close = text.find(_SOLAR_END, m.end(), limit)
    inner, end = (close, close + len(_SOLAR_END)) if close != -1 else (limit, limit)
    body = text[m.end():inner]
    head, _, rest = body.partition("\n")
    if "<|tool_arg:start|>" in head:  # no newline after the name
        head, rest = head[:head.index("<|tool_arg:start|>")], body[head.index("<|tool_arg:start|>"):]
    arguments = {}
    for key, value in rx(_SOLAR_PAIR, re.S).findall(rest):
        arguments.setdefault(key.strip(), json_or_text(value))
    name = head.strip()
    if rx(r"[\s<>]").search(name):  # prose after the token: a mention, not a name
        return "solar-open2", [], end
    return "solar-open2", [{"name": name, "arguments": arguments}], end
