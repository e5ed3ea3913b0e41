"""``llmtrace scan``: sweep a fixtures folder — what is in it, what it cost, what went wrong.

Files are read in worker processes (one per core), in batches, and each worker sends back only
small flat rows, never the recordings. The summary is folded from the rows in the parent.
"""

from __future__ import annotations

import gc
import os
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Iterable

from llmtrace.anomalies import SEVERITY_RANK
from llmtrace.output import dumps, warn, write_out
from llmtrace.walk import Input, iter_inputs, skip_unreadable

# Below this many files a pool costs more than it saves.
_POOL_MIN_FILES = 24
EXAMPLES_PER_CODE = 3


def scan_file(path: str, explicit: bool = True, fmt: str | None = None) -> dict[str, Any]:
    """One file → ``{"file", "rows", "severities", "error", "skipped"}``; never raises for bad input."""
    from llmtrace.anomalies import detect
    from llmtrace.errors import UnreadableInput
    from llmtrace.load import load

    out: dict[str, Any] = {"file": path, "rows": [], "severities": [], "error": None, "skipped": False}
    try:
        recording = load(path, fmt=fmt)
    except UnreadableInput as exc:
        if skip_unreadable(Input(path, explicit), exc):
            out["skipped"] = True
        else:
            out["error"] = exc.line()
        return out
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop a sweep of thousands
        out["error"] = f"{path}: internal error: {type(exc).__name__}: {exc}"
        return out
    for exchange in recording.exchanges:
        anomalies = detect(exchange, recording)
        out["rows"].append(row_of(path, recording.container, exchange, [a.code for a in anomalies]))
        out["severities"].append({a.code: a.severity for a in anomalies})
    return out


def row_of(path: str, container: str, exchange, codes: list[str]) -> dict[str, Any]:
    """The flat ``scan --jsonl`` row of one exchange (contracts.md)."""
    result = exchange.result
    usage = result.usage if result else None
    choices = result.choices if result else []
    return {
        "file": path,
        "exchange": exchange.index,
        "container": container,
        "dialect": exchange.dialect,
        "host": exchange.request.host,
        "endpoint": exchange.request.endpoint,
        "model": (result.model if result and result.model else None) or exchange.request.model,
        "streaming": exchange.response.streaming,
        "chunks": len(exchange.response.chunks) if exchange.response.streaming else None,
        "input_tokens": usage.input_tokens if usage else None,
        "output_tokens": usage.output_tokens if usage else None,
        "total_tokens": usage.total_tokens if usage else None,
        "finish_reason": choices[0].finish_reason if choices else None,
        "anomalies": codes,
        "error": None,
    }


def _scan_batch(batch: list[tuple[str, bool, str | None]]) -> list[dict[str, Any]]:
    # A worker lives for thousands of files: keep the cycle collector that the CLI's start-up
    # turned off (loading still pauses it while it reads each file).
    gc.enable()
    return [scan_file(path, explicit, fmt) for path, explicit, fmt in batch]


