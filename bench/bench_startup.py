"""CLI start-up: ``llmtrace --help`` and ``llmtrace reassemble <small file>`` against a bare
interpreter importing the runtime dependencies, as whole processes (medians of interleaved runs).

    python bench/bench_startup.py [--runs N] [--file FILE]

Goal: at most 1.5x the wall time of the baseline.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from measure import compare, llmtrace_command, report

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "tests" / "data" / "corpus" / "seed" / "000_a2136f253c2c20b7.json"
BASELINE = "import typer, rich.console, pydantic, orjson"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--file", type=Path, default=SEED, help="small recording for reassemble")
    args = parser.parse_args()
    llmtrace = llmtrace_command()
    print(f"{args.runs} runs each; reassemble reads {args.file.name}\n")
    medians = compare({
        "llmtrace --help": [*llmtrace, "--help"],
        "llmtrace reassemble": [*llmtrace, "reassemble", str(args.file)],
        "import deps (baseline)": [sys.executable, "-c", BASELINE],
    }, args.runs)
    report(medians, "import deps (baseline)", (1.5, None))


if __name__ == "__main__":
    main()
