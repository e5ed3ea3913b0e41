"""``llmtrace report`` against the commands that read the same data:

- a folder of 500 recordings (copies of the test corpus): ``report DIR`` vs ``scan --jsonl DIR``
  (goal: report <= 2x scan), and the page's size per recording;
- one 100,000-chunk recording (bench_reassemble.py's input): ``report FILE`` vs
  ``show --json FILE`` (goal: report <= 3x); the chart is drawn from a subset above
  ``MAX_POINTS`` points while the table keeps every chunk.

Usage: python bench/bench_report.py [--files 500] [--chunks 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_reassemble import SEED, build_recording  # noqa: E402
from bench_scan import build  # noqa: E402
from measure import compare, llmtrace_command, report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cli = llmtrace_command()
    with tempfile.TemporaryDirectory(prefix="llmtrace-bench-report-") as tmp:
        root = Path(tmp)
        folder = root / "folder"
        folder.mkdir()
        size = build(folder, args.files)
        page = root / "folder.html"
        print(f"\n{args.files} recordings ({size / 2**20:.1f} MiB)")
        medians = compare({"scan --jsonl": [*cli, "scan", "--jsonl", "-j", "1", str(folder)],
                           "report": [*cli, "report", str(folder), "-o", str(page)]}, args.runs)
        report(medians, "scan --jsonl", (2.0, None))
        print(f"page: {page.stat().st_size / 2**20:.2f} MiB, {page.stat().st_size / args.files / 1024:.1f} KiB "
              f"per recording")

        big = root / "big.json"
        build_recording(SEED, args.chunks, big)
        page = root / "big.html"
        print(f"\none recording of {args.chunks:,} chunks ({big.stat().st_size / 2**20:.1f} MiB)")
        medians = compare({"show --json": [*cli, "show", "--json", str(big)],
                           "report": [*cli, "report", str(big), "-o", str(page)]}, args.runs)
        report(medians, "show --json", (3.0, None))
        print(f"page: {page.stat().st_size / 2**20:.2f} MiB")


if __name__ == "__main__":
    main()
