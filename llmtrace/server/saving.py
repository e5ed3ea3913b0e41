"""What ``llmtrace record`` writes: one exchange as it crossed the proxy (``Capture``), saved as
a HAR 1.2 file per exchange or into one VCR.py cassette per run.

A capture keeps every byte: the request as the client sent it, the response as the upstream
sent it (``Content-Encoding`` kept), and each network read of the response body as one chunk
with its arrival offset in milliseconds from the request's start (monotonic clock), plus the
first byte's and the end's offsets and, when the exchange broke, what broke it.

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
import os
import re
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from llmtrace import secrets
from llmtrace.split_secrets import mask_split  # noqa: F401 (its home was here: a name of this module too)
from llmtrace.output import temporary_file, write_atomically

_SLUG = re.compile(r"[^a-z0-9]+")
_NUMBERED = re.compile(r"^(\d{4,})-")
_SESSION = re.compile(r"^session-(\d{4,})\.yaml$")


class Capture:
    """One exchange as it crossed the proxy."""

    __slots__ = ("method", "url", "path", "http_version", "request_headers", "request_body", "started",
                 "status", "reason", "response_headers", "reads", "first_byte_ms", "end_ms", "error")

    def __init__(self, method: str, url: str, path: str, http_version: str, request_headers: list,
                 request_body: bytes, started: float):
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
        self.reads: list[tuple[float, bytes]] = []  # (offset in ms, bytes as received)
        self.first_byte_ms: float | None = None
        self.end_ms: float | None = None
        self.error: str | None = None

    def header(self, name: str, response: bool = True) -> str | None:
        for key, value in self.response_headers if response else self.request_headers:
            if key.lower() == name:
                return value
        return None

    @property
    def body(self) -> bytes:
        return b"".join(data for _, data in self.reads)


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
    tmp = temporary_file(str(folder), data)
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


def decoded_body(capture: Capture) -> bytes:
    """The response body with its ``Content-Encoding`` (gzip, deflate) undone, never beyond
    ``--max-size`` (a bomb is kept truncated there, and ``capture.error`` says so); as sent when
    it cannot be (an encoding llmtrace does not read, a stream cut inside the compressed data)."""
    from llmtrace import limits

    raw = capture.body
    wbits = _wbits(capture)
    if wbits is None or not raw:
        return raw
    limit = limits.max_size()
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error:
        return raw
    if len(out) > limit:
        note = f"{limits.beyond_limit('the body inflates', limit)}: saved truncated there"
        capture.error = f"{capture.error}; {note}" if capture.error and note not in capture.error else capture.error or note
        return out[:limit]
    return out


def reads(capture: Capture, mask: bool, body: bytes | None = None) -> list[dict[str, Any]] | None:
    """The reads as ``_chunks`` entries, masked like the body: a credential split between two
    reads or two events is masked whole (``_secrets_whole``, ``mask_split``). Compressed reads
    cannot be masked inside: when the decoded ``body`` holds a credential they are dropped
    (None; the caller says so)."""
    received = capture.reads
    if mask and _wbits(capture) is not None and body is not None and _holds_secret(body):
        return None
    if mask and len(received) > 1:
        received = _resplit(received, mask_split(b"".join(data for _, data in received)))
    out = []
    for offset, data in (_secrets_whole(received) if mask else received):
        text = _utf8(data)
        item: dict[str, Any] = {"offset_ms": round(offset, 3)}
        if text is not None:
            item["text"] = _text(text, mask)
        else:
            item["base64"] = base64.b64encode(data).decode("ascii")
        out.append(item)
    return out


def _holds_secret(body: bytes) -> bool:
    text = body.decode("utf-8", "surrogateescape")
    return bool(secrets.might_hold_secrets(text) and secrets.find_secrets(text)) or mask_split(body) != body


def _resplit(received: list[tuple[float, bytes]], joined: bytes) -> list[tuple[float, bytes]]:
    """``joined`` (the reads' bytes, masked without changing their length) cut where the reads
    were."""
    out, at = [], 0
    for offset, data in received:
        out.append((offset, joined[at:at + len(data)]))
        at += len(data)
    return out


def _secrets_whole(received: list[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
    """The reads with no credential split across two of them, so that masking each read masks
    it: a read boundary inside a secret moves to the secret's end (the rest of the secret is
    taken into the read where it starts; a read left empty is dropped). As received otherwise."""
    if len(received) < 2:
        return received
    joined = b"".join(data for _, data in received)
    text = joined.decode("utf-8", "surrogateescape")  # byte-exact both ways, whatever the bytes
    found = secrets.find_secrets(text)
    if not found:
        return received
    spans = [(len(text[:f.start].encode("utf-8", "surrogateescape")),
              len(text[:f.end].encode("utf-8", "surrogateescape"))) for f in found]
    out, start, boundary, k = [], 0, 0, 0
    for offset, data in received:
        boundary += len(data)  # where this read ended as received
        end = max(boundary, start)
        while k < len(spans) and spans[k][1] <= end:
            k += 1
        if k < len(spans) and spans[k][0] < end < spans[k][1]:
            end = spans[k][1]  # inside a secret: this read takes the rest of it
        if end > start:
            out.append((offset, joined[start:end]))
            start = end
    if start < len(joined):
        out.append((received[-1][0], joined[start:]))
    return out


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- HAR -----------------------------------------------------------------------------------------


def har(capture: Capture, mask: bool) -> dict[str, Any]:
    """One HAR 1.2 document holding the exchange."""
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
        text = _utf8(capture.request_body)
        if text is not None:
            post["text"] = _text(text, mask)
        else:
            post.update(text=base64.b64encode(capture.request_body).decode("ascii"), encoding="base64")
        request["postData"] = post
    body = decoded_body(capture)
    content: dict[str, Any] = {"size": len(body), "mimeType": capture.header("content-type") or ""}
    text = _utf8(mask_split(body) if mask else body)
    if text is not None:
        content["text"] = _text(text, mask)
    elif body:
        content.update(text=base64.b64encode(body).decode("ascii"), encoding="base64")
    if len(body) != len(capture.body):
        content["compression"] = len(body) - len(capture.body)
    _add_reads(content, capture, mask, body)
    redirect = capture.header("location") or ""
    response: dict[str, Any] = {
        "status": capture.status or 0, "statusText": capture.reason or "", "httpVersion": capture.http_version,
        "cookies": [], "headers": [{"name": k, "value": v} for k, v in _headers(capture.response_headers, mask)],
        "content": content, "redirectURL": secrets.mask_url(redirect) if mask else redirect, "headersSize": -1,
        "bodySize": len(capture.body),
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


_DROPPED = "the compressed reads held a credential, which cannot be masked inside them: dropped (the body is kept, masked)"


def _add_reads(into: dict[str, Any], capture: Capture, mask: bool, body: bytes) -> None:
    """``_chunks`` (the reads) into a HAR content or VCR response; ``_chunks_dropped`` instead
    when they cannot be written masked."""
    kept = reads(capture, mask, body)
    if kept is None:
        into["_chunks_dropped"] = _DROPPED
    else:
        into["_chunks"] = kept


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
    """One VCR.py interaction: what vcrpy records, plus the reads and times it ignores."""
    request_text = _utf8(capture.request_body)
    raw = capture.body
    body = decoded_body(capture)
    if mask and _wbits(capture) is not None and _holds_secret(body):  # masked inside, compressed again
        decoded = _utf8(mask_split(body))
        if decoded is not None:
            raw = _recompressed(secrets.mask_text(decoded).encode("utf-8"), _wbits(capture))
    text = _utf8(raw)
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
            "body": {"string": _text(_utf8(mask_split(raw)) or text, mask) if text is not None and mask
                     else text if text is not None else raw},
            "_timing": timing,
        },
    }
    _add_reads(doc["response"], capture, mask, body)
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
        """Write the exchange (called from one thread at a time)."""
        if self.save_as == "vcr":
            self.interactions.append(interaction(capture, self.mask))
            write_atomically(str(self.cassette), cassette(self.interactions))
            return self.cassette
        data = orjson.dumps(har(capture, self.mask), option=orjson.OPT_INDENT_2)
        path, taken = write_new(self.folder, har_name(capture), self.number, data)
        self.number = taken + 1
        return path
