"""Measure commands as whole processes: wall time and peak RSS, runs interleaved, medians.

Peak RSS comes from ``/usr/bin/time -v`` when it is installed, else from ``os.wait4`` (the
rusage of exactly that one child, what ``getrusage(RUSAGE_CHILDREN)`` reports in a fresh
parent). Wall time is measured here around the whole process in both cases; the small cost of
``/usr/bin/time`` itself is paid by every command alike. CPU time (user + system) is reported
too: on a shared or busy machine it is much steadier than wall time.

Children run with bytecode caching on, into a temporary ``PYTHONPYCACHEPREFIX`` (the warm-up
run fills it), as an installed package runs: with ``PYTHONDONTWRITEBYTECODE=1`` in the
environment every llmtrace module would be compiled from source on every run.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

TIME = "/usr/bin/time"
HAVE_TIME = os.access(TIME, os.X_OK)


class Sample(NamedTuple):
    wall: float  # seconds
    rss: int  # peak resident set size, KiB
    cpu: float  # user + system seconds


def llmtrace_command() -> list[str]:
    """The ``llmtrace`` console script installed beside this interpreter (else ``-m``)."""
    script = Path(sys.executable).with_name("llmtrace")
    if script.exists():
        return [str(script)]
    found = shutil.which("llmtrace")
    return [found] if found else [sys.executable, "-m", "llmtrace"]


def run_once(cmd: list[str], env: dict[str, str] | None = None) -> Sample:
    """One run of ``cmd``, stdout to /dev/null."""
    if HAVE_TIME:
        start = time.perf_counter()
        proc = subprocess.run([TIME, "-v", *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              env=env)
        wall = time.perf_counter() - start
        fields = _time_fields(proc.stderr)
        rss = int(fields["Maximum resident set size (kbytes)"])
        cpu = float(fields["User time (seconds)"]) + float(fields["System time (seconds)"])
        status = proc.returncode
    else:
        start = time.perf_counter()
        with open(os.devnull, "wb") as devnull:
            child = subprocess.Popen(cmd, stdout=devnull, env=env)
            _, wait_status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        status = child.returncode = os.waitstatus_to_exitcode(wait_status)  # reaped here, not by Popen
        rss = usage.ru_maxrss  # KiB on Linux
        cpu = usage.ru_utime + usage.ru_stime
    if status != 0:
        raise SystemExit(f"command failed (exit {status}): {' '.join(cmd)}")
    return Sample(wall, rss, cpu)


def _time_fields(report: str) -> dict[str, str]:
    """The ``name: value`` lines of ``/usr/bin/time -v`` (the last ones: the command's own
    stderr comes first)."""
    fields = {}
    for line in report.splitlines():
        name, sep, value = line.strip().rpartition(": ")
        if sep:
            fields[name] = value
    if "Maximum resident set size (kbytes)" not in fields:
        raise SystemExit(f"no peak RSS in /usr/bin/time output:\n{report}")
    return fields


def compare(commands: dict[str, list[str]], runs: int) -> dict[str, Sample]:
    """Run every command once to warm caches, then ``runs`` rounds with the commands
    interleaved; the medians of each (wall, peak RSS and CPU time taken separately)."""
    samples: dict[str, list[Sample]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory(prefix="llmtrace-pycache-") as pycache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = pycache
        for cmd in commands.values():
            run_once(cmd, env)
        for _ in range(runs):
            for name, cmd in commands.items():
                samples[name].append(run_once(cmd, env))
    return {name: Sample(*(statistics.median(values) for values in zip(*runs_of)))
            for name, runs_of in samples.items()}


def report(medians: dict[str, Sample], baseline: str, goals: tuple[float, float | None]) -> None:
    """Print each command's medians and its ratios to ``baseline`` (goals shown, not judged)."""
    base = medians[baseline]
    wall_goal, rss_goal = goals
    print(f"{'command':<26} {'wall':>10} {'peak RSS':>12} {'CPU':>10}   {'wall':>6} {'RSS':>6} {'CPU':>6}  (ratios)")
    for name, m in medians.items():
        print(f"{name:<26} {m.wall * 1000:>7.1f} ms {m.rss / 1024:>8.1f} MiB {m.cpu * 1000:>7.1f} ms"
              f"   {m.wall / base.wall:>5.2f}x {m.rss / base.rss:>5.2f}x {m.cpu / base.cpu:>5.2f}x")
    goal = f"goal: wall <= {wall_goal}x"
    if rss_goal is not None:
        goal += f", peak RSS <= {rss_goal}x"
    print(f"(medians; ratios against {baseline}; {goal}; peak RSS and CPU from "
          f"{'/usr/bin/time -v' if HAVE_TIME else 'os.wait4'})")
