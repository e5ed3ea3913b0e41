"""CLI start-up: ``llmtrace --help`` and ``llmtrace reassemble <small file>`` against a bare
interpreter importing the runtime dependencies, as whole processes (medians of interleaved runs);
then ``llmtrace serve <small file>`` and ``llmtrace serve <folder of 10,000 recordings>``: the
time from starting it to its first answer (health; for the folder also a recorded request), and
the shell-completion answer (``_LLMTRACE_COMPLETE=complete_bash``) beside ``--version`` and ``reassemble``.

    python bench/bench_startup.py [--runs N] [--file FILE] [--folder-files 10000] [--serve-only]

Goals: at most 1.5x the wall time of the baseline; serve answers ≤ 0.3 s after it starts (one
file), ≤ 2 s (a folder of 10,000 recordings); a completion answer costs no more than a command's start (``reassemble``).
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
    parser.add_argument("--folder-files", type=int, default=10_000, help="recordings in the folder serve starts on")
    parser.add_argument("--folder-runs", type=int, default=5)
    parser.add_argument("--serve-only", action="store_true", help="only the serve measurements")
    args = parser.parse_args()
    llmtrace = llmtrace_command()
    if args.serve_only:
        serve_first_answer(llmtrace, ROOT / "examples" / "llama-stack" / "together-llama-tool-call-as-text.json",
                           args.runs)
        serve_folder_first_answer(llmtrace, args.folder_files, args.folder_runs)
        return
    print(f"{args.runs} runs each; reassemble reads {args.file.name}\n")
    medians = compare({
        "llmtrace --help": [*llmtrace, "--help"],
        "llmtrace reassemble": [*llmtrace, "reassemble", str(args.file)],
        "import deps (baseline)": [sys.executable, "-c", BASELINE],
    }, args.runs)
    report(medians, "import deps (baseline)", (1.45, None))  # issue 26: reassemble <= 1.45x
    serve_first_answer(llmtrace, ROOT / "examples" / "llama-stack" / "together-llama-tool-call-as-text.json", args.runs)
    serve_folder_first_answer(llmtrace, args.folder_files, args.folder_runs)
    completion(llmtrace, args.runs, args.file)


def serve_first_answer(llmtrace: list[str], recording: Path, runs: int) -> None:
    """``serve --port 0 FILE``: wall time from the start of the process to the end of its first
    answer (GET /llmtrace/health, as soon as the URL line is out), and the server's CPU time by
    then (user + system, from /proc: steadier than wall time on a shared machine)."""
    walls, cpus = _first_answers(llmtrace, [str(recording)], runs)
    _said(f"serve {recording.name}", walls, cpus, runs, 300)


def serve_folder_first_answer(llmtrace: list[str], files: int, runs: int) -> None:
    """``serve --port 0 DIR`` on a folder of ``files`` recordings (copies of the test corpus, as
    ``bench_scan.py`` builds it): the time to the first answer to health, and to the first
    recorded request answered (a streamed chat request recorded in the folder's last file of
    its kind, so the whole index is needed to find it; its recording folded on that request)."""
    from bench_scan import build

    with tempfile.TemporaryDirectory(prefix="llmtrace-bench-startup-") as tmp:
        root = Path(tmp)
        size = build(root, files)
        path, body = _last_chat_request(root)
        print(f"\nserve DIR: {files:,} recordings, {size / 2**20:.0f} MiB; then POST {path} "
              f"(recorded in {body['file']})")
        walls, cpus = _first_answers(llmtrace, [str(root)], runs)
        _said("serve DIR, health", walls, cpus, runs, 2000)
        walls, cpus = _first_answers(llmtrace, [str(root)], runs, (path, body["body"]))
        _said("serve DIR, a recorded request", walls, cpus, runs, 2000)


def _last_chat_request(root: Path) -> tuple[str, dict]:
    import orjson

    for recording in sorted(root.glob("*/*.json"), reverse=True):
        doc = orjson.loads(recording.read_bytes())
        request = doc.get("request") or {}
        body = request.get("body")
        if isinstance(body, dict) and body.get("stream") is True and str(request.get("url", "")).endswith(
                "/v1/chat/completions") and not doc["response"].get("is_exception"):
            return "/v1/chat/completions", {"file": recording.relative_to(root).as_posix(), "body": body}
    raise SystemExit("no streamed chat request in the folder")


def _first_answers(llmtrace: list[str], paths: list[str], runs: int,
                   request: tuple[str, dict] | None = None) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds from starting ``serve --port 0 PATHS`` to the end of its first answer:
    GET /llmtrace/health, or ``request`` (path, JSON body) POSTed, as soon as the URL line is out."""
    import orjson

    tick = os.sysconf("SC_CLK_TCK")
    walls, cpus = [], []
    with tempfile.TemporaryDirectory(prefix="llmtrace-pycache-") as pycache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = pycache
        for i in range(runs + 1):  # the first run fills the bytecode cache
            start = time.perf_counter()
            proc = subprocess.Popen([*llmtrace, "serve", "--port", "0", *paths], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True, env=env)
            try:
                base = proc.stdout.readline().strip()
                if request is None:
                    asked = urllib.request.Request(base + "/llmtrace/health")
                else:
                    asked = urllib.request.Request(base + request[0], data=orjson.dumps(request[1]), method="POST",
                                                   headers={"content-type": "application/json"})
                with urllib.request.urlopen(asked, timeout=60) as answer:
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
    return walls, cpus


def _said(what: str, walls: list[float], cpus: list[float], runs: int, goal_ms: int) -> None:
    print(f"{what}: first answer {statistics.median(walls) * 1000:.0f} ms wall "
          f"(min {min(walls) * 1000:.0f}), {statistics.median(cpus) * 1000:.0f} ms CPU (median of {runs}; "
          f"goal: <= {goal_ms} ms wall); load average {os.getloadavg()[0]:.1f}")


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
