"""What the commands that read many files (``check``, ``show``, ``serve``, ``report``) share about
one file going wrong.

An unexpected exception while one file is read, checked or rendered is a bug in llmtrace, not
the user's fault, and must not cost them the other files: it is reported as
``llmtrace: PATH: internal error: …`` naming the file, the loop goes on, and the command exits 2
at the end. ``LLMTRACE_DEBUG=1`` lets it through with its traceback instead.
"""

from __future__ import annotations

import os
from typing import Iterable, Iterator

from llmtrace.errors import UnreadableInput
from llmtrace.walk import Input


def passes_through(exc: BaseException) -> bool:
    """Exceptions that are not about one file: the command as a whole stops (a closed stdout,
    Ctrl-C) or the user asked for tracebacks."""
    return isinstance(exc, BrokenPipeError) or bool(os.environ.get("LLMTRACE_DEBUG"))


def internal_error(source: str, exc: Exception) -> str:
    """The stderr line (without the ``llmtrace:`` prefix) for an unexpected exception."""
    kind = exc.kind if isinstance(exc, WorkerError) else type(exc).__name__
    return (f"{source}: internal error: {kind}: {exc} "
            "(set LLMTRACE_DEBUG=1 for the traceback, and please report it)")


def refused(item: Input) -> UnreadableInput | None:
    """The error of an input known to be unreadable before reading it (a folder the walk could
    not list), else None."""
    return UnreadableInput(item.error, path=item.path) if item.error else None


def load_all(paths: list[str], fmt: str | None = None, explicit_only: bool = False, read=None,
             meanwhile=None) -> tuple[list, list]:
    """Every recording the paths name, read before anything is served or drawn (``serve``,
    ``report``): the recordings, and ``(source, reason)`` for each that could not be read (its
    line already on stderr). A file a folder walk finds unreadable is skipped quietly (as
    ``check`` does) unless ``explicit_only``: then every failure counts. ``read(item, fmt)``
    reads one input instead of ``loader.load`` (``serve`` indexes a folder's files); with it,
    the files a folder walk finds are read in worker processes when there are enough of them
    (``_workers``), and ``meanwhile()`` is called while they read (``serve`` imports its server
    then)."""
    from llmtrace.loader import load
    from llmtrace.output import warn
    from llmtrace.sources import iter_inputs
    from llmtrace.walk import skip_unreadable

    items = list(iter_inputs(paths, []))
    if read is None:
        outcomes = [_read_one(lambda item, fmt: load(item.path, fmt=fmt), item, fmt) for item in items]
    else:
        outcomes = _read_all(items, fmt, read)
    if meanwhile is not None:
        meanwhile()
    recordings, failed = [], []
    for item, outcome in zip(items, outcomes):
        source = "<stdin>" if item.path == "-" else item.path
        if not isinstance(outcome, BaseException):
            recordings.append(outcome)
        elif isinstance(outcome, UnreadableInput):
            if not explicit_only and skip_unreadable(item, outcome):
                continue
            warn(outcome.line())
            failed.append((source, outcome.what if not outcome.where else f"{outcome.what}, {outcome.where}"))
        elif not isinstance(outcome, Exception) or passes_through(outcome):
            raise outcome
        else:  # one file's bug must not cost the others
            line = internal_error(source, outcome)
            warn(line)
            failed.append((source, line.split(": ", 1)[1]))
    return recordings, failed


def _read_one(read, item: Input, fmt: str | None):
    """One input read: its recording, or the exception reading it raised."""
    try:
        error = refused(item)
        if error is not None:
            raise error
        return read(item, fmt)
    except Exception as exc:  # noqa: BLE001 - handed to load_all, which says what it was
        return exc


# Reading a folder in worker processes forked from this one (``serve`` indexing thousands of
# files, bench/bench_startup.py): a fork costs no imports; a worker is counted at 50 ms (forking it,
# feeding it, unpickling what it sends back, sharing the cores with the server's imports);
# indexing costs ~150 µs a file plus ~2 ns a byte (a typical 37 KiB Llama Stack file: 225 µs).
# Below ~1,000 files the pool saves less than it costs.
_WORKER_COST_S = 0.05
_FILE_COST_S = 150e-6
_BYTE_COST_S = 2e-9


