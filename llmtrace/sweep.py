"""One file's ``scan`` rows, as a pure function of its bytes and its name.

``scan`` (on one machine or on a Dask cluster) and ``llmtrace.rows`` (for Spark, Ray or any
other engine) call the same functions here, so a row is the same wherever it was made. The
columns and their types are listed once, in ``COLUMNS``: the JSON Lines rows of ``scan --jsonl``
have them (an error row only ``file``, ``exchange`` and ``error``) and the Parquet files of
``scan --parquet`` are written with them (``llmtrace.distributed``).
"""

from __future__ import annotations

from typing import Any

# Imported here, not in ``scan_file``: a function's own imports cost about half a microsecond
# each on every call, and a sweep calls it for every file.
from llmtrace import limits
from llmtrace.anomalies import detect
from llmtrace.errors import UnreadableInput
from llmtrace.loader import load, read_bytes

# The scan row: (column, type). Types are Arrow's names: ``string``, ``int64``, ``bool`` and
# ``list<string>``; every column may be null. An exchange's row fills them all (``error``
# null); a file that cannot be read is one row with ``exchange`` null and ``error`` set.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("file", "string"),
    ("exchange", "int64"),
    ("container", "string"),
    ("dialect", "string"),
    ("fidelity", "string"),
    ("host", "string"),
    ("endpoint", "string"),
    ("model", "string"),
    ("streaming", "bool"),
    ("chunks", "int64"),
    ("input_tokens", "int64"),
    ("output_tokens", "int64"),
    ("total_tokens", "int64"),
    ("finish_reason", "string"),
    ("anomalies", "list<string>"),
    ("error", "string"),
)


def scan_file(path: str, explicit: bool = True, fmt: str | None = None, error: str | None = None,
              data: bytes | None = None) -> dict[str, Any]:
    """One file → ``{"file", "rows", "severities", "error", "skipped"}``; never raises for bad input.
    ``error``: why the input cannot be read, known before reading (a folder the walk could not list);
    ``data``: the file's bytes when they were read already (from object storage), else it is read
    from ``path``."""
    out: dict[str, Any] = {"file": path, "rows": [], "severities": [], "error": None, "skipped": False}
    if error:
        out["error"] = f"{path}: {error}"
        return out
    try:
        if data is None and not explicit:  # found by a folder walk, as a regular file
            data = read_bytes(path, limits.max_size(), listed=True)
        recording = load(path, data=data, fmt=fmt)
    except UnreadableInput as exc:
        from llmtrace.walk import Input, skip_unreadable

        if skip_unreadable(Input(path, explicit), exc):
            out["skipped"] = True
        else:
            out["error"] = exc.line()
        return out
    except MemoryError:  # reading the bytes themselves (parsing and folding say it in load)
        out["error"] = f"{path}: {limits.out_of_memory(ran_out=True)}"
        return out
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop a sweep of thousands
        out["error"] = f"{path}: internal error: {type(exc).__name__}: {exc}"
        return out
    try:
        for exchange in recording.exchanges:
            anomalies = detect(exchange, recording)
            out["rows"].append(row_of(path, recording.container, exchange, [a.code for a in anomalies]))
            out["severities"].append({a.code: a.severity for a in anomalies})
    except MemoryError:
        out.update(rows=[], severities=[], error=f"{path}: {limits.out_of_memory(ran_out=True)}")
    except Exception as exc:  # noqa: BLE001 - as above
        out.update(rows=[], severities=[], error=f"{path}: internal error: {type(exc).__name__}: {exc}")
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
        "fidelity": exchange.fidelity,
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


def output_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows ``scan --jsonl`` prints for one ``scan_file`` result: one per exchange, or one
    error row; none for a file passed over."""
    if result["error"]:
        return [{"file": result["file"], "exchange": None, "error": result["error"]}]
    return result["rows"]


def rows(data: bytes, name: str) -> list[dict[str, Any]]:
    """The rows ``llmtrace scan --jsonl`` prints for one file, from its bytes: one flat dict per
    exchange (the columns of ``COLUMNS``), or a single row ``{"file", "exchange": None, "error"}``
    for a file that cannot be read. ``name`` is what the rows' ``file`` says (a path or a URL);
    nothing is read from it. Pure: no global state is changed, nothing is printed, and it never
    raises for bad input, so any engine can map it over a store's files.

    >>> from llmtrace.sweep import rows
    >>> row, = rows(b'data: {"choices": [{"delta": {"content": "Hi"}}]}\\n\\ndata: [DONE]\\n\\n', "a.sse")
    >>> row["container"], row["dialect"], row["streaming"], row["chunks"], row["error"]
    ('sse', 'openai-chat', True, 1, None)
    >>> rows(b'{"broken": ', "b.json")
    [{'file': 'b.json', 'exchange': None, 'error': 'b.json: cut off mid-JSON (unexpected end of data), line 1, column 12 (byte 11)'}]
    """
    return output_rows(scan_file(name, explicit=True, data=bytes(data)))
