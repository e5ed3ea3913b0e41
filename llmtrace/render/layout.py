"""Layout shared by the renderers."""

from __future__ import annotations

from rich.table import Table


def grid(key_style: str = "bold", padding: int = 2) -> Table:
    """Two columns, keys and values: keys never wrap, values take the rest of the width and
    fold anywhere (recorded text may have no spaces at all)."""
    table = Table.grid(padding=(0, padding), expand=True)
    table.add_column(style=key_style, no_wrap=True)
    table.add_column(overflow="fold", ratio=1)
    return table
