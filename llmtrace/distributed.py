"""Beyond one machine: recordings in object storage, ``scan`` on a Dask cluster, Parquet out.

The only module that imports fsspec, dask and pyarrow (the optional extra
``llmtrace[distributed]``), and only inside the functions that need them, so that a command
given plain paths never pays for them and one given a URL without the extra gets one line
naming it.

- **URLs as inputs** (``s3://``, ``gs://``, ``az://``, ``http(s)://``, ``file://``, globs):
  ``sources.iter_inputs`` lists them here (``inputs``) and ``loader.read_bytes`` reads them here
  (``read_url``), so every command that reads files takes them. Credentials and endpoints come
  from the stores' own environment variables (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``,
  ``GOOGLE_APPLICATION_CREDENTIALS``, ``AZURE_STORAGE_CONNECTION_STRING``, …) or from
  ``--storage-option KEY=VALUE`` (``set_storage_options``).
- **On a cluster** (``scan_on_cluster``): the files are listed once, here, and grouped into tasks
  of about ``TASK_BYTES``; each task reads its files on a worker (concurrently, for an object
  store), calls ``sweep.scan_file`` on each — the function ``llmtrace.rows`` wraps — writes
  its rows as one Parquet part straight to the destination, and sends back only its ``Tally``
  (the summary's counts, the errors) and, for ``--jsonl``, its lines. Dask schedules, retries a
  task whose worker was lost and draws the progress bar: there is no queue or retry of ours.
- **Parquet** (``parquet_rows``): the columns and types of ``sweep.COLUMNS``.
"""

from __future__ import annotations

import os
import pickle
import re
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from llmtrace.errors import UnreadableInput, UsageError

EXTRA = "pip install 'llmtrace[distributed]'"
# A task reads about this many bytes (fewer when there are too few files to keep every worker busy).
TASK_BYTES = 64 << 20
# What a file whose size the listing did not give counts for in grouping (a recording's usual size).
_UNKNOWN_SIZE = 64 << 10
# Tasks per worker at least, when the input is small: a slow task does not hold up the end. With
# 10,000 corpus files on 2 workers, the per-file scan times measured one by one give a last task
# ending 3.7% after the ideal with 4 tasks a worker, 0.3% with 8 (bench_distributed.py).
TASKS_PER_WORKER = 8

# What ``--storage-option`` gave, for every URL this process opens (set by the CLI).
_options: dict[str, Any] = {}

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")
_MAGIC = re.compile(r"[*?\[]")
# The driver each store needs, for the one-line hint when it is missing.
_DRIVERS = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs",
            "abfss": "adlfs", "http": "aiohttp", "https": "aiohttp"}


def is_url(path: str) -> bool:
    """Whether a command-line path is a URL (``s3://…``), not a local path (``C:\\`` is not)."""
    return bool(_URL.match(path))


def set_storage_options(pairs: list[str]) -> None:
    """``--storage-option KEY=VALUE`` (repeatable): passed to the store's fsspec driver for every
    URL. A value is JSON when it reads as JSON (``true``, ``3``, ``{"a": 1}``), else a string; a
    dotted key nests (``client_kwargs.region_name=eu-west-1``)."""
    import orjson

    _options.clear()
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--storage-option {pair!r}: expected KEY=VALUE")
        try:
            parsed: Any = orjson.loads(value)
        except orjson.JSONDecodeError:
            parsed = value
        *parents, last = key.strip().split(".")
        target = _options
        for parent in parents:
            target = target.setdefault(parent, {})
            if not isinstance(target, dict):
                raise UsageError(f"--storage-option {pair!r}: {parent} is set to a value already")
        target[last] = parsed


def storage_options() -> dict[str, Any]:
    return dict(_options)


def set_options(options: dict[str, Any]) -> None:
    """The storage options of this process, as parsed already (a worker's, from its parent)."""
    _options.clear()
    _options.update(options)


def _fsspec(url: str):
    try:
        import fsspec
    except ImportError:
        raise UsageError(f"{url}: reading a URL needs fsspec: {EXTRA}") from None
    return fsspec


