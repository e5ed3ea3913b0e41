"""Credentials a stream spells only across events: the model wrote ``gsk_ab`` in one delta and
the rest in the next, so no event holds the key, but the text a dialect folds them into does
(``check`` reads that text and finds it). ``split_places`` says where each piece stands,
``mask_split`` overwrites them in place; the recorder (``server.saving``) masks what it writes
with them, window by window, ``redact`` what a file holds.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from llmtrace import secrets

# An event's JSON: an SSE ``data:`` line or an NDJSON line.
_EVENT_LINE = re.compile(rb"^(?:data:[ \t]?)?(\{[^\r\n]*\})[ \t]*\r?$", re.MULTILINE)
_STRING_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"')


def mask_split(data: bytes) -> bytes:
    """``data`` with ``split_places`` overwritten by ``*`` (as it is when there are none)."""
    places = split_places(data)
    if not places:
        return data
    out = bytearray(data)
    for low, high in places:
        out[low:high] = b"*" * (high - low)
    return bytes(out)


def split_places(data: bytes) -> list[tuple[int, int]]:
    """Where the pieces of each credential that a stream's events spell only together stand in
    ``data``: (start, end) byte spans, sorted. Events are SSE ``data:`` or NDJSON lines of JSON;
    the strings at one path in successive events (``choices.0.delta.content``) are joined in
    order, as dialects fold them, and searched; a piece is the part of a credential one event's
    string holds (its characters are plain in JSON, so overwriting a span keeps the length)."""
    if data.count(b"\n") < 1 or not secrets.might_hold_secrets(data):
        return []
    runs: dict[tuple, list[tuple[int, str]]] = {}
    for match in _EVENT_LINE.finditer(data):
        try:
            doc = orjson.loads(match.group(1))
        except orjson.JSONDecodeError:
            continue
        for path, value in _leaves(doc):
            runs.setdefault(path, []).append((match.start(1), value))
    edits: list[tuple[int, str, int, int]] = []  # (event start, string, piece start, piece end)
    for pieces in runs.values():
        if len(pieces) < 2:
            continue
        joined = "".join(value for _, value in pieces)
        if not secrets.might_hold_secrets(joined):
            continue
        for found in secrets.find_secrets(joined):
            start = 0
            for at, value in pieces:
                end = start + len(value)
                low, high = max(start, found.start), min(end, found.end)
                if low < high and not (start <= found.start and found.end <= end):
                    edits.append((at, value, low - start, high - start))
                start = end
    out = []
    for at, value, low, high in edits:
        line_end = data.find(b"\n", at)
        line_end = len(data) if line_end < 0 else line_end
        piece = value[low:high].encode("utf-8")
        for token in _STRING_TOKEN.finditer(data, at, line_end):
            inner = token.group()[1:-1]
            if (low == 0 and inner.startswith(piece)) or (high == len(value) and inner.endswith(piece)):
                if orjson.loads(token.group()) != value:
                    continue
                begin = token.start() + 1 + (0 if low == 0 else len(inner) - len(piece))
                out.append((begin, begin + len(piece)))
                break
    return sorted(set(out))


def _leaves(doc: Any, path: tuple = ()) -> list[tuple[tuple, str]]:
    """Every string in a parsed event with its path (``("choices", 0, "delta", "content")``),
    without recursion."""
    if isinstance(doc, str):
        return [(path, doc)]
    out, stack = [], [(path, doc)]
    while stack:
        where, item = stack.pop()
        for key, value in item.items() if type(item) is dict else enumerate(item):
            kind = type(value)
            if kind is str:
                out.append((where + (key,), value))
            elif kind is dict or kind is list:
                stack.append((where + (key,), value))
    return out
