"""``llmtrace redact``: replace the credentials a recording holds with placeholders, at the byte
level — the fix for what ``unmasked-secret`` finds.

Only the secret's own bytes change (``sk-proj-…`` → ``<OPENAI_API_KEY>``, a URL password →
``<REDACTED>``); YAML formatting, key order, quoting and every other byte stay as they were,
so a committed cassette keeps replaying and its diff shows only the secrets.

What is replaced, in a file's text (UTF-8; other bytes are carried through untouched):
- every credential ``llmtrace.secrets.find_secrets`` finds by shape: provider keys, ``Bearer``
  tokens, secret URL parameters, ``user:pass@host`` passwords;
- the values of the request's secret headers (``api-key``, ``Cookie``, ...) that have no
  recognisable shape: taken from the parsed document, then replaced wherever the same string
  stands as a token in the file;
- a credential a stream spells only across its events (``gsk_ab`` in one delta, the rest in the
  next): each piece is overwritten with ``*`` where it stands (``split_secrets.mask_split``, as
  ``record`` does), in SSE and NDJSON lines, a cassette's body scalar (folded lines too) and a
  stream held in one JSON string (HAR);
- inside encoded bodies (YAML ``!!binary`` and Ruby VCR ``base64_string`` blocks, base64 JSON
  strings such as HAR ``encoding: base64`` bodies; gzip or deflate inside them): decoded
  (never beyond ``--max-size``), searched, and re-encoded only when a secret was inside, with
  the block's own line width and indentation. A gzipped file is redacted inside and gzipped
  again.

The result is read back before anything is written: it must still be a readable recording,
and ``unmasked-secret`` must find nothing in it; if a credential could not be located in the
bytes (an escaped or folded form), the command says so and exits 2. Input files are never
written to without ``--in-place``, which replaces the file atomically (a temporary file in the
same folder, its permissions copied, then renamed over it).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import os
import re
import sys
import zlib
from typing import Any, Iterator, NamedTuple

import orjson

from llmtrace.errors import ShapeError, UnreadableInput, UsageError
from llmtrace.output import one_line, warn, write_atomically
from llmtrace.secrets import (PLACEHOLDERS, find_secrets, header_secrets, is_placeholder, is_secret_param, kind_of,
                              mask_of, might_hold_secrets)
from llmtrace.split_secrets import mask_split

_BOM = b"\xef\xbb\xbf"
_GZIP = b"\x1f\x8b"
# A YAML block (or one-line scalar) of base64 after ``!!binary``/``!binary`` or a Ruby VCR
# ``base64_string:`` key: the lines that follow, each indentation and base64 characters only.
_YAML_BASE64 = re.compile(
    r"(?:!!?binary|base64_string:[ \t]*(?:!!?binary)?)[ \t]*"
    r"(?:(?:[|>][-+0-9]*)?[ \t]*\r?\n(?P<block>(?:[ \t]+[A-Za-z0-9+/=]+[ \t]*(?:\r?\n|$))+)"
    r"|(?P<quote>[\"']?)(?P<inline>[A-Za-z0-9+/]{16,}={0,2})(?P=quote)[ \t]*(?:\r?\n|$))")
# A JSON (or YAML double-quoted) string that is nothing but base64: a HAR ``encoding: base64``
# body, a ``_chunks`` entry, a Ruby cassette saved as JSON.
_QUOTED_BASE64 = re.compile(r'"([A-Za-z0-9+/]{24,}={0,2})"')
_TOKEN_CHAR = re.compile(r"[A-Za-z0-9_\-.~+/=%]")


class Replacement(NamedTuple):
    """One credential replaced: where (``line 8``), its kind, its mask and its placeholder."""

    where: str
    kind: str
    masked: str
    placeholder: str


class _Span(NamedTuple):
    start: int
    end: int
    kind: str
    placeholder: str


def run(paths: list[str], in_place: bool = False, backup: str | None = None, output: str | None = None) -> int:
    if in_place and output is not None:
        raise UsageError("redact: give --in-place or -o OUT, not both")
    if not in_place and output is None:
        raise UsageError("redact writes recordings: give --in-place (to replace each FILE) or -o OUT (for one FILE)")
    if backup is not None and not in_place:
        raise UsageError("--backup SUFFIX goes with --in-place")
    if backup is not None and (not backup or "/" in backup or backup in (".", "..")):
        raise UsageError(f"--backup: {backup!r} is not a file name suffix")
    if output is not None and len(paths) != 1:
        raise UsageError(f"-o OUT takes exactly one FILE ({len(paths)} given); use --in-place for several")
    if in_place and "-" in paths:
        raise UsageError("--in-place cannot replace stdin; use -o OUT")
    report = sys.stderr if output == "-" else sys.stdout
    unreadable = 0
    replaced = False
    for path in paths:
        source = "<stdin>" if path == "-" else path
        try:
            data = _read(path)
            new, replacements = redact_recording(data, source)
            _check_result(new, source)
            if in_place:
                if replacements:
                    _replace_file(path, new, backup)
            else:
                _write_output(output, new)
        except UnreadableInput as exc:
            unreadable += 1
            warn(exc.line())
            continue
        except OSError as exc:
            unreadable += 1
            warn(f"{output if not in_place else source}: cannot write ({exc.strerror or exc})")
            continue
        for item in replacements:
            line = one_line(f"{source}: {item.where}: {item.kind} {item.masked} → {item.placeholder}")
            report.write(f"llmtrace: {line}\n" if report is sys.stderr else f"{line}\n")
        report.flush()
        replaced = replaced or bool(replacements)
    if unreadable:
        return 2
    return 1 if replaced else 0


def _read(path: str) -> bytes:
    """The file's bytes, after checking that llmtrace reads it as a recording (size limits,
    special files and bombs are refused there)."""
    from llmtrace import limits
    from llmtrace.loader import load, read_bytes

    data = read_bytes(path, limits.max_size())
    load(path, data=data)
    return data


# --- the bytes -----------------------------------------------------------------------------------


def redact_recording(data: bytes, source: str = "") -> tuple[bytes, list[Replacement]]:
    """``data`` with its credentials replaced, and what was replaced. Everything but the
    replaced spans (and encoded bodies that held a secret) stays byte for byte."""
    if data[:3] == _BOM:
        inner, replacements = redact_recording(data[3:], source)
        return _BOM + inner, replacements
    if data[:2] == _GZIP:
        from llmtrace.containers.bodies import gunzip

        try:
            inner, replacements = redact_recording(gunzip(data, "gzipped file", what="file"), source)
        except ShapeError as exc:
            raise UnreadableInput(exc.what, exc.where, path=source) from None
        if not replacements:
            return data, []
        return gzip.compress(inner, mtime=0), [r._replace(where=f"{r.where} (inside the gzipped file)")
                                               for r in replacements]
    text = data.decode("utf-8", "surrogateescape")
    new, replacements = redact_text(text, _request_credentials(data))
    if not replacements:
        return data, []
    return new.encode("utf-8", "surrogateescape"), replacements


def redact_text(text: str, credentials: dict[str, str] | None = None, where: str = "",
                nested: bool = False) -> tuple[str, list[Replacement]]:
    """``text`` with every credential replaced: those ``find_secrets`` finds, every token-shaped
    occurrence of ``credentials`` (secret → kind), and those inside encoded bodies (one level:
    in the ``nested`` text of a decoded body, base64 is left as it is)."""
    edits: list[tuple[int, int, str]] = []  # (start, end, new text)
    replacements: list[tuple[int, Replacement]] = []
    encoded = [] if nested else list(_encoded_regions(text))
    for start, end, rewrite in encoded:
        result = rewrite()
        if result is None:
            continue
        new, inner = result
        line = f"line {_line(text, start)}"
        edits.append((start, end, new))
        replacements.extend((start, r._replace(where=f"{line} (encoded body, {r.where})")) for r in inner)
    spans = [_Span(f.start, f.end, f.kind, f.placeholder) for f in find_secrets(text)]
    for secret, kind in (credentials or {}).items():
        spans.extend(_occurrences(text, secret, kind))
    spans.extend(_split_pieces(text))
    for span in _without_overlaps(spans):
        if any(start <= span.start < end or start < span.end <= end for start, end, _ in encoded):
            continue  # base64 text: the decoded body was searched instead
        edits.append((span.start, span.end, span.placeholder))
        place = f"{where}line {_line(text, span.start)}"
        replacements.append((span.start, Replacement(place, span.kind, mask_of(text[span.start:span.end]),
                                                     span.placeholder)))
    if not edits:
        return text, []
    edits.sort()
    parts = []
    last = 0
    for start, end, new in edits:
        parts.append(text[last:start])
        parts.append(new)
        last = end
    parts.append(text[last:])
    replacements.sort(key=lambda item: item[0])
    return "".join(parts), [r for _, r in replacements]


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _without_overlaps(spans: list[_Span]) -> list[_Span]:
    out: list[_Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if out and span.start < out[-1].end:
            if span.end > out[-1].end:
                out[-1] = out[-1]._replace(end=span.end)
            continue
        out.append(span)
    return out


def _occurrences(text: str, secret: str, kind: str) -> Iterator[_Span]:
    """Where ``secret`` stands in ``text`` as a whole token (not inside a longer one)."""
    placeholder = PLACEHOLDERS.get(kind, "<REDACTED>")
    at = text.find(secret)
    while at >= 0:
        end = at + len(secret)
        before = text[at - 1] if at else ""
        after = text[end] if end < len(text) else ""
        if not (before and _TOKEN_CHAR.match(before) and _TOKEN_CHAR.match(secret[0])) and \
                not (after and _TOKEN_CHAR.match(after) and _TOKEN_CHAR.match(secret[-1])):
            yield _Span(at, end, kind, placeholder)
        at = text.find(secret, end)


# --- credentials split across stream events -------------------------------------------------------

SPLIT = "split credential"
# A stream event's JSON on a line of its own: an SSE ``data:`` line, an NDJSON line, and such a
# line inside a YAML scalar (indented, or after its key and quote: ``string: 'data: {…}``), where
# a YAML writer may have folded it onto the lines below at a space.
_EVENT_LINE = re.compile(r"^[ \t]*(?:[\w-]+:[ \t]*['\"]?)?(\{[^\r\n]*?)[ \t]*\r?$", re.MULTILINE)
_FOLDED_LINE = re.compile(r"[ \t]+([^\s][^\r\n]*?)[ \t]*\r?(?:\n|$)")
# A JSON (or YAML double-quoted) string literal: a stream stored as one string (a HAR
# ``content.text``) is one.
_STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"')


def _split_pieces(text: str) -> list[_Span]:
    """The pieces of each credential a stream spells only across its events (``mask_split``
    finds them) where ``text`` holds them: its lines of event JSON (an SSE or NDJSON file, a
    decoded body, a cassette's body string), and each JSON string literal holding a stream (a
    line break escaped in it). Each piece is overwritten with ``*`` in place, one per character."""
    if not might_hold_secrets(text):
        return []
    spans = _in_event_lines(text)
    for literal in _STRING_LITERAL.finditer(text):
        raw = literal.group()
        if "\\n" not in raw or not might_hold_secrets(raw):
            continue
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue  # no JSON string (a YAML escape, a quote inside a plain scalar)
        masked = mask_split(value.encode("utf-8")).decode("utf-8")
        changed = [at for start, end in _masked_runs(value, masked) for at in range(start, end)]
        runs: list[list[int]] = []
        for start, end in _encoded_at(raw, changed):
            if runs and runs[-1][1] == start:
                runs[-1][1], runs[-1][2] = end, runs[-1][2] + 1
            else:
                runs.append([start, end, 1])
        base = literal.start()
        spans.extend(_Span(base + start, base + end, SPLIT, "*" * count) for start, end, count in runs)
    return spans


def _in_event_lines(text: str) -> list[_Span]:
    """The pieces in ``text``'s lines of event JSON: the lines, without what stands before the
    JSON (and a folded line joined again, with the space the fold stands for), are one stream for
    ``mask_split``; what it overwrites is mapped back to the text."""
    import bisect

    views, places, parts = [], [], []  # where each piece of an event's JSON starts in the stream and in the text
    at = 0
    for match in _EVENT_LINE.finditer(text):
        line = match.group(1)
        views.append(at)
        places.append(match.start(1))
        parts.append(line)
        at += len(line)
        end = match.end() + 1
        for _ in range(64 if line[-1] not in "}{[," else 0):  # folded: its continuation lines, indented
            more = _FOLDED_LINE.match(text, end)
            if more is None or more.group(1).startswith(("data:", "{")):
                break
            parts.append(" " + more.group(1))
            views.append(at + 1)
            places.append(more.start(1))
            at += len(parts[-1])
            end = more.end()
            if more.group(1).endswith("}"):
                break
        parts.append("\n")
        views.append(at)
        places.append(-1)
        at += 1
    if len(parts) < 4:
        return []
    stream = "".join(parts)
    masked = mask_split(stream.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")
    spans = []
    for start, end in _masked_runs(stream, masked):  # a run never crosses a line or a fold
        piece = bisect.bisect_right(views, start) - 1
        shift = places[piece] - views[piece]
        spans.append(_Span(start + shift, end + shift, SPLIT, "*" * (end - start)))
    return spans


def _masked_runs(before: str, after: str) -> list[tuple[int, int]]:
    """Where ``after`` (``before`` with pieces overwritten by ``*``, the same length) differs."""
    if after == before or len(after) != len(before):
        return []
    runs: list[tuple[int, int]] = []
    for run in re.finditer(r"\*+", after):
        at = run.start()
        while at < run.end():
            if before[at] == "*":
                at += 1
                continue
            end = at
            while end < run.end() and before[end] != "*":
                end += 1
            runs.append((at, end))
            at = end
    return runs


def _encoded_at(raw: str, wanted: list[int]) -> list[tuple[int, int]]:
    """Where in the JSON string literal ``raw`` (its quotes included) each decoded character
    whose index is in ``wanted`` (ascending) is written: ``(start, end)``, an escape's whole width."""
    out: list[tuple[int, int]] = []
    pending = iter(wanted)
    want = next(pending, None)
    at, index, last = 1, 0, len(raw) - 1
    while want is not None and at < last:
        escape = raw.find("\\", at, last)
        plain = (escape if escape >= 0 else last) - at  # characters written as themselves
        while want is not None and want < index + plain:
            start = at + want - index
            out.append((start, start + 1))
            want = next(pending, None)
        index, at = index + plain, at + plain
        if escape < 0 or want is None:
            break
        width = 2
        if raw[at + 1] == "u":
            width = 12 if 0xD800 <= int(raw[at + 2:at + 6], 16) < 0xDC00 and raw[at + 6:at + 8] == "\\u" else 6
        if want == index:
            out.append((at, at + width))
            want = next(pending, None)
        index, at = index + 1, at + width
    return out


