"""``llmtrace scan``: sweep a fixtures folder — what is in it, what it cost, what went wrong.

Files are read in worker processes (one per core), in batches, and each worker sends back only
small flat rows, never the recordings. The summary is folded from the rows in the parent.
"""

from __future__ import annotations

import gc
import os
import sys
from contextlib import ExitStack, contextmanager
from itertools import starmap
from typing import Any, Callable, Iterable, Iterator

from llmtrace.anomalies import SEVERITY_RANK
from llmtrace.commands.per_file import file_size
from llmtrace.output import dumps, warn, write_out
from llmtrace.sweep import output_rows, scan_file
from llmtrace.sources import iter_inputs
from llmtrace.tally import Tally

# Below this many files a pool costs more than it saves.
_POOL_MIN_FILES = 24
# Without -j the pool's size follows the work (bench/bench_scan_workers.py, bench_scan.py, on
# 2 cores): starting and feeding a pool costs about 0.15 s; scan spends about 120 µs a file plus
# 5 ns a byte (300 µs for a typical 37 KiB recording). A pool of N saves work × (1 − 1/N), so it
# starts once the estimated work is twice its cost (~1,000 typical files), and only on cores
# the machine's load leaves free: on a busy machine the workers would only queue.
_POOL_COST_S = 0.15
_FILE_COST_S = 120e-6
_BYTE_COST_S = 5e-9


def _scan_batch(batch: list[tuple[str, bool, str | None, str | None]]) -> list[dict[str, Any]]:
    # A worker lives for thousands of files: keep the cycle collector that the CLI's start-up
    # turned off (loading still pauses it while it reads each file).
    sweep_collector()
    crash_on = os.environ.get(_TEST_CRASH_ENV)
    out = []
    for item in batch:
        if crash_on and os.path.basename(item[0]) == crash_on:
            _test_crash()
        out.append(scan_file(*item))
    return out


def _start_worker(settings: tuple) -> None:
    """A worker's start: the parent's ``--max-size`` and ``--storage-option``s (``_settings``),
    handed over explicitly (a worker started by spawn or forkserver does not inherit the
    parent's module state)."""
    from llmtrace import limits

    max_size, options = settings
    limits.set_max_size(max_size)
    if options:
        from llmtrace import distributed

        distributed.set_options(options)


def _settings() -> tuple:
    from llmtrace import limits

    options = sys.modules["llmtrace.distributed"].storage_options() if "llmtrace.distributed" in sys.modules else {}
    return limits.max_size(), options


# Tests only: a worker that meets a file of this name kills itself with SIGSEGV, as a crash in
# a C extension would (read in worker processes only, never by a scan run in-process).
_TEST_CRASH_ENV = "LLMTRACE_TEST_CRASH_ON"


def _test_crash() -> None:
    import signal

    os.kill(os.getpid(), signal.SIGSEGV)


def _batches(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def sweep_collector() -> None:
    """The cycle collector as a sweep of thousands of files wants it: on (each file's load still
    pauses it), every object made so far left out of its passes (``gc.freeze``: the modules and
    tables of start-up live as long as the process, and a forked worker's pages stay shared),
    and a pass after 20,000 new objects rather than 700. Nearly everything a file makes is freed
    by reference counting when the file is done; a pass every 700 objects only walked the
    current file's live ones, again and again (bench/bench_scan.py: 0.06 s of a 1.8 s sweep)."""
    gc.enable()
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)


def scan(paths: list[str], fmt: str | None = None, jobs: int | None = None, progress=None) -> dict[str, Any]:
    """Scan every input; returns ``{"results": [per-file dict], "skipped": [paths]}``."""
    skipped: list[str] = []
    inputs = _inputs(paths, fmt, skipped)
    results = list(scan_each(inputs, paths, jobs, progress, skipped))
    return {"results": results, "skipped": skipped, "total": len(inputs)}


def _inputs(paths: list[str], fmt: str | None, skipped: list[str]) -> list[tuple]:
    return [(inp.path, inp.explicit, fmt, inp.error) for inp in iter_inputs(paths, skipped)]


