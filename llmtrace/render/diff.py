"""Human output of ``llmtrace diff``: the two files, then per exchange pair the differences
grouped by section (request, choices, usage, anomalies, response), text as a word diff, JSON
values leaf by leaf, numbers with their absolute and relative change, and the summary line.

Removed words are struck out in red, added ones underlined in green; without colour (NO_COLOR,
or output that is not a terminal) they are also wrapped in ``[-…-]`` and ``{+…+}`` so the diff
stays readable. Recorded text only ever goes through ``safe_text``.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from llmtrace import compare
from llmtrace.model import Recording
from llmtrace.output import dumps
from llmtrace.render.safe import safe_text

# Words of unchanged text kept on each side of a change in a word diff.
CONTEXT = 10
# Longest inline rendering of a whole value.
PREVIEW = 240
# Fields always shown as a word diff, whatever their length.
TEXT_FIELDS = ("content", "reasoning", "refusal")
SIGNS = {compare.ADDED: ("+", "green"), compare.REMOVED: ("-", "red"), compare.CHANGED: ("~", "yellow")}


def print_diff(ra: Recording, rb: Recording, pairs: list[compare.Pair], strict: bool, console=None) -> None:
    """The differences as ``llmtrace diff`` prints them, on ``console`` (default: stdout)."""
    console = console or Console(highlight=False, soft_wrap=True)
    markers = console.no_color or console.color_system is None
    for sign, style, rec in (("---", "red", ra), ("+++", "green", rb)):
        line = Text()
        line.append(f"{sign} ", style=style)
        line.append_text(safe_text(rec.source, style="bold"))
        kinds = sorted({f"{rec.container}, {ex.dialect}" for ex in rec.exchanges})
        chunks = sum(ex.result.timeline.chunks for ex in rec.exchanges if ex.result)
        line.append(f"  ({'; '.join(kinds)}; {chunks} chunk{'' if chunks == 1 else 's'})", style="dim")
        console.print(line)
    several = len(ra.exchanges) > 1 or len(rb.exchanges) > 1
    for pair in pairs:
        if not pair.differences:
            continue
        if several:
            console.print()
            console.print(Text(_pair_title(pair), style="bold underline"))
        section = None
        for d in pair.differences:
            name = compare.section(d.path)
            if name != section and name != "exchanges":  # an unpaired exchange: its title says it all
                section = name
                title = Text(name, style="bold")
                if name == "response" and not strict:
                    title.append("  (shown; differences only with --strict)", style="dim")
                console.print(title)
            head, body = difference(d, markers)
            console.print(indent(head, 2))
            if body is not None:
                console.print(indent(body, 6))
    console.print()
    console.print(safe_text(compare.stat_line([d for p in pairs for d in p.differences if d.counts]), style="bold"))


def _pair_title(pair: compare.Pair) -> str:
    if pair.b is None:
        return f"exchange {pair.a} (only in A)"
    if pair.a is None:
        return f"exchange {pair.b} (only in B)"
    return f"exchange {pair.a}" if pair.a == pair.b else f"exchange {pair.a} (A) ↔ {pair.b} (B)"


def difference(d: compare.Difference, markers: bool) -> tuple[Text, Text | None]:
    """A head line (sign, path, short values) and an optional body (word or JSON diff)."""
    sign, style = SIGNS[d.change]
    head = Text()
    head.append(f"{sign} ", style=style)
    head.append_text(safe_text(compare.local_path(d.path), style="cyan"))
    head.append("  ")
    body = None
    name = compare.section(d.path)
    if name == "anomalies":
        anomaly = d.a if d.b is None else d.b
        head.append(f"{anomaly.get('severity')} ", style="dim" if anomaly.get("severity") == "info" else "")
        head.append_text(safe_text(str(anomaly.get("code")), style="bold"))
        head.append(": ")
        head.append_text(safe_text(str(anomaly.get("message") or "")))
    elif name == "exchanges":
        head.append_text(safe_text(_exchange_preview(d.a if d.b is None else d.b)))
    elif name == "request" and compare.field(d.path) == "tools":
        tool = d.a if d.b is None else d.b
        head.append_text(safe_text(str(tool.get("name")), style="bold"))
        if d.change == compare.CHANGED:
            body = json_diff(d.a, d.b)
    elif isinstance(d.a, str) and isinstance(d.b, str) and _is_text(d):
        body = word_diff(d.a, d.b, markers)
    elif d.change == compare.CHANGED and isinstance(d.a, (dict, list)) and isinstance(d.b, (dict, list)):
        body = json_diff(d.a, d.b)
    else:
        head.append_text(values(d, numbers=name in ("usage", "response")
                                and compare.field(d.path) not in compare.VOLATILE))
    head.rstrip()
    if not d.counts and name != "response":
        head.append("  (not counted without --strict)", style="dim")
    return head, body


def _is_text(d: compare.Difference) -> bool:
    try:
        name = compare.parse_path(d.path)[-1]
    except ValueError:
        name = None
    return name in TEXT_FIELDS or "\n" in d.a or "\n" in d.b or len(d.a) + len(d.b) > 80


def values(d: compare.Difference, numbers: bool = False) -> Text:
    """``a → b`` as compact JSON, with the change of numbers when ``numbers`` (usage and
    response fields)."""
    out = Text()
    if d.a is not None:
        out.append_text(safe_text(_preview(d.a), style="red" if d.b is None else ""))
    if d.change == compare.CHANGED:
        out.append(" → ", style="dim")
    if d.b is not None:
        out.append_text(safe_text(_preview(d.b), style="green" if d.a is None else ""))
    if numbers:
        change = relative(d.a, d.b)
        if change:
            out.append(f"  ({change})", style="dim")
    return out


def json_diff(a: Any, b: Any) -> Text:
    """Two JSON values leaf by leaf: ``path  a → b``, the path relative to the values (its keys
    recorded text, shown safely like every other)."""
    lines = Text()
    for i, d in enumerate(compare.value_diff(a, b)):
        if i:
            lines.append("\n")
        sign, style = SIGNS[d.change]
        lines.append(f"{sign} ", style=style)
        lines.append_text(safe_text(d.path or "(value)", style=style))
        lines.append("  ")
        lines.append_text(values(d))
    return lines


def word_diff(a: str, b: str, markers: bool) -> Text:
    segments = compare.word_diff(a, b)
    out = Text()
    last = len(segments) - 1
    for i, (op, text) in enumerate(segments):
        if op == "=":
            out.append_text(safe_text(elide(text, after_change=i > 0, before_change=i < last)))
            continue
        removed = op == "-"
        piece = safe_text(text, style="bold red strike" if removed else "bold green underline",
                          whitespace=not text.strip())
        if markers:
            out.append("[-" if removed else "{+")
            out.append_text(piece)
            out.append("-]" if removed else "+}")
        else:
            out.append_text(piece)
    return out


def elide(text: str, after_change: bool, before_change: bool) -> str:
    """Unchanged text shortened to CONTEXT words on each side that touches a change."""
    tokens = compare.words(text)
    head = "".join(tokens[:CONTEXT]).rstrip() if after_change else ""
    tail = "".join(tokens[-CONTEXT:]).lstrip() if before_change else ""
    if len(tokens) <= (CONTEXT if after_change else 0) + (CONTEXT if before_change else 0) + 1:
        return text
    if head and tail:
        return f"{head} … {tail}"
    return f"{head} …" if head else f"… {tail}"


def indent(text: Text, width: int) -> Text:
    """``text`` with every non-empty line indented (rich's Padding would pad lines to the
    console width)."""
    pad = " " * width
    return Text("\n").join(Text(pad) + line if line.plain else line for line in text.split("\n", allow_blank=True))


def _preview(value: Any) -> str:
    text = dumps(value).decode()
    return text if len(text) <= PREVIEW else text[:PREVIEW - 1] + "…"


def relative(a: Any, b: Any) -> str | None:
    """``+120, +100.0%`` for two numbers; None for anything else."""
    numbers = (int, float)
    if not isinstance(a, numbers) or not isinstance(b, numbers) or isinstance(a, bool) or isinstance(b, bool):
        return None
    delta = b - a
    text = f"{delta:+}" if isinstance(delta, int) else f"{delta:+.6g}"
    try:
        return f"{text}, {delta / a:+.1%}" if a else text
    except OverflowError:  # integers beyond a float's range: no ratio
        return text


def _exchange_preview(doc: dict) -> str:
    request = doc["request"]
    messages = request.get("messages") or []
    last = messages[-1]["content"] if messages else ""
    return f"{request.get('model') or request.get('endpoint')}: {len(messages)} message(s), last {_preview(last)}"
