"""mitmproxy flow files (``mitmdump -w FILE``, mitmproxy's "Save"), read without mitmproxy.

A flow file is a sequence of tnetstrings, one per flow. A tnetstring is ``LENGTH:DATA`` and one
type character: ``,`` bytes, ``;`` text, ``#`` integer, ``^`` float, ``!`` boolean (``true`` /
``false``), ``~`` null, ``]`` a list of tnetstrings, ``}`` a dict of key/value tnetstrings.
Decoding here is iterative (a hostile file cannot nest its way into a RecursionError) and checks
every length against the bytes that remain.

An HTTP flow (``type: "http"``, serialization ``version`` 7 to 21 seen) holds ``request``
(``method``, ``scheme``, ``host``, ``port``, ``authority``, ``path``, ``headers`` as
``[[name, value]]`` byte pairs, ``content``, ``timestamp_start``/``timestamp_end``) and
``response`` (``status_code``, ``reason``, ``headers``, ``content``, timestamps), or an
``error`` (``msg``) when the connection failed. Contents are kept as they went over the wire
(compressed when the server compressed them): they are decoded like any recorded body. A
response mitmproxy streamed through (``stream_large_bodies``) has no content — the exchange is
kept, with nothing to fold. Flows of other types (``tcp``, ``udp``, ``dns``) are not exchanges.

Timing: mitmproxy records when the request started and when the response's first and last
bytes came, not when each chunk did: ``Response.timings`` gets ``started``, ``wait`` (request
start to first response byte) and ``receive`` (first to last byte), in seconds.
"""

from __future__ import annotations

import re
from typing import Any

from llmtrace.containers import bodies, recorded
from llmtrace.errors import ShapeError
from llmtrace.model import Request, Response

NAME = "mitmproxy"
MANY_EXCHANGES = True

_PREFIX = re.compile(rb"(\d{1,12}):")
_MAX_DEPTH = 64


def sniff_text(data: bytes) -> bool:
    """A flow file starts with a tnetstring dict: digits, a colon, and the ``}`` its length
    points at."""
    match = _PREFIX.match(data)
    if match is None:
        return False
    end = match.end() + int(match.group(1))
    return end < len(data) and data[end:end + 1] == b"}" and b"type" in data[match.end():min(end, match.end() + (1 << 16))]


def read_bytes(data: bytes) -> list[tuple[Request, Response]]:
    out: list[tuple[Request, Response]] = []
    pos = 0
    n = 0
    view = memoryview(data)
    while pos < len(data):
        if data[pos:pos + 1] in (b"\n", b"\r", b" "):
            pos += 1
            continue
        flow, pos = load(view, pos, f"flow {n}")
        if not isinstance(flow, dict):
            raise ShapeError("a flow should be a dictionary", f"flow {n}")
        if flow.get("type", "http") == "http":
            out.append(_exchange(flow, f"flow {n}"))
        n += 1
    if n == 0:
        raise ShapeError("no flows in the file")
    return out


def load(data: memoryview, pos: int, where: str) -> tuple[Any, int]:
    """The tnetstring at ``pos``, and the position after it."""
    # Each frame: (container, end of its data, pending dict key or a marker).
    stack: list[list[Any]] = []
    while True:
        value, kind, start, end = _header(data, pos, where)
        if kind in (b"}", b"]") and start < end:
            if len(stack) >= _MAX_DEPTH:
                raise ShapeError(f"tnetstring nested more than {_MAX_DEPTH} levels", f"{where}, byte {pos}")
            stack.append([{} if kind == b"}" else [], end, _NO_KEY])
            pos = start
        else:
            if value is _NOTHING:  # an empty dict or list
                value = {} if kind == b"}" else []
            pos = end + 1
            while True:
                if not stack:
                    return value, pos
                frame = stack[-1]
                container = frame[0]
                if isinstance(container, list):
                    container.append(value)
                elif frame[2] is _NO_KEY:
                    if not isinstance(value, (str, bytes)):
                        raise ShapeError("a tnetstring dict key should be text", f"{where}, byte {pos}")
                    frame[2] = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
                else:
                    container[frame[2]] = value
                    frame[2] = _NO_KEY
                if pos < frame[1]:
                    break  # more items in this container
                if pos > frame[1] or frame[2] is not _NO_KEY:
                    raise ShapeError("a tnetstring container's items overrun its length", f"{where}, byte {pos}")
                stack.pop()
                value = frame[0]
                pos = frame[1] + 1


