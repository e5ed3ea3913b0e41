"""AWS event streams (``application/vnd.amazon.eventstream``): the binary framing Bedrock streams
in (ConverseStream, InvokeModelWithResponseStream, RetrieveAndGenerateStream, …), as raw bytes
(a file of its own: the ``aws-eventstream`` container) or as an HTTP body inside a cassette or a
HAR entry (``llmtrace.containers.bodies`` hands such bodies here).

A stream is a sequence of messages ("frames"), each::

    prelude   total length (uint32) · headers length (uint32) · prelude CRC32 (of the 8 bytes before)
    headers   name length (uint8) · name · value type (uint8) · value   (repeated)
    payload   total length - headers length - 16 bytes
    CRC32     of everything before it, prelude included

integers big-endian. Header value types: 0 true, 1 false (no value), 2 int8, 3 int16, 4 int32,
5 int64, 6 bytes (uint16 length), 7 string (uint16 length, UTF-8), 8 timestamp (int64 ms since
the epoch), 9 UUID (16 bytes).

Each frame becomes one chunk, shaped as the AWS SDKs hand events to their callers:
``{event-type: payload}`` — ``{"contentBlockDelta": {...}}``, ``{"chunk": {"bytes": "…"}}`` —
the payload parsed as JSON (kept as text, or as base64 when it is not UTF-8, otherwise).
``:message-type: exception`` frames become ``{exception-type: payload}`` (``{"throttlingException":
{"message": …}}``) and ``error`` frames ``{"error": {"code", "message"}}``: errors in the stream.
An event type nobody knows is kept the same way, never dropped.

Both CRCs are checked. A frame whose message CRC (or headers) is wrong while its prelude holds is
skipped and leaves a marker chunk ``{":bad-frame": {"offset", "length", "reason"}}`` in its place
(reading goes on with the next frame: the prelude's lengths are trusted). A prelude that is
broken (its CRC is wrong, or its lengths are impossible) ends the stream there: a marker with
``"fatal": true``, and the stream is cut off. A last frame shorter than its prelude says is a cut
recording: a ``{":cut-off": {"offset", "reason"}}`` marker. Marker names start with ``:`` as the
protocol's own reserved header names do, so no real event type can collide with them; the
``bad-frame`` check reports them, and the Bedrock dialects treat a fatal marker or a cut-off as
an unfinished stream.

Reading is one pass over a ``memoryview``: ``struct.unpack_from`` on the prelude, ``zlib.crc32``
over slices of the view (no copies), and a small cache of parsed header blocks (Bedrock repeats
the same three headers on every frame). ``encode`` writes frames back with valid CRCs (tests;
``serve``).
"""

from __future__ import annotations

import struct
import zlib
from typing import Any, Iterable, NamedTuple

import orjson

from llmtrace.errors import ShapeError

NAME = "aws-eventstream"
CONTENT_TYPE = "application/vnd.amazon.eventstream"
BAD_FRAME = ":bad-frame"
CUT_OFF = ":cut-off"
PRELUDE = 12
OVERHEAD = 16  # prelude + message CRC
# The protocol's limits: a message of at most 16 MiB, headers of at most 128 KiB.
MAX_MESSAGE = 16 * 1024 * 1024
MAX_HEADERS = 128 * 1024
_HEADER_CACHE_SIZE = 256

_PRELUDE = struct.Struct(">III")
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_INTS = {2: struct.Struct(">b"), 3: struct.Struct(">h"), 4: struct.Struct(">i"), 5: struct.Struct(">q")}
_TIMESTAMP = struct.Struct(">q")


class Stream(NamedTuple):
    """An event stream read into chunks (markers included), and where it broke off (or None)."""

    chunks: list
    cut_off: str | None
    frames: int


# --- sniffing ------------------------------------------------------------------------------------


def is_event_stream(data: bytes | bytearray | memoryview) -> bool:
    """Whether ``data`` starts with a valid event-stream prelude (its CRC matches, its lengths are
    possible): a 1-in-4-billion accident for anything else."""
    if len(data) < OVERHEAD:
        return False
    total, headers, crc = _PRELUDE.unpack_from(data, 0)
    if not OVERHEAD <= total <= MAX_MESSAGE or headers > total - OVERHEAD:
        return False
    return zlib.crc32(memoryview(data)[:8]) == crc


def sniff_text(data: bytes) -> bool:
    return is_event_stream(data)


def read_bytes(data: bytes) -> list:
    """A raw event-stream file: one streamed exchange, no request."""
    from llmtrace.model import Request, Response

    stream = read(data)
    if not any(not _is_marker(c) for c in stream.chunks):
        reason = stream.cut_off or "no frame is readable"
        raise ShapeError(f"not a readable AWS event stream ({reason})")
    return [(Request(), Response(streaming=True, chunks=stream.chunks, cut_off=stream.cut_off))]


def _is_marker(chunk: Any) -> bool:
    return isinstance(chunk, dict) and (BAD_FRAME in chunk or CUT_OFF in chunk)