# --- encoded bodies ----------------------------------------------------------------------------


def _encoded_regions(text: str) -> Iterator[tuple[int, int, Any]]:
    """``(start, end, rewrite)`` for each base64 body in ``text``; ``rewrite()`` gives the
    region's new text and the replacements inside it, or None when it holds no secret (or is no
    text at all: an image, audio)."""
    seen: list[tuple[int, int]] = []
    for match in _YAML_BASE64.finditer(text):
        group = "block" if match.group("block") is not None else "inline"
        start, end = match.span(group)
        seen.append((start, end))
        yield start, end, (lambda s=start, e=end, g=group: _rewrite(text[s:e], g == "block"))
    for match in _QUOTED_BASE64.finditer(text):
        start, end = match.span(1)
        if any(s <= start < e for s, e in seen):
            continue
        if _decoded(match.group(1)) is None:
            continue  # a token that happens to be base64, not an encoded body
        yield start, end, (lambda s=start, e=end: _rewrite(text[s:e], False))


def _decoded(b64: str) -> tuple[str, str] | None:
    """The text inside base64 ``b64`` and how it was packed ("plain", "gzip", "deflate"), or
    None when it holds no UTF-8 text."""
    try:
        raw = base64.b64decode("".join(b64.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    packing = "plain"
    if raw[:2] == _GZIP:
        from llmtrace.containers.bodies import gunzip

        try:
            raw, packing = gunzip(raw, "encoded body"), "gzip"
        except ShapeError:
            return None
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        if packing != "plain":
            return None
        from llmtrace.containers.bodies import inflate

        try:
            decoded, packing = inflate(raw, zlib.MAX_WBITS, "encoded body").decode("utf-8"), "deflate"
        except (ShapeError, UnicodeDecodeError):
            return None
    if packing == "plain" and not decoded.isprintable() and any(c < " " and c not in "\n\r\t" for c in decoded):
        return None  # binary data that happens to be valid UTF-8
    return decoded, packing


def _rewrite(region: str, block: bool) -> tuple[str, list[Replacement]] | None:
    found = _decoded(region)
    if found is None:
        return None
    decoded, packing = found
    new, replacements = redact_text(decoded, where="decoded ", nested=True)
    if not replacements:
        return None
    raw = new.encode("utf-8")
    if packing == "gzip":
        raw = gzip.compress(raw, mtime=0)
    elif packing == "deflate":
        raw = zlib.compress(raw)
    encoded = base64.b64encode(raw).decode("ascii")
    return (_wrapped(region, encoded) if block else encoded), [
        r._replace(where=f"{packing}, {r.where}" if packing != "plain" else r.where) for r in replacements]


def _wrapped(region: str, encoded: str) -> str:
    """``encoded`` laid out like the base64 block ``region``: same indentation, same line
    length, same line ends, the same ending."""
    lines = region.splitlines(keepends=True)
    first = lines[0]
    indent = first[:len(first) - len(first.lstrip(" \t"))]
    width = len(first.strip())
    newline = "\r\n" if first.endswith("\r\n") else "\n"
    ending = lines[-1][len(lines[-1].rstrip("\r\n")):]
    chunks = [encoded[i:i + width] for i in range(0, len(encoded), width)] or [""]
    return newline.join(indent + chunk for chunk in chunks) + ending


# --- secret header values, from the parsed document ----------------------------------------------


def _request_credentials(data: bytes) -> dict[str, str]:
    """secret → kind for the values of the requests' secret headers, cookies and query
    parameters (HAR ``cookies``/``queryString``) that hold a live-looking credential."""
    from llmtrace.loader import select, unwrap

    try:
        _mod, doc = select(unwrap(data))
    except (UnreadableInput, ShapeError, RecursionError):
        return {}
    found: dict[str, str] = {}
    for name, value in _request_headers(doc):
        if name is _PARAM:
            found[value] = kind_of(value) or "credential"
            continue
        for item in header_secrets(name, value):
            found[value[item.start:item.end]] = item.kind
    return found


_PARAM = "query parameter"


def _request_headers(doc: Any) -> Iterator[tuple[str, str]]:
    """Every (name, value) of a request's headers, cookies and query parameters in ``doc``
    (VCR, HAR, Llama Stack, LangChain: under a ``request``/``requests`` key), without recursion."""
    stack: list[tuple[Any, bool]] = [(doc, False)]
    while stack:
        node, in_request = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                lower = key.lower() if isinstance(key, str) else ""
                if in_request and lower in ("headers", "cookies", "querystring"):
                    yield from _pairs(value, "cookie" if lower == "cookies" else None, lower == "querystring")
                elif isinstance(value, (dict, list)):
                    stack.append((value, in_request or lower in ("request", "requests")))
        elif isinstance(node, list):
            stack.extend((item, in_request) for item in node if isinstance(item, (dict, list)))


def _pairs(headers: Any, as_name: str | None, params: bool) -> Iterator[tuple[str, str]]:
    items: list = []
    if isinstance(headers, dict):
        items = list(headers.items())
    elif isinstance(headers, list):
        items = [(h.get("name"), h.get("value")) for h in headers if isinstance(h, dict)]
    for name, value in items:
        if not isinstance(name, str):
            continue
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, str):
                continue
            if as_name:  # a HAR cookie: {name, value}
                yield as_name, f"{name}={item}"
            elif params:
                if is_secret_param(name) and len(item) >= 3 and not is_placeholder(item):
                    yield _PARAM, item
            else:
                yield name, item


# --- checking and writing ----------------------------------------------------------------------


def _check_result(new: bytes, source: str) -> None:
    """The redacted bytes must read as a recording, and leave ``unmasked-secret`` nothing."""
    from llmtrace.anomalies import detect
    from llmtrace.loader import load

    try:
        recording = load(source, data=new)
    except UnreadableInput as exc:
        raise UnreadableInput(f"cannot redact: the result would not read ({exc.what})", exc.where,
                              path=source) from None
    left = [a for ex in recording.exchanges for a in detect(ex, recording) if a.code == "unmasked-secret"]
    if left:
        first = left[0]
        raise UnreadableInput(f"cannot redact {len(left)} credential{'s' if len(left) > 1 else ''} "
                              f"(not found in the bytes as written: escaped or folded)",
                              f"exchange {first.exchange}, {first.details.get('place')}", path=source)


def _write_output(output: str, data: bytes) -> None:
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    with open(output, "wb") as fh:
        fh.write(data)


def _replace_file(path: str, data: bytes, backup: str | None) -> None:
    """Write ``data`` over ``path`` atomically: a temporary file in the same folder with the
    original's permissions, renamed over it (a symbolic link's target is the file replaced)."""
    import shutil

    target = os.path.realpath(path)
    mode = os.stat(target).st_mode & 0o7777
    if backup:
        shutil.copy2(target, target + backup)
    write_atomically(target, data, mode)
