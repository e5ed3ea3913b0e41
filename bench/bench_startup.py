"""CLI start-up: ``llmtrace --help`` and ``llmtrace reassemble <small file>`` against a bare
interpreter importing the runtime dependencies, as whole processes (medians of interleaved runs);
then ``llmtrace serve <small file>``: the time from starting it to its first answer, and the
shell-completion answer (``_LLMTRACE_COMPLETE=complete_bash``) beside ``--version`` and ``reassemble``.

    python bench/bench_startup.py [--runs N] [--file FILE]

Goals: at most 1.5x the wall time of the baseline; serve answers ≤ 0.3 s after it starts (one
file); a completion answer costs no more than a command's start (``reassemble``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
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
    report(medians, "import deps (baseline)", (1.45, None))  # issue 26: reassemble <= 1.45x
    serve_first_answer(llmtrace, ROOT / "examples" / "llama-stack" / "together-llama-tool-call-as-text.json", args.runs)
    completion(llmtrace, args.runs, args.file)


def serve_first_answer(llmtrace: list[str], recording: Path, runs: int) -> None:
    """``serve --port 0 FILE``: wall time from the start of the process to the end of its first
    answer (GET /llmtrace/health, as soon as the URL line is out), and the server's CPU time by
    then (user + system, from /proc: steadier than wall time on a shared machine)."""
    tick = os.sysconf("SC_CLK_TCK")
    walls, cpus = [], []
    with tempfile.TemporaryDirectory(prefix="llmtrace-pycache-") as pycache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = pycache
        for i in range(runs + 1):  # the first run fills the bytecode cache
            start = time.perf_counter()
            proc = subprocess.Popen([*llmtrace, "serve", "--port", "0", str(recording)], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True, env=env)
            try:
                base = proc.stdout.readline().strip()
                with urllib.request.urlopen(base + "/llmtrace/health", timeout=30) as answer:
                    answer.read()
                wall = time.perf_counter() - start
                with open(f"/proc/{proc.pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                cpu = (int(fields[11]) + int(fields[12])) / tick
            finally:
                proc.terminate()
                proc.wait(timeout=30)
                proc.stdout.close()
            if i:
                walls.append(wall)
                cpus.append(cpu)
    print(f"\nserve {recording.name}: first answer {statistics.median(walls) * 1000:.0f} ms wall "
          f"(min {min(walls) * 1000:.0f}), {statistics.median(cpus) * 1000:.0f} ms CPU (median of {runs}; "
          f"goal: <= 300 ms wall); load average {os.getloadavg()[0]:.1f}")


def completion(llmtrace: list[str], runs: int, recording: Path) -> None:
    """A bash completion answer (the values of ``serve --fault``) beside ``--version`` (which
    stops before the command line is parsed) and ``reassemble`` of a small file (which parses
    it, as completion does: typer's parameter adapters import pydantic)."""
    complete = {**os.environ, "_LLMTRACE_COMPLETE": "complete_bash", "COMP_WORDS": "llmtrace serve --fault d",
                "COMP_CWORD": "3"}
    medians = compare({"llmtrace --version": [*llmtrace, "--version"],
                       "llmtrace reassemble": [*llmtrace, "reassemble", str(recording)],
                       "completion (--fault d<TAB>)": ["env", *[f"{k}={complete[k]}" for k in
                                                               ("_LLMTRACE_COMPLETE", "COMP_WORDS", "COMP_CWORD")],
                                                      *llmtrace]}, runs)
    print()
    report(medians, "llmtrace reassemble", (1.0, None))


if __name__ == "__main__":
    main()
