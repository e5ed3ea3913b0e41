"""llmtrace.render.diff: the pieces of the human diff output."""

from __future__ import annotations

from rich.text import Text

from llmtrace.compare import Difference
from llmtrace.render.diff import CONTEXT, difference, elide, indent, relative, word_diff

LONG = " ".join(f"w{i}" for i in range(3 * CONTEXT))


def test_elide_keeps_context_next_to_changes_only():
    assert elide("a few words", after_change=True, before_change=True) == "a few words"
    assert elide(LONG, after_change=True, before_change=True) == \
        " ".join(f"w{i}" for i in range(CONTEXT)) + " … " + " ".join(f"w{i}" for i in range(2 * CONTEXT, 3 * CONTEXT))
    assert elide(LONG, after_change=False, before_change=True).startswith(f"… w{2 * CONTEXT} ")
    assert elide(LONG, after_change=True, before_change=False).endswith(f" w{CONTEXT - 1} …")


def test_relative_change_of_numbers():
    assert relative(48, 96) == "+48, +100.0%"
    assert relative(0.5, 0.25) == "-0.25, -50.0%"
    assert relative(0, 3) == "+3"
    assert relative(True, 2) is None and relative("1", 2) is None


def test_indent_leaves_blank_lines_empty():
    assert indent(Text("a\n\nb"), 2).plain == "  a\n\n  b"


def test_markers_only_without_colour_and_whitespace_changes_made_visible():
    assert word_diff("a b", "a c", markers=True).plain == "a [-b-]{+c+}"
    assert word_diff("a b", "a c", markers=False).plain == "a bc"
    assert word_diff("a\tb", "a b", markers=True).plain == "a[-→-]{+·+}b"


def test_recorded_text_never_becomes_markup_or_escapes():
    d = Difference("choices[0].content", "changed", "[red]hi\x1b[0m", "[/]bye\x9b")
    head, body = difference(d, markers=True)
    assert "red]hi" in body.plain and "\\x1b" in body.plain and "\\x9b" in body.plain
    assert "\x1b" not in body.plain and "\x9b" not in body.plain
    head, body = difference(Difference("request.params.stop", "added", None, "[b]\x07"), markers=True)
    assert body is None and head.plain == '+ request.params.stop  "[b]\\u0007"'
