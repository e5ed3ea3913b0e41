"""Load a recording file: bytes → container → exchanges → dialect → folded result."""

from __future__ import annotations

import sys
from typing import Any

import orjson

from llmtrace import containers, dialects
from llmtrace.errors import ShapeError, UnreadableInput
from llmtrace.model import Exchange, Recording, Request, Response
from llmtrace.normalize import normalize_request


def read_bytes(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except IsADirectoryError:
        raise UnreadableInput("is a directory", path=path) from None
    except FileNotFoundError:
        raise UnreadableInput("no such file", path=path) from None
    except OSError as exc:
        raise UnreadableInput(f"cannot read ({exc.strerror or exc})", path=path) from None


def load(path: str, data: bytes | None = None, fmt: str | None = None) -> Recording:
    """Read and fold one recording. Raises UnreadableInput, never anything else, for bad input."""
    source = "<stdin>" if path == "-" else path
    if data is None:
        data = read_bytes(path)
    try:
        return _load(source, data, fmt)
    except UnreadableInput as exc:
        exc.path = exc.path or source
        raise
    except ShapeError as exc:
        raise UnreadableInput(exc.what, exc.where, path=source) from None
    except RecursionError:
        raise UnreadableInput("nested too deeply", path=source) from None


def _load(source: str, data: bytes, fmt: str | None) -> Recording:
    if not data.strip():
        raise UnreadableInput("empty file")
    doc = parse_json(data)
    del data
    mods = containers.modules()
    if fmt:
        mod = containers.by_name(fmt)
        if mod is None:
            raise UnreadableInput(f"unknown format {fmt!r} (known: {', '.join(containers.names())})")
    else:
        mod = next((m for m in mods if m.sniff(doc)), None)
        if mod is None:
            raise UnreadableInput(f"not a recording ({_describe(doc)})")
    pairs = mod.read(doc)
    exchanges = [build_exchange(i, mod.NAME, req, resp) for i, (req, resp) in enumerate(pairs)]
    return Recording(source=source, container=mod.NAME, exchanges=exchanges)


def parse_json(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        msg = str(exc)
        what = "cut off mid-JSON" if "unexpected end" in msg.lower() or exc.pos >= len(data.rstrip()) else "not JSON"
        line = exc.lineno
        col = exc.colno
        raise UnreadableInput(f"{what} ({exc.msg})", f"line {line}, column {col} (byte {exc.pos})") from None


def _describe(doc: Any) -> str:
    if isinstance(doc, dict):
        keys = ", ".join(list(doc)[:5])
        return f"an object with keys {keys}" if keys else "an empty object"
    if isinstance(doc, list):
        return f"an array of {len(doc)} items"
    return f"a JSON {type(doc).__name__}"


def build_exchange(index: int, container: str, req: Request, resp: Response) -> Exchange:
    payloads = resp.chunks if resp.streaming else ([resp.body] if resp.body is not None else [])
    if resp.streaming and not payloads and resp.body is not None:
        payloads = [resp.body]
    if resp.error is not None:
        payloads = []
    dialect = dialects.detect(payloads, req.body, req.url)
    exchange = Exchange(index=index, container=container, dialect=dialect, request=req, response=resp,
                        normalized_request=normalize_request(req.body, dialect, req.model))
    exchange.result = fold_exchange(exchange)
    return exchange


def fold_exchange(exchange: Exchange):
    """The dialect's fold of the exchange's response, or None (opaque, recorded error)."""
    resp = exchange.response
    if exchange.dialect == dialects.OPAQUE or resp.error is not None:
        return None
    mod = dialects.module_for(exchange.dialect)
    if mod is None:
        return None
    ctx = dialects.FoldContext(dialect=exchange.dialect, request_body=exchange.request.body,
                               endpoint=exchange.request.endpoint, chunk_times=resp.chunk_times,
                               extra={"done_marker": resp.done_marker})
    if resp.streaming:
        return mod.fold(resp.chunks, ctx)
    if resp.body is None:
        return None
    return mod.fold_body(resp.body, ctx)
