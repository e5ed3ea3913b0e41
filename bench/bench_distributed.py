"""``scan`` on a Dask cluster: 1 worker vs 2 workers on 10,000 recordings, and what a task costs.

Builds its input from the test corpus (as bench_scan.py does), starts two ``LocalCluster``s — one
of 1 worker process, one of 2 — and times, interleaved, the scan's compute on each: files listed
once, grouped into tasks, read and scanned on the workers, their ``--jsonl`` lines and tallies
brought back in order (``llmtrace.distributed.run_tasks``, what ``scan --scheduler … --jsonl``
runs; cluster start-up not counted, it is paid once per cluster). It
also times the same tasks called one after the other in a plain process (spawned, its cycle
collector set as ``scan -j 1`` sets its own), without Dask: the difference to the 1-worker
cluster is the per-file overhead of running them as Dask tasks. (Not in this process: its heap
holds two clusters' schedulers and clients, which made the scan here 20-50% slower than in a
plain process and the overhead look negative.)

Prints:
- the speed-up of 2 workers over 1 (goal >= 1.6x on a 2-core machine);
- Dask's overhead per file relative to the scan's own time per file (goal <= 10%), in wall time
  and in CPU time (the 1-worker cluster's worker process against this process: steadier than
  wall time when the machine is shared);
- the same figures round by round, with their medians (a drift of the machine's speed between
  rounds cancels out there), the overhead by wall and by CPU time with its mean and standard error
  (``--overhead-only``: without the 2-worker cluster, for more rounds in the same time);
- the load average, since the machine may be shared.

The clusters get the settings ``scan --scheduler local`` gives its own
(``llmtrace.distributed.LOCAL_CLUSTER_CONFIG``: no statistical profiler on the workers).

Usage: python bench/bench_distributed.py [--files 10000] [--runs 7] [--overhead-only]
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_scan import build  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--overhead-only", action="store_true",
                        help="no 2-worker cluster: the plain process and the 1-worker cluster alone, for more rounds")
    args = parser.parse_args()
    sizes = (1,) if args.overhead_only else (1, 2)

    import dask
    from dask.distributed import Client, LocalCluster

    from llmtrace import distributed

    with tempfile.TemporaryDirectory(prefix="llmtrace-bench-dist-") as tmp:
        root = Path(tmp)
        size = build(root, args.files)
        items = distributed.list_all([str(root)], [])
        print(f"input: {len(items)} recordings, {size / 2**20:.1f} MiB; {os.cpu_count()} cores; "
              f"load average at start {os.getloadavg()[0]:.1f}")
        with dask.config.set(distributed.LOCAL_CLUSTER_CONFIG):
            clusters = {n: LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                        dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) for n in sizes}
        clients = {n: Client(cluster) for n, cluster in clusters.items()}
        plain = multiprocessing.get_context("spawn").Pool(1)
        try:
            plain.apply(_in_process, (items[:50],))
            for client in clients.values():  # warm-up: imports on the workers
                _on_cluster(client, items[:50])
            times: dict[str, list[float]] = {"plain process": [], "1 worker": [], **({} if args.overhead_only else {"2 workers": []})}
            cpu: dict[str, list[float]] = {"plain process": [], "1 worker": []}
            tasks = {"1 worker": len(distributed.groups(items, 1)), "2 workers": len(distributed.groups(items, 2))}
            for _ in range(args.runs):
                wall, used = plain.apply(_in_process, (items,))
                times["plain process"].append(wall)
                cpu["plain process"].append(used)
                for n in sizes:
                    before = sum(clients[n].run(_cpu).values())
                    start = time.perf_counter()
                    counted = _on_cluster(clients[n], items)
                    times[f"{n} worker{'s' if n > 1 else ''}"].append(time.perf_counter() - start)
                    if n == 1:
                        cpu["1 worker"].append(sum(clients[n].run(_cpu).values()) - before)
                    assert counted == len(items)
        finally:
            plain.close()
            plain.join()
            for client in clients.values():
                client.close()
            for cluster in clusters.values():
                cluster.close()
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, wall in medians.items():
        extra = f"  ({tasks[name]} tasks)" if name in tasks else ""
        print(f"{name:<14} {wall:>7.2f} s  {len(items) / wall:>7.0f} files/s  runs: "
              + ", ".join(f"{v:.2f}" for v in times[name]) + extra)
    own = medians["plain process"] / len(items)
    overhead = (medians["1 worker"] - medians["plain process"]) / len(items)
    if "2 workers" in medians:
        print(f"2 workers vs 1: {medians['1 worker'] / medians['2 workers']:.2f}x (goal >= 1.6x)")
    print(f"Dask's overhead per file: {overhead * 1e6:.0f} µs against the scan's own {own * 1e6:.0f} µs "
          f"= {overhead / own:.1%} (goal <= 10%)")
    own_cpu = statistics.median(cpu["plain process"]) / len(items)
    worker_cpu = statistics.median(cpu["1 worker"]) / len(items)
    print(f"CPU per file: {own_cpu * 1e6:.0f} µs in a plain process, {worker_cpu * 1e6:.0f} µs in the worker process = "
          f"{(worker_cpu - own_cpu) / own_cpu:+.1%}")
    # The same figures round by round (each round runs them one after the other): a drift of the
    # machine's speed between rounds cancels out, a burst inside a round does not.
    if "2 workers" in times:
        speedups = [one / two for one, two in zip(times["1 worker"], times["2 workers"])]
        print(f"round by round: 2 workers vs 1 {', '.join(f'{v:.2f}x' for v in speedups)} "
              f"(median {statistics.median(speedups):.2f}x)")
    for what, values in (("wall", times), ("CPU", cpu)):
        paired = [(one - own) / own for one, own in zip(values["1 worker"], values["plain process"])]
        spread = f" ± {statistics.stdev(paired) / len(paired) ** 0.5:.1%}" if len(paired) > 1 else ""
        print(f"round by round: overhead by {what} {', '.join(f'{v:.1%}' for v in paired)} "
              f"(median {statistics.median(paired):.1%}, mean {statistics.mean(paired):.1%}{spread})")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


def _cpu() -> float:
    """This process's CPU time so far (user + system), seconds: of a worker when run there."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _on_cluster(client, items: list) -> int:
    """What ``scan --scheduler … --jsonl`` runs (the mode that brings the most back: every row,
    as JSON lines), the lines dropped here; the number of files counted."""
    from llmtrace import distributed

    counted = 0
    for _lines, tally in distributed.run_tasks(client, items, None, None, lines=True):
        counted += tally.files + tally.skipped
    return counted


def _in_process(items: list) -> tuple[float, float]:
    """The same tasks (``scan_task``: files in and lines out pickled), called one after the
    other in a plain process with its collector set as ``scan``'s: the scan's own time, wall and
    CPU (seconds)."""
    import pickle

    from llmtrace import distributed, limits
    from llmtrace.commands.scan import sweep_collector

    sweep_collector()
    before = _cpu()
    start = time.perf_counter()
    for group in distributed.groups(items, 1):
        pickle.loads(distributed.scan_task(pickle.dumps(group, protocol=5), None, {}, limits.max_size(), None, True))
    return time.perf_counter() - start, _cpu() - before


if __name__ == "__main__":
    main()
