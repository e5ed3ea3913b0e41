"""HTML reports: one self-contained page for a recording, a folder of them, or a diff of two.

The page is drawn from the same view data as ``show`` (``llmtrace.view``); this package only
turns it into HTML. Jinja2 renders the template with autoescape on, and every recorded string
is first masked (credentials) and made visible (control, bidi and zero-width characters shown
as escapes) by ``clean``, so recorded text is text — never markup, never script. The page
carries a Content-Security-Policy that allows only its own inline script (by hash) and styles
and no fetch of any kind, and it references nothing outside itself. The same input gives the
same bytes: no clock, no random ids (ids are positions).

Imported only by ``llmtrace report``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from llmtrace.render import chart

TABLE_HEAD = 200  # chunk rows shown before the rest are folded away
TEXT_LIMIT = 200_000  # characters of one text shown in full; the rest is cut with a note

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069"
                     "\u2028\u2029\ufeff]")
_NAMED = {"\r": "\\r", "\b": "\\b", "\f": "\\f", "\v": "\\v", "\x00": "\\0"}


def visible(text: str) -> str:
    """Control, bidi and zero-width characters as visible escapes (``\\x1b``, ``\\u202e``)."""
    return _UNSAFE.sub(lambda m: _NAMED.get(m.group()) or (f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                                                           else f"\\u{ord(m.group()):04x}"), text)


def clean(text: Any) -> str:
    """Recorded text as the page shows it: credentials masked, invisible characters visible."""
    from llmtrace.secrets import mask_text

    if not isinstance(text, str):
        text = pretty(text, indent=False)
    return visible(mask_text(text))


def pretty(value: Any, indent: bool = True) -> str:
    from llmtrace.output import dumps

    return dumps(value, indent=indent).decode()


class Segment(NamedTuple):
    text: str
    findings: tuple[str, ...]  # anchor ids of the findings whose span covers this text
    severity: str | None  # the most severe of them


def segments(text: str, marks: list[tuple[int, int, str, str]]) -> list[Segment]:
    """``text`` cut at every finding's span (``(start, end, anchor, severity)``) into pieces,
    each cleaned on its own and tagged with the findings that cover it. Credentials are masked
    over the whole text first, so a span boundary cannot split one."""
    from llmtrace.secrets import find_secrets, mask_of

    secrets = find_secrets(text)
    cuts = {0, len(text)}
    for start, end, _, _ in marks:
        cuts.update((max(0, min(start, len(text))), max(0, min(end, len(text)))))
    for found in secrets:
        cuts.update((found.start, found.end))
    bounds = sorted(cuts)
    rank = {"info": 0, "warning": 1, "error": 2}
    out: list[Segment] = []
    for a, b in zip(bounds, bounds[1:]):
        if a == b:
            continue
        secret = next((f for f in secrets if f.start <= a and b <= f.end), None)
        piece = (mask_of(text[secret.start:secret.end]) if secret.start == a else "") if secret else visible(text[a:b])
        covering = [(anchor, sev) for start, end, anchor, sev in marks if start <= a and b <= end and start < end]
        severity = max((sev for _, sev in covering), key=rank.get, default=None)
        out.append(Segment(piece, tuple(anchor for anchor, _ in covering), severity))
    return out


@lru_cache(maxsize=None)
def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["clean"] = clean
    env.filters["pretty"] = lambda value: clean(pretty(value))
    env.filters["seconds"] = seconds
    env.filters["number"] = lambda n: "—" if n is None else f"{n:,}"
    return env


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}".rstrip("0").rstrip(".") + " s" if value else "0 s"


SCRIPT = (Path(__file__).parent / "templates" / "page.js").read_text(encoding="utf-8")
SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()


def page(title: str, body: dict[str, Any]) -> str:
    """The whole HTML document around one of the bodies the views build."""
    from markupsafe import Markup

    return _environment().get_template("page.html.j2").render(
        title=title, script=Markup(SCRIPT), script_hash=SCRIPT_HASH, **body)


def json_attr(value: Any) -> str:
    return orjson.dumps(value).decode()


def chart_svg(series: list[chart.Series], axis: chart.Axis, title: str) -> Any:
    from markupsafe import Markup

    return Markup(chart.svg(series, axis, title=title, show=clean))
