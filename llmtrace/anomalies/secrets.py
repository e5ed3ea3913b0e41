"""``unmasked-secret``: the recording file itself holds a live-looking credential.

Everything llmtrace prints is masked anyway; this check says that the *file* leaks, so that
committed cassettes can be gated in CI (``llmtrace check``) and fixed (``llmtrace redact``).

Where it looks, per exchange:
- the request's headers, URL and endpoint: they are masked when the container reads them, and
  what they held is noted then (``Request.leaks``: place, kind, mask);
- the request body, a recorded error, and a response nothing folded (an opaque body), as
  decoded (a gzipped or base64 body is searched inside): serialized once with orjson and
  searched with ``llmtrace.secrets.find_secrets``;
- a folded response: its texts (content, reasoning, refusal, tool calls) and in-stream errors,
  not the JSON of every chunk around them (ids, counts, names), with the chunks that carried a
  leak.

Nothing in a value looks like a credential in the common case, and finding that out costs a
few searches (the tests ``find_secrets`` makes before each of its finders on a text).

One finding per place and kind, with the masks of what was found; the secret is never in a
message or in the details.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, Iterator

import orjson

from llmtrace.anomalies import check, finding
from llmtrace.model import Anomaly, Exchange
from llmtrace.anomalies.evidence import span_chunks
from llmtrace.secrets import PLACEHOLDERS, TITLES, Leak, find_secrets, leaks_in_text, mask_of

CODE = "unmasked-secret"
KIND_NAMES = TITLES


@check(CODE, "error", needs_result=False)
def unmasked_secret(exchange: Exchange) -> list[Anomaly]:
    """A live-looking credential in the request's headers, URL or body, in the response, or in
    a recorded error."""
    leaks: list[Leak] = list(exchange.request.leaks)
    chunks: dict[tuple[str, str], list[int]] = {}
    leaks.extend(_in_value(exchange.request.body, "request body"))
    response = exchange.response
    if exchange.failed:
        leaks.extend(_in_value(response.body if response.body is not None else response.error, "recorded error"))
    elif exchange.result is not None:
        leaks.extend(_in_result(exchange, chunks))
    elif response.streaming and response.chunks:
        for n, leak in _in_chunks(response.chunks):
            leaks.append(leak)
            chunks.setdefault((leak.place, leak.kind), []).append(n)
    else:
        leaks.extend(_in_value(response.body, "response body"))
    return list(_findings(exchange, leaks, chunks)) if leaks else []


def _in_result(exchange: Exchange, chunks: dict) -> Iterator[Leak]:
    """The leaks in what a dialect folded the response into: the text, reasoning, refusal and
    tool calls of every choice (the chunks' JSON around them holds ids, counts and names), and
    errors that arrived inside the stream. Where the response was streamed, each leak in a text
    names the chunks that carried it."""
    result = exchange.result
    place = "response chunks" if exchange.response.streaming else "response body"
    for message in result.choices:
        for kind in ("content", "reasoning", "refusal"):
            text = getattr(message, kind)
            found = find_secrets(text) if text else None
            if not found:
                continue
            carried = span_chunks(exchange, message.index, kind, len(text), [(f.start, f.end) for f in found])
            for item, indices in zip(found, carried):
                leak = Leak(place, item.kind, mask_of(text[item.start:item.end]))
                if indices:
                    chunks.setdefault((place, item.kind), []).extend(indices)
                yield leak
        for call in message.tool_calls:
            for text in (call.name, call.arguments):
                if text:
                    yield from leaks_in_text(text, f"{place} (tool call)")
    for _chunk, error in result.observations.stream_errors:
        yield from _in_value(error, place)


def _findings(exchange: Exchange, leaks: list[Leak], chunks: dict) -> Iterator[Anomaly]:
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for leak in leaks:
        masks = grouped[(leak.place, leak.kind)]
        if leak.masked not in masks:
            masks.append(leak.masked)
    for (place, kind), masks in grouped.items():
        shown = ", ".join(masks[:3]) + (f" and {len(masks) - 3} more" if len(masks) > 3 else "")
        indices = sorted(set(chunks.get((place, kind), ())))
        yield finding(exchange, CODE, f"live-looking {KIND_NAMES.get(kind, kind)} in {place} ({shown})",
                      chunks=indices or None,
                      details={"place": place, "kind": kind, "masked": masks,
                               "placeholder": PLACEHOLDERS.get(kind, "<REDACTED>")})


def _in_value(value: Any, place: str) -> list[Leak]:
    """The leaks in a recorded value (text, or parsed JSON searched in its serialized form).
    The payload of a ``data:…;base64,`` URL (an image, audio) is no text and is left out."""
    if value is None:
        return []
    text = value if isinstance(value, str) else _serialized(value)
    if isinstance(text, bytes):
        # No test on the bytes first: nearly every JSON text passes ``might_hold_secrets`` (its
        # field hint ``":``), and one search in bytes costs about what decoding a kilobyte of
        # ASCII does (``in`` on bytes first tries its operand as an integer and clears the
        # error); ``find_secrets`` makes its own finer tests on the text.
        text = _without_base64(text).decode("utf-8", "replace")
    return leaks_in_text(text, place) if text else []


# A JSON string that starts with 1,024 base64 characters: an image, audio, a file.
_LONG_BASE64 = re.compile(rb'"[A-Za-z0-9+/]{1024}')
_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
# The other bytes a JSON string may hold as they are: printable ASCII but ``"`` (which ends
# it) and DEL, and (tested apart) bytes past ASCII. Control characters are always escaped in
# JSON (``\n``, ``\u0001``), their escapes start with ``\``.
_NOT_BASE64 = tuple(bytes([c]) for c in range(0x20, 0x80) if c != 0x22 and bytes([c]) not in _BASE64_ALPHABET)
# From this length on, a string is tested for those bytes one by one (each search runs at memory
# speed: about a third of the instructions of ``translate``, which looks at every byte once).
_LONG_STRING = 8192


def _without_base64(data: bytes) -> bytes:
    """Serialized JSON without the content of its long strings that are nothing but base64
    (a base64 run holds no key that could be found: a key stands apart from the characters
    around it). Searching them would be most of the cost of a request that sends images.
    ``data`` is JSON as orjson writes it: no control character stands unescaped."""
    if len(data) < 65536:
        return data
    parts = []
    last = 0
    ascii = None
    match = _LONG_BASE64.search(data)
    while match is not None:
        start = match.start() + 1
        end = data.find(b'"', start)
        if end < 0:
            break
        if end - start < _LONG_STRING:
            only_base64 = not data[start:end].translate(None, _BASE64_ALPHABET)
        else:
            if ascii is None:
                ascii = data.isascii()
            only_base64 = ((ascii or data[start:end].isascii())
                           and not any(data.find(byte, start, end) >= 0 for byte in _NOT_BASE64))
        if only_base64:
            parts.append(data[last:start])
            last = end
        # The next string starts at or after this one's end: nothing before ``end`` is a quote
        # (searching on from the match would step through the whole payload once more).
        match = _LONG_BASE64.search(data, end)
    if not parts:
        return data
    parts.append(data[last:])
    return b"".join(parts)


def _in_chunks(chunks: list) -> Iterator[tuple[int, Leak]]:
    """The leaks in a stream's chunks, with the index of the chunk each is in. The chunks are
    serialized together first: only when that text holds a credential are they searched one by
    one."""
    if not _in_value(chunks, "response chunks"):
        return
    for n, chunk in enumerate(chunks):
        for leak in _in_value(chunk, "response chunks"):
            yield n, leak


def _serialized(value: Any) -> bytes | str:
    """``value`` as JSON (UTF-8 bytes); its strings joined by newlines when orjson cannot write
    it (integers beyond 64 bits, nesting deeper than orjson goes, keys that are not strings)."""
    try:
        return orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        return "\n".join(_strings(value))


def _strings(value: Any) -> Iterator[str]:
    """Every string in a parsed value, keys included, without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            for key, inner in item.items():
                if isinstance(key, str):
                    yield key
                stack.append(inner)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, (bytes, bytearray)):
            yield bytes(item).decode("utf-8", "replace")

