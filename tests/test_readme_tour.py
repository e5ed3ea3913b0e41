"""The README's tour runs as written: every ``$`` command of its shell blocks, pasted in order into
one bash from a fresh copy of the recordings, exits as the README shows and prints what it shows.

The tour is the README from "A tour" to "In your test suite". A command's shown output is the
lines after it up to the next command or the end of its block: ``[stderr] `` lines are what it
wrote on stderr, ``[exit N]`` its exit status (0 when absent), ``…`` stands for lines left out.
The shown lines must appear in that order in what the command printed (ports of 127.0.0.1 and
trailing spaces aside). A block preceded by ``<!-- tour: output varies ... -->`` shows output
that depends on time (timings, ports): its commands must run and exit 0, their output is not
compared. A block preceded by ``<!-- tour: not run ... -->`` is left out, saying why (a server in the
foreground, a client the tour has not got). Commands that start a server in the background (``exec N< <(llmtrace serve …)``) are
stopped by the tour itself or, at the end, with the rest of the process group."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START, END = "## A tour", "## In your test suite"
VARIES = "<!-- tour: output varies"
NOT_RUN = "<!-- tour: not run"
PORT = re.compile(r"127\.0\.0\.1:\d+")
BIN = Path(sys.executable).parent


class Command(NamedTuple):
    line: int  # in the README, 1-based
    text: str  # as pasted (continuation lines joined by newlines)
    shown: list[str]  # the output shown under it
    compared: bool


def tour_commands(text: str) -> list[Command]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(START))
    end = next(i for i, line in enumerate(lines) if line.startswith(END))
    commands: list[Command] = []
    in_block = False
    varies = False
    current: list | None = None
    i = start
    while i < end:
        line = lines[i]
        if line.startswith("```"):
            if in_block:
                in_block, current = False, None
            else:
                previous = next((lines[j] for j in range(i - 1, start, -1) if lines[j].strip()), "")
                in_block = line.strip() in ("```text", "```sh", "```console") and not previous.startswith(NOT_RUN)
                varies = previous.startswith(VARIES)
            i += 1
            continue
        if in_block and line.startswith("$ "):
            command = [line[2:]]
            while command[-1].endswith("\\") and i + 1 < end:
                i += 1
                command.append(lines[i])
            current = [i + 1 - len(command) + 1, "\n".join(command), []]
            commands.append(Command(current[0], current[1], current[2], not varies))
        elif in_block and current is not None:
            current[2].append(line)
        i += 1
    return commands


def fresh_copy(target: Path) -> None:
    """What a fresh clone holds that the tour reads: the examples and the test recordings."""
    shutil.copytree(ROOT / "examples", target / "examples")
    shutil.copytree(ROOT / "tests" / "data", target / "tests" / "data")


def script(commands: list[Command], results: Path) -> str:
    parts = ["set +e"]
    for n, command in enumerate(commands):
        parts.append(f"{{\n{command.text}\n}} > {results}/{n}.out 2> {results}/{n}.err < /dev/null\n"
                     f"echo $? > {results}/{n}.rc")
    return "\n".join(parts) + "\n"


def normalized(lines: list[str]) -> list[str]:
    return [PORT.sub("127.0.0.1:PORT", line.rstrip()) for line in lines]


def printed(results: Path, n: int) -> tuple[list[str], int]:
    out = (results / f"{n}.out").read_text(errors="replace").splitlines()
    err = (results / f"{n}.err").read_text(errors="replace").splitlines()
    return out + [f"[stderr] {line}" for line in err], int((results / f"{n}.rc").read_text() or 0)


def in_order(shown: list[str], actual: list[str]) -> str | None:
    """The first shown line not found (in order) in the actual output, else None."""
    position = 0
    for line in shown:
        if line in ("…", ""):
            continue
        try:
            position = actual.index(line, position) + 1
        except ValueError:
            return line
    return None


def test_the_tour_is_found():
    commands = tour_commands(README.read_text())
    assert len(commands) >= 22
    assert any(c.text.startswith("read -r BASE") for c in commands)


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("jq") is None, reason="the tour uses curl and jq")
def test_the_readme_tour_runs_as_written(tmp_path):
    commands = tour_commands(README.read_text())
    work, results = tmp_path / "clone", tmp_path / "results"
    work.mkdir()
    results.mkdir()
    fresh_copy(work)
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100", "TERM": "dumb", "HOME": str(tmp_path),
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("LLMTRACE_DEBUG", None)
    proc = subprocess.Popen(["bash", "--norc", "--noprofile", "-c", script(commands, results)], cwd=work, env=env,
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, bash_err = proc.communicate(timeout=600)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # servers the tour left running
        except ProcessLookupError:
            pass
    failures = []
    servers = [n for n, command in enumerate(commands) if command.text.startswith("exec ")]
    for n, command in enumerate(commands):
        if not (results / f"{n}.rc").exists():
            failures.append(f"README line {command.line}: `{command.text}` did not run ({bash_err.strip()})")
            continue
        actual, code = printed(results, n)
        shown = normalized(command.shown)
        expected_code = next((int(line[6:-1]) for line in shown if re.fullmatch(r"\[exit \d+\]", line)), 0)
        if code != expected_code:
            failures.append(f"README line {command.line}: `{command.text}` exited {code}, the README says "
                            f"{expected_code}:\n" + "\n".join(actual[-10:]))
            continue
        if command.compared:
            # A server in the background writes its log lines on the stderr it started with:
            # the README shows them under the requests that caused them.
            logs = normalized([line for m in servers for line in printed(results, m)[0]
                               if line.startswith("[stderr] ")])
            wanted = [line for line in shown if not re.fullmatch(r"\[exit \d+\]", line)
                      and not (line.startswith("[stderr] ") and (n in servers or line in logs))]
            missing = in_order(wanted, normalized(actual))
            if missing is not None:
                failures.append(f"README line {command.line}: `{command.text}` did not print (in order) "
                                f"{missing!r}; it printed:\n" + "\n".join(actual[:40]))
    assert not failures, "\n\n".join(failures)
