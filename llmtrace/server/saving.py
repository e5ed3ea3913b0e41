"""What ``llmtrace record`` writes: one exchange as it crossed the proxy (``Capture``), saved as
a HAR 1.2 file per exchange or into one VCR.py cassette per run.

A capture keeps every byte: the request as the client sent it, the response as the upstream
sent it (``Content-Encoding`` kept), and each network read of the response body as one chunk
with its arrival offset in milliseconds from the request's start (monotonic clock), plus the
first byte's and the end's offsets and, when the exchange broke, what broke it. The reads go
to a spool file in the record folder as they arrive (``llmtrace.server.spool``), never into
memory; the HAR file is written from it piece by piece (``write_har``), the body inflated into a
temporary file and masked window by window (``Body``): memory does not grow with the stream.

HAR: ``response.content.text`` is the body decoded for reading (base64 when it is no UTF-8
text), the reads go to ``response.content._chunks: [{"offset_ms", "text" | "base64"}]`` (a
custom field, which HAR allows), ``timings.wait`` is the first byte, ``timings.receive`` the
rest, ``_error`` what broke. A VCR cassette holds what vcrpy itself records (``uri``, headers
as lists, the body as sent, ``status: {code, message}``) and keeps the reads and times in
response fields vcrpy ignores (``_chunks``, ``_timing``), so vcrpy and pytest-recording replay
it as it is.

Secrets are masked in what is written (``llmtrace.secrets``: headers by name, URLs and the
``redirectURL``, credentials by shape and in key-named JSON fields in text bodies and text
reads, a read boundary inside a credential moved to its end so that it is masked whole, a
credential spelt across two stream events overwritten piece by piece: ``mask_split``) unless
asked not to. Compressed reads cannot be masked inside: when the body they make holds a
credential they are left out (``_chunks_dropped`` says so) and a VCR body is masked inflated and
compressed again. A compressed body is inflated up to ``--max-size``: a bomb is kept truncated
there, ``_error`` saying so. Every file is written
to a temporary file beside it and renamed into place: a crash or Ctrl-C never leaves half a
file, and a HAR file never replaces one that exists.
"""

from __future__ import annotations

import base64
import bisect
import os
import re
import tempfile
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Iterator
from urllib.parse import parse_qsl, urlsplit

import orjson

from llmtrace import secrets
from llmtrace.split_secrets import mask_split, split_places  # noqa: F401 (mask_split: a name of this module too)
from llmtrace.output import temporary_file, write_atomically
from llmtrace.server.spool import Spool

_SLUG = re.compile(r"[^a-z0-9]+")
_NUMBERED = re.compile(r"^(\d{4,})-")
_SESSION = re.compile(r"^session-(\d{4,})\.yaml$")