_NOTHING = object()
_NO_KEY = object()


def _header(data: memoryview, pos: int, where: str) -> tuple[Any, bytes, int, int]:
    """Parse ``LENGTH:`` at ``pos``: (the value for scalars or _NOTHING, the type byte, where the
    data starts, where it ends — the type byte's position)."""
    colon = -1
    for i in range(pos, min(pos + 13, len(data))):
        if data[i] == 0x3A:
            colon = i
            break
    digits = bytes(data[pos:colon]) if colon > pos else b""
    if not digits.isdigit():
        raise ShapeError("not a tnetstring (a length and a colon expected)", f"{where}, byte {pos}")
    start = colon + 1
    end = start + int(digits)
    if end >= len(data):
        raise ShapeError("cut off inside a tnetstring", f"{where}, byte {pos}")
    kind = bytes(data[end:end + 1])
    raw = data[start:end]
    if kind == b",":
        return bytes(raw), kind, start, end
    if kind == b";":
        return bytes(raw).decode("utf-8", "replace"), kind, start, end
    if kind == b"#":
        try:
            return int(bytes(raw)), kind, start, end
        except ValueError:
            raise ShapeError("a tnetstring integer is not a number", f"{where}, byte {pos}") from None
    if kind == b"^":
        try:
            return float(bytes(raw)), kind, start, end
        except ValueError:
            raise ShapeError("a tnetstring float is not a number", f"{where}, byte {pos}") from None
    if kind == b"!":
        return bytes(raw) == b"true", kind, start, end
    if kind == b"~":
        return None, kind, start, end
    if kind in (b"}", b"]"):
        return _NOTHING, kind, start, end
    raise ShapeError(f"unknown tnetstring type {kind!r}", f"{where}, byte {end}")


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _headers(value: Any, where: str) -> dict[str, str]:
    pairs = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, list) and len(item) == 2:
            pairs.append({"name": _text(item[0]) or "", "value": _text(item[1])})
    return recorded.headers_of(pairs, where)


def _exchange(flow: dict, where: str) -> tuple[Request, Response]:
    req = flow.get("request") if isinstance(flow.get("request"), dict) else {}
    resp = flow.get("response") if isinstance(flow.get("response"), dict) else None
    req_headers = _headers(req.get("headers"), f"{where}, request headers")
    host = _text(req.get("authority")) or _text(req.get("host")) or ""
    port = req.get("port")
    scheme = _text(req.get("scheme")) or "http"
    if host and isinstance(port, int) and ":" not in host and port != (443 if scheme == "https" else 80):
        host = f"{host}:{port}"
    url = f"{scheme}://{host}{_text(req.get('path')) or ''}" if host else _text(req.get("path"))
    body_text = bodies.decode(req.get("content"), f"{where}, request body",
                              encoding=recorded.header(req_headers, "content-encoding"))
    request = recorded.request(_text(req.get("method")), url, req_headers, recorded.json_or_text(body_text), where)
    started = req.get("timestamp_start")
    if resp is None:
        error = flow.get("error") if isinstance(flow.get("error"), dict) else {}
        message = _text(error.get("msg")) or "no response was recorded"
        return request, Response(error={"message": message}, error_message=message)
    headers = _headers(resp.get("headers"), f"{where}, response headers")
    place = f"{where}, response body"
    content = resp.get("content")
    payloads = bodies.split(bodies.decode(content, place, encoding=recorded.header(headers, "content-encoding")), place)
    timings = None
    first, last = resp.get("timestamp_start"), resp.get("timestamp_end")
    if all(isinstance(t, (int, float)) for t in (started, first)) and started > 0:
        timings = {"started": float(started), "wait": max(0.0, first - started)}
        if isinstance(last, (int, float)):
            timings["receive"] = max(0.0, last - first)
    status = resp.get("status_code")
    return request, recorded.response(status if type(status) is int else None, payloads, timings=timings)
