"""The outputs in examples/output (shown in the README) are what llmtrace really prints."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
from generate import EXAMPLES, OUT, run  # noqa: E402


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_output_is_current(name):
    stored = (OUT / name).read_text()
    assert run(EXAMPLES[name]) == stored, f"examples/output/{name} is stale: run examples/generate.py"