class Capture:
    """One exchange as it crossed the proxy. The response's reads go to a spool file in
    ``folder`` as they arrive (``spool``: memory does not grow with the stream, and a killed
    recorder leaves them on disk); ``pieces()`` reads them back."""

    __slots__ = ("method", "url", "path", "http_version", "request_headers", "request_body", "started",
                 "status", "reason", "response_headers", "first_byte_ms", "end_ms", "error", "spool", "count",
                 "size")

    def __init__(self, method: str, url: str, path: str, http_version: str, request_headers: list,
                 request_body: bytes, started: float, folder: str | Path | None = None, spooled: Spool | None = None):
        self.method = method
        self.url = url  # the upstream URL the request went to
        self.path = path  # as the client asked for it
        self.http_version = http_version
        self.request_headers: list[tuple[str, str]] = request_headers
        self.request_body = request_body
        self.started = started  # epoch seconds
        self.status: int | None = None
        self.reason = ""
        self.response_headers: list[tuple[str, str]] = []
        self.first_byte_ms: float | None = None
        self.end_ms: float | None = None
        self.error: str | None = None
        self.count = 0  # network reads
        self.size = 0  # their bytes
        if spooled is not None:
            self.spool = spooled
            return
        self.spool = Spool(folder)
        self.spool.write_json(b"Q", {"method": method, "url": url, "path": path, "http_version": http_version,
                                     "headers": request_headers, "started": started})
        self.spool.write(b"B", request_body)

    def header(self, name: str, response: bool = True) -> str | None:
        for key, value in self.response_headers if response else self.request_headers:
            if key.lower() == name:
                return value
        return None

    def responded(self) -> None:
        """The status and headers are known (spooled)."""
        self.spool.write_json(b"S", {"status": self.status, "reason": self.reason, "headers": self.response_headers})

    def add(self, offset: float, data: bytes) -> None:
        """One network read of the response body, ``offset`` ms after the request's start."""
        self.spool.write(b"D", data, offset)
        self.count += 1
        self.size += len(data)

    def pieces(self, limit: int | None = None) -> Iterator[tuple[float, bytes]]:
        """The reads as received, (offset in ms, bytes), read back from the spool (the first
        ``limit`` bytes only when given)."""
        left = self.size if limit is None else limit
        for kind, offset, data in self.spool.frames():
            if kind == b"D":
                if len(data) >= left:
                    if left:
                        yield offset, data[:left]
                    return
                left -= len(data)
                yield offset, data

    @property
    def reads(self) -> list[tuple[float, bytes]]:
        return list(self.pieces())

    @property
    def body(self) -> bytes:
        return b"".join(data for _, data in self.pieces())

    def discard(self) -> None:
        """Not kept: the spool is removed."""
        self.spool.remove()

    @classmethod
    def recovered(cls, spooled: Spool) -> "Capture | None":
        """The exchange a spool left by a stopped recorder holds (None: not even its request)."""
        frames = spooled.frames()
        head = next(frames, None)
        body = next(frames, None)
        if head is None or head[0] != b"Q" or body is None or body[0] != b"B":
            return None
        try:
            q = orjson.loads(head[2])
            capture = cls(str(q["method"]), str(q["url"]), str(q["path"]), str(q["http_version"]),
                          [(str(k), str(v)) for k, v in q["headers"]], body[2], float(q["started"]), spooled=spooled)
            for kind, offset, payload in frames:
                if kind == b"S":
                    r = orjson.loads(payload)
                    capture.status, capture.reason = int(r["status"]), str(r["reason"])
                    capture.response_headers = [(str(k), str(v)) for k, v in r["headers"]]
                elif kind == b"D":
                    if capture.first_byte_ms is None:
                        capture.first_byte_ms = offset
                    capture.end_ms = offset
                    capture.count += 1
                    capture.size += len(payload)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        capture.error = "the recorder stopped during the exchange (recovered from its spool)"
        return capture


# --- file names and atomic writes ----------------------------------------------------------------


def slug(path: str) -> str:
    """``/v1/chat/completions?x=1`` → ``v1-chat-completions``: the endpoint for a file name."""
    text = _SLUG.sub("-", path.split("?", 1)[0].lower()).strip("-")
    return text[:60].rstrip("-") or "root"


def next_number(folder: Path, pattern: re.Pattern = _NUMBERED) -> int:
    """One more than the highest number a file of ``folder`` starts with (1 for none)."""
    highest = 0
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return 1
    for name in names:
        match = pattern.match(name)
        if match:
            highest = max(highest, int(match.group(1)))
    return highest + 1


def write_new(folder: Path, name_for, number: int, data: bytes) -> tuple[Path, int]:
    """Write ``data`` to ``folder/name_for(number)``, taking the next number while that name
    exists (another process may write there too): never replaces a file. Returns the path and
    the number taken."""
    return _placed(temporary_file(str(folder), data), folder, name_for, number)


def _placed(tmp: str, folder: Path, name_for, number: int) -> tuple[Path, int]:
    """The written temporary file ``tmp`` moved to ``folder/name_for(number)`` (``write_new``)."""
    try:
        while True:
            target = folder / name_for(number)
            try:
                os.link(tmp, target)  # atomic, and fails when the name is taken
            except FileExistsError:
                number += 1
                continue
            except OSError:  # a file system without hard links
                if target.exists():
                    number += 1
                    continue
                os.replace(tmp, target)
                return target, number
            return target, number
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --- masking -------------------------------------------------------------------------------------


def _headers(pairs: list[tuple[str, str]], mask: bool) -> list[tuple[str, str]]:
    if not mask:
        return list(pairs)
    return [(name, secrets.mask_headers({name: value})[name]) for name, value in pairs]


def _text(text: str, mask: bool) -> str:
    return secrets.mask_text(text) if mask else text


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def _wbits(capture: Capture) -> int | None:
    return _WBITS.get((capture.header("content-encoding") or "").strip().lower())


