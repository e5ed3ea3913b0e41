"""Per-read timing that ``llmtrace record`` keeps beside a body (HAR ``response.content._chunks``,
a VCR response's ``_chunks``): every network read as it arrived, ``{"offset_ms", "text"}`` or
``{"offset_ms", "base64"}``, its offset in milliseconds from the request's start.

A read is not a chunk of the stream: one read may carry several SSE events, or half of one.
The body itself is still read from the recorded body text (``bodies.split``); the reads only
give each payload its arrival time: the time of the read that completed it (an SSE event is
complete at its blank line, an NDJSON payload at its line end, the last one at the end of the
body). Compressed reads (``Content-Encoding: gzip``/``deflate``, kept as sent) are inflated
read by read, so a position in the decoded body maps back to the read that brought it.

When the reads do not account for exactly the payloads of the body (a JSON-array stream, whose
elements have no line structure; reads that disagree with the body), no time is given: times
are never invented.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from bisect import bisect_left
from typing import Any

from llmtrace.errors import ShapeError

# An SSE event ends at a blank line (any of the three line ends, twice).
_EVENT_END = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)")
_DATA_LINE = re.compile(rb"(?:^|(?<=[\r\n]))data:[ ]?([^\r\n]*)")


def reads_of(chunks: Any, where: str) -> list[tuple[float, bytes]]:
    """The recorded reads as (offset in seconds, bytes); ShapeError naming the read when one
    is malformed."""
    if not isinstance(chunks, list):
        raise ShapeError("_chunks should be a list", where)
    out: list[tuple[float, bytes]] = []
    for n, item in enumerate(chunks):
        place = f"{where}, read {n}"
        if not isinstance(item, dict):
            raise ShapeError("a read should be an object", place)
        offset = item.get("offset_ms")
        if type(offset) not in (int, float) or offset < 0 or offset != offset:
            raise ShapeError("offset_ms should be a number of milliseconds, 0 or more", place)
        if isinstance(item.get("text"), str):
            data = item["text"].encode("utf-8", "surrogatepass")
        elif isinstance(item.get("base64"), str):
            try:
                data = base64.b64decode(item["base64"], validate=True)
            except (binascii.Error, ValueError):
                raise ShapeError("base64 is not valid base64", place) from None
        else:
            raise ShapeError("a read should have \"text\" or \"base64\"", place)
        out.append((offset / 1000, data))
    return out


def payload_times(reads: list[tuple[float, bytes]], started: float | None, encoding: str | None,
                  payloads: int) -> list[float | None] | None:
    """The arrival time of each of the body's ``payloads`` (epoch seconds when ``started`` is
    known, else seconds from the request's start), or None when the reads cannot say."""
    if not reads or payloads <= 0:
        return None
    decoded, ends = _decoded(reads, (encoding or "").strip().lower())
    if decoded is None:
        return None
    points = _payload_ends(decoded)
    if points is None or len(points) != payloads:
        return None
    base = started or 0.0
    times = []
    for point in points:
        k = bisect_left(ends, point + 1)
        times.append(base + reads[min(k, len(reads) - 1)][0])
    return times


def _decoded(reads: list[tuple[float, bytes]], encoding: str) -> tuple[bytes | None, list[int]]:
    """The reads joined and decoded, and the decoded length after each read."""
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}.get(encoding)
    if encoding not in ("", "identity") and wbits is None:
        return None, []
    inflater = zlib.decompressobj(wbits) if wbits is not None else None
    parts: list[bytes] = []
    ends: list[int] = []
    size = 0
    try:
        for _, data in reads:
            if inflater is not None:
                data = inflater.decompress(data)
            parts.append(data)
            size += len(data)
            ends.append(size)
    except zlib.error:
        return None, []
    return b"".join(parts), ends


def _payload_ends(data: bytes) -> list[int] | None:
    """The position of the last byte of each payload-bearing event or line of ``data``."""
    from llmtrace.containers.bodies import kind_of

    kind = kind_of(data)
    if kind == "sse":
        return _sse_ends(data)
    if kind == "json" and data.lstrip()[:1] != b"[":
        return _line_ends(data)
    return None


def _sse_ends(data: bytes) -> list[int]:
    out: list[int] = []
    start = 0
    for match in _EVENT_END.finditer(data):
        if _carries_payload(data[start:match.start()]):
            out.append(match.end() - 1)
        start = match.end()
    if start < len(data) and _carries_payload(data[start:]):
        out.append(len(data) - 1)
    return out


def _carries_payload(block: bytes) -> bool:
    values = _DATA_LINE.findall(block)
    if not values:
        return False
    text = b"\n".join(values)
    return bool(text.strip()) and text != b"[DONE]"


def _line_ends(data: bytes) -> list[int]:
    out: list[int] = []
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        stop = len(data) if end < 0 else end + 1
        if data[start:stop].strip():
            out.append(stop - 1)
        start = stop
    return out


def times_for(chunks: Any, started: float | None, encoding: str | None, payloads: Any, where: str
              ) -> list[float | None] | None:
    """The per-payload arrival times a recorded ``_chunks`` list gives a split body
    (``bodies.Payloads``): None when there is no such list or the body is no stream."""
    if chunks is None or not payloads.streaming:
        return None
    return payload_times(reads_of(chunks, where), started, encoding, len(payloads.chunks))


def cassette_timing(resp: dict, payloads: Any, encoding: str | None, where: str
                    ) -> tuple[list[float | None] | None, dict[str, float] | None]:
    """A VCR response ``llmtrace record`` wrote: its per-payload times (from ``_chunks``) and
    the exchange's timings (``_timing``: ``started`` ISO 8601, ``first_byte_ms``, ``end_ms``),
    in ``Response.timings``' terms. (None, None) for any other cassette."""
    timing = resp.get("_timing")
    if not isinstance(timing, dict):
        return None, None
    from llmtrace.containers.recorded import parse_time

    timings: dict[str, float] = {}
    started = parse_time(timing["started"]) if isinstance(timing.get("started"), str) else None
    if started is not None:
        timings["started"] = started
    first, end = timing.get("first_byte_ms"), timing.get("end_ms")
    if type(first) in (int, float) and first >= 0:
        timings["wait"] = first / 1000
        if type(end) in (int, float) and end >= first:
            timings["receive"] = (end - first) / 1000
    if type(end) in (int, float) and end >= 0:
        timings["total"] = end / 1000
    times = times_for(resp.get("_chunks"), started, encoding, payloads, f"{where}, _chunks")
    return times, timings or None
