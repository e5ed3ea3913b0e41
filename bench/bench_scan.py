"""``llmtrace scan`` over 5,000 recordings vs a bare loop that only ``orjson.loads`` each file.

Builds its input from the test corpus (copies of real recordings), then measures whole
processes with runs interleaved (see measure.py) and prints:
- throughput per core of ``scan --jsonl -j 1`` relative to the bare loop (goal: >= 0.22x, issue 26;
  an earlier round's 0.5x was shown out of reach, see the README's Speed section);
- the speed-up of ``scan -j N`` (N = cores) over ``-j 1``;
- where a file's time goes inside scan (read, parse, container + fold + model, checks) and what
  the goal leaves per file after scan's start-up.

Usage: python bench/bench_scan.py [--files 5000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from measure import compare, llmtrace_command  # noqa: E402

GOAL = 0.22  # scan -j 1's throughput per core against the bare loop (issue 26)
CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "corpus"

BARE_LOOP = (
    "import orjson, os, sys\n"
    "for root, _, files in os.walk(sys.argv[1]):\n"
    "    for name in files:\n"
    "        with open(os.path.join(root, name), 'rb') as fh:\n"
    "            orjson.loads(fh.read())\n"
)


def build(target: Path, count: int) -> int:
    sources = sorted(CORPUS.glob("**/*.json"))
    for i in range(count):
        src = sources[i % len(sources)]
        sub = target / f"{i // 500:03d}"
        sub.mkdir(exist_ok=True)
        shutil.copyfile(src, sub / f"{i:05d}_{src.name}")
    return sum(f.stat().st_size for f in target.glob("*/*.json"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="llmtrace-bench-scan-") as tmp:
        root = Path(tmp)
        size = build(root, args.files)
        print(f"input: {args.files} recordings, {size / 2**20:.1f} MiB, from {CORPUS}; {cores} cores")
        cli = llmtrace_command()
        commands = {
            "bare orjson loop (1 core)": [sys.executable, "-c", BARE_LOOP, str(root)],
            "scan --jsonl -j 1": [*cli, "scan", "--jsonl", "-j", "1", str(root)],
            f"scan --jsonl -j {cores}": [*cli, "scan", "--jsonl", "-j", str(cores), str(root)],
        }
        medians = compare(commands, args.runs)
        phases = per_file_phases(sorted(root.glob("*/*.json")))
        empty = root / "empty"
        empty.mkdir()
        start_up = compare({"scan start-up (no files)": [*cli, "scan", "--jsonl", "-j", "1", str(empty)]},
                           args.runs)["scan start-up (no files)"][0]
    bare = medians["bare orjson loop (1 core)"][0]
    one = medians["scan --jsonl -j 1"][0]
    many = medians[f"scan --jsonl -j {cores}"][0]
    for name, (wall, rss, _cpu) in medians.items():
        print(f"{name:<28} {wall:>8.2f} s  {args.files / wall:>8.0f} files/s  peak RSS {rss / 1024:.0f} MiB")
    print(f"scan throughput per core vs bare loop: {bare / one:.3f}x (goal >= {GOAL}x); "
          f"by CPU time (user + sys): {medians['bare orjson loop (1 core)'][2] / medians['scan --jsonl -j 1'][2]:.3f}x")
    print(f"speed-up with {cores} cores: {one / many:.2f}x")
    # Where a file's time goes, in one process; and what the goal leaves for it.
    budget = (bare / GOAL - start_up) / args.files * 1e6
    print(f"\nper file, in process (µs): " + ", ".join(f"{k} {v:.0f}" for k, v in phases.items()))
    print(f"{GOAL}x leaves {budget:.0f} µs per file after scan's {start_up:.2f} s start-up, "
          f"of which read + parse take {phases['read'] + phases['parse']:.0f}")


def per_file_phases(files: list[Path]) -> dict[str, float]:
    """Mean µs per file of each stage of ``scan`` (best of three passes, cycle collector off)."""
    import gc
    import time

    import orjson

    from llmtrace.anomalies import detect
    from llmtrace.errors import UnreadableInput
    from llmtrace.loader import load

    datas = [f.read_bytes() for f in files]
    recordings = []
    for path, data in zip(files, datas):
        try:
            recordings.append(load(str(path), data=data))
        except UnreadableInput:
            pass

    def best(fn) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times) / len(files) * 1e6

    def load_all() -> None:
        for path, data in zip(files, datas):
            try:
                load(str(path), data=data)
            except UnreadableInput:
                pass

    gc.disable()
    try:
        read = best(lambda: [f.read_bytes() for f in files])
        parse = best(lambda: [orjson.loads(d) for d in datas])
        loaded = best(load_all)
        checks = best(lambda: [detect(ex, r) for r in recordings for ex in r.exchanges])
    finally:
        gc.enable()
    return {"read": read, "parse": parse, "container + fold + model": loaded - parse, "checks": checks}


if __name__ == "__main__":
    main()