_PIECE = 1 << 20  # bytes of a decoded body read at a time
_OWN = 2 << 20  # bytes of a body each masking window answers for ...
_OVERLAP = 512 << 10  # ... seen with this much on each side (a credential, even spelt across events, is far shorter)


class Body:
    """The response body of a capture made ready to write, in bounded memory: inflated (its
    ``Content-Encoding`` undone, never beyond ``--max-size``: a bomb is kept truncated there,
    ``capture.error`` saying so) into a temporary file beside the recordings, and, when
    masking, the places of the credentials found in it (``edits``: pieces of a credential spelt
    across events, overwritten with ``*``; ``spans``: credentials, replaced by their mask),
    searched window by window with overlap. ``text()`` and ``chunks()`` give it in pieces."""

    def __init__(self, capture: Capture, mask: bool, limit: int | None = None):
        self.capture, self.mask, self.limit = capture, mask, limit
        self.wbits = _wbits(capture)
        self.raw_size = min(capture.size, limit) if limit is not None else capture.size
        self.inflated: str | None = None
        self.size = self.raw_size
        if self.wbits is not None and self.raw_size:
            self._inflate()
        self.edits: list[tuple[int, int]] = []
        self.spans: list[tuple[int, int, bytes]] = []
        self.utf8 = True
        if mask:
            self.edits = _split_edits(self.pieces())
        self._scan()

    def _inflate(self) -> None:
        from llmtrace import limits

        limit = limits.max_size()
        inflater = zlib.decompressobj(self.wbits)
        fd, tmp = tempfile.mkstemp(prefix=".llmtrace-", suffix=".tmp", dir=os.path.dirname(self.capture.spool.path))
        total, truncated = 0, False
        try:
            with os.fdopen(fd, "wb") as out:
                for _, data in self.capture.pieces(self.limit):
                    while data and not truncated:
                        part = inflater.decompress(data, _PIECE)
                        data = inflater.unconsumed_tail
                        keep = part[:limit - total]
                        out.write(keep)
                        total += len(keep)
                        truncated = len(keep) < len(part)
                    if truncated:
                        break
        except zlib.error:
            os.unlink(tmp)
            return
        except BaseException:
            os.unlink(tmp)
            raise
        self.inflated, self.size = tmp, total
        if truncated:
            note = f"{limits.beyond_limit('the body inflates', limit)}: saved truncated there"
            error = self.capture.error
            self.capture.error = f"{error}; {note}" if error and note not in error else error or note

    def close(self) -> None:
        if self.inflated is not None:
            os.unlink(self.inflated)
            self.inflated = None

    def pieces(self) -> Iterator[tuple[float, bytes]]:
        """The body (decoded) in pieces: the reads, or the inflated file's pieces."""
        if self.inflated is None:
            yield from self.capture.pieces(self.limit)
            return
        with open(self.inflated, "rb") as fh:
            while True:
                data = fh.read(_PIECE)
                if not data:
                    return
                yield 0.0, data

    def _scan(self) -> None:
        """Whether the body is UTF-8 and, when masking, where its credentials are."""
        import codecs

        check = codecs.getincrementaldecoder("utf-8")()
        spans: list[tuple[int, int, bytes]] = []
        for base, window, own, own_end in _windows(self.pieces()):
            if self.utf8:
                try:
                    check.decode(window[own - base:own_end - base])
                except UnicodeDecodeError:
                    self.utf8 = False
            if not self.mask:
                continue
            window = _starred(window, base, self.edits)
            if not secrets.might_hold_secrets(window):
                continue
            text = window.decode("utf-8", "surrogateescape")  # byte-exact both ways, whatever the bytes
            for start, end, found in _byte_spans(text, window, secrets.find_secrets(text)):
                if own <= base + start < own_end:
                    spans.append((base + start, base + end, secrets.mask_of(found).encode("utf-8", "surrogateescape")))
        if self.utf8:
            try:
                check.decode(b"", final=True)
            except UnicodeDecodeError:
                self.utf8 = False
        self.spans = _merged(spans)

    def holds_secret(self) -> bool:
        return bool(self.spans or self.edits)

    def masked(self, data: bytes, start: int) -> bytes:
        """``data`` (the body's bytes from ``start``, never cutting a credential) masked."""
        if not self.mask:
            return data
        data = _starred(data, start, self.edits)
        spans = self.spans
        k = bisect.bisect_left(spans, (start,))
        if k >= len(spans) or spans[k][0] >= start + len(data):
            return data
        out, at = [], 0
        while k < len(spans) and spans[k][0] < start + len(data):
            begin, end, mask = spans[k]
            out += [data[at:begin - start], mask]
            at = end - start
            k += 1
        out.append(data[at:])
        return b"".join(out)

    def text(self) -> Iterator[str]:
        """The body as ``content.text`` holds it, in pieces: UTF-8 text masked, or base64."""
        if not self.utf8:
            carry = b""
            for _, data in self.pieces():  # as sent: binary bodies are not masked
                data = carry + data
                cut = len(data) - len(data) % 3
                carry = data[cut:]
                yield base64.b64encode(data[:cut]).decode("ascii")
            yield base64.b64encode(carry).decode("ascii")
            return
        import codecs

        decode = codecs.getincrementaldecoder("utf-8")().decode
        for _, start, data in _regrouped(self.pieces(), self.spans):
            yield decode(self.masked(data, start))
        yield decode(b"", True)

    def chunks(self) -> Iterator[dict[str, Any]]:
        """The reads as ``_chunks`` entries, masked like the body: a read boundary inside a
        credential moved to its end so that it is masked whole. Compressed reads cannot be
        masked inside: ``holds_secret()`` says whether they may be written at all."""
        whole = self.inflated is None  # the reads make the body: masked where it is
        for offset, start, data in _regrouped(self.capture.pieces(self.limit), self.spans if whole else []):
            if whole:
                data = self.masked(data, start)
            text = _utf8(data)
            item: dict[str, Any] = {"offset_ms": round(offset, 3)}
            if text is not None:
                item["text"] = _text(text, self.mask)
            else:
                item["base64"] = base64.b64encode(data).decode("ascii")
            yield item

    def dropped(self) -> bool:
        """Whether the reads are left out (compressed, holding a credential)."""
        return self.mask and self.wbits is not None and self.holds_secret()


