"""Layout shared by the renderers."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.table import Table
from rich.text import Text


def grid(key_style: str = "bold", padding: int = 2) -> Table:
    """Two columns, keys and values: keys never wrap, values take the rest of the width and
    fold anywhere (recorded text may have no spaces at all)."""
    table = Table.grid(padding=(0, padding), expand=True)
    table.add_column(style=key_style, no_wrap=True)
    table.add_column(overflow="fold", ratio=1)
    return table


class Wrapped:
    """A long ``Text`` rendered line by line, in time linear in its length.

    Rich renders a ``Text`` by wrapping it, joining the lines into one segment and splitting
    that segment again at every newline — copying the rest of it each time, quadratic in the
    number of lines (seconds for a few megabytes). Yielding each wrapped line's own segments
    gives the same output without the copies."""

    def __init__(self, text: Text):
        self.text = text

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.text)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        text = self.text
        lines = text.wrap(console, options.max_width, justify=text.justify or options.justify or "default",
                          overflow=text.overflow or options.overflow or "fold",
                          tab_size=(console.tab_size if text.tab_size is None else text.tab_size) or 8,
                          no_wrap=text.no_wrap if text.no_wrap is not None else options.no_wrap or False)
        new_line = Segment.line()
        last = len(lines) - 1
        for i, line in enumerate(lines):
            # Joined alone, a line's own style becomes a span, as in rich's joined text.
            yield from Text().join([line]).render(console)
            if i < last:
                yield new_line
        if text.end:
            yield Segment(text.end)


class OneLine:
    """A ``Text`` that is never broken across lines (a path to copy): when it is wider than the
    room, its middle gives way to "…", keeping its start and, longer, its end (the file name);
    ``suffix`` follows it whole when there is room for both."""

    def __init__(self, text: Text, suffix: Text | None = None):
        self.text = text
        self.suffix = suffix or Text()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(1, self.text.cell_len + self.suffix.cell_len)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        text, suffix = self.text, self.suffix
        if text.cell_len + suffix.cell_len > width and width - suffix.cell_len < 20:
            suffix = Text()
        if text.cell_len + suffix.cell_len > width:
            text = middle_ellipsis(text, width - suffix.cell_len)
        line = Text.assemble(text, suffix, no_wrap=True, overflow="ellipsis", end="")
        yield from line.render(console)
        yield Segment.line()


def middle_ellipsis(text: Text, width: int) -> Text:
    """``text`` in ``width`` cells: its first third and its last two thirds around "…"."""
    if width <= 1:
        return Text("…")
    keep = width - 1
    head = keep // 3
    tail = keep - head
    n = len(text)
    cut = Text.assemble(text[:head], "…", text[n - tail:] if tail else Text())
    while cut.cell_len > width and tail > 0:  # wide characters take two cells
        tail -= 1
        cut = Text.assemble(text[:head], "…", text[n - tail:] if tail else Text())
    return cut