def filesystem(url: str, options: dict[str, Any] | None = None):
    """``(filesystem, path)`` of a URL; the missing driver named in one line."""
    fsspec = _fsspec(url)
    protocol = url.split("://", 1)[0].lower()
    try:
        return fsspec.core.url_to_fs(url, **(_options if options is None else options))
    except ImportError:
        driver = _DRIVERS.get(protocol)
        hint = f"pip install {driver}" if driver in ("gcsfs", "adlfs") else EXTRA
        raise UsageError(f"{url}: reading {protocol}:// needs {driver or 'its fsspec driver'}: {hint}") from None
    except ValueError as exc:  # an unknown protocol
        raise UsageError(f"{url}: {exc}") from None
    except TypeError as exc:  # a --storage-option the driver does not take
        raise UsageError(f"{url}: bad --storage-option for {protocol}:// ({exc})") from None


# --- listing ---------------------------------------------------------------------------------------------------


def listing(url: str) -> list[tuple[str, bool, int | None, str | None]]:
    """The files a URL names, in the order ``walk`` gives local ones (a folder's files, then its
    subfolders), as ``(url, explicit, size, error)``. A prefix (folder) is walked with the
    walk's rules (hidden entries and plainly-not-recording names passed over); a glob's
    matches are taken as named; anything else is one file, read later (and reported then if
    it is missing). A listing that fails is one input with its error."""
    from llmtrace.walk import is_skipped

    fs, path = filesystem(url)
    try:
        if _MAGIC.search(path):
            found, explicit = fs.glob(path, detail=True), True
        elif _is_dir(fs, path):
            found, explicit = fs.find(path, detail=True), False
        else:
            return [(url, True, None, None)]
    except Exception as exc:  # noqa: BLE001 - every driver has its own errors (no credentials, no bucket)
        return [(url, True, None, f"cannot list ({_reason(exc)})")]
    base = path.rstrip("/")
    out = []
    for name, info in found.items():
        if info.get("type") == "directory":
            continue
        parts = name[len(base):].strip("/").split("/") if name.startswith(base) else [name.rsplit("/", 1)[-1]]
        if not explicit and (any(p.startswith(".") for p in parts[:-1]) or is_skipped(parts[-1])):
            continue
        out.append((_walk_key(parts), fs.unstrip_protocol(name), explicit, info.get("size")))
    out.sort(key=lambda entry: entry[0])
    return [(name, explicit, size, None) for _, name, explicit, size in out]


def _is_dir(fs, path: str) -> bool:
    if path.endswith("/"):
        return True
    try:
        return fs.isdir(path)
    except (OSError, ValueError):
        return False


def _walk_key(parts: list[str]) -> tuple:
    """Sorts as ``walk`` lists: within a folder its files (0, name) before its subfolders (1, name)."""
    return (*((1, p) for p in parts[:-1]), (0, parts[-1]))


def inputs(url: str) -> Iterator:
    """``walk.Input`` for each file a URL names (``sources.iter_inputs`` hands URLs here)."""
    from llmtrace.walk import Input

    for name, explicit, _size, error in listing(url):
        yield Input(name, explicit, error)


# --- reading ---------------------------------------------------------------------------------------------------


def read_url(url: str, limit: int | None) -> bytes:
    """The bytes at a URL, at most ``limit`` (None: no cap); bad or missing ones as UnreadableInput."""
    from llmtrace import limits

    fs, path = filesystem(url)
    try:
        with fs.open(path, "rb") as fh:
            data = fh.read(limit + 1) if limit is not None else fh.read()
    except FileNotFoundError:
        raise UnreadableInput("no such file", path=url) from None
    except IsADirectoryError:
        raise UnreadableInput("is a directory", path=url) from None
    except Exception as exc:  # noqa: BLE001 - every driver has its own errors; all are one line here
        raise UnreadableInput(f"cannot read ({_reason(exc)})", path=url) from None
    if limit is not None and len(data) > limit:
        raise UnreadableInput(limits.beyond_limit("input goes on", limit), path=url)
    return data


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _fetch(urls: list[str], options: dict[str, Any]) -> dict[str, bytes]:
    """The bytes of many files of one store, read concurrently where the driver can (``cat`` of a
    list); a file that failed is left out (it is read again alone, and its error reported then)."""
    if not urls:
        return {}
    fs, _ = filesystem(urls[0], options)
    paths = [fs._strip_protocol(u) for u in urls]
    try:
        got = fs.cat(paths, on_error="return")
    except Exception:  # noqa: BLE001 - read one by one instead, each with its own error
        return {}
    by_path = dict(zip(paths, urls))
    return {by_path[p]: data for p, data in got.items() if isinstance(data, bytes) and p in by_path}


# --- Parquet ---------------------------------------------------------------------------------------------------


def _pyarrow(what: str):
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise UsageError(f"{what}: writing Parquet needs pyarrow: {EXTRA}") from None
    return pyarrow