# --- HTTP bodies (the hook ``llmtrace.containers.bodies`` calls) ------------------------------------


class Body(str):
    """A decoded HTTP body that is an event stream: where text is expected it reads as a short
    note (``<N bytes of AWS event stream>``); its bytes are in ``raw``."""

    raw: bytes


def as_body(raw: bytes) -> Body | None:
    """``raw`` (a body's bytes, decompressed) as an event-stream ``Body``, or None when it is not
    one."""
    if not is_event_stream(raw):
        return None
    body = Body(f"<{len(raw)} bytes of AWS event stream>")
    body.raw = raw
    return body


def body_stream(text: str) -> Stream | None:
    """The frames of a decoded body that holds an event stream — a ``Body``, or the hex string
    nock records binary responses as — else None."""
    raw = text.raw if isinstance(text, Body) else from_hex(text)
    return None if raw is None else read(raw)


# --- hex bodies (nock) ----------------------------------------------------------------------------

_HEX = frozenset("0123456789abcdefABCDEF")


def from_hex(text: str) -> bytes | None:
    """The bytes of an event stream recorded as a hex string (nock's binary responses), or None
    when ``text`` is not one."""
    if len(text) < 2 * OVERHEAD or len(text) % 2 or not _HEX.issuperset(text[:2 * PRELUDE]):
        return None
    if not is_event_stream(bytes.fromhex(text[:2 * PRELUDE]) + b"\0" * 4):
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


# --- reading -------------------------------------------------------------------------------------


def read(data: bytes | bytearray | memoryview) -> Stream:
    """Every frame of ``data`` as a chunk, in order (see the module docstring)."""
    view = memoryview(data)
    size = len(view)
    chunks: list[Any] = []
    append = chunks.append
    unpack = _PRELUDE.unpack_from
    unpack_u32 = _U32.unpack_from
    crc32 = zlib.crc32
    loads = orjson.loads
    cache: dict[bytes, tuple] = {}
    offset = 0
    frames = 0
    cut_off = None
    while offset < size:
        left = size - offset
        if left < PRELUDE:
            cut_off = _cut(chunks, offset, f"the last frame is cut off in its prelude ({left} of 12 bytes)")
            break
        total, hlen, prelude_crc = unpack(view, offset)
        if crc32(view[offset:offset + 8]) != prelude_crc:
            cut_off = _fatal(chunks, offset, total, "prelude CRC32 does not match "
                             f"(recorded {prelude_crc:#010x}, computed {crc32(view[offset:offset + 8]):#010x})")
            break
        if total < OVERHEAD or total > MAX_MESSAGE or hlen > total - OVERHEAD or hlen > MAX_HEADERS:
            cut_off = _fatal(chunks, offset, total, f"impossible lengths in the prelude (total {total}, "
                             f"headers {hlen})")
            break
        if total > left:
            cut_off = _cut(chunks, offset, f"the last frame is cut off ({left} of {total} bytes)")
            break
        end = offset + total
        (message_crc,) = unpack_u32(view, end - 4)
        computed = crc32(view[offset:end - 4])
        frames += 1
        if computed != message_crc:
            append({BAD_FRAME: {"offset": offset, "length": total, "reason": "message CRC32 does not match "
                                f"(recorded {message_crc:#010x}, computed {computed:#010x})"}})
            offset = end
            continue
        start = offset + PRELUDE
        block = view[start:start + hlen].tobytes()
        parsed = cache.get(block)
        if parsed is None:
            try:
                parsed = _event_key(parse_headers(block))
            except ValueError as exc:
                append({BAD_FRAME: {"offset": offset, "length": total, "reason": f"bad headers ({exc})"}})
                offset = end
                continue
            if len(cache) < _HEADER_CACHE_SIZE:
                cache[block] = parsed
        key, kind, headers = parsed
        payload = view[start + hlen:end - 4]
        if kind == "error":
            append({"error": {"code": headers.get(":error-code"), "message": headers.get(":error-message"),
                              **({"payload": _payload(payload, loads)} if len(payload) else {})}})
        else:
            append({key: _payload(payload, loads)})
        offset = end
    return Stream(chunks, cut_off, frames)


def _payload(payload: memoryview, loads) -> Any:
    if not len(payload):
        return {}
    try:
        return loads(payload)
    except orjson.JSONDecodeError:
        raw = payload.tobytes()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": _b64(raw)}


def _event_key(headers: dict[str, Any]) -> tuple[str, str, dict]:
    """The chunk key of a frame's headers: its event type (exception type for exceptions), the
    message type, and the headers."""
    kind = headers.get(":message-type", "event")
    if kind == "exception":
        key = headers.get(":exception-type") or "exception"
    else:
        key = headers.get(":event-type") or ":event"
    return str(key), str(kind), headers


def _b64(raw: bytes) -> str:
    import base64  # imported where needed: rare in event streams

    return base64.b64encode(raw).decode()


def _uuid():
    import uuid  # imported where needed: ~10 ms, and Bedrock sends no UUID headers

    return uuid


