"""Regenerate ``examples/output/``: what llmtrace prints for the example recordings.

    .venv/bin/python examples/generate.py

Each output is the real output of the installed llmtrace, run from the project root with
``NO_COLOR=1`` and ``COLUMNS=100`` (trailing spaces trimmed). ``tests/test_examples.py`` runs
the same commands and fails when an output here no longer matches, so the README and these
files cannot drift from what llmtrace really prints. Some commands read recordings of the newer
formats from ``tests/data`` (Bedrock, OpenTelemetry, mitmproxy, Cohere), each with its LICENSE.

It also rewrites the HTML reports in ``examples/report/`` (``llmtrace report`` gives the same
bytes for the same input) and, where Chromium and playwright are installed (as for the test
suite), their screenshots in the light and the dark theme.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "examples" / "output"
LS = "examples/llama-stack"
REPORT = ROOT / "examples" / "report"

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
    "show-bedrock-converse-tool-use.txt": [
        "show", "tests/data/bedrock/openllmetry/test_anthropic_converse_stream_with_tool_use.yaml"],
    "reassemble-gemini-live-normalized.json": ["reassemble", "--normalized",
                                               "examples/containers/websocket/gemini-live.yaml"],
    "scan-jsonl-mitmproxy-otlp.txt": ["scan", "-j", "1", "--jsonl", "tests/data/mitmproxy", "tests/data/otlp"],
    "check-json-otlp-no-content.txt": ["check", "--json", "tests/data/otlp/genai-no-content.json"],
    "check-tool-text-command-r.txt": ["check", "tests/data/tool_text/langchain-cohere"],
}

# report page → llmtrace report arguments (written to examples/report/NAME), and whether a
# screenshot of it is kept beside it (NAME.png, and NAME-dark.png in the dark theme).
REPORTS: dict[str, tuple[list[str], bool]] = {
    "tool-call-as-text.html": ([f"{LS}/together-llama-tool-call-as-text.json"], True),
    "ollama-generate-timed.html": ([f"{LS}/ollama-generate-timed.json"], True),
    "diff-parallel-vs-text.html": (["--diff", f"{LS}/openai-parallel-tool-calls.json",
                                    f"{LS}/together-llama-tool-call-as-text.json"], True),
    "llama-stack-folder.html": ([LS], True),
}
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCHEMES = {"light": "", "dark": "-dark"}  # prefers-color-scheme → suffix of the screenshot's name


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


def screenshot(page: Path) -> bool:
    """PNGs of ``page`` beside it, light (NAME.png) and dark (NAME-dark.png), taken by the
    headless Chromium the test suite drives (through playwright); False when it is missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return False
    if chromium is None:
        return False
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            for scheme, suffix in SCHEMES.items():
                view = browser.new_page(viewport={"width": 1000, "height": 1300}, color_scheme=scheme)
                view.goto(page.resolve().as_uri())
                view.screenshot(path=str(page.with_name(page.stem + suffix + ".png")))
                view.close()
        finally:
            browser.close()
    return True


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, args in EXAMPLES.items():
        (OUT / name).write_text(run(args))
        print(f"examples/output/{name}: llmtrace {' '.join(args)}")
    REPORT.mkdir(exist_ok=True)
    for name, (args, shot) in REPORTS.items():
        target = f"examples/report/{name}"
        run(["report", *args, "-o", target])
        print(f"{target}: llmtrace report {' '.join(args)}")
        if shot:
            if screenshot(REPORT / name):
                print(f"{target[:-5]}.png, {target[:-5]}-dark.png: screenshots of it (light and dark)")
            else:
                print(f"{target[:-5]}.png: not taken (Chromium is not installed: apt-get install -y chromium)")


if __name__ == "__main__":
    main()
