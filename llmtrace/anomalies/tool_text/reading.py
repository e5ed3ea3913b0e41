"""Small readers shared by the tool-text parsers: where the message body is, its code regions,
JSON values one after another, the value of an XML-style parameter, and regexes compiled on first
use (most texts never reach a parser, so start-up compiles none of them)."""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from functools import lru_cache
from typing import Any

_DECODER = json.JSONDecoder()


@lru_cache(maxsize=None)
def rx(pattern: str, flags: int = 0) -> re.Pattern:
    """``pattern`` compiled once, when a parser first needs it."""
    return re.compile(pattern, flags)


# --- the message body and its code regions -------------------------------------------------------

_FENCE = r"^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?(?:^[ \t]*\1[ \t]*$|\Z)"
_INLINE_CODE = r"`[^`\n]+`"


def body_span(text: str) -> tuple[int, int]:
    """Where the message body is: ``text`` trimmed, and unwrapped from one code fence around it all."""
    start = len(text) - len(text.lstrip())
    end = len(text.rstrip())
    fence = text[start:start + 3]
    if fence in ("```", "~~~") and end - start > 6 and text.endswith(fence, start, end):
        newline = text.find("\n", start, end - 3)
        if newline != -1 and text.find(fence, newline, end - 3) == -1:
            inner = text[newline + 1:end - 3]
            start = newline + 1 + len(inner) - len(inner.lstrip())
            end = newline + 1 + len(inner.rstrip())
    return start, max(start, end)


def code_regions(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Fenced blocks and inline code spans within ``text[start:end]``, sorted and disjoint."""
    if text.find("`", start, end) == -1 and text.find("~~~", start, end) == -1:
        return []
    regions = [m.span() for m in rx(_FENCE, re.M | re.S).finditer(text, start, end)]
    inline = []
    for m in rx(_INLINE_CODE).finditer(text, start, end):
        if not in_regions(regions, m.start()):
            inline.append(m.span())
    return sorted(regions + inline)


def in_regions(regions: list[tuple[int, int]], pos: int) -> bool:
    """Whether ``pos`` falls in one of the sorted, disjoint ``regions``."""
    i = bisect_right(regions, (pos, float("inf"))) - 1
    return i >= 0 and regions[i][0] <= pos < regions[i][1]


# --- JSON ------------------------------------------------------------------------------------------


_SPACE = re.compile(r"\s*")


def skip_ws(text: str, pos: int, stop: int) -> int:
    return _SPACE.match(text, pos, stop).end() if pos < stop else pos


def json_at(text: str, pos: int, stop: int) -> tuple[Any, int]:
    """The JSON object or array at ``pos`` (after whitespace) and the position after it; (None,
    pos) when there is none or it does not end before ``stop``."""
    pos = skip_ws(text, pos, stop)
    if pos >= stop or text[pos] not in "{[":
        return None, pos
    try:
        value, end = _DECODER.raw_decode(text, pos)
    except (ValueError, RecursionError):
        return None, pos
    return (value, end) if end <= stop else (None, pos)


def json_values(text: str, pos: int, stop: int, separators: str = ";,") -> tuple[list[Any], int]:
    """JSON values one after another, separated by whitespace or one of ``separators``; the
    position after the last one read."""
    values: list[Any] = []
    end = pos
    while True:
        value, after = json_at(text, pos, stop)
        if value is None:
            return values, end
        values.append(value)
        end = after
        pos = skip_ws(text, after, stop)
        if pos < stop and text[pos] in separators:
            pos += 1


def loose_list(text: str, pos: int, stop: int) -> tuple[list[Any] | None, int]:
    """``[{…} {…}]``: a list whose objects are separated by whitespace as well as commas (Ollama's
    template parser reads these); (the values, the position after ``]``), or (None, pos)."""
    at = skip_ws(text, pos, stop)
    if not text.startswith("[", at):
        return None, pos
    values, after = json_values(text, at + 1, stop, ",")
    close = skip_ws(text, after, stop)
    if not values or not text.startswith("]", close):
        return None, pos
    return values, close + 1


def block(text: str, pos: int, stop: int, closings: tuple[str, ...]) -> tuple[int, int]:
    """(end of the inside, end including the closing tag) of a block opened before ``pos``; an
    unterminated block runs to ``stop``."""
    best = None
    for closing in closings:  # each search stops where an earlier closing was found: linear
        i = text.find(closing, pos, best[0] if best else stop)
        if i != -1:
            best = (i, i + len(closing))
    return best or (stop, stop)


# --- calls and values ------------------------------------------------------------------------------


def arguments(value: Any) -> Any:
    """Arguments as parsed: objects stay, JSON strings are read, other strings are kept raw."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def json_or_text(raw: str) -> Any:
    """An XML-style parameter value: JSON when it reads as JSON, else the text itself (outer
    newlines dropped). The servers type these values by the declared tool's JSON schema, which
    a recording's normalized request does not keep; JSON-when-it-reads gives the same answer for
    strings, numbers, booleans, objects and arrays."""
    value = raw.strip("\n")
    stripped = value.strip()
    if stripped[:1] in ("{", "[", "-") or stripped[:1].isdigit() or stripped in ("true", "false", "null"):
        try:
            return json.loads(stripped)
        except (ValueError, RecursionError):
            return value
    return value