def _fatal(chunks: list, offset: int, total: int, reason: str) -> str:
    chunks.append({BAD_FRAME: {"offset": offset, "length": total, "reason": reason, "fatal": True}})
    return f"byte {offset}: {reason}; the stream cannot be read past it"


def _cut(chunks: list, offset: int, reason: str) -> str:
    chunks.append({CUT_OFF: {"offset": offset, "reason": reason}})
    return f"byte {offset}: {reason}"


def parse_headers(block: bytes) -> dict[str, Any]:
    """A frame's header block → ``{name: value}`` (every value type; ValueError when malformed)."""
    headers: dict[str, Any] = {}
    i, n = 0, len(block)
    try:
        while i < n:
            size = block[i]
            name = block[i + 1:i + 1 + size].decode("utf-8")
            if not name or i + 1 + size >= n:
                raise ValueError(f"header name cut off at byte {i}")
            i += 1 + size
            kind = block[i]
            i += 1
            if kind == 0 or kind == 1:
                value: Any = kind == 0
            elif kind in _INTS:
                fmt = _INTS[kind]
                (value,) = fmt.unpack_from(block, i)
                i += fmt.size
            elif kind == 6 or kind == 7:
                (length,) = _U16.unpack_from(block, i)
                i += 2
                raw = block[i:i + length]
                if len(raw) != length:
                    raise ValueError(f"header {name!r} value cut off")
                value = raw.decode("utf-8") if kind == 7 else _b64(raw)
                i += length
            elif kind == 8:
                (millis,) = _TIMESTAMP.unpack_from(block, i)
                i += 8
                value = millis
            elif kind == 9:
                raw = block[i:i + 16]
                if len(raw) != 16:
                    raise ValueError(f"header {name!r} UUID cut off")
                value = str(_uuid().UUID(bytes=raw))
                i += 16
            else:
                raise ValueError(f"header {name!r} has unknown value type {kind}")
            headers[name] = value
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise ValueError(f"malformed at byte {i}: {exc}") from None
    return headers


# --- writing -------------------------------------------------------------------------------------


def encode_headers(headers: dict[str, Any]) -> bytes:
    """Headers as the protocol writes them: bool, int (int32, int64 when larger), str, bytes,
    ``uuid.UUID``; ``("timestamp", ms)``, ``("int8"|"int16"|"int32"|"int64", n)`` pin a type."""
    out = bytearray()
    for name, value in headers.items():
        raw_name = name.encode("utf-8")
        out += bytes([len(raw_name)]) + raw_name
        if isinstance(value, tuple):
            tag, number = value
            code = {"int8": 2, "int16": 3, "int32": 4, "int64": 5, "timestamp": 8}[tag]
            fmt = _TIMESTAMP if code == 8 else _INTS[code]
            out += bytes([code]) + fmt.pack(number)
        elif isinstance(value, bool):
            out += bytes([0 if value else 1])
        elif isinstance(value, int):
            code = 4 if -2**31 <= value < 2**31 else 5
            out += bytes([code]) + _INTS[code].pack(value)
        elif isinstance(value, str):
            raw = value.encode("utf-8")
            out += bytes([7]) + _U16.pack(len(raw)) + raw
        elif isinstance(value, (bytes, bytearray)):
            out += bytes([6]) + _U16.pack(len(value)) + bytes(value)
        elif isinstance(value, _uuid().UUID):
            out += bytes([9]) + value.bytes
        else:
            raise TypeError(f"header {name!r}: cannot encode {type(value).__name__}")
    return bytes(out)


def encode_frame(headers: dict[str, Any], payload: bytes) -> bytes:
    """One frame with valid CRCs."""
    block = encode_headers(headers)
    total = OVERHEAD + len(block) + len(payload)
    prelude = struct.pack(">II", total, len(block))
    prelude += _U32.pack(zlib.crc32(prelude))
    body = prelude + block + payload
    return body + _U32.pack(zlib.crc32(body))


def encode(chunks: Iterable[Any]) -> bytes:
    """Chunks as ``read`` gives them (``{event-type: payload}``) written back as an event stream
    with valid CRCs; exceptions (a key ending in ``Exception``) and ``{"error": …}`` as the
    protocol's exception and error messages. Markers are not frames and are skipped."""
    out = bytearray()
    for chunk in chunks:
        if not isinstance(chunk, dict) or len(chunk) != 1 or _is_marker(chunk):
            continue
        ((key, value),) = chunk.items()
        if key == "error" and isinstance(value, dict):
            headers: dict[str, Any] = {":message-type": "error", ":error-code": str(value.get("code") or ""),
                                       ":error-message": str(value.get("message") or "")}
            out += encode_frame(headers, b"")
            continue
        payload = value.encode("utf-8") if isinstance(value, str) else orjson.dumps(value)
        if key.endswith("Exception"):
            headers = {":exception-type": key, ":content-type": "application/json", ":message-type": "exception"}
        else:
            headers = {":event-type": key, ":content-type": "application/json", ":message-type": "event"}
        out += encode_frame(headers, payload)
    return bytes(out)
