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
