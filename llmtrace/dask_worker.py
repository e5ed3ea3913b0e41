"""Preloaded in the workers of the Dask clusters ``scan --scheduler local`` starts (never in a
user's cluster): their cycle collector set as a sweep of thousands of files wants it, as
``scan``'s own worker processes have it (``commands.scan.sweep_collector``)."""

from __future__ import annotations

import gc


def dask_setup(worker) -> None:  # noqa: ARG001 - Dask's preload hook
    """Everything the worker made at its start left out of the collector's passes (they live as
    long as the worker), and a pass after 20,000 new objects instead of 700: in a worker's heap
    (Dask's own state) each pass costs more than in a plain process, and nearly everything a
    scanned file makes is freed by reference counting (a 1-worker cluster's scan: ~5% of its
    time, bench/bench_distributed.py)."""
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)
