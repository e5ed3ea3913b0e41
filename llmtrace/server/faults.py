"""Stream faults on demand: the grammar of ``--fault`` and what each one does to a response.

``NAME[:key=value,...]``, repeatable; frames are counted from 0; a fault applies to every
matched request unless ``request=K`` names the K-th (0-based); ``after=random`` draws a frame
from the ``--seed``'s generator. The faults and their keys:

- ``stall:after=N,seconds=S`` — wait S seconds after frame N;
- ``cut:after=N`` — close the connection after frame N (no end of stream);
- ``duplicate:chunk=N`` — send frame N twice;
- ``split-utf8`` — write each frame in two pieces, the cut inside a multi-byte character where
  the frame has one (as TCP may deliver it);
- ``drop-done`` — drop the stream's end: the finishing frame and what follows it (``[DONE]``,
  ``message_stop``, Ollama's ``done`` line, Gemini's last chunk);
- ``error:status=CODE[,retry_after=S]`` — answer with the provider's error instead of the
  stream (429, 500, 503, 529, …), with a ``retry-after`` header (default 1);
- ``error-in-stream:after=N`` — the provider's error event after frame N, then the end;
- ``tool-call-as-text[:family=hermes]`` — the recorded structured tool calls written into the
  text as that family's markup instead.

A spec that names an unknown fault or key, or a value of the wrong kind, is a usage error.
"""

from __future__ import annotations

import random
from typing import NamedTuple

KEYS = {
    "stall": {"after": "frame", "seconds": "float"},
    "cut": {"after": "frame"},
    "duplicate": {"chunk": "frame"},
    "split-utf8": {},
    "drop-done": {},
    "error": {"status": "int", "retry_after": "float"},
    "error-in-stream": {"after": "frame"},
    "tool-call-as-text": {"family": "family"},
}
REQUIRED = {"stall": ("after", "seconds"), "cut": ("after",), "duplicate": ("chunk",), "error": ("status",),
            "error-in-stream": ("after",)}
FAMILIES = ("hermes", "mistral", "llama-json")


class Fault(NamedTuple):
    name: str
    values: dict  # key → int, float, str, or "random" for a frame drawn per request
    request: int | None  # only the K-th matched request (0-based), else every one
    spec: str


class FaultError(ValueError):
    """A ``--fault`` spec that cannot be read (the CLI exits 2 with it)."""


MAX_SECONDS = 86_400.0  # a day: any longer stall or retry-after is a typo


def parse(spec: str) -> Fault:
    name, _, rest = spec.partition(":")
    if name not in KEYS:
        raise FaultError(f"--fault {spec!r}: unknown fault {name!r} (known: {', '.join(KEYS)})")
    values: dict = {}
    request = None
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise FaultError(f"--fault {spec!r}: {item!r} should be key=value")
        if key == "request":
            request = _int(spec, key, value)
            continue
        kind = KEYS[name].get(key)
        if kind is None:
            known = ", ".join([*KEYS[name], "request"])
            raise FaultError(f"--fault {spec!r}: {name} takes no key {key!r} (known: {known})")
        if kind == "frame":
            values[key] = "random" if value == "random" else _int(spec, key, value)
        elif kind == "int":
            values[key] = _int(spec, key, value)
        elif kind == "float":
            try:
                values[key] = float(value)
            except ValueError:
                raise FaultError(f"--fault {spec!r}: {key} should be a number of seconds") from None
            if values[key] < 0:
                raise FaultError(f"--fault {spec!r}: {key} cannot be negative")
            if not values[key] <= MAX_SECONDS:  # nan, inf and 1e400 (inf) too
                raise FaultError(f"--fault {spec!r}: {key} should be a finite number of seconds, "
                                 f"at most {MAX_SECONDS:g}")
        elif kind == "family":
            if value not in FAMILIES:
                raise FaultError(f"--fault {spec!r}: family should be one of {', '.join(FAMILIES)}")
            values[key] = value
    missing = [k for k in REQUIRED.get(name, ()) if k not in values]
    if missing:
        raise FaultError(f"--fault {spec!r}: {name} needs {', '.join(k + '=' for k in missing)}")
    if name == "error" and not 400 <= values["status"] <= 599:
        raise FaultError(f"--fault {spec!r}: status should be an HTTP error status (400-599)")
    return Fault(name, values, request, spec)


def _int(spec: str, key: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise FaultError(f"--fault {spec!r}: {key} should be a whole number") from None
    if number < 0:
        raise FaultError(f"--fault {spec!r}: {key} cannot be negative")
    return number


class Plan(NamedTuple):
    """What the faults do to one response."""

    error: Fault | None = None
    stall: dict[int, float] = {}  # frame → seconds to wait after it
    cut_after: int | None = None
    duplicate: frozenset[int] = frozenset()
    split_utf8: bool = False
    drop_done: bool = False
    error_after: int | None = None
    tool_text: str | None = None
    applied: tuple[str, ...] = ()


def plan(faults: list[Fault], request_number: int, frames: int, rng: random.Random) -> Plan:
    """The plan for the ``request_number``-th matched request (0-based), whose stream has
    ``frames`` frames; ``after=random`` draws from ``rng``."""
    error = None
    stall: dict[int, float] = {}
    cut = None
    duplicate: set[int] = set()
    split = drop = False
    error_after = None
    tool_text = None
    applied = []
    for fault in faults:
        if fault.request is not None and fault.request != request_number:
            continue
        v = dict(fault.values)
        for key in ("after", "chunk"):
            if v.get(key) == "random":
                v[key] = rng.randrange(frames) if frames else 0
        applied.append(fault.name + (f"@{v.get('after', v.get('chunk'))}" if ("after" in v or "chunk" in v) else ""))
        if fault.name == "error":
            error = fault._replace(values=v)
        elif fault.name == "stall":
            stall[v["after"]] = stall.get(v["after"], 0.0) + v["seconds"]
        elif fault.name == "cut":
            cut = v["after"] if cut is None else min(cut, v["after"])
        elif fault.name == "duplicate":
            duplicate.add(v["chunk"])
        elif fault.name == "split-utf8":
            split = True
        elif fault.name == "drop-done":
            drop = True
        elif fault.name == "error-in-stream":
            error_after = v["after"]
        elif fault.name == "tool-call-as-text":
            tool_text = v.get("family", "hermes")
    return Plan(error, stall, cut, frozenset(duplicate), split, drop, error_after, tool_text, tuple(applied))


def split_utf8(frame: bytes) -> list[bytes]:
    """``frame`` in two pieces, cut inside its first multi-byte UTF-8 character (after the
    character's lead byte); one piece when it has none."""
    for i, byte in enumerate(frame):
        if byte >= 0xC0:
            return [frame[:i + 1], frame[i + 1:]]
    return [frame]
