"""A small Server-Sent Events decoder: lines in, events out.

Follows the WHATWG event-stream rules (``field: value``, one optional space after the colon,
``data`` lines joined with newlines, ``:`` comments, a blank line dispatches). A final event
that the input ends before dispatching is still yielded: recordings get cut off, and what
they hold should be shown.

Lines end with CRLF, LF or a lone CR, mixed freely (WHATWG: ``end-of-line = ( cr lf / cr /
lf )``). The lines given may come split on LF only (with or without the LF kept), so a CR
still inside one ends a line there; a CR at the end of one is its terminator (the CR of a CRLF,
or a lone CR before the LF split or the end of the input).
"""

from __future__ import annotations

from typing import Iterable, Iterator, NamedTuple


class Event(NamedTuple):
    event: str
    data: str
    id: str | None
    line: int  # 0-based number of the line the event's first field was on


def iter_events(lines: Iterable[str]) -> Iterator[Event]:
    event = ""
    data: list[str] = []
    last_id: str | None = None
    start = -1
    n = -1
    for line in _cr_split(lines):
        n += 1
        if not line:
            if data:
                yield Event(event or "message", "\n".join(data), last_id, start)
            event, data, start = "", [], -1
            continue
        if line[0] == ":":
            continue
        if start < 0:
            start = n
        name, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            if "\0" not in value:
                last_id = value
        # "retry" and unknown fields are ignored, as the spec says.
    if data:
        yield Event(event or "message", "\n".join(data), last_id, start)


def _cr_split(lines: Iterable[str]) -> Iterator[str]:
    """The lines of ``lines`` with their terminators removed and a lone CR inside one taken as
    a line end too; each character is looked at a bounded number of times."""
    for line in lines:
        if line[-1:] == "\n":
            line = line[:-1]
        if line[-1:] == "\r":
            line = line[:-1]
        if "\r" not in line:
            yield line
            continue
        start = 0
        find = line.find
        while True:
            end = find("\r", start)
            if end < 0:
                yield line[start:]
                break
            yield line[start:end]
            start = end + 1


def event_line(name: object) -> bytes:
    """The ``event: NAME`` line a server writes before an event's ``data:``; nothing when the
    name is no text or holds a line end (CR, LF) or NUL: a recorded value must never frame the
    stream (a CR would end the line early and make the rest a field of its own)."""
    if not isinstance(name, str) or not name or any(c in name for c in "\r\n\0"):
        return b""
    return b"event: " + name.encode("utf-8", "surrogatepass") + b"\n"


def data_lines(text: str) -> bytes:
    """``text`` as ``data:`` lines, one per line of it (any line end: CR, LF or CRLF, which the
    client reads back joined by LF, as SSE defines)."""
    import re

    return b"".join(b"data: " + line.encode("utf-8", "surrogatepass") + b"\n"
                    for line in re.split(r"\r\n|\r|\n", text))
