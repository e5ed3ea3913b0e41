"""Regenerate ``examples/output/``: what llmtrace prints for the example recordings.

    .venv/bin/python examples/generate.py

Each output is the real output of the installed llmtrace, run from the project root with
``NO_COLOR=1`` and ``COLUMNS=100`` (trailing spaces trimmed). ``tests/test_examples.py`` runs
the same commands and fails when an output here no longer matches, so the README and these
files cannot drift from what llmtrace really prints.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "examples" / "output"
LS = "examples/llama-stack"

# output file → llmtrace arguments
EXAMPLES: dict[str, list[str]] = {
    "show-tool-call-as-text.txt": ["show", f"{LS}/together-llama-tool-call-as-text.json"],
    "show-parallel-tool-calls.txt": ["show", f"{LS}/openai-parallel-tool-calls.json"],
    "show-ollama-timed.txt": ["show", f"{LS}/ollama-generate-timed.json"],
    "reassemble-tool-call-as-text.json": ["reassemble", f"{LS}/together-llama-tool-call-as-text.json"],
    "reassemble-parallel-tool-calls.json": ["reassemble", f"{LS}/openai-parallel-tool-calls.json"],
    "reassemble-ollama-timed.json": ["reassemble", f"{LS}/ollama-generate-timed.json"],
    "reassemble-normalized-tool-call-as-text.json": ["reassemble", "--normalized",
                                                     f"{LS}/together-llama-tool-call-as-text.json"],
    "reassemble-recorded-error.txt": ["reassemble", f"{LS}/openai-recorded-error.json"],
    "check-llama-stack.txt": ["check", LS],
    "diff-parallel-vs-text.txt": ["diff", f"{LS}/openai-parallel-tool-calls.json",
                                  f"{LS}/together-llama-tool-call-as-text.json"],
    "scan-examples.txt": ["scan", "-j", "1", "examples/llama-stack", "examples/containers"],
}


def run(args: list[str]) -> str:
    """What ``llmtrace ARGS`` prints (stdout, then stderr, then the exit code)."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100", "TERM": "dumb"}
    proc = subprocess.run([sys.executable, "-m", "llmtrace", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=120)
    text = proc.stdout
    if proc.stderr:
        text += "".join(f"[stderr] {line}\n" for line in proc.stderr.splitlines())
    if proc.returncode:
        text += f"[exit {proc.returncode}]\n"
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, args in EXAMPLES.items():
        (OUT / name).write_text(run(args))
        print(f"examples/output/{name}: llmtrace {' '.join(args)}")


if __name__ == "__main__":
    main()
