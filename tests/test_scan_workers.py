"""``scan`` without ``-j``: the worker count follows the work (the files' sizes) and the cores
the machine's load leaves free; a few files are read in the process, no pool started."""

from __future__ import annotations

import pytest

from llmtrace.commands import scan
from llmtrace.commands.scan import default_workers

TYPICAL = 37 * 1024  # bytes: the test corpus's mean recording


@pytest.mark.parametrize("files, size, cores, load, expected", [
    (30, TYPICAL, 2, 0.0, 1),  # a few files: no pool
    (200, TYPICAL, 8, 0.0, 1),  # still less work than a pool costs
    (5000, TYPICAL, 2, 0.0, 2),  # a sweep on a quiet machine: every core
    (5000, TYPICAL, 8, 0.0, 8),
    (5000, TYPICAL, 8, 5.2, 3),  # the load takes five cores
    (5000, TYPICAL, 2, 11.6, 1),  # a busy machine: the workers would only queue
    (1200, TYPICAL, 64, 0.0, 2),  # no more workers than the work keeps busy
    (40, 50 * 2**20, 2, 0.0, 2),  # few files, but large ones
])
def test_default_workers(files, size, cores, load, expected):
    assert default_workers([size] * files, cores, load) == expected


def test_a_few_files_start_no_pool(tmp_path, monkeypatch):
    from conftest import SEED

    for i in range(scan._POOL_MIN_FILES + 6):
        (tmp_path / f"r{i:02d}.json").write_bytes(SEED.read_bytes())
    monkeypatch.setattr(scan, "_load", lambda: 0.0)
    monkeypatch.setattr(scan, "_in_workers", lambda *a: pytest.fail("a pool was started for a few files"))
    result = scan.scan([str(tmp_path)])
    assert len(result["results"]) == scan._POOL_MIN_FILES + 6 and not any(r["error"] for r in result["results"])