def _windows(pieces: Iterator[tuple[float, bytes]]) -> Iterator[tuple[int, bytes, int, int]]:
    """A body in overlapping windows: (where the window starts, its bytes, the start and end of
    the part it answers for). Each part is seen with ``_OVERLAP`` bytes around it, the window
    cut at a line's start and end where there is one (events are searched whole)."""
    buf, base, own, done = bytearray(), 0, 0, False
    while True:
        while not done and base + len(buf) < own + _OWN + _OVERLAP:
            data = next(pieces, None)
            if data is None:
                done = True
            else:
                buf += data[1]
        end = base + len(buf)
        if own >= end:
            return
        own_end = min(own + _OWN, end)
        left, right = max(own - _OVERLAP, base) - base, min(own_end + _OVERLAP, end) - base
        if left > 0:
            line = buf.find(b"\n", left, own - base)
            left = line + 1 if line >= 0 else left
        if right < len(buf):
            line = buf.rfind(b"\n", own_end - base, right)
            right = line + 1 if line >= 0 else right
        yield base + left, bytes(buf[left:right]), own, own_end
        own = own_end
        drop = own - _OVERLAP - base
        if drop > 0:
            del buf[:drop]
            base += drop


def _byte_spans(text: str, data: bytes, found: list) -> Iterator[tuple[int, int, str]]:
    """``found`` (spans of ``text``, ``data`` decoded with surrogateescape) as spans of ``data``,
    with the credential's text."""
    if len(text) == len(data):  # ASCII
        for item in found:
            yield item.start, item.end, text[item.start:item.end]
        return
    at = byte = 0
    for item in sorted(found, key=lambda f: f.start):
        byte += len(text[at:item.start].encode("utf-8", "surrogateescape"))
        secret = text[item.start:item.end]
        yield byte, byte + len(secret.encode("utf-8", "surrogateescape")), secret
        at = item.start


def _merged(spans: list[tuple[int, int, bytes]]) -> list[tuple[int, int, bytes]]:
    """Spans in order, without overlaps (two found in different windows: masked as one)."""
    out: list[tuple[int, int, bytes]] = []
    for begin, end, mask in sorted(spans):
        if out and begin < out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end, secrets.MASK.encode())
            continue
        out.append((begin, end, mask))
    return out