def _batches(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def scan(paths: list[str], fmt: str | None = None, jobs: int | None = None, progress=None) -> dict[str, Any]:
    """Scan every input; returns ``{"results": [per-file dict], "skipped": [paths]}``."""
    gc.enable()  # a sweep reads thousands of files: see _scan_batch
    skipped: list[str] = []
    inputs = [(inp.path, inp.explicit, fmt) for inp in iter_inputs(paths, skipped)]
    jobs = jobs or os.cpu_count() or 1
    results: list[dict[str, Any]] = []
    if jobs == 1 or len(inputs) < _POOL_MIN_FILES or "-" in paths:
        for item in inputs:
            results.append(scan_file(*item))
            if progress:
                progress(1)
    else:
        # Batches big enough to amortize inter-process traffic, small enough to balance the load.
        size = max(4, min(64, len(inputs) // (jobs * 8) or 1))
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for batch in pool.map(_scan_batch, list(_batches(inputs, size))):
                results.extend(batch)
                if progress:
                    progress(len(batch))
    skipped.extend(r["file"] for r in results if r["skipped"])
    return {"results": [r for r in results if not r["skipped"]], "skipped": skipped, "total": len(inputs)}


def summarize(scanned: dict[str, Any]) -> dict[str, Any]:
    """The ``scan --json`` summary, folded from the rows."""
    by: dict[str, Counter] = {k: Counter() for k in ("container", "dialect", "host", "model")}
    usage = Counter()
    with_usage = 0
    codes: dict[str, dict[str, Any]] = {}
    failed = []
    exchanges = 0
    for result in scanned["results"]:
        if result["error"]:
            failed.append({"file": result["file"], "error": result["error"]})
            continue
        for row, severities in zip(result["rows"], result["severities"]):
            exchanges += 1
            for key, counter in by.items():
                counter[row[key] or "—"] += 1
            if row["input_tokens"] is not None or row["output_tokens"] is not None:
                with_usage += 1
            for key in ("input_tokens", "output_tokens", "total_tokens"):
                usage[key] += row[key] or 0
            for code, severity in severities.items():
                entry = codes.setdefault(code, {"count": 0, "severity": severity, "files": []})
                entry["count"] += 1
                if SEVERITY_RANK[severity] > SEVERITY_RANK[entry["severity"]]:
                    entry["severity"] = severity
                if len(entry["files"]) < EXAMPLES_PER_CODE and row["file"] not in entry["files"]:
                    entry["files"].append(row["file"])
    ordered = dict(sorted(codes.items(), key=lambda kv: (-SEVERITY_RANK[kv[1]["severity"]], -kv[1]["count"], kv[0])))
    return {
        "files": len(scanned["results"]),
        "exchanges": exchanges,
        "skipped": len(scanned["skipped"]),
        "failed": failed,
        **{f"by_{key}": dict(counter.most_common()) for key, counter in by.items()},
        "usage": {**{k: usage[k] for k in ("input_tokens", "output_tokens", "total_tokens")},
                  "exchanges_with_usage": with_usage},
        "anomalies": ordered,
    }


def worst_severity(scanned: dict[str, Any]) -> str | None:
    worst = None
    for result in scanned["results"]:
        for severities in result["severities"]:
            for severity in severities.values():
                if worst is None or SEVERITY_RANK[severity] > SEVERITY_RANK[worst]:
                    worst = severity
    return worst


def run(paths: list[str], as_json: bool = False, jsonl: bool = False, fail_on: str | None = None,
        fmt: str | None = None, jobs: int | None = None) -> int:
    show_progress = not (as_json or jsonl) and sys.stderr.isatty() and sys.stdout.isatty()
    if show_progress:
        scanned = _with_progress(paths, fmt, jobs)
    else:
        scanned = scan(paths, fmt=fmt, jobs=jobs)
    failed = [r for r in scanned["results"] if r["error"]]
    if jsonl:
        parts = []
        for result in scanned["results"]:
            if result["error"]:
                parts.append(dumps({"file": result["file"], "exchange": None, "error": result["error"]}))
            parts.extend(dumps(row) for row in result["rows"])
        write_out(parts)
    elif as_json:
        write_out([dumps(summarize(scanned))])
    else:
        from rich.console import Console

        from llmtrace.render.scan import ScanSummary

        Console().print(ScanSummary(summarize(scanned)))
    for result in failed:
        warn(result["error"])
    if failed:
        return 2
    worst = worst_severity(scanned)
    if fail_on and worst and SEVERITY_RANK[worst] >= SEVERITY_RANK[fail_on]:
        return 1
    return 0


def _with_progress(paths: list[str], fmt: str | None, jobs: int | None) -> dict[str, Any]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    total = sum(1 for _ in iter_inputs(paths))
    with Progress(TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("scan", total=total)
        return scan(paths, fmt=fmt, jobs=jobs, progress=lambda n: bar.advance(task, n))
