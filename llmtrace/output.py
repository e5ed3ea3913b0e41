"""Writing results: JSON to stdout (compact when piped, indented on a terminal), one-line
messages to stderr. Nothing is written to stdout until a command has all of it.

Recorded text is untrusted, so every byte written is made safe here:

- JSON: characters that are valid in a JSON string but act on a terminal or hide text — C1
  controls (U+0080–U+009F, among them the 8-bit CSI), DEL, the line/paragraph separators
  U+2028/U+2029, bidirectional overrides, isolates and marks, zero-width characters and the
  BOM — are written as ``\\uXXXX`` escapes. The parsed value is exactly the same; ``cat`` or
  ``less`` of the output shows them as text.
- JSON nested deeper than orjson writes (254 levels; orjson reads 1,024) is written by a small
  iterative encoder giving the very same bytes; so are integers beyond 64 bits.
- Credentials inside recorded text are masked (``llmtrace.secrets.mask_text``) in every JSON
  writer and stderr line; ``reassemble`` masks only error objects and URLs, so the provider's
  content stays as recorded.
- stderr lines: one line, control/bidi/zero-width characters escaped, at most ``LINE_CHARS``
  characters of the message (the rest counted).
"""

from __future__ import annotations

import re
import sys
from contextlib import contextmanager
from typing import Any, BinaryIO, Iterable, Iterator

import orjson

PROG = "llmtrace"
# How much of one message a stderr line holds; the rest is counted, not written.
LINE_CHARS = 2000

# Masking policies of ``dumps``: every string, only URL strings (``reassemble``'s content), none.
MASK_ALL = "all"
MASK_URLS = "urls"
MASK_NONE = None

_OPTION = orjson.OPT_NON_STR_KEYS
# orjson's refusals the iterative encoder takes over (depth beyond 254, integers beyond 64 bits).
_ENCODER_LIMITS = ("Recursion limit", "64-bit")

# orjson's refusal of a string holding a lone surrogate: a file name whose bytes are not UTF-8
# (``os.fsdecode`` keeps each such byte as one), or a ``\\ud800`` escape a YAML cassette decoded.
_SURROGATES_REFUSED = "surrogates not allowed"
_SURROGATE = re.compile("[\ud800-\udfff]")

# The UTF-8 encodings of the characters escaped in JSON output. UTF-8 is self-synchronizing,
# so a match is always a whole character, and orjson only writes them raw inside strings.
_JSON_UNSAFE = re.compile(
    b"\x7f|\xc2[\x80-\x9f]|\xd8\x9c|\xe2\x80[\x8b-\x8f\xa8-\xae]|\xe2\x81[\xa0\xa6-\xa9]|\xef\xbb\xbf")
# Their first bytes: output without any of them (ASCII, most text) is passed at memchr speed.
_UNSAFE_LEADS = (b"\x7f", b"\xc2", b"\xd8", b"\xe2", b"\xef")
# A JSON string token (orjson's output: no raw control characters inside).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
# Everything up to the string token that holds a given position (match with endpos = that
# position): whole tokens and the structure between them.
_BEFORE = re.compile(rb'(?:[^"]+|"[^"\\]*(?:\\.[^"\\]*)*")*', re.S)
# A string that is a URL.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}://")


def dumps(value: Any, indent: bool = False, mask: str | None = MASK_ALL) -> bytes:
    """``value`` as JSON bytes (indented by two spaces or compact), escaped for terminals and
    with credentials masked by ``mask`` (``MASK_ALL``, ``MASK_URLS`` or ``MASK_NONE``)."""
    option = _OPTION | (orjson.OPT_INDENT_2 if indent else 0)
    try:
        out = orjson.dumps(value, option=option, default=_default)
    except orjson.JSONEncodeError as exc:
        if _SURROGATES_REFUSED in str(exc):
            return dumps(without_surrogates(value), indent, mask)
        if not any(limit in str(exc) for limit in _ENCODER_LIMITS):
            raise
        try:
            out = b"".join(encode(value, indent))
        except orjson.JSONEncodeError as again:  # past orjson's limits and a surrogate too
            if _SURROGATES_REFUSED not in str(again):
                raise
            out = b"".join(encode(without_surrogates(value), indent))
    if mask is not None:
        out = mask_json(out, urls_only=mask == MASK_URLS)
    return escape_json(out)


