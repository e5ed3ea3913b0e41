"""llmtrace: inspect recorded LLM streaming transcripts — from Python.

The public API is what ``__all__`` lists; everything else is internal and may change.

>>> import llmtrace
>>> recording = llmtrace.load("examples/llama-stack/together-llama-tool-call-as-text.json")
>>> recording.container, [exchange.dialect for exchange in recording.exchanges]
('llama-stack', ['openai-chat'])
>>> response = llmtrace.reassemble(recording.exchanges[0])
>>> response["choices"][0]["message"]["content"]
'{"type": "function", "name": "get_weather", "parameters": {"city": "Tokyo"}}'
>>> [(a.code, a.severity) for a in llmtrace.check(recording, fail_on="warning")]
[('tool-call-in-text', 'warning')]
>>> llmtrace.diff(recording, recording)
[]

Importing ``llmtrace`` is cheap: it loads neither rich nor typer, and the rest of the package
only when a function needs it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterable

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "load",
    "reassemble",
    "check",
    "diff",
    "serve",
    "rows",
    "COLUMNS",
    "Recording",
    "Exchange",
    "Request",
    "Response",
    "Message",
    "ToolCall",
    "Usage",
    "Anomaly",
    "Difference",
    "UnreadableInput",
    "SEVERITIES",
]

# Severity names, least to most severe (``check(fail_on=…)`` takes one of them).
SEVERITIES = ("info", "warning", "error")

if TYPE_CHECKING:  # pragma: no cover - names for type checkers; loaded lazily at run time
    from llmtrace.compare import Difference
    from llmtrace.errors import UnreadableInput
    from llmtrace.sweep import COLUMNS
    from llmtrace.model import Anomaly, Exchange, Message, Recording, Request, Response, ToolCall, Usage

_LAZY = {
    "Recording": "llmtrace.model", "Exchange": "llmtrace.model", "Request": "llmtrace.model",
    "Response": "llmtrace.model", "Message": "llmtrace.model", "ToolCall": "llmtrace.model",
    "Usage": "llmtrace.model", "Anomaly": "llmtrace.model", "Difference": "llmtrace.compare",
    "UnreadableInput": "llmtrace.errors", "COLUMNS": "llmtrace.sweep",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llmtrace' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def load(source: str | os.PathLike | bytes, format: str | None = None) -> Recording:
    """Read one recording: a path (``"-"`` is stdin) or the bytes of one. The container and the
    dialects are detected from the content; ``format`` names the container instead
    (``llama-stack``, ``vcr``, ``har``, ``sse``, ``ndjson``, ``json-chunks``, …).

    Raises ``UnreadableInput`` (its ``line()`` is the one-line reason the CLI prints) for
    anything that is not a readable recording, a path that cannot name a file included (an
    embedded NUL byte, too long); never anything else for bad input. A ``source`` that is no
    path and no bytes (a number, None) is a programming error: ``TypeError``, as ``open``
    raises."""
    from llmtrace.loader import load as _load

    if isinstance(source, (bytes, bytearray, memoryview)):
        return _load("<bytes>", data=bytes(source), fmt=format)
    path = os.fspath(source)
    if isinstance(path, bytes):  # a bytes path-like (os.DirEntry of bytes): decoded as the OS does
        path = os.fsdecode(path)
    if "\0" in path:
        from llmtrace.errors import UnreadableInput
        from llmtrace.output import one_line

        raise UnreadableInput("not a file name (it holds a NUL byte)", path=one_line(path.replace("\0", "\\0")))
    return _load(path, fmt=format)


def reassemble(recording: Recording | Exchange, normalized: bool = False) -> Any:
    """The response each exchange would have returned unstreamed, in the provider's own shape
    (``normalized=True``: llmtrace's provider-neutral message, as ``reassemble --normalized``
    prints). An exchange gives one value; a recording gives a list, one per exchange, in file
    order. A recorded error gives ``{"error": …, "status": …}``."""
    from llmtrace.view import normalized_json, provider_json
    from llmtrace.model import Exchange as _Exchange

    render = normalized_json if normalized else provider_json
    if isinstance(recording, _Exchange):
        return render(recording)
    return [render(exchange) for exchange in recording.exchanges]


def check(recording: Recording | Exchange, fail_on: str | None = None, ignore: Iterable[str] = ()) -> list[Anomaly]:
    """The anomalies of a recording (or one exchange), most severe first within each exchange.
    ``fail_on`` keeps only those at or above a severity (``info``, ``warning``, ``error``) — what
    ``llmtrace check --fail-on`` would fail on; ``ignore`` drops codes. Unknown severities or
    codes raise ValueError."""
    from llmtrace.anomalies import CHECKS, SEVERITY_RANK, detect
    from llmtrace.model import Exchange as _Exchange

    ignored = set(ignore)
    unknown = sorted(ignored - CHECKS.keys())
    if unknown:
        raise ValueError(f"unknown anomaly code{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
    if fail_on is not None and fail_on not in SEVERITY_RANK:
        raise ValueError(f"fail_on should be one of {', '.join(SEVERITIES)}, not {fail_on!r}")
    if isinstance(recording, _Exchange):
        found = detect(recording)
    else:
        found = [a for exchange in recording.exchanges for a in detect(exchange, recording)]
    floor = SEVERITY_RANK[fail_on] if fail_on is not None else -1
    return [a for a in found if a.code not in ignored and SEVERITY_RANK[a.severity] >= floor]


def diff(a: Recording, b: Recording, strict: bool = False, ignore: Iterable[str] = ()) -> list[Difference]:
    """What differs between two recordings, compared by meaning after reassembly, as
    ``llmtrace diff --json`` lists it: ``Difference(path, change, a, b)`` with paths such as
    ``choices[0].content``. Chunk counts, timing and ids count only with ``strict``; ``ignore``
    takes paths (``usage``, ``choices[*].reasoning``). Empty when they are equivalent."""
    from llmtrace import compare
    from llmtrace.view import documents

    patterns = list(ignore)
    for pattern in patterns:
        compare.parse_path(pattern)  # ValueError, with the reason, for a bad path
    pairs = compare.compare_recordings(documents(a), documents(b), strict=strict, ignore=patterns)
    return [d for pair in pairs for d in pair.differences if d.counts]


def rows(data: bytes, name: str) -> list[dict[str, Any]]:
    """The rows ``llmtrace scan --jsonl`` prints for one file, from its bytes: a flat dict per
    exchange, or one ``{"file", "exchange": None, "error"}`` row for a file that cannot be read.
    ``name`` is only what the rows' ``file`` says. No global state, no terminal, never raises for
    bad input: what Spark's ``mapPartitions`` or Ray's ``map_batches`` call on each file.

    >>> import llmtrace
    >>> row, = llmtrace.rows(open("examples/llama-stack/together-llama-tool-call-as-text.json", "rb").read(), "a.json")
    >>> row["container"], row["dialect"], row["anomalies"], row["error"]
    ('llama-stack', 'openai-chat', ['tool-call-in-text', 'malformed-url'], None)
    """
    from llmtrace.sweep import rows as _rows

    return _rows(data, name)


def serve(recordings: Iterable[Recording | str | os.PathLike], *, speed: float | None = None,
          rate: float | None = None, faults: Iterable[str] = (), seed: int | None = None, match: str = "strict",
          cors: bool = False, host: str = "127.0.0.1", port: int = 0, roots: Iterable[str | os.PathLike] = (),
          upstream: str | None = None, record_to: str | os.PathLike | None = None, save_as: str = "har"):
    """Recordings served as a live provider endpoint, as an async context manager (the server of
    ``llmtrace serve``)::

        async with llmtrace.serve(["cassettes/chat.yaml"]) as server:
            client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="test")

    ``speed`` divides the recorded pace (None: as fast as the socket takes them); ``rate`` paces
    recordings without times; ``faults`` are ``--fault`` specs; ``match`` is ``strict``,
    ``loose``, ``sequence`` or ``closest``; port 0 takes a free one. ``server.requests`` is the
    journal (one ``{method, path, matched, status, frames, faults, differences}`` per request),
    ``server.reset()`` empties it and rewinds sequences. Recordings given as paths are named
    relative to them (``roots``: the folders they were found in, for recordings given loaded).
    ``upstream`` records on miss (``serve --upstream``): a request nothing matches is forwarded
    there, written into ``record_to`` (a folder) as ``save_as`` (``har`` or ``vcr``), and served
    from then on. Needs aiohttp (installed with llmtrace)."""
    from llmtrace.containers import bodies
    from llmtrace.server.app import Options, Server
    from llmtrace.server.faults import parse

    recordings = list(recordings)
    bodies.keep_raw(True)  # recordings read from paths here are served as their recorded bytes
    try:
        loaded = [r if not isinstance(r, (str, os.PathLike)) else load(r) for r in recordings]
    finally:
        bodies.keep_raw(False)
    grow = None
    if upstream is not None:
        from llmtrace.server.onmiss import Upstream

        if record_to is None or save_as not in ("har", "vcr"):
            raise ValueError("upstream needs record_to (a folder) and save_as har or vcr")
        grow = Upstream(upstream, os.fspath(record_to), save_as)
    given = [str(r) for r in recordings if isinstance(r, (str, os.PathLike))] + [str(r) for r in roots]
    options = Options(speed=speed, rate=rate, faults=tuple(parse(f) for f in faults), seed=seed, mode=match, cors=cors,
                      roots=tuple(given), upstream=grow)
    return Server(loaded, host=host, port=port, options=options)
