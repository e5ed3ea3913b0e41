"""A small Server-Sent Events decoder: lines in, events out.

Follows the WHATWG event-stream rules (``field: value``, one optional space after the colon,
``data`` lines joined with newlines, ``:`` comments, a blank line dispatches). A final event
that the input ends before dispatching is still yielded: recordings get cut off, and what
they hold should be shown.
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
    for n, line in enumerate(lines):
        if line.endswith("\n"):
            line = line[:-1]
        if line.endswith("\r"):
            line = line[:-1]
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
