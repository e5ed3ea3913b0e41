"""Gemma 4 and FunctionGemma: ``call:NAME{key:value,…}`` between ``<|tool_call>``/``<tool_call|>``
(Gemma 4, strings quoted with the token ``<|"|>``) or ``<start_function_call>``/
``<end_function_call>`` (FunctionGemma, strings quoted with ``<escape>``). Keys are bare; values
are strings, numbers, ``true``/``false``/``null``, ``{…}`` objects and ``[…]`` lists."""

from __future__ import annotations

import json
import re
from typing import Any

from llmtrace.anomalies.tool_text.reading import block, rx

_CALL = r"\s*:?call:([A-Za-z_][\w.\-]*)\{"  # ":call:" — a stray colon vLLM's fallback accepts
_FORMS = {"<|tool_call>": ("gemma4", "<tool_call|>", '<|"|>'),
          "<start_function_call>": ("functiongemma", "<end_function_call>", "<escape>")}


def gemma(text: str, m: re.Match, stop: int) -> tuple:
    family, closing, quote = _FORMS[m.group()]
    inner, end = block(text, m.end(), stop, (closing, "<turn|>") if family == "gemma4" else (closing,))
    call = rx(_CALL).match(text, m.end(), inner)
    if call is None:
        return family, [], end
    arguments, _ = _object(text, call.end(), inner, quote)
    return family, [{"name": call.group(1), "arguments": arguments}], end


_BARE = r"(?:<call>|call:)([A-Za-z_][\w.\-]*)\{"
_BARE_FOLLOWS = ("", "\n", "<channel|>", ">")  # a line start, or right after Gemma's channel end


def bare_gemma(text: str, m: re.Match, stop: int) -> tuple | None:
    """Gemma 4 having dropped ``<|tool_call>``: ``call:NAME{…}`` at a line start or after
    ``<channel|>``, or ``<call>NAME{…}`` (vLLM's fallback tier). Only with Gemma's string token
    ``<|"|>`` in the object: a bare ``call:`` is otherwise prose."""
    call = rx(_BARE).match(text, m.start(), stop)
    if call is None:
        return None
    arguments, end = _object(text, call.end(), stop, '<|"|>')
    if '<|"|>' not in text[call.end():end]:
        return None
    closing = rx(r"\s*(?:<tool_call\|>|<turn\|>)").match(text, end, stop)
    return "gemma4", [{"name": call.group(1), "arguments": arguments}], closing.end() if closing else end


def _object(text: str, pos: int, stop: int, quote: str) -> tuple[dict[str, Any], int]:
    """The members of ``{…}`` from just after its ``{``; the position after its ``}``."""
    found: dict[str, Any] = {}
    while pos < stop:
        pos = _skip(text, pos, stop)
        if pos >= stop or text[pos] == "}":
            return found, pos + 1
        key = rx(r"([^:{}\[\],\s]+)\s*:").match(text, pos, stop)
        if key is None:
            return found, stop
        value, pos = _value(text, key.end(), stop, quote)
        found[key.group(1).removeprefix(quote).removesuffix(quote).strip('"')] = value
    return found, stop


def _value(text: str, pos: int, stop: int, quote: str) -> tuple[Any, int]:
    pos = _skip(text, pos, stop)
    if text.startswith(quote, pos):
        close = text.find(quote, pos + len(quote), stop)
        if close == -1:
            return text[pos + len(quote):stop], stop
        return text[pos + len(quote):close], close + len(quote)
    if text.startswith("{", pos):
        return _object(text, pos + 1, stop, quote)
    if text.startswith("[", pos):
        items = []
        pos += 1
        while pos < stop:
            pos = _skip(text, pos, stop)
            if pos >= stop or text[pos] == "]":
                return items, pos + 1
            item, after = _value(text, pos, stop, quote)
            if after == pos:  # a stray "}" inside the list: the list ends there
                return items, pos
            items.append(item)
            pos = after
        return items, stop
    bare = rx(r"[^,}\]]*").match(text, pos, stop)
    raw = bare.group().strip()
    if raw.startswith('"'):
        try:
            return json.loads(raw), bare.end()
        except ValueError:
            return raw.strip('"'), bare.end()
    try:
        return json.loads(raw), bare.end()
    except ValueError:
        return raw, bare.end()


def _skip(text: str, pos: int, stop: int) -> int:
    while pos < stop and (text[pos].isspace() or text[pos] == ","):
        pos += 1
    return pos
