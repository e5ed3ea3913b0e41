"""HTTP bodies as recorders store them: decoded, then split into chunk payloads.

Decoding (``decode``): a body arrives as text, as bytes (YAML ``!!binary``), or as base64 text
(HAR ``encoding: base64``, Ruby VCR ``base64_string``). Bytes that start with the gzip magic
are gunzipped whatever the headers say (recorders keep ``Content-Encoding`` after decoding,
and compress bodies whose headers do not say so); ``Content-Encoding: deflate`` bodies are
inflated. Bytes that are not UTF-8 after that are binary data (an image, audio): the body
becomes a short ``<N bytes of binary data>`` note. Broken gzip, bad base64 and bodies in an
encoding llmtrace cannot decode (``br``, ``zstd``) are ShapeErrors that say where.

Splitting (``split``), by content, never by headers:
- SSE: the first line is a ``data:``, ``event:``, ``id:``, ``retry:`` field or a ``:``
  comment, and a ``data:`` line comes within the first 64 KiB. Each event's data is one JSON
  payload; ``[DONE]`` sets ``done``; events with empty data are skipped. Parsed event by event
  with ``llmtrace.sse``. Text events: when the first named event (``event: NAME``) with data
  carries plain text instead of JSON (Replicate's ``event: output`` tokens), every named event
  of that stream is kept as ``{"event": NAME, "data": TEXT}``, its text as sent (blank and
  multi-line data too); unnamed events are still JSON.
- One JSON document: an array of objects is a stream of chunks (Gemini's JSON-array stream);
  anything else is the body.
- NDJSON: the text starts with a JSON value on its first line and more follows; one payload
  per non-blank line.
- Anything else (HTML, plain text) is a text body.

A stream whose *last* SSE event or NDJSON line stops in the middle of its JSON was cut off
mid-write: the payloads before it are kept and ``cut_off`` says where and why. Any other bad
event or line (garbage, or a truncated one with more after it), or a stream where nothing is
readable, is a ShapeError naming the line.
"""

from __future__ import annotations

import io
import re
import zlib
from typing import Any, Iterable, Iterator, NamedTuple

import orjson

from llmtrace import limits
from llmtrace.errors import ShapeError
from llmtrace.sse import iter_events

SSE_WINDOW = 65536


class Payloads(NamedTuple):
    """A body split into what the dialects read."""

    streaming: bool
    chunks: list
    body: Any = None
    done: bool = False
    cut_off: str | None = None


def _patterns(pattern: str) -> tuple[re.Pattern, re.Pattern]:
    """The same pattern for text (index 0) and for bytes (index 1)."""
    return re.compile(pattern), re.compile(pattern.encode())


_NON_SPACE = _patterns(r"[^ \t\r\n\f\v]")
_SSE_START = _patterns(r"(?:data|event|id|retry)?:")
_SSE_DATA = _patterns(r"(?<![^\r\n])data:")  # at a line start: a lone CR ends a line too
_NEWLINE = ("\n", b"\n")


def at(where: str, place: str) -> str:
    """``where`` (the container's place, possibly empty) followed by a place inside it."""
    return f"{where}, {place}" if where else place


# --- decoding ----------------------------------------------------------------------------------


def decode(value: Any, where: str, *, base64: bool = False, encoding: str | None = None) -> str | None:
    """The text of a recorded body: ``value`` is text, bytes, or (``base64=True``) base64 text;
    ``encoding`` is the recorded ``Content-Encoding``, if any."""
    if value is None:
        return None
    if isinstance(value, str):
        if not base64:
            return value
        raw = _unbase64(value, where)
    elif isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    else:
        raise ShapeError(f"body should be text or bytes, got {type(value).__name__}", where)
    raw = _decompress(raw, (encoding or "").strip().lower(), where)
    if raw[:1] == b"\0":  # an AWS event-stream prelude's first byte (messages < 16 MiB)
        from llmtrace.containers import aws_eventstream

        stream = aws_eventstream.as_body(raw)
        if stream is not None:
            return stream  # AWS event-stream frames (Bedrock): split by ``split``
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(raw)} bytes of binary data>"


def _unbase64(text: str, where: str) -> bytes:
    import base64
    import binascii

    try:
        return base64.b64decode("".join(text.split()), validate=True)  # YAML wraps it over lines
    except (binascii.Error, ValueError) as exc:
        raise ShapeError(f"bad base64 body ({exc})", where) from None


def _decompress(raw: bytes, encoding: str, where: str) -> bytes:
    if raw[:2] == b"\x1f\x8b":
        return gunzip(raw, where)
    if encoding == "deflate":
        try:
            return inflate(raw, zlib.MAX_WBITS, where)
        except _Broken:
            try:
                return inflate(raw, -zlib.MAX_WBITS, where)  # raw deflate, as some servers send
            except _Broken as exc:
                raise ShapeError(exc.what.replace("broken zlib", "broken deflate"), where) from None
    if encoding in ("br", "zstd", "compress"):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ShapeError(f"body is {encoding}-compressed, which llmtrace cannot decode", where) from None
    return raw