def scan_each(inputs: list[tuple], paths: list[str], jobs: int | None = None, progress=None,
              passed_over: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """The result of each input that was read or failed, in input order, as soon as it is known
    (and the ones before it): a sweep's output is written as it goes, and memory holds a file's
    result only until it is written. Files passed over (walked files that are no recording) are
    appended to ``passed_over`` when it is given."""
    gc.enable()  # a sweep reads thousands of files: see _scan_batch
    if not jobs and len(inputs) >= _POOL_MIN_FILES:
        jobs = default_workers([file_size(item[0]) for item in inputs], os.cpu_count() or 1, _load())
    jobs = jobs or 1
    if jobs == 1 or len(inputs) < _POOL_MIN_FILES or "-" in paths:
        results: Iterable[dict[str, Any]] = starmap(scan_file, inputs)
    else:
        # Batches big enough to amortize inter-process traffic, small enough to balance the load.
        size = max(4, min(64, len(inputs) // (jobs * 8) or 1))
        results = _in_workers(list(_batches(inputs, size)), jobs, progress)
        progress = None  # counted by batch
    for result in results:
        if progress:
            progress(1)
        if not result["skipped"]:
            yield result
        elif passed_over is not None:
            passed_over.append(result["file"])


def default_workers(sizes: list[int], cores: int, load: float) -> int:
    """How many worker processes a scan of files of these ``sizes`` (bytes) gets when no ``-j``
    is given: 1 (read in this process) unless the estimated work pays for a pool, then no more
    workers than cores, than cores the ``load`` (1-minute load average) leaves free, nor than
    the work keeps busy."""
    work = len(sizes) * _FILE_COST_S + sum(sizes) * _BYTE_COST_S
    if work < 2 * _POOL_COST_S:
        return 1
    free = max(1, cores - int(load + 0.5))
    return max(1, min(cores, free, int(work / _POOL_COST_S)))


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:  # not available on this platform
        return 0.0


def _in_workers(batches: list[list], jobs: int, progress) -> Iterator[dict[str, Any]]:
    """Every batch scanned in a pool of ``jobs`` worker processes; the results in order, each
    batch's as soon as it and every batch before it are done.

    A worker that dies (a crash in a C extension, the kernel's out-of-memory killer) breaks the
    whole pool, and every batch not yet finished fails with it. The finished ones are kept;
    of the others, the first ``2 × jobs + 1`` — every batch a worker could have been holding,
    as batches are handed out in order to ``jobs`` workers with ``jobs + 1`` queued — are
    rescanned one file at a time in a child process of their own, which finds the file a worker
    dies on (``_one_by_one``); the rest go to a fresh pool. Each round finishes at least those
    suspects, so this ends, and a file that kills its worker becomes its own error row."""
    done: dict[int, list] = {}
    todo = list(range(len(batches)))
    emitted = 0
    while todo:
        failed: list[int] = []
        for _ in _pool_round(batches, todo, done, jobs, _settings(), progress, failed):
            while emitted in done:
                yield from done.pop(emitted)
                emitted += 1
        suspects, todo = failed[:2 * jobs + 1], failed[2 * jobs + 1:]
        for i in suspects:
            done[i] = _one_by_one(batches[i], _settings())
            if progress:
                progress(len(batches[i]))
            while emitted in done:
                yield from done.pop(emitted)
                emitted += 1


def _pool_round(batches: list[list], todo: list[int], done: dict[int, list], jobs: int, settings: tuple,
                progress, failed: list[int]) -> Iterator[int]:
    """Scan the batches ``todo`` in a fresh pool, yielding each index as its batch is done
    (in order); the ones that failed with a broken pool are appended to ``failed``."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    with ProcessPoolExecutor(max_workers=jobs, initializer=_start_worker, initargs=(settings,)) as pool:
        futures = [(i, pool.submit(_scan_batch, batches[i])) for i in todo]
        for i, future in futures:
            try:
                done[i] = future.result()
            except BrokenProcessPool:
                failed.append(i)
                continue
            if progress:
                progress(len(done[i]))
            yield i


def _one_by_one(batch: list, settings: tuple) -> list[dict[str, Any]]:
    """The files of ``batch`` scanned one at a time in a child process, each result sent back
    as it is done: when the child dies, the file it was reading gets an error row saying how it
    died, and a new child goes on with the files after it."""
    import multiprocessing

    out: list[dict[str, Any]] = []
    rest = list(batch)
    while rest:
        receiver, sender = multiprocessing.Pipe(duplex=False)
        child = multiprocessing.Process(target=_scan_to_pipe, args=(rest, settings, sender), daemon=True)
        child.start()
        sender.close()
        got = 0
        try:
            while got < len(rest):
                out.append(receiver.recv())
                got += 1
        except EOFError:
            pass
        finally:
            receiver.close()
        child.join()
        if got < len(rest):
            path = rest[got][0]
            out.append({"file": path, "rows": [], "severities": [], "skipped": False,
                        "error": f"{path}: {_death(child.exitcode)} while reading this file"})
            got += 1
        rest = rest[got:]
    return out


def _scan_to_pipe(batch: list, settings: tuple, sender) -> None:
    _start_worker(settings)
    for item in batch:
        sender.send(_scan_batch([item])[0])
    sender.close()


def _death(exitcode: int | None) -> str:
    """How a worker process ended: ``worker died (signal 11, SIGSEGV)``."""
    if exitcode is not None and exitcode < 0:
        import signal

        try:
            name = f", {signal.Signals(-exitcode).name}"
        except ValueError:
            name = ""
        return f"worker died (signal {-exitcode}{name})"
    return f"worker died (exit status {exitcode})"


def summarize(scanned: dict[str, Any]) -> dict[str, Any]:
    """The ``scan --json`` summary of ``scan``'s result."""
    tally = Tally()
    for result in scanned["results"]:
        tally.add(result)
    tally.skipped += len(scanned["skipped"])
    return tally.summary()


def run(paths: list[str], as_json: bool = False, jsonl: bool = False, fail_on: str | None = None,
        fmt: str | None = None, jobs: int | None = None, parquet: str | None = None, scheduler: str | None = None,
        workers: int | None = None) -> int:
    """``llmtrace scan``. Each file's result is folded into a ``Tally`` (the summary, the exit
    status), its rows written (``--jsonl``, in input order) and added to the Parquet file as it
    comes, then let go of: memory holds the rows not written yet, not the sweep's."""
    show_progress = not (as_json or jsonl) and sys.stderr.isatty() and sys.stdout.isatty()
    if parquet:
        from llmtrace.distributed import arrow_schema

        arrow_schema()  # pyarrow missing: one line before any file is read
    if scheduler:
        return _on_cluster(paths, scheduler, workers, fmt, parquet, show_progress, as_json, jsonl, fail_on)
    if workers is not None:
        from llmtrace.errors import UsageError

        raise UsageError("--workers goes with --scheduler local (-j sets the processes of a scan on this machine)")
    sweep_collector()
    tally = Tally(detailed=not jsonl)  # --jsonl prints no summary
    skipped: list[str] = []
    inputs = _inputs(paths, fmt, skipped)
    with ExitStack() as stack:
        add_rows = None
        if parquet:
            from llmtrace.distributed import parquet_rows

            add_rows = stack.enter_context(parquet_rows(parquet))
        progress = stack.enter_context(_progress_bar(len(inputs))) if show_progress else None

        def lines() -> Iterator[bytes]:
            for result in scan_each(inputs, paths, jobs, progress, skipped):
                tally.add(result)
                rows = output_rows(result)
                if add_rows is not None:
                    add_rows(rows)
                if jsonl:
                    for row in rows:
                        yield dumps(row)

        _emit(lines(), jsonl)
    tally.skipped += len(skipped)
    return _report(tally, as_json, jsonl, fail_on)


def _on_cluster(paths: list[str], scheduler: str, workers: int | None, fmt: str | None, parquet: str | None,
                progress: bool, as_json: bool, jsonl: bool, fail_on: str | None) -> int:
    """``scan --scheduler``: the tasks' tallies merged in listing order; with ``--jsonl`` each
    task's lines written once it and the tasks before it are done. The rows themselves come
    back only for ``--jsonl`` (with ``--parquet`` they go from the workers to the parts)."""
    from llmtrace.distributed import scan_on_cluster

    total = Tally()

    def lines() -> Iterator[bytes]:
        for blob, tally in scan_on_cluster(paths, scheduler, workers, fmt, parquet, progress, lines=jsonl):
            total.merge(tally)
            if blob:
                yield blob

    _emit(lines(), jsonl)
    return _report(total, as_json, jsonl, fail_on)


def _emit(lines: Iterator[bytes], jsonl: bool) -> None:
    """Run the sweep: its lines written with ``--jsonl``, else only consumed (its folding and
    Parquet writing happen as it goes)."""
    if jsonl:
        write_out(lines)
    else:
        for _ in lines:
            pass


def _report(tally: Tally, as_json: bool, jsonl: bool, fail_on: str | None) -> int:
    """The summary (``--json``, or drawn for a terminal; none with ``--jsonl``), then the errors
    and the exit status."""
    if as_json and not jsonl:
        write_out([dumps(tally.summary())])
    elif not jsonl:
        from rich.console import Console

        from llmtrace.render.scan import ScanSummary

        Console().print(ScanSummary(tally.summary()))
    return _finish(tally.failed, tally.worst(), fail_on)


def _finish(failed: list[dict[str, Any]], worst: str | None, fail_on: str | None) -> int:
    """The errors of the files that could not be read, on stderr; the exit status."""
    for result in failed:
        warn(result["error"])
    if failed:
        return 2
    if fail_on and worst and SEVERITY_RANK[worst] >= SEVERITY_RANK[fail_on]:
        return 1
    return 0


@contextmanager
def _progress_bar(total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for a terminal: ``advance(n)`` as files are done."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("scan", total=total)
        yield lambda n: bar.advance(task, n)

