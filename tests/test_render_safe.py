"""llmtrace.render.safe: untrusted recorded text is shown literally — markup stays text, control
and escape characters become visible escapes."""

from __future__ import annotations

import io
import re

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from rich.table import Table

from llmtrace.render.safe import safe_text, visible_ws

UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\u2028\u2029"
                    "\ufeff]")
SGR = re.compile("\x1b\\[[0-9;]*m")
HOSTILE = ("[red]alarm[/red] [link=https://evil.example]click[/link] :skull: "
           "\x1b[31mred\x1b[0m \x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\ "
           "\rover\x07bell\x08\x9b31m\x9d8;;x\x9c \u202eevil\u202c \u2066iso\u2069 \x00\x7f"
           " zero\u200bwidth\u200c\u200d\u2060\ufeff")


def render(renderable, color: bool = False, width: int = 80) -> str:
    console = Console(file=io.StringIO(), width=width, force_terminal=color, color_system="truecolor" if color else None,
                      highlight=False)
    console.print(renderable)
    return console.file.getvalue()


def test_visible_whitespace():
    assert visible_ws("a b\nc\td") == "a·b↵c→d"
    assert visible_ws("\r\n") == "\\r↵"
    assert visible_ws("\x1b[1m") == "\\x1b[1m"
    assert visible_ws("\u202e") == "\\u202e"
    assert visible_ws("plain") == "plain"


def test_safe_text_escapes_controls_and_keeps_layout():
    text = safe_text("a\x1b[31mb\nc\td\r\x9b\u202e", style="bold")
    assert text.plain == "a\\x1b[31mb\nc\td\\r\\x9b\\u202e"
    assert text.style == "bold"
    escaped = [text.plain[span.start:span.end] for span in text.spans]
    assert escaped == ["\\x1b", "\\r", "\\x9b", "\\u202e"]


def test_safe_text_can_show_whitespace():
    assert safe_text("a b\n\x1b", whitespace=True).plain == "a·b↵\\x1b"


def test_markup_and_escapes_render_literally():
    for color in (False, True):
        out = render(safe_text(HOSTILE), color=color, width=400)
        for raw in ("\x1b[31mred", "\x1b]8;;", "\x1b\\", "\r", "\x07", "\x08", "\x9b", "\x9d", "\u202e",
                    "\u2066", "\x00", "\x7f", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"):
            assert raw not in out
        # With colour on, the only escape sequences left are rich's own styles (SGR).
        plain = SGR.sub("", out)
        assert "\x1b" not in plain
        assert "[red]alarm[/red]" in plain and "[link=https://evil.example]click[/link]" in plain
        assert ":skull:" in plain
        assert "\\x1b[31mred" in plain and "\\u202eevil" in plain and "\\x9b31m" in plain
        assert "zero\\u200bwidth\\u200c\\u200d\\u2060\\ufeff" in plain
        assert (out == plain) is (not color)


def test_inside_a_table_cell_too():
    table = Table()
    table.add_column("x")
    table.add_row(safe_text(HOSTILE, whitespace=True))
    out = render(table, width=60)
    assert "\x1b" not in out and "\u202e" not in out
    assert "[red]alarm[/red]" in out.replace("\n", "").replace("│", "").replace(" ", "")


@given(st.text())
def test_nothing_unsafe_survives(s):
    for whitespace in (False, True):
        plain = safe_text(s, whitespace=whitespace).plain
        assert not UNSAFE.search(plain)
    assert not UNSAFE.search(visible_ws(s))
    assert not re.search("[\n\t ]", visible_ws(s))


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Zl", "Zp"))))
def test_ordinary_text_is_unchanged(s):
    assert safe_text(s).plain == s


def test_zero_width_characters_are_escaped():
    assert safe_text("a\u200bb\ufeff").plain == "a\\u200bb\\ufeff"
    assert visible_ws("a\u2060 b") == "a\\u2060·b"


def openai_key() -> str:
    return "sk-" + "proj-" + "A1b2" * 10


def test_credentials_are_masked():
    key = openai_key()
    assert safe_text(f"my key {key} ok").plain == "my key sk-proj-*** ok"
    assert key not in visible_ws(f"key {key}")
    assert safe_text(f"Authorization: Bearer {key}\x1b").plain == "Authorization: Bearer sk-proj-***\\x1b"


def test_limit_cuts_after_masking():
    key = openai_key()
    text = "x" * 10 + " " + key + " tail"
    assert safe_text(text, limit=20).plain == ("x" * 10 + " sk-proj-***")[:20]
    assert safe_text("a\x1bbc", limit=2).plain == "a\\x1b"
    assert safe_text("abc", limit=10).plain == "abc"


@given(st.text(), st.booleans())
def test_spans_cover_exactly_the_escapes(s, whitespace):
    text = safe_text(s, style="bold", whitespace=whitespace)
    assert text.style == "bold"
    for span in text.spans:
        piece = text.plain[span.start:span.end]
        assert piece in ("·", "↵", "→") or piece.startswith("\\")