def arrow_schema():
    """``sweep.COLUMNS`` as an Arrow schema."""
    pa = _pyarrow("--parquet")
    from llmtrace.sweep import COLUMNS

    types = {"string": pa.string(), "int64": pa.int64(), "bool": pa.bool_(), "list<string>": pa.list_(pa.string())}
    return pa.schema([(name, types[kind]) for name, kind in COLUMNS])


# Rows per Parquet row group: each group is built from rows held as dicts until then.
ROW_GROUP_ROWS = 65_536


@contextmanager
def parquet_rows(dest: str, options: dict[str, Any] | None = None) -> Iterator[Callable[[list[dict[str, Any]]], None]]:
    """A Parquet file at a path or URL, written as rows come: ``add(rows)`` in the block, a row
    group per ``ROW_GROUP_ROWS`` rows (never all rows as dicts at once). It appears whole when
    the block ends, or not at all (``_stored_whole``; for a URL it is built in memory,
    compressed: tens of bytes a row)."""
    pa = _pyarrow(dest)
    import pyarrow.parquet as pq

    schema = arrow_schema()
    names = schema.names
    pending: list[dict[str, Any]] = []

    def add(rows: list[dict[str, Any]]) -> None:
        pending.extend({name: row.get(name) for name in names} for row in rows)
        if len(pending) >= ROW_GROUP_ROWS:
            flush()

    def flush() -> None:
        try:
            table = pa.Table.from_pylist(pending, schema=schema)
        except UnicodeEncodeError:  # a lone surrogate: a file name whose bytes are not UTF-8
            from llmtrace.output import without_surrogates

            table = pa.Table.from_pylist(without_surrogates(pending), schema=schema)
        writer.write_table(table)
        pending.clear()

    with _stored_whole(dest, options) as sink:
        writer = pq.ParquetWriter(sink, schema)
        try:
            yield add
            if pending:
                flush()
        finally:
            writer.close()  # on failure too: the writer is done with its sink before it goes


@contextmanager
def _stored_whole(dest: str, options: dict[str, Any] | None) -> Iterator[Any]:
    """Where to write a file that must appear at ``dest`` whole or not at all: a temporary file
    renamed over a local path; for a URL, memory stored there in one go when the block ends
    (an object store makes an object visible only when it is complete)."""
    if not is_url(dest):
        from llmtrace.output import atomic_file

        with atomic_file(dest) as fh:
            yield fh
        return
    import pyarrow

    sink = pyarrow.BufferOutputStream()
    yield sink
    fs, path = filesystem(dest, options)
    fs.pipe_file(path, sink.getvalue().to_pybytes())


def _destination(dest: str) -> None:
    """Where the parts of a distributed scan go: a folder (or prefix) that is made if missing and
    must not hold Parquet files already (the old parts would mix with the new)."""
    if is_url(dest):
        fs, path = filesystem(dest)
        try:
            existing = fs.find(path) if _is_dir(fs, path) else ([path] if fs.exists(path) else [])
        except OSError:
            existing = []
    else:
        if os.path.isfile(dest):
            existing = [dest]
        else:
            os.makedirs(dest, exist_ok=True)
            existing = os.listdir(dest)
    if any(str(name).endswith(".parquet") or name == dest for name in existing):
        raise UsageError(f"{dest}: holds Parquet files already; name a new folder for the parts")


def part_name(dest: str, index: int) -> str:
    return f"{dest.rstrip('/')}/part-{index:05d}.parquet"


# --- on a cluster ----------------------------------------------------------------------------------------------


