"""Writing results: JSON to stdout (compact when piped, indented on a terminal), one-line
messages to stderr. Nothing is written to stdout until a command has all of it."""

from __future__ import annotations

import sys
from typing import Any

import orjson

PROG = "llmtrace"


def dumps(value: Any, indent: bool = False) -> bytes:
    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    try:
        return orjson.dumps(value, option=option, default=_default)
    except orjson.JSONEncodeError as exc:
        if "64-bit" not in str(exc):
            raise
        return _dumps_exact(value, indent)


def _dumps_exact(value: Any, indent: bool) -> bytes:
    """The same JSON through the standard library, which writes integers beyond 64 bits (tool
    arguments may hold them) exactly, where orjson refuses them."""
    import json

    return json.dumps(value, default=_default, ensure_ascii=False, indent=2 if indent else None,
                      separators=(",", ": ") if indent else (",", ":")).encode()


def _default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
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


def write_out(parts: list[bytes]) -> None:
    out = sys.stdout.buffer
    for part in parts:
        out.write(part)
        out.write(b"\n")
    out.flush()


def warn(message: str) -> None:
    sys.stderr.write(f"{PROG}: {one_line(message)}\n")
    sys.stderr.flush()


def one_line(text: str) -> str:
    """Keep stderr lines single and free of control characters from untrusted input."""
    return "".join(ch if ch.isprintable() else (" " if ch in "\n\r\t" else repr(ch)[1:-1]) for ch in text)
