"""Where a pool of workers starts to pay for ``llmtrace scan``: ``-j 1`` against ``-j N`` (N =
cores) on folders of growing size (copies of the test corpus), whole processes, medians of
interleaved runs. The default (no ``-j``) is measured beside them: it should follow the faster.

    python bench/bench_scan_workers.py [--runs 3] [--sizes 10,40,160,640,2560]

Prints, per folder size, the wall times and the ratio ``-j N`` / ``-j 1`` (below 1: the pool
wins); the crossover is where the ratio goes below 1. ``llmtrace.commands.scan`` picks the
worker count from the bytes to read with the figure found here.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_scan import build  # noqa: E402
from measure import compare, llmtrace_command  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="10,40,160,640,2560")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    cli = llmtrace_command()
    print(f"{cores} cores, {args.runs} runs each (wall, medians)\n")
    print(f"{'files':>6} {'MiB':>7} {'-j 1':>8} {f'-j {cores}':>8} {'default':>8} {'ratio':>6}")
    for count in map(int, args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="llmtrace-bench-workers-") as tmp:
            size = build(Path(tmp), count)
            medians = compare({
                "one": [*cli, "scan", "--jsonl", "-j", "1", tmp],
                "many": [*cli, "scan", "--jsonl", "-j", str(cores), tmp],
                "default": [*cli, "scan", "--jsonl", tmp],
            }, args.runs)
        one, many, default = (medians[k].wall for k in ("one", "many", "default"))
        print(f"{count:>6} {size / 2**20:>7.1f} {one:>8.2f} {many:>8.2f} {default:>8.2f} {many / one:>6.2f}")


if __name__ == "__main__":
    main()