def groups(items: list[tuple[str, bool, int | None, str | None]], workers: int,
           task_bytes: int = TASK_BYTES) -> list[list]:
    """Files grouped into tasks of about ``task_bytes`` — fewer bytes when that would make fewer
    than ``TASKS_PER_WORKER`` tasks a worker — in listing order (a task's files are neighbours,
    so the parts keep the listing's order).

    >>> [len(g) for g in groups([(f"f{i}", False, 10, None) for i in range(25)], workers=1, task_bytes=30)]
    [3, 3, 3, 3, 3, 3, 3, 3, 1]
    >>> [len(g) for g in groups([(f"f{i}", False, 10, None) for i in range(32)], workers=2)]
    [2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]
    """
    total = sum(_UNKNOWN_SIZE if size is None else size for _, _, size, _ in items)
    target = max(1, min(task_bytes, total // max(1, workers * TASKS_PER_WORKER)))
    out: list[list] = []
    current: list = []
    held = 0
    for item in items:
        current.append(item)
        held += _UNKNOWN_SIZE if item[2] is None else item[2]
        if held >= target:
            out.append(current)
            current, held = [], 0
    if current:
        out.append(current)
    return out


def scan_group(items: list, fmt: str | None, options: dict[str, Any], max_size: int, part: str | None) -> list[dict]:
    """One task's work, on a worker: its files read (a store's concurrently), scanned, and, with
    ``part``, their rows written there as Parquet; the per-file results (``scan_task`` folds them
    into what goes back)."""
    from llmtrace import limits
    from llmtrace.sweep import output_rows, scan_file

    limits.set_max_size(max_size)
    set_options(options)
    remote = [url for url, _, size, error in items if is_url(url) and not error and (size or 0) <= max_size]
    by_store: dict[str, list[str]] = {}
    for url in remote:
        by_store.setdefault(url.split("://", 1)[0] + "://" + url.split("://", 1)[1].split("/", 1)[0], []).append(url)
    fetched: dict[str, bytes] = {}
    for urls in by_store.values():
        fetched.update(_fetch(urls, options))
    results = []
    for url, explicit, _size, error in items:
        results.append(scan_file(url, explicit, fmt, error, data=fetched.pop(url, None)))
    if part is not None:
        with parquet_rows(part, options) as add:
            for result in results:
                add(output_rows(result))
    return results


def scan_task(packed: bytes, fmt: str | None, options: dict[str, Any], max_size: int, part: str | None,
              lines: bool) -> bytes:
    """``scan_group`` as a Dask task. What goes back is what ``scan`` needs of its files: their
    ``Tally`` (the summary's counts and the errors), and with ``lines`` their ``scan --jsonl``
    lines, encoded here, as one ``bytes`` (joined by newlines; None without ``lines``). With
    ``--parquet`` the rows go to the part only: a scan of millions of files does not gather
    them on the client.

    Files in and results out travel pickled, as one ``bytes`` each. As lists of tuples and
    dicts they cost Dask far more: for 10,000 files on a 1-worker cluster, building the tasks
    took 0.10-0.16 s and fetching the per-file results after the last task 0.5-0.8 s (~35 µs of
    CPU a file in the worker and again in the client), against 0.01 s and 0.04-0.09 s as bytes;
    2 workers vs 1 went from 1.48x and 1.52x to 1.65-1.84x (bench/bench_distributed.py)."""
    from llmtrace.output import dumps
    from llmtrace.sweep import output_rows
    from llmtrace.tally import Tally

    tally = Tally()
    results = scan_group(pickle.loads(packed), fmt, options, max_size, part)
    for result in results:
        tally.add(result)
    blob = b"\n".join(dumps(row) for result in results for row in output_rows(result)) if lines else None
    return pickle.dumps((blob, tally), protocol=5)


def _dask():
    try:
        import dask
        import dask.distributed  # noqa: F401
    except ImportError:
        raise UsageError(f"--scheduler needs dask.distributed: {EXTRA}") from None
    return dask


# Dask settings of the clusters ``--scheduler local`` starts (never of a user's cluster): the
# workers' statistical profiler samples the task thread's stack every 10 ms for the dashboard's
# profile page, which nobody sees here; and the nanny starts workers with
# ``MALLOC_TRIM_THRESHOLD_=65536`` (glibc hands freed memory back to the system past 64 KiB, and
# its dynamic mmap threshold is off), which made the scan of a file 1.5x slower (each read and
# each parse allocates and frees tens of KiB): None unsets it (bench/bench_distributed.py); each
# worker's cycle collector is set for a sweep (``llmtrace.dask_worker``, preloaded); and the
# event loop's health check (a tick that measures how late the loop is, for a warning after 3 s
# and the dashboard) runs every 500 ms, as in Dask's own test clusters, not every 20 ms: each
# tick woke the worker's loop thread, which took the interpreter lock from the scan's thread
# (a 1-worker cluster's scan of 10,000 files: the loop thread's CPU 0.12-0.13 s -> 0.07-0.08 s,
# the scan thread's waits for the lock 800-1,100 -> ~500).
LOCAL_CLUSTER_CONFIG = {"distributed.worker.profile.enabled": False,
                        "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                        "distributed.worker.preload": ["llmtrace.dask_worker"],
                        "distributed.admin.tick.interval": "500ms"}
# How long connecting to ``--scheduler tcp://…`` may take: Dask's own setting where it differs
# from Dask's shipped default (``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=1m`` or a Dask config
# file), else this.
CONNECT_TIMEOUT = "10s"
_CONNECT_KEY = "distributed.comm.timeouts.connect"


def connect_timeout() -> str | float:
    """Dask's ``distributed.comm.timeouts.connect`` where the environment or a config file sets
    it to something else than Dask's shipped default (30 s), else ``CONNECT_TIMEOUT``: a command
    line that names a wrong address should say so soon."""
    dask = _dask()  # with dask.distributed imported: its defaults are known
    value = dask.config.get(_CONNECT_KEY, None)
    shipped = [d.get("distributed", {}).get("comm", {}).get("timeouts", {}).get("connect") for d in dask.config.defaults
               if isinstance(d, dict)]
    return CONNECT_TIMEOUT if value in (None, "") or value in shipped else value


def client_for(scheduler: str, workers: int | None):
    """A Dask client: on the cluster at ``scheduler`` (``tcp://HOST:8786``), or on a
    ``LocalCluster`` of ``workers`` processes (one thread each) for ``local``. Returns
    ``(client, cluster or None)``; the caller closes both."""
    import logging

    dask = _dask()
    from dask.distributed import Client, LocalCluster

    if scheduler == "local":
        with dask.config.set(LOCAL_CLUSTER_CONFIG):
            cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
        return Client(cluster), cluster
    if workers is not None:
        raise UsageError("--workers is for --scheduler local; a cluster has the workers it has")
    try:
        return Client(scheduler, timeout=connect_timeout()), None
    except (OSError, ValueError) as exc:
        raise UsageError(f"--scheduler {scheduler}: cannot connect ({_reason(exc)})") from None


def scan_on_cluster(paths: list[str], scheduler: str, workers: int | None, fmt: str | None, parquet: str | None,
                    progress: bool, lines: bool = False) -> Iterator[tuple[bytes | None, Any]]:
    """``scan`` on a Dask cluster: ``(lines, tally)`` per task, in listing order (see
    ``run_tasks``), after a first ``(None, tally)`` counting the files the listing passed over.
    With ``parquet``, each task writes its rows as ``part-NNNNN.parquet`` under it."""
    from llmtrace.tally import Tally

    skipped: list[str] = []
    items = list_all(paths, skipped)
    if parquet:
        _destination(parquet)
    listed = Tally()
    listed.skipped = len(skipped)
    yield None, listed
    client, cluster = client_for(scheduler, workers)
    try:
        yield from run_tasks(client, items, fmt, parquet, progress, lines)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def list_all(paths: list[str], skipped: list[str]) -> list[tuple[str, bool, int | None, str | None]]:
    """Every file the paths and URLs name, once, as ``(path, explicit, size, error)``."""
    from llmtrace.walk import iter_inputs as iter_local

    items = []
    for path in paths:
        if path == "-":
            raise UsageError("--scheduler: stdin (-) cannot be read on a cluster; name files or URLs")
        if is_url(path):
            items.extend(listing(path))
        else:  # a local path: the workers must see the same file system (a LocalCluster does)
            for inp in iter_local([path], skipped):
                items.append((inp.path, inp.explicit, _local_size(inp.path), inp.error))
    return items


def run_tasks(client, items: list, fmt: str | None, parquet: str | None, progress: bool = False,
              lines: bool = False) -> Iterator[tuple[bytes | None, Any]]:
    """The listed files scanned in tasks on the client's cluster: ``(lines, tally)`` of each task
    (``scan_task``), in listing order, each as soon as it and the tasks before it are done."""
    _dask()
    from dask.distributed import as_completed

    from llmtrace import limits

    count = len(client.scheduler_info().get("workers", {})) or 1
    options, max_size = storage_options(), limits.max_size()
    futures = [client.submit(scan_task, pickle.dumps(group, protocol=5), fmt, options, max_size,
                             part_name(parquet, i) if parquet else None, lines, pure=False)
               for i, group in enumerate(groups(items, count))]
    if progress:
        from dask.distributed import progress as bar

        bar(futures)
    # Each task's result fetched as it ends, while the others run, and let go of on its worker
    # then; held here only until the tasks before it are done.
    order = {future.key: i for i, future in enumerate(futures)}
    done: dict[int, tuple] = {}
    pending = as_completed(futures, with_results=True)
    futures.clear()
    emitted = 0
    for future, packed in pending:
        done[order.pop(future.key)] = pickle.loads(packed)
        while emitted in done:
            yield done.pop(emitted)
            emitted += 1


def _local_size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None
