"""``scan``'s usage totals say how many exchanges each covers when some did not report it, in
the terminal and in ``--json``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LS = ROOT / "examples" / "llama-stack"
NO_USAGE = ROOT / "examples" / "containers" / "sse" / "openai-completions.sse"


def scan(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    return subprocess.run([sys.executable, "-m", "llmtrace", "scan", "-j", "1", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_json_counts_the_exchanges_behind_each_total():
    with_usage = LS / "together-llama-tool-call-as-text.json"
    usage = json.loads(scan("--json", str(with_usage), str(NO_USAGE)).stdout)["usage"]
    assert usage["input_tokens"] == 42 and usage["total_tokens"] == 66
    assert usage["exchanges_reporting"] == {"input_tokens": 1, "output_tokens": 1, "total_tokens": 1}
    assert usage["exchanges_with_usage"] == 1


def test_terminal_says_over_how_many_exchanges():
    out = scan(str(LS / "together-llama-tool-call-as-text.json"), str(NO_USAGE)).stdout
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(("input ", "output ", "total "))}
    assert "66" in rows["total"] and "1 of 2 exchanges" in rows["total"]
    out = scan(str(LS / "together-llama-tool-call-as-text.json")).stdout
    assert "all 1 exchange" in out and " of " not in out.split("usage")[1].split("anomalies")[0]
