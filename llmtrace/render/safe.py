"""Recorded text is untrusted: show it literally, never interpret it.

Two helpers, for every renderer:

- ``safe_text(s, style=None, whitespace=False) -> Text``: a rich ``Text`` (never markup, so
  ``[red]`` or ``[link=…]`` stay literal) in which control and escape characters are replaced
  by visible escapes (``\\x1b``, ``\\r``, ``\\x9b``, ``\\u202e``) styled apart. Newlines and tabs
  are kept as layout unless ``whitespace`` asks for them to be made visible too.
- ``visible_ws(s) -> str``: spaces, newlines and tabs as ``·``, ``↵`` and ``→``, every other
  control character escaped: a plain string that is safe to put in a ``Text``.

Escaped: C0 controls (ESC, BEL, CR, backspace, …), DEL, C1 controls (U+0080–U+009F, among them
the 8-bit CSI and OSC), bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069,
U+200E, U+200F, U+061C) and the line/paragraph separators U+2028/U+2029.
"""

from __future__ import annotations

import re

from rich.text import Text

ESCAPE_STYLE = "bold magenta"
WHITESPACE_STYLE = "dim"

_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
_CONTROL = re.compile(f"[{_UNSAFE}]")
_CONTROL_OR_WS = re.compile(f"[{_UNSAFE}\t\n ]")
_NAMED = {"\r": "\\r", "\b": "\\b", "\f": "\\f", "\v": "\\v", "\x00": "\\0"}
_WHITESPACE = {" ": "·", "\n": "↵", "\t": "→"}


def escape_char(ch: str) -> str:
    """The visible escape of one unsafe character."""
    named = _NAMED.get(ch)
    if named:
        return named
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _visible(ch: str) -> str:
    return _WHITESPACE.get(ch) or escape_char(ch)


def visible_ws(s: str) -> str:
    """``s`` with whitespace shown (``·`` space, ``↵`` newline, ``→`` tab) and every other control
    character escaped."""
    return _CONTROL_OR_WS.sub(lambda m: _visible(m.group()), s)


def safe_text(s: str, style: str | None = None, whitespace: bool = False) -> Text:
    """A rich Text showing ``s`` literally: no markup, control characters as styled escapes."""
    pattern = _CONTROL_OR_WS if whitespace else _CONTROL
    text = Text(style=style or "")
    start = 0
    for match in pattern.finditer(s):
        if match.start() > start:
            text.append(s[start:match.start()])
        ch = match.group()
        text.append(_visible(ch), style=WHITESPACE_STYLE if ch in _WHITESPACE else ESCAPE_STYLE)
        start = match.end()
    if start < len(s):
        text.append(s[start:])
    return text
