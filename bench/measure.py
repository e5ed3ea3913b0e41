"""Measure commands as whole processes: wall time and peak RSS, runs interleaved, medians.

Peak RSS comes from ``/usr/bin/time -v`` when it is installed, else from ``os.wait4`` (the
rusage of exactly that one child, what ``getrusage(RUSAGE_CHILDREN)`` reports in a fresh
parent). Wall time is measured here around the whole process in both cases; the small cost of
``/usr/bin/time`` itself is paid by every command alike.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TIME = "/usr/bin/time"
HAVE_TIME = os.access(TIME, os.X_OK)


def llmtrace_command() -> list[str]:
    """The ``llmtrace`` console script installed beside this interpreter (else ``-m``)."""
    script = Path(sys.executable).with_name("llmtrace")
    if script.exists():
        return [str(script)]
    found = shutil.which("llmtrace")
    return [found] if found else [sys.executable, "-m", "llmtrace"]


def run_once(cmd: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB) of one run of ``cmd``; stdout goes to /dev/null."""
    if HAVE_TIME:
        start = time.perf_counter()
        proc = subprocess.run([TIME, "-v", *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - start
        rss = _time_max_rss(proc.stderr)
        status = proc.returncode
    else:
        start = time.perf_counter()
        with open(os.devnull, "wb") as devnull:
            child = subprocess.Popen(cmd, stdout=devnull)
            _, wait_status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = status = os.waitstatus_to_exitcode(wait_status)
        rss = usage.ru_maxrss  # KiB on Linux
    if status != 0:
        raise SystemExit(f"command failed (exit {status}): {' '.join(cmd)}")
    return wall, rss


def _time_max_rss(report: str) -> int:
    for line in report.splitlines():
        if "Maximum resident set size" in line:
            return int(line.rsplit(":", 1)[1])
    raise SystemExit(f"no peak RSS in /usr/bin/time output:\n{report}")


def compare(commands: dict[str, list[str]], runs: int) -> dict[str, tuple[float, int]]:
    """Run every command once to warm caches, then ``runs`` rounds with the commands
    interleaved; the median wall time and median peak RSS of each."""
    for cmd in commands.values():
        run_once(cmd)
    samples: dict[str, list[tuple[float, int]]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            samples[name].append(run_once(cmd))
    return {name: (statistics.median(w for w, _ in s), statistics.median(r for _, r in s))
            for name, s in samples.items()}


def report(medians: dict[str, tuple[float, int]], baseline: str, goals: tuple[float, float | None]) -> None:
    """Print each command's medians and its ratio to ``baseline`` (goals shown, not judged)."""
    base_wall, base_rss = medians[baseline]
    wall_goal, rss_goal = goals
    print(f"{'command':<28} {'wall (median)':>14} {'peak RSS':>12} {'wall ratio':>11} {'RSS ratio':>10}")
    for name, (wall, rss) in medians.items():
        print(f"{name:<28} {wall * 1000:>11.1f} ms {rss / 1024:>9.1f} MiB"
              f" {wall / base_wall:>10.2f}x {rss / base_rss:>9.2f}x")
    goal = f"goal: wall <= {wall_goal}x"
    if rss_goal is not None:
        goal += f", peak RSS <= {rss_goal}x"
    print(f"(ratios against {baseline}; {goal}; peak RSS from "
          f"{'/usr/bin/time -v' if HAVE_TIME else 'os.wait4'})")