def without_surrogates(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (keys too) replaced by U+FFFD, as
    ``show`` draws an undecodable byte of a file name: JSON and Parquet hold only valid
    Unicode, and parsers (orjson, DuckDB, jq) refuse or replace such escapes anyway. Lists and
    dicts are rebuilt (tuples as lists, as JSON has them) without recursion: any depth."""
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(value, root, 0)]  # (source, target container, key or index)
    while stack:
        source, target, slot = stack.pop()
        if isinstance(source, str):
            target[slot] = _SURROGATE.sub("\ufffd", source)
        elif isinstance(source, dict):
            made: dict[Any, Any] = {}
            target[slot] = made
            for key, item in source.items():
                key = _SURROGATE.sub("\ufffd", key) if isinstance(key, str) else key
                made[key] = None
                stack.append((item, made, key))
        elif isinstance(source, (list, tuple)):
            items: list[Any] = [None] * len(source)
            target[slot] = items
            stack.extend((item, items, i) for i, item in enumerate(source))
        else:
            target[slot] = source
    return root[0]


def readable_json(value: Any) -> bytes:
    """JSON for a reader (``dumps``: escaped, masked): indented, or on one line when nested
    deeper than orjson indents (254 levels), where indentation would be most of it (1,000
    levels take a million spaces)."""
    try:
        out = orjson.dumps(value, option=_OPTION | orjson.OPT_INDENT_2, default=_default)
    except orjson.JSONEncodeError as exc:
        return dumps(value, indent="Recursion limit" not in str(exc))
    return escape_json(mask_json(out))


def escape_json(out: bytes) -> bytes:
    """JSON bytes with the characters that are unsafe on a terminal written as ``\\uXXXX``."""
    if out.isascii():  # the common case: of the unsafe characters only DEL is ASCII
        if out.find(b"\x7f") < 0:
            return out
    elif not any(lead in out for lead in _UNSAFE_LEADS) or _JSON_UNSAFE.search(out) is None:
        return out
    return _JSON_UNSAFE.sub(_escape_match, out)


def _escape_match(match: re.Match) -> bytes:
    return b"\\u%04x" % ord(match.group().decode())


def mask_json(out: bytes, urls_only: bool = False) -> bytes:
    """JSON bytes with credentials masked inside every string (keys too), or only inside the
    strings that are URLs (``urls_only``). Only the strings holding one of ``mask_text``'s own
    hints are decoded, masked and re-encoded; the scan to find them moves forward only, so the
    cost is linear, and output without a hint costs a few substring tests."""
    hints = _hints()
    if not _holds_hints(out):
        return out
    parts: list[bytes] = []
    done = 0  # written up to here
    pos = 0  # scanned up to here: outside any string
    for candidate in hints.finditer(out):
        at = candidate.start()
        if at < pos:
            continue
        start = _BEFORE.match(out, pos, at).end()
        token = _STRING.match(out, start) if start < at else None
        if token is None:  # not inside a string (JSON structure holds no candidate anyway)
            pos = start
            continue
        parts.append(out[done:start])
        parts.append(_mask_token(token, urls_only))
        done = pos = token.end()
    if not parts:
        return out
    parts.append(out[done:])
    return b"".join(parts)


# Output up to this size is searched for the hints as text (decoded: a copy); beyond it, as
# bytes, one substring test per hint (no copy, about four times the time).
_SEARCH_AS_TEXT = 1 << 20


def _holds_hints(out: bytes) -> bool:
    """Whether JSON bytes hold one of ``mask_text``'s hints (``secrets.HINTS``). Searched in the
    decoded text, by ``secrets``'s own searches: a few regex searches, each anchored on a
    character that several key prefixes share, and a test per name hint — a quarter of the time
    of a substring test per hint on the bytes (27 of them; each costs as much on a 400-byte scan
    row as on 40 KB). The hints are ASCII: text and bytes hold the same ones (a replacement
    character for a bad byte is no ASCII)."""
    if len(out) > _SEARCH_AS_TEXT:
        return any(hint in out for hint in _HINT_BYTES)
    from llmtrace import secrets

    return secrets.holds_hint(out.decode("utf-8", "replace"))


def _hints(kind: type = bytes) -> re.Pattern:
    """What every credential ``secrets.mask_text`` finds holds (the substrings of its own
    pre-check) as one regex, over text or over JSON bytes (the hints hold no character JSON
    escapes, so they appear in JSON as they are)."""
    pattern = _HINTS.get(kind)
    if pattern is None:
        from llmtrace import secrets

        hints = sorted(secrets.HINTS, key=len, reverse=True)
        _HINT_BYTES[:] = [hint.encode() for hint in hints]
        source = "|".join(re.escape(hint) for hint in hints)
        pattern = _HINTS[kind] = re.compile(source.encode() if kind is bytes else source)
    return pattern


_HINTS: dict[type, re.Pattern] = {}
_HINT_BYTES: list[bytes] = []


def _mask_token(token: re.Match, urls_only: bool) -> bytes:
    text = orjson.loads(token.group())
    if urls_only and not _URL.match(text):
        return token.group()
    masked = mask_text(text)
    return token.group() if masked == text else orjson.dumps(masked)


def mask_text(text: str) -> str:
    """Credentials in free text masked: ``llmtrace.secrets.mask_text``, imported when first
    needed (``--help`` never loads its patterns). Its own hints, as one regex, answer first for
    text without any (most text, often short: a timeline cell), ten times faster than it does."""
    if _hints(str).search(text) is None:
        return text
    from llmtrace.secrets import mask_text as mask

    return mask(text)


# A credential that a limit cuts is still recognised when the text masked reaches this far past it.
MASK_MARGIN = 1024


def masked(text: str, limit: int | None = None) -> str:
    """``text`` with credentials masked, only its first ``limit`` characters when given (masked
    before the cut, so a credential the cut splits is masked as a whole)."""
    if limit is None or len(text) <= limit:
        return mask_text(text)
    return mask_text(text[:limit + MASK_MARGIN])[:limit]


def encode(value: Any, indent: bool = False) -> Iterator[bytes]:
    """The JSON of ``value`` in pieces, exactly as ``orjson.dumps`` writes it with
    ``OPT_NON_STR_KEYS`` (and ``OPT_INDENT_2``), but without recursion: for values nested
    deeper than orjson goes, and integers beyond 64 bits (written exactly)."""
    colon = b": " if indent else b":"
    stack: list[list] = []  # per open container: [items iterator, is an object, first item]
    while True:
        container = _open(value)
        if container is None:
            yield _leaf(value)
        elif container[0]:
            yield b"{" if container[1] else b"["
            stack.append([container[0], container[1], True])
        else:
            yield b"{}" if container[1] else b"[]"
        while stack:
            frame = stack[-1]
            item = next(frame[0], _END)
            if item is _END:
                stack.pop()
                if indent:
                    yield b"\n" + b"  " * len(stack)
                yield b"}" if frame[1] else b"]"
                continue
            sep = b"" if frame[2] else b","
            frame[2] = False
            if indent:
                sep += b"\n" + b"  " * len(stack)
            if frame[1]:
                key, value = item
                yield sep + _key(key) + colon
            else:
                value = item
                if sep:
                    yield sep
            break
        else:
            return


_END = object()


def _open(value: Any) -> tuple[Any, bool] | None:
    """(an iterator over its items or None when empty, whether it is an object) for a JSON
    container; None for anything else."""
    if isinstance(value, dict):
        return (iter(value.items()) if value else None), True
    if isinstance(value, (list, tuple)):
        return (iter(value) if value else None), False
    return None


def _leaf(value: Any) -> bytes:
    if isinstance(value, int) and not isinstance(value, bool) and not -2**63 <= value < 2**64:
        return str(value).encode()
    try:
        return orjson.dumps(value, option=_OPTION, default=_default)
    except orjson.JSONEncodeError as exc:
        if not any(limit in str(exc) for limit in _ENCODER_LIMITS):
            raise
        return b"".join(encode(_default(value)))


def _key(key: Any) -> bytes:
    if isinstance(key, str):
        return orjson.dumps(key)
    if isinstance(key, int) and not isinstance(key, bool) and not -2**63 <= key < 2**64:
        return b'"%d"' % key
    return orjson.dumps({key: None}, option=_OPTION)[1:-len(b":null}")]


def _default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError


def stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


# Lines are gathered into writes of about this size: with ``PYTHONUNBUFFERED`` set (CI systems
# and containers often do), every ``write`` is a system call.
_WRITE_BLOCK = 1 << 20


def write_out(parts: Iterable[bytes]) -> None:
    """Each part on a line of its own, written as the parts come: short parts gathered into
    writes of about a mebibyte, a long one written as it is (never copied). The gathering is one
    buffer, not a list of the parts: thousands of small objects kept while a sweep allocates
    and frees each file's would pin memory the allocator could otherwise give back (scan
    --jsonl of the bench's 5,000 files peaked 16 MiB higher with a list)."""
    out = sys.stdout.buffer
    block = bytearray()
    for part in parts:
        if len(part) >= _WRITE_BLOCK:
            if block:
                out.write(block)
                block = bytearray()
            out.write(part)
            out.write(b"\n")
            continue
        block += part
        block += b"\n"
        if len(block) >= _WRITE_BLOCK:
            out.write(block)
            block = bytearray()  # a new buffer: the written one stays the writer's
    if block:
        out.write(block)
    out.flush()


def warn(message: str) -> None:
    sys.stderr.write(f"{PROG}: {one_line(message)}\n")
    sys.stderr.flush()


def one_line(text: str, limit: int = LINE_CHARS) -> str:
    """Keep stderr lines single, of a readable length, free of credentials and of control,
    bidi and zero-width characters from untrusted input (they are written escaped)."""
    shown = masked(text, limit)
    rest = len(text) - limit if len(text) > limit else 0
    if not shown.isprintable():
        shown = "".join(ch if ch.isprintable() else (" " if ch in "\n\r\t" else _escape_char(ch)) for ch in shown)
    return f"{shown}… ({rest:,} more characters)" if rest else shown


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if ch in _C_NAMES:
        return _C_NAMES[ch]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


_C_NAMES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\v": "\\v", "\x00": "\\x00"}


def temporary_file(folder: str, data: bytes, mode: int = 0o644) -> str:
    """``data`` in a new temporary file in ``folder`` (the same file system as its target),
    synced to disk; its path. Removed again if writing fails."""
    with _temporary(folder, mode) as (fh, tmp):
        fh.write(data)
    return tmp


def write_atomically(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` whole or not at all: into a temporary file in the same folder,
    synced, then renamed over ``path`` (a crash or Ctrl-C leaves the old file or none)."""
    with atomic_file(path, mode) as fh:
        fh.write(data)


@contextmanager
def atomic_file(path: str, mode: int = 0o644) -> Iterator[BinaryIO]:
    """A file to write ``path`` with, bit by bit, that appears there whole when the block ends
    (a temporary file in the same folder, synced, renamed over ``path``) and not at all if the
    block fails, is interrupted, or the process dies (the old file stays)."""
    import os

    with _temporary(os.path.dirname(os.path.abspath(path)) or ".", mode) as (fh, tmp):
        yield fh
    try:
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


@contextmanager
def _temporary(folder: str, mode: int) -> Iterator[tuple[BinaryIO, str]]:
    """A new temporary file in ``folder`` and its path, written in the block, then synced to
    disk and given ``mode``; removed again if the block or the syncing fails."""
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=".llmtrace-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh, tmp
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: str) -> None:
    import os

    try:
        os.unlink(path)
    except OSError:
        pass