def _starred(data: bytes, start: int, edits: list[tuple[int, int]]) -> bytes:
    """``data`` (bytes of the body from ``start``) with the ``edits`` in it overwritten by ``*``."""
    k = bisect.bisect_right(edits, (start, start)) - 1
    k = max(k, 0)
    end = start + len(data)
    out = None
    while k < len(edits) and edits[k][0] < end:
        low, high = max(edits[k][0], start), min(edits[k][1], end)
        if low < high:
            out = bytearray(data) if out is None else out
            out[low - start:high - start] = b"*" * (high - low)
        k += 1
    return data if out is None else bytes(out)


def _split_edits(pieces: Iterator[tuple[float, bytes]]) -> list[tuple[int, int]]:
    """Where the body's events spell a credential only together (``mask_split``), window by
    window."""
    edits: set[tuple[int, int]] = set()
    for base, window, _, _ in _windows(pieces):
        edits.update((base + low, base + high) for low, high in split_places(window))
    return sorted(edits)


def _regrouped(pieces: Iterator[tuple[float, bytes]], spans: list[tuple[int, int, bytes]]
               ) -> Iterator[tuple[float, int, bytes]]:
    """The reads (offset, where in the body, bytes) with no credential of ``spans`` split
    across two of them: a read boundary inside one moves to its end (the rest of the secret is
    taken into the read where it starts; a read left empty is dropped)."""
    start, pending, since, need, k = 0, bytearray(), 0.0, 0, 0
    for offset, data in pieces:
        if need > start + len(pending):  # the read where a credential started takes its rest
            take = need - start - len(pending)
            pending += data[:take]
            data = data[take:]
            if need > start + len(pending):
                continue
            yield since, start, bytes(pending)
            start += len(pending)
            pending.clear()
            if not data:
                continue
        if not pending:
            since = offset
        pending += data
        boundary = start + len(pending)
        while k < len(spans) and spans[k][1] <= boundary:
            k += 1
        if k < len(spans) and spans[k][0] < boundary:
            need = spans[k][1]
            continue
        yield since, start, bytes(pending)
        start = boundary
        pending.clear()
    if pending:
        yield since, start, bytes(pending)