def _read_all(items: list[Input], fmt: str | None, read) -> Iterable:
    """The outcome of reading each item (``_read_one``), in order: the files a folder walk found
    read in forked worker processes when they are many (``_workers``), the rest here. Handed to
    the workers before this returns; collected as the list is read."""
    found = [i for i, item in enumerate(items) if not item.explicit and item.path != "-" and not item.error]
    jobs = _workers([items[i] for i in found])
    if jobs < 2:
        return [_read_one(read, item, fmt) for item in items]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"))
    size = max(16, len(found) // (jobs * 8))
    batches = [found[start:start + size] for start in range(0, len(found), size)]
    futures = [pool.submit(_read_batch, read, [items[i] for i in batch], fmt) for batch in batches]
    pool.shutdown(wait=False)  # the workers end once the last batch is done
    return _collected(items, fmt, read, batches, futures)


def _collected(items: list[Input], fmt: str | None, read, batches: list[list[int]], futures: list) -> Iterator:
    """The outcomes of ``_read_all`` in order: the files in the workers' batches as the workers
    send them back, the others read here when reached. A worker that died (killed, out of
    memory) breaks the pool: the files it and the others had not sent back are read here, as
    without workers."""
    from concurrent.futures.process import BrokenProcessPool

    place = {i: (n, k) for n, batch in enumerate(batches) for k, i in enumerate(batch)}
    for i, item in enumerate(items):
        if i not in place:
            yield _read_one(read, item, fmt)
            continue
        batch, k = place[i]
        try:
            yield futures[batch].result()[k]
        except BrokenProcessPool:
            yield _read_one(read, item, fmt)


def _read_batch(read, batch: list[Input], fmt: str | None) -> list:
    """A worker's batch: each outcome, an exception made one that crosses back to the parent
    (an ``UnreadableInput`` as it is, any other as ``WorkerError``)."""
    out = []
    for item in batch:
        outcome = _read_one(read, item, fmt)
        if isinstance(outcome, Exception) and not isinstance(outcome, UnreadableInput):
            outcome = WorkerError(type(outcome).__name__, str(outcome))
        out.append(outcome)
    return out


class WorkerError(Exception):
    """An unexpected exception a worker process met, as its type's name and message (the
    exception itself may not survive pickling)."""

    def __init__(self, kind: str, message: str):
        super().__init__(kind, message)
        self.kind, self.message = kind, message

    def __str__(self) -> str:
        return self.message


def _workers(found: list[Input]) -> int:
    """How many worker processes read these files a folder walk found: none (read here) unless
    on Linux (elsewhere forking is unsafe or unavailable, and a spawned worker would pay all of
    llmtrace's imports again), never with ``LLMTRACE_DEBUG`` (a traceback must come from where
    it happened), else as ``index_workers`` says for the cores this process may use."""
    import sys

    if not sys.platform.startswith("linux") or os.environ.get("LLMTRACE_DEBUG") or len(found) < 2:
        return 1
    return index_workers(len(found), sum(file_size(item.path) for item in found), len(os.sched_getaffinity(0)))


def index_workers(files: int, size: int, cores: int) -> int:
    """Worker processes for indexing ``files`` files of ``size`` bytes in all: 1 (none) unless the
    estimated work pays for forking, then no more than the cores nor than the work keeps busy.
    The machine's load is not asked (``scan`` asks it): the index is all ``serve`` does before
    it answers, and on a busy machine more processes still get it a larger share of the cores."""
    work = files * _FILE_COST_S + size * _BYTE_COST_S
    if work < 4 * _WORKER_COST_S:
        return 1
    return max(1, min(cores, int(work / (2 * _WORKER_COST_S))))


def file_size(path: str) -> int:
    """The size of the file at ``path`` in bytes; 0 when it cannot be asked (a URL, gone)."""
    try:
        return os.stat(path).st_size
    except (OSError, ValueError):
        return 0
