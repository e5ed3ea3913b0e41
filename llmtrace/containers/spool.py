"""``llmtrace record``'s spool: an exchange as far as a recorder received it
(``.llmtrace-spool-XXXXXXXX.partial`` in its record folder, left there when the recorder was
killed mid-stream). Read as the HAR file the recorder would have written (unmasked: every
command masks what it prints), the response cut where the spool ends.

The format (written by ``llmtrace.server.spool``): the line ``LLMTRACE-SPOOL 1``, then frames
of one byte of kind, the payload's length (4 bytes, little-endian), a time in milliseconds from
the request's start (a little-endian double), the payload. ``Q``: the request (JSON: method,
url, path, http_version, headers as pairs, started in epoch seconds), ``B``: its body, ``S``:
the response's status, reason and headers (JSON), ``D``: one network read of the response
body as received. A frame cut short (the disk filled) ends the spool.
"""

from __future__ import annotations

import base64
import io
import struct
from datetime import datetime, timezone
from typing import Any, BinaryIO, Iterator

import orjson

from llmtrace.errors import ShapeError
from llmtrace.model import Request, Response

NAME = "llmtrace-spool"
MAGIC = b"LLMTRACE-SPOOL 1\n"
HEAD = struct.Struct("<cId")  # kind, payload length, offset in ms


def frames(fh: BinaryIO) -> Iterator[tuple[bytes, float, bytes]]:
    """The whole frames of a spool read from ``fh``, in order: (kind, offset in ms, payload)."""
    if fh.read(len(MAGIC)) != MAGIC:
        return
    size = HEAD.size
    while True:
        head = fh.read(size)
        if len(head) < size:
            return
        kind, length, offset = HEAD.unpack(head)
        payload = fh.read(length)
        if len(payload) < length:
            return
        yield kind, offset, payload


def sniff_text(data: bytes) -> bool:
    return data.startswith(MAGIC)


def read_bytes(data: bytes) -> list[tuple[Request, Response]]:
    from llmtrace.containers import har

    return har.read(_har(frames(io.BytesIO(data))))


def _text(data: bytes, into: dict[str, Any]) -> dict[str, Any]:
    try:
        into["text"] = data.decode("utf-8")
    except UnicodeDecodeError:
        into.update({"text": base64.b64encode(data).decode("ascii"), "encoding": "base64"})
    return into


def _pairs(value: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not all(isinstance(p, list) and len(p) == 2 for p in value):
        raise ShapeError("headers should be a list of [name, value] pairs", where)
    return [{"name": str(k), "value": str(v)} for k, v in value]


def _har(spool: Iterator[tuple[bytes, float, bytes]]) -> dict[str, Any]:
    """The HAR document ``record`` writes, from the spool's frames."""
    first = next(spool, None)
    if first is None or first[0] != b"Q":
        raise ShapeError("no request in the spool", "frame 0")
    try:
        q = orjson.loads(first[2])
    except orjson.JSONDecodeError as exc:
        raise ShapeError(f"the request is not JSON ({exc.msg})", "frame 0") from None
    if not isinstance(q, dict):
        raise ShapeError("the request should be an object", "frame 0")
    started = q.get("started")
    request: dict[str, Any] = {"method": q.get("method"), "url": q.get("url"),
                               "headers": _pairs(q.get("headers"), "frame 0, headers")}
    status: dict[str, Any] = {}
    reads: list[dict[str, Any]] = []
    body: list[bytes] = []
    for n, (kind, offset, payload) in enumerate(spool, 1):
        if kind == b"B" and payload:
            request["postData"] = _text(payload, {})
        elif kind == b"S":
            try:
                status = orjson.loads(payload)
            except orjson.JSONDecodeError as exc:
                raise ShapeError(f"the response is not JSON ({exc.msg})", f"frame {n}") from None
            if not isinstance(status, dict):
                raise ShapeError("the response should be an object", f"frame {n}")
        elif kind == b"D":
            body.append(payload)
            try:
                reads.append({"offset_ms": offset, "text": payload.decode("utf-8")})
            except UnicodeDecodeError:  # kept as base64, as record writes it
                reads.append({"offset_ms": offset, "base64": base64.b64encode(payload).decode("ascii")})
    content = _text(b"".join(body), {"_chunks": reads})
    end = reads[-1]["offset_ms"] if reads else 0.0
    entry = {
        "startedDateTime": datetime.fromtimestamp(started, timezone.utc).isoformat() if type(started) in (int, float) else None,
        "request": request,
        "response": {"status": status.get("status"), "headers": _pairs(status.get("headers", []), "response headers"),
                     "content": content},
        "timings": {"wait": reads[0]["offset_ms"] if reads else end, "receive": end - (reads[0]["offset_ms"] if reads else end)},
        "_error": "the spool of a recorder that did not finish: the stream as far as it was received",
    }
    return {"log": {"version": "1.2", "entries": [entry]}}
