"""Python-call markup: ``[get_weather(city="Tokyo")]`` bare (``pythonic``), between Llama 4's
``<|python_start|>``/``<|python_end|>``, Olmo 3's ``<function_calls>`` (one call per line) and
LFM2's ``<|tool_call_start|>``/``<|tool_call_end|>`` (whose body may also be a JSON list), and
Llama 3.1's built-in tools after ``<|python_tag|>`` (``brave_search.call(query=…)``, or code for
``code_interpreter``).

Calls take keyword arguments only; each value is read as a Python literal, or kept as its source
text when it is an expression (the servers' ``handle_single_tool`` does the same)."""

from __future__ import annotations

import re
from typing import Any

from llmtrace.anomalies.tool_text.reading import block, json_calls, rx

Parsed = tuple[str, list[dict[str, Any]], int]


# One call whose arguments are plain literals, the common case, read without the ast module.
_SIMPLE_VALUE = r"""(?:"[^"\\\n]*"|'[^'\\\n]*'|-?\d+(?:\.\d+)?|True|False|None)"""
_SIMPLE_KEYWORD = r"[A-Za-z_]\w*\s*=\s*" + _SIMPLE_VALUE
_SIMPLE_CALL = (r"\s*\[?\s*([A-Za-z_][\w.]*)\(\s*((?:" + _SIMPLE_KEYWORD + r"(?:\s*,\s*" + _SIMPLE_KEYWORD
                + r")*\s*,?)?)\s*\)\s*\]?\s*")
_SIMPLE_ARGUMENT = r"([A-Za-z_]\w*)\s*=\s*(" + _SIMPLE_VALUE + ")"
_CONSTANTS = {"True": True, "False": False, "None": None}


def _simple(source: str) -> list[dict[str, Any]] | None:
    whole = rx(_SIMPLE_CALL).fullmatch(source)
    if whole is None or (source.lstrip().startswith("[") != source.rstrip().endswith("]")):
        return None
    arguments: dict[str, Any] = {}
    for key, raw in rx(_SIMPLE_ARGUMENT).findall(whole.group(2)):
        if raw[0] in "\"'":
            arguments[key] = raw[1:-1]
        elif raw in _CONSTANTS:
            arguments[key] = _CONSTANTS[raw]
        else:
            arguments[key] = float(raw) if "." in raw else int(raw)
    return [{"name": whole.group(1), "arguments": arguments}]


def calls(source: str) -> list[dict[str, Any]] | None:
    """``[f(a=1), g(b="x")]`` or ``f(a=1)``: calls with keyword arguments only, else None."""
    if "(" not in source:
        return None
    simple = _simple(source)
    if simple is not None:
        return simple
    import ast  # the general case; not imported at start-up
    try:
        node = _parse(source.strip(), "eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    items = node.elts if isinstance(node, (ast.List, ast.Tuple)) else [node]
    found = []
    for item in items:
        if not isinstance(item, ast.Call) or item.args:
            return None
        name = _dotted(item.func)
        if name is None or any(kw.arg is None for kw in item.keywords):
            return None
        arguments = {}
        for kw in item.keywords:
            try:
                arguments[kw.arg] = ast.literal_eval(kw.value)
            except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
                arguments[kw.arg] = ast.unparse(kw.value)
        found.append({"name": name, "arguments": arguments})
    return found or None


def _parse(source: str, mode: str):
    """``ast.parse`` without the warnings a model's text can raise (invalid escapes in strings):
    they would reach the user's terminal."""
    import ast
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(source, mode=mode)


def _dotted(node) -> str | None:
    import ast

    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


_BOUNDARY = r"\)\s*,\s*(?=[A-Za-z_][\w.]*\()"
_CALL_NAME = r"(?:^|(?<=[\[\n,]))\s*([A-Za-z_][\w.]*)\("


def salvage(inner: str) -> list[dict[str, Any]] | None:
    """The calls of a list that does not parse as a whole (one call with a broken quote): each
    ``f(…)`` read alone, the unreadable ones left out (vLLM keeps the good siblings)."""
    pieces = rx(_BOUNDARY).split(inner)
    found = []
    for i, piece in enumerate(pieces):
        parsed = calls(piece if i == len(pieces) - 1 else piece + ")")
        if parsed and len(parsed) == 1:
            found.extend(parsed)
    return found or None


def names_only(body: str) -> list[dict[str, Any]]:
    """The names of calls whose arguments do not parse (nested quotes, raw newlines, leading
    zeros): what a server that repairs them would call, arguments unread."""
    return [{"name": name, "arguments": None} for name in rx(_CALL_NAME).findall(body)]


def builtin(body: str) -> list[dict[str, Any]]:
    """Llama 3.1 built-in tools after ``<|python_tag|>``: ``name.call(…)``, else code to run."""
    found = calls(body)
    if found and all(c["name"].endswith(".call") for c in found):
        return [{"name": c["name"][:-5], "arguments": c["arguments"]} for c in found]
    import ast

    try:
        _parse(body, "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []  # not code: prose that mentions the tag
    return [{"name": "code_interpreter", "arguments": {"code": body}}]


_TAGGED = {"<|python_start|>": ("llama4", "<|python_end|>"), "<function_calls>": ("olmo3", "</function_calls>"),
           "<|tool_call_start|>": ("lfm2", "<|tool_call_end|>")}


def tagged(text: str, m: re.Match, stop: int) -> Parsed:
    """Llama 4, Olmo 3 and LFM2: a call list between tags (Olmo 3: one call per line)."""
    family, closing = _TAGGED[m.group()]
    inner, end = block(text, m.end(), stop, (closing,))
    body = text[m.end():inner].strip()
    if body.startswith("{") or (body.startswith("[") and body[1:].lstrip().startswith("{")):
        return family, json_calls(text, m.end(), inner), end  # LFM2 with JSON tools (llama.cpp)
    found = calls(body)
    if found is None:  # one call per line (Olmo 3)
        lines = [calls(line) for line in body.splitlines() if line.strip()]
        found = [c for parsed in lines if parsed for c in parsed]
    if not found and body.startswith("[") and body.endswith(")]"):
        found = salvage(body[1:-1]) or names_only(body[1:-1])
    return family, found, end