def _secrets_whole(received: list[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
    """The reads with no credential split across two of them (``_regrouped``, the credentials
    found in all of them together)."""
    if len(received) < 2:
        return received
    joined = b"".join(data for _, data in received)
    text = joined.decode("utf-8", "surrogateescape")
    spans = [(a, b, b"") for a, b, _ in _byte_spans(text, joined, secrets.find_secrets(text))]
    return [(offset, data) for offset, _, data in _regrouped(iter(received), spans)]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- HAR -----------------------------------------------------------------------------------------


def har(capture: Capture, mask: bool, body: Body | None = None) -> dict[str, Any]:
    """One HAR 1.2 document holding the exchange (in memory: ``write_har`` streams it)."""
    own = body is None
    body = Body(capture, mask) if body is None else body
    try:
        doc = _har(capture, mask, body, "".join(body.text()), None if body.dropped() else list(body.chunks()))
    finally:
        if own:
            body.close()
    return doc


def _har(capture: Capture, mask: bool, body: Body, text: Any, chunks: Any) -> dict[str, Any]:
    """The HAR document with ``text`` as the body's text and ``chunks`` as its reads (None:
    dropped)."""
    from llmtrace import __version__

    url = secrets.mask_url(capture.url) if mask else capture.url
    request: dict[str, Any] = {
        "method": capture.method, "url": url, "httpVersion": capture.http_version, "cookies": [],
        "headers": [{"name": k, "value": v} for k, v in _headers(capture.request_headers, mask)],
        "queryString": [{"name": k, "value": v} for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)],
        "headersSize": -1, "bodySize": len(capture.request_body),
    }
    if capture.request_body:
        post: dict[str, Any] = {"mimeType": capture.header("content-type", response=False) or ""}
        request_text = _utf8(capture.request_body)
        if request_text is not None:
            post["text"] = _text(request_text, mask)
        else:
            post.update(text=base64.b64encode(capture.request_body).decode("ascii"), encoding="base64")
        request["postData"] = post
    content: dict[str, Any] = {"size": body.size, "mimeType": capture.header("content-type") or ""}
    if body.utf8:
        content["text"] = text
    elif body.size:
        content.update(text=text, encoding="base64")
    if body.size != body.raw_size:
        content["compression"] = body.size - body.raw_size
    if chunks is None:
        content["_chunks_dropped"] = _DROPPED
    else:
        content["_chunks"] = chunks
    redirect = capture.header("location") or ""
    response: dict[str, Any] = {
        "status": capture.status or 0, "statusText": capture.reason or "", "httpVersion": capture.http_version,
        "cookies": [], "headers": [{"name": k, "value": v} for k, v in _headers(capture.response_headers, mask)],
        "content": content, "redirectURL": secrets.mask_url(redirect) if mask else redirect, "headersSize": -1,
        "bodySize": body.raw_size,
    }
    if capture.error:
        response["_error"] = capture.error
    end = capture.end_ms or 0.0
    first = capture.first_byte_ms
    entry: dict[str, Any] = {
        "startedDateTime": _iso(capture.started), "time": round(end, 3), "request": request, "response": response,
        "cache": {},
        "timings": {"blocked": -1, "dns": -1, "connect": -1, "ssl": -1, "send": 0,
                    "wait": round(first if first is not None else end, 3),
                    "receive": round(end - first, 3) if first is not None else 0},
    }
    if capture.error:
        entry["_error"] = capture.error
    return {"log": {"version": "1.2", "creator": {"name": "llmtrace record", "version": __version__},
                    "entries": [entry]}}


def write_har(capture: Capture, mask: bool, out: BinaryIO) -> None:
    """The HAR document of the exchange written to ``out`` piece by piece: the body's text and
    its reads in bounded pieces, whatever their size."""
    body = Body(capture, mask)
    try:
        mark = os.urandom(8).hex()
        text_mark, chunks_mark = f"\x00llmtrace-text-{mark}", f"\x00llmtrace-chunks-{mark}"
        doc = orjson.dumps(_har(capture, mask, body, text_mark, None if body.dropped() else chunks_mark),
                           option=orjson.OPT_INDENT_2)
        text_at = orjson.dumps(text_mark)
        chunks_at = orjson.dumps(chunks_mark)
        head, has_text, rest = doc.partition(text_at)
        if not has_text:
            head, rest = b"", doc
        out.write(head)
        if has_text:
            out.write(b'"')
            for piece in body.text():
                out.write(orjson.dumps(piece)[1:-1])
            out.write(b'"')
        head, has_chunks, rest = rest.partition(chunks_at)
        out.write(head)
        if has_chunks:
            indent = b" " * (len(head) - head.rfind(b"\n") - 1 - len(b'"_chunks": '))
            first = True
            for item in body.chunks():
                out.write(b"[\n" if first else b",\n")
                out.write(indent + b"  " + orjson.dumps(item))
                first = False
            out.write(b"[]" if first else b"\n" + indent + b"]")
        out.write(rest)
    finally:
        body.close()


_DROPPED = "the compressed reads held a credential, which cannot be masked inside them: dropped (the body is kept, masked)"


def har_name(capture: Capture):
    method = _SLUG.sub("-", capture.method.lower()).strip("-") or "get"
    endpoint = slug(capture.path)
    return lambda number: f"{number:04d}-{method.upper()}-{endpoint}.har"


# --- VCR -----------------------------------------------------------------------------------------


def _vcr_headers(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


def interaction(capture: Capture, mask: bool) -> dict[str, Any]:
    """One VCR.py interaction: what vcrpy records, plus the reads and times it ignores. The
    cassette is one document in memory: a body beyond ``--max-size`` is kept truncated there,
    ``_error`` saying so."""
    from llmtrace import limits

    limit = limits.max_size()
    if capture.size > limit:
        note = f"{limits.beyond_limit('the body', limit)}: saved truncated there in the cassette"
        capture.error = f"{capture.error}; {note}" if capture.error else note
    body = Body(capture, mask, limit if capture.size > limit else None)
    try:
        request_text = _utf8(capture.request_body)
        raw = b"".join(data for _, data in capture.pieces(body.raw_size))
        if body.inflated is None or (mask and body.holds_secret() and body.utf8):
            text: Any = "".join(body.text()) if body.utf8 else raw
            if body.inflated is not None:  # masked inside, compressed again
                text = _recompressed(text.encode("utf-8"), body.wbits)
        else:
            text = raw
        chunks = None if body.dropped() else list(body.chunks())
    finally:
        body.close()
    first = capture.first_byte_ms
    timing: dict[str, Any] = {"started": _iso(capture.started), "first_byte_ms": round(first, 3) if first is not None else None,
                              "end_ms": round(capture.end_ms or 0.0, 3)}
    if capture.error:
        timing["error"] = capture.error
    doc = {
        "request": {
            "body": (_text(request_text, mask) if request_text is not None else capture.request_body)
            if capture.request_body else None,
            "headers": _vcr_headers(_headers(capture.request_headers, mask)),
            "method": capture.method,
            "uri": secrets.mask_url(capture.url) if mask else capture.url,
        },
        "response": {
            "status": {"code": capture.status or 0, "message": capture.reason or ""},
            "headers": _vcr_headers(_headers(capture.response_headers, mask)),
            "body": {"string": text},
            "_timing": timing,
        },
    }
    if chunks is None:
        doc["response"]["_chunks_dropped"] = _DROPPED
    else:
        doc["response"]["_chunks"] = chunks
    return doc


def _recompressed(data: bytes, wbits: int | None) -> bytes:
    packer = zlib.compressobj(wbits=wbits or zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def cassette(interactions: list[dict[str, Any]]) -> bytes:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump({"interactions": interactions, "version": 1}, Dumper=dumper, allow_unicode=True,
                     sort_keys=False, width=1 << 30).encode("utf-8")


def save_later(recorder, write, line) -> None:
    """Run ``write()`` on the recorder's writer thread (recordings are written one at a time, in
    the order they end; ``recorder.close`` waits for them) and log ``line(where)`` once it is done:
    where it went, or why it was not saved."""
    import asyncio

    recorder.count += 1
    future = asyncio.get_running_loop().run_in_executor(recorder.writer, write)
    recorder.pending.add(future)

    def done(fut) -> None:
        recorder.pending.discard(fut)
        exc = fut.exception()
        recorder.log(line(f"→ {fut.result()}" if exc is None else f"NOT SAVED ({exc})"))

    future.add_done_callback(done)


class Saver:
    """Where a run's recordings go: ``folder``, as ``har`` files or one ``vcr`` cassette."""

    def __init__(self, folder: str | Path, save_as: str = "har", mask: bool = True):
        self.folder = Path(folder)
        self.save_as = save_as
        self.mask = mask
        self.number = 1
        self.interactions: list[dict[str, Any]] = []
        self.cassette: Path | None = None

    def prepare(self) -> None:
        """Create the folder; a VCR run takes its cassette's name now (the next free number)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.save_as == "vcr":
            number = next_number(self.folder, _SESSION)
            while True:
                target = self.folder / f"session-{number:04d}.yaml"
                try:
                    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                except FileExistsError:
                    number += 1
                    continue
                os.close(fd)
                break
            self.cassette = target
            write_atomically(str(target), cassette([]))
        else:
            self.number = next_number(self.folder)

    def save(self, capture: Capture) -> Path:
        """Write the exchange (called from one thread at a time) and remove its spool; a
        failed write leaves the spool (the next run recovers it)."""
        try:
            path = self._write(capture)
        except BaseException:
            capture.spool.close()
            raise
        capture.discard()
        return path

    def _write(self, capture: Capture) -> Path:
        if self.save_as == "vcr":
            self.interactions.append(interaction(capture, self.mask))
            write_atomically(str(self.cassette), cassette(self.interactions))
            return self.cassette
        fd, tmp = tempfile.mkstemp(prefix=".llmtrace-", suffix=".tmp", dir=str(self.folder))
        try:
            with os.fdopen(fd, "wb", buffering=1 << 20) as out:
                write_har(capture, self.mask, out)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)
        except BaseException:
            os.unlink(tmp)
            raise
        path, taken = _placed(tmp, self.folder, har_name(capture), self.number)
        self.number = taken + 1
        return path

    def recover(self) -> list[tuple[Capture, Path | str]]:
        """Turn the spools that stopped recorders left in the folder into recordings: each
        (capture, where it went, or why it was not saved)."""
        from llmtrace.server import spool

        out: list[tuple[Capture, Path | str]] = []
        for left in spool.orphans(self.folder):
            capture = Capture.recovered(left)
            if capture is None:  # not even the request: nothing to keep
                left.remove()
                continue
            try:
                out.append((capture, self.save(capture)))
            except OSError as exc:
                out.append((capture, f"NOT SAVED ({exc.strerror or exc})"))
        return out