_LITERAL_STARTS = frozenset("{[(\"'-0123456789tfn")


def literal_or_text(raw: str) -> Any:
    """A value read as JSON, then as a Python literal, else kept as text (stripped): MiniCPM5's
    and Poolside's parsers do this."""
    value = raw.strip()
    if value[:1] not in _LITERAL_STARTS and value not in ("True", "False", "None"):
        return value  # plain text: neither JSON nor a Python literal
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        pass
    if value[:1] in "[{('\"-0123456789" or value in ("True", "False", "None"):
        import ast  # rarely needed: not at start-up
        import warnings

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
            pass
    return value


def call_from_json(obj: Any) -> dict[str, Any] | None:
    """A call read from a JSON object: ``{"name", "arguments"|"parameters"}``, OpenAI's
    ``{"type": "function", "function": {...}}``, Cohere's ``tool_name``."""
    if not isinstance(obj, dict):
        return None
    fn = obj.get("function")
    if isinstance(fn, dict) and isinstance(fn.get("name"), str):
        obj = fn
    name = obj.get("name", obj.get("tool_name"))
    if not isinstance(name, str) or not name:
        return None
    for key in ("arguments", "parameters", "args"):
        if key in obj:
            return {"name": name, "arguments": arguments(obj[key])}
    rest = {k: v for k, v in obj.items() if k not in ("name", "tool_name", "type", "id")}
    return {"name": name, "arguments": rest}


def calls_from_json(values: list[Any]) -> list[dict[str, Any]]:
    calls = []
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            call = call_from_json(item)
            if call:
                calls.append(call)
    return calls


_PARTIAL_NAME = r'"(?:name|tool_name)"\s*:\s*"([^"\\]+)"'


def json_calls(text: str, pos: int, stop: int) -> list[dict[str, Any]]:
    """Calls from the JSON after a marker; when it is cut off or malformed, the call's name if
    one can be read (its arguments then None)."""
    values, _ = json_values(text, pos, stop)
    if values:
        return calls_from_json(values)
    loose, _ = loose_list(text, pos, stop)
    if loose:
        return calls_from_json(loose)
    name = rx(_PARTIAL_NAME).search(text, pos, stop)
    return [{"name": name.group(1), "arguments": None}] if name else []


def unescape_attribute(value: str) -> str:
    """An XML attribute value with the two escapes the chat templates write undone."""
    return value.replace("&quot;", '"').replace("&amp;", "&") if "&" in value else value