# Inflated in pieces of at most this size (most bodies in one piece: no join), from input fed
# in slices of this size (so that the input zlib has not consumed yet, which it copies on every
# call, stays small). Each time the body crosses a multiple of _MEMORY_STEP, the memory it will
# need is checked.
_PIECE = 16 << 20
_FEED = 1 << 20
_MEMORY_STEP = 16 << 20


def _check_memory(total: int, consumed: int, size: int, what: str, where: str) -> None:
    """Refuse a body that will not fit in memory once inflated, judged from what it gave so far
    (``total`` bytes from the first ``consumed`` of ``size`` compressed bytes) at the same
    compression ratio for the rest. Beyond what is held, the body needs as much again to be
    joined and decoded to text, and about as much again as parsed values. A bomb is refused
    after its first few MiB instead of being inflated until memory runs out."""
    expected = max(total, total * size // max(consumed, 1))
    if not limits.fits_in_memory(2 * expected):
        raise ShapeError(limits.out_of_memory(expected, f"{what} would inflate to about"), where)


class _Broken(ShapeError):
    """Compressed data that is not what it claims (as opposed to data over a limit)."""


def gunzip(raw: bytes, where: str, what: str = "body") -> bytes:
    """Gzip data (one member or several, as ``gzip.decompress`` reads them) inflated, never
    beyond ``--max-size``: a ShapeError when it is broken or would inflate further."""
    parts: list[bytes] = []
    total = 0
    view = memoryview(raw)
    start = 0
    while True:
        member, start = _inflate_stream(view, start, 31, where, what, total, "gzip")
        parts.append(member)
        total += len(member)
        if raw[start:start + 2] == b"\x1f\x8b":
            continue  # the next member
        if raw.count(b"\0", start) != len(raw) - start:  # anything but the end or zero padding
            raise ShapeError("broken gzip data (trailing bytes after the gzip stream)", where)
        return parts[0] if len(parts) == 1 else b"".join(parts)


def inflate(raw: bytes, wbits: int, where: str, what: str = "body") -> bytes:
    """zlib (``wbits`` 15) or raw deflate (-15) data inflated, never beyond ``--max-size``."""
    data, _end = _inflate_stream(memoryview(raw), 0, wbits, where, what, 0, "zlib")
    return data


def _inflate_stream(view: memoryview, start: int, wbits: int, where: str, what: str, before: int,
                    kind: str) -> tuple[bytes, int]:
    """The compressed stream at ``view[start:]`` → its data and the offset where it ends.

    Inflated a piece at a time (``max_length``): past ``--max-size`` (counting ``before``, what
    earlier members of the same body gave) it stops with a ShapeError naming the limit, and a
    body that would not fit in the memory left is refused before it exhausts it."""
    limit = limits.max_size()
    inflater = zlib.decompressobj(wbits)
    pieces: list[bytes] = []
    total = before
    pending: bytes | memoryview = b""
    fed = start
    size = len(view)
    try:
        while True:
            if not pending and fed < size:
                pending = view[fed:fed + _FEED]
                fed += len(pending)
            piece = inflater.decompress(pending, min(_PIECE, limit - total + 1))
            pending = inflater.unconsumed_tail
            if piece:
                pieces.append(piece)
                total += len(piece)
                if total > limit:
                    raise ShapeError(limits.beyond_limit(f"{what} inflates", limit), where)
                if total // _MEMORY_STEP != (total - len(piece)) // _MEMORY_STEP:
                    _check_memory(total, fed - len(pending) - len(inflater.unused_data), size, what, where)
            if inflater.eof or (not piece and not pending and fed >= size):
                break
    except zlib.error as exc:
        raise _Broken(f"broken {kind} data ({exc})", where) from None
    if not inflater.eof:
        raise _Broken(f"broken {kind} data (it ends before the end of the compressed stream)", where)
    data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
    return data, fed - len(inflater.unused_data)


# --- splitting ---------------------------------------------------------------------------------


def kind_of(text: str | bytes) -> str:
    """What ``text`` holds, from its first bytes: "empty", "json" (starts like a JSON document
    or NDJSON), "sse" or "text"."""
    b = isinstance(text, bytes)
    match = _NON_SPACE[b].search(text)
    if match is None:
        return "empty"
    start = match.start()
    first = text[start:start + 1]
    if first in ("{", "[", b"{", b"["):
        return "json"
    if _SSE_START[b].match(text, start) and _SSE_DATA[b].search(text, start, start + SSE_WINDOW):
        return "sse"
    return "text"


def starts_with_json_line(text: str | bytes) -> bool:
    """Whether the first non-blank line is a whole JSON object or array and something follows
    it: the mark of NDJSON (called once parsing the whole text as one document failed)."""
    b = isinstance(text, bytes)
    match = _NON_SPACE[b].search(text)
    if match is None:
        return False
    start = match.start()
    end = text.find(_NEWLINE[b], start)
    if end < 0:
        return False
    try:
        value = orjson.loads(text[start:end])
    except orjson.JSONDecodeError:
        return False
    return isinstance(value, (dict, list)) and _NON_SPACE[b].search(text, end) is not None


def split(text: str | None, where: str) -> Payloads:
    """A decoded body → its payloads (see the module docstring)."""
    if text is None:
        return Payloads(False, [])
    kind = kind_of(text)
    if kind == "empty":
        return Payloads(False, [])
    if kind == "sse":
        chunks, done, cut_off = sse_payloads(text_lines(text), where)
        return Payloads(True, chunks, None, done, cut_off)
    if kind == "json":
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            _no_memory(exc, text)
            if starts_with_json_line(text):
                chunks, cut_off = ndjson_payloads(text_lines(text), where)
                return Payloads(True, chunks, None, False, cut_off)
            return Payloads(False, [], text)  # a body that only looks like JSON: kept as text
        payloads = document(doc)
        if KEEP_RAW and payloads.streaming:
            payloads = payloads._replace(chunks=_array_elements(text, payloads.chunks))
        return payloads
    if type(text) is not str or text[:2] == "00":  # event-stream bytes, or nock's hex string of them
        from llmtrace.containers import aws_eventstream

        stream = aws_eventstream.body_stream(text)
        if stream is not None:
            return Payloads(True, stream.chunks, None, False, stream.cut_off)
    return Payloads(False, [], text)


def document(doc: Any) -> Payloads:
    """A parsed JSON body: an array of objects is a stream of chunks, anything else the body."""
    if isinstance(doc, list) and doc and all(isinstance(item, dict) for item in doc):
        return Payloads(True, doc)
    return Payloads(False, [], doc)


def text_lines(text: str) -> Iterator[str]:
    """The lines of ``text`` (split on ``\\n``), one at a time: no list of every line."""
    start = 0
    find = text.find
    while True:
        end = find("\n", start)
        if end < 0:
            if start < len(text):
                yield text[start:]
            return
        yield text[start:end]
        start = end + 1


def byte_lines(data: bytes) -> Iterator[str]:
    """The lines of UTF-8 ``data``, decoded one at a time (the buffer is shared, not copied)."""
    for n, line in enumerate(io.BytesIO(data), 1):
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ShapeError(f"not UTF-8 text ({exc.reason})", f"line {n}") from None


# ``serve`` replays the recorded bytes where a recording holds them: when this is on (``keep_raw``),
# SSE streams keep each event's text beside its payload (``RawChunks``). Off by default: the other
# commands do not pay for a second copy of every stream.
KEEP_RAW = False


def keep_raw(on: bool = True) -> None:
    global KEEP_RAW
    KEEP_RAW = on


class RawChunks(list):
    """Chunk payloads with the recorded text of the event each came from (``raw[i]`` for
    ``self[i]``, comments and skipped events included in the next one's text) and what followed
    the last one (``tail``: ``data: [DONE]``, trailing comments)."""

    raw: list[str]
    tail: str


def _array_elements(text: str, chunks: list) -> list:
    """A JSON array's elements with the text each was recorded as (Gemini's JSON-array stream:
    ``[{…}``, ``,\r\n{…}``, …, tail ``]``), for ``serve`` to send the recorded bytes."""
    import json

    decoder = json.JSONDecoder()
    raws, pos = [], text.index("[") + 1
    for _ in chunks:
        start = pos
        while text[pos] in " \t\r\n,":
            pos += 1
        _, pos = decoder.raw_decode(text, pos)
        raws.append(text[:pos] if not raws else text[start:pos])
    kept = RawChunks(chunks)
    kept.raw, kept.tail = raws, text[pos:]
    return kept


def _recorded(lines: Iterable[str], buffer: list[str]) -> Iterator[str]:
    for line in lines:
        buffer.append(line)
        yield line


def _taken(buffer: list[str]) -> str:
    text = "".join(line if line.endswith("\n") else line + "\n" for line in buffer)
    buffer.clear()
    return text


def sse_payloads(lines: Iterable[str], where: str = "") -> tuple[list, bool, str | None]:
    """SSE lines → the JSON payload of each event, whether ``[DONE]`` arrived, and where the
    stream was cut off (None when intact). With ``KEEP_RAW``, the payloads come as a
    ``RawChunks`` carrying each event's recorded text."""
    keep = KEEP_RAW
    buffer: list[str] = []
    raws: list[str] = []
    pending = ""  # text of events that made no payload, carried to the next one
    waiting_raw: list[str] = []
    tail = ""
    if keep:
        lines = _recorded(lines, buffer)
    chunks: list[Any] = []
    append = chunks.append
    loads = orjson.loads
    done = False
    cut: ShapeError | None = None
    text_events: bool | None = None  # named events carry plain text (decided by the first one)
    waiting: list[dict] = []  # blank named events seen before that decision
    for n, event in enumerate(iter_events(lines)):
        if cut is not None:
            raise cut
        if keep:
            raw, pending = pending + _taken(buffer), ""
        data = event.data
        if data == "[DONE]":
            done = True
            if keep:
                tail += raw
            continue
        if text_events is not False and event.event != "message":
            if text_events is None:
                text_events = _plain_text(data)
                if text_events is None:
                    waiting.append({"event": event.event, "data": data})
                    if keep:
                        waiting_raw.append(raw)
                    continue
                if text_events:
                    chunks.extend(waiting)
                    raws.extend(waiting_raw)
                elif keep:
                    raw = "".join(waiting_raw) + raw
            if text_events:
                append({"event": event.event, "data": data})
                if keep:
                    raws.append(raw)
                continue
        try:
            append(loads(data))
        except orjson.JSONDecodeError as exc:
            if not data.strip():
                if keep:
                    pending = raw
                continue
            cut = _bad(exc, data, "SSE data is not JSON", at(where, f"event {n}, line {event.line + 1}"))
            continue
        if keep:
            raws.append(raw)
    if keep:
        tail += ("".join(waiting_raw) if text_events is None else "") + pending + _taken(buffer)
        if cut is None and len(raws) == len(chunks):
            kept = RawChunks(chunks)
            kept.raw, kept.tail = raws, tail
            chunks = kept
    return chunks, done, _cut_off(cut, chunks, event_stream=True)


def _plain_text(data: str) -> bool | None:
    """Whether a named event's data is plain text rather than JSON (Replicate's ``event: output``
    tokens): data that does not start like a JSON object or array (a token such as ``42`` is
    text too); an object or array, whole or broken, is JSON. None for blank data, which
    decides nothing."""
    text = data.lstrip()
    if not text.strip():
        return None
    return text[0] not in "{["


def ndjson_payloads(lines: Iterable[str | bytes], where: str = "") -> tuple[list, str | None]:
    """NDJSON lines → one payload per non-blank line, and where the stream was cut off. With
    ``KEEP_RAW``, the payloads come as a ``RawChunks`` carrying each line as recorded."""
    keep = KEEP_RAW
    raws: list[str] = []
    pending = ""
    chunks: list[Any] = []
    append = chunks.append
    loads = orjson.loads
    cut: ShapeError | None = None
    for n, line in enumerate(lines, 1):
        try:
            value = loads(line)
        except orjson.JSONDecodeError as exc:
            if not line.strip():
                if keep:
                    pending += _line_text(line)
                continue
            if cut is not None:
                raise cut from None
            cut = _bad(exc, line, "line is not JSON", at(where, f"line {n}"))
            continue
        if cut is not None:
            raise cut
        append(value)
        if keep:
            raws.append(pending + _line_text(line))
            pending = ""
    if keep and cut is None and len(raws) == len(chunks):
        kept = RawChunks(chunks)
        kept.raw, kept.tail = raws, pending
        chunks = kept
    return chunks, _cut_off(cut, chunks)


def _line_text(line: str | bytes) -> str:
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    return text if text.endswith("\n") else text + "\n"


def _bad(exc: orjson.JSONDecodeError, text: str | bytes, what: str, where: str) -> ShapeError:
    """The error for a payload that is not JSON: returned when the payload merely ends too soon
    (the recording may have been cut off there), raised otherwise."""
    _no_memory(exc, text)
    if limits.json_too_deep(exc):
        raise ShapeError(f"{what} (nested too deeply: more than 1024 levels, or brackets never closed)", where)
    error = ShapeError(f"{what} ({exc.msg})", where)
    if exc.pos < len(text.rstrip()):
        raise error from None
    return error


def _no_memory(exc: orjson.JSONDecodeError, text: str | bytes) -> None:
    """Raise MemoryError when orjson failed for want of memory: never reported as bad JSON."""
    if limits.is_memory_error(exc, len(text)):
        raise MemoryError from None


def _cut_off(cut: ShapeError | None, chunks: list, event_stream: bool = False) -> str | None:
    """Where a stream that ends in a truncated payload was cut off; a stream where nothing at all
    is readable is broken, not cut off — unless it is an event stream (``data:`` framing is
    there), cut inside its first event: a stream with no chunk yet."""
    if cut is None:
        return None
    if not chunks and not event_stream:
        raise cut
    return f"{cut.where}: {cut.what}"
