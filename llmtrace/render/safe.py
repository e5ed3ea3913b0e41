"""Recorded text is untrusted: show it literally, never interpret it.

Helpers for every renderer:

- ``safe_text(s, style=None, whitespace=False, limit=None) -> Text``: a rich ``Text`` (never
  markup, so ``[red]`` or ``[link=…]`` stay literal) in which credentials are masked and control
  and escape characters are replaced by visible escapes (``\\x1b``, ``\\r``, ``\\x9b``,
  ``\\u202e``) styled apart. Newlines and tabs are kept as layout unless ``whitespace`` asks for
  them to be made visible too. ``limit`` keeps only the first characters.
- ``visible_ws(s) -> str``: spaces, newlines and tabs as ``·``, ``↵`` and ``→``, every other
  control character escaped, credentials masked: a plain string that is safe to put in a ``Text``.
- ``more(n) -> str``: the note's words for what a cut leaves out (``1,234 more characters``).

Escaped: C0 controls (ESC, BEL, CR, backspace, …), DEL, C1 controls (U+0080–U+009F, among them
the 8-bit CSI and OSC), bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069,
U+200E, U+200F, U+061C), the line/paragraph separators U+2028/U+2029 and the zero-width
characters that hide text (U+200B–U+200D, U+2060, U+FEFF).
"""

from __future__ import annotations

import re

from rich.text import Span, Text

from llmtrace.output import mask_text, masked

ESCAPE_STYLE = "bold magenta"
WHITESPACE_STYLE = "dim"

_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\u2028\u2029\ufeff"
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
    """``s`` with credentials masked, whitespace shown (``·`` space, ``↵`` newline, ``→`` tab)
    and every other control character escaped."""
    return _CONTROL_OR_WS.sub(lambda m: _visible(m.group()), mask_text(s))


def safe_text(s: str, style: str | None = None, whitespace: bool = False, limit: int | None = None) -> Text:
    """A rich Text showing ``s`` (its first ``limit`` characters) literally: no markup,
    credentials masked, control characters as styled escapes."""
    s = masked(s, limit)
    pattern = _CONTROL_OR_WS if whitespace else _CONTROL
    parts: list[str] = []
    spans: list[Span] = []
    start = length = 0
    for match in pattern.finditer(s):
        at = match.start()
        if at > start:
            parts.append(s[start:at])
            length += at - start
        ch = match.group()
        shown = _visible(ch)
        parts.append(shown)
        spans.append(Span(length, length + len(shown), WHITESPACE_STYLE if ch in _WHITESPACE else ESCAPE_STYLE))
        length += len(shown)
        start = match.end()
    if not spans:
        return Text(s, style=style or "")
    parts.append(s[start:])
    return Text("".join(parts), style=style or "", spans=spans)


def more(n: int) -> str:
    """How much of a cut text is left out: ``7,950,123 more characters``."""
    return f"{n:,} more character{'s' if n != 1 else ''}"
