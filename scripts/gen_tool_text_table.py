"""Rewrite README's table of tool-call markup families from llmtrace/anomalies/tool_text/families.py.

    .venv/bin/python scripts/gen_tool_text_table.py

The table is the block that starts with the line ``| family | what it looks like |`` and ends at
the first blank line after it; tests/test_tool_text_families.py fails when they differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from llmtrace.anomalies.tool_text.families import markdown_table  # noqa: E402

HEADER = "| family | what it looks like |"


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    start = text.index(HEADER)
    end = text.index("\n\n", start) + 1
    readme.write_text(text[:start] + markdown_table() + text[end:], encoding="utf-8")


if __name__ == "__main__":
    main()
