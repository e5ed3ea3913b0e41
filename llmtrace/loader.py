"""Load a recording file: bytes → container → exchanges → dialect → folded result."""

from __future__ import annotations

import gc
import os
import stat
import sys
from functools import partial
from typing import Any

import orjson

from llmtrace import containers, dialects, limits
from llmtrace.containers.bodies import kind_of
from llmtrace.errors import ShapeError, UnreadableInput
from llmtrace.model import Exchange, Recording, Request, Response
from llmtrace.normalize import normalize_request


def read_bytes(path: str, limit: int | None = None, listed: bool = False) -> bytes:
    """The bytes of the file at ``path`` (``-``: stdin), at most ``limit`` bytes (None: no cap).
    ``listed``: the path was just listed as a regular file by a folder walk (its directory entry
    says so), so it is opened without asking first; the opened descriptor is checked as always.

    Only a regular file is read: a FIFO, a device or a socket named on the command line is
    unreadable at once (a FIFO would block the read forever, ``/dev/zero`` never ends). The
    file is checked before it is opened, opened without blocking, and checked again on the
    opened descriptor (it may have been swapped in between). Stdin is read when it is a pipe or
    a file; a terminal or a closed stdin is unreadable, rather than a silent wait or a crash."""
    if path == "-":
        return _read_stdin(limit)
    if "://" in path:
        from llmtrace.distributed import is_url, read_url

        if is_url(path):
            return read_url(path, limit)
    try:
        mode = stat.S_IFREG if listed else os.stat(path).st_mode
        if stat.S_ISREG(mode):
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
            try:  # read from the descriptor itself: a file object would fstat it once more
                info = os.fstat(fd)
                mode = info.st_mode
                if stat.S_ISREG(mode):
                    return _read_capped(partial(os.read, fd), info.st_size, limit, path)
            finally:
                os.close(fd)
    except FileNotFoundError:
        raise UnreadableInput("no such file", path=path) from None
    except OSError as exc:
        raise UnreadableInput(f"cannot read ({exc.strerror or exc})", path=path) from None
    if stat.S_ISDIR(mode):
        raise UnreadableInput("is a directory", path=path)
    from llmtrace.walk import file_kind

    raise UnreadableInput(f"not a regular file ({file_kind(mode)})", path=path)


def _read_stdin(limit: int | None) -> bytes:
    stdin = sys.stdin
    try:
        if stdin is None or stdin.closed:
            raise UnreadableInput("is closed; pipe a recording in or name a file", path="<stdin>")
        if stdin.isatty():
            raise UnreadableInput("is a terminal; pipe a recording in or name a file", path="<stdin>")
        fh = stdin.buffer
        return _read_capped(fh.read, _size_of(fh), limit, "<stdin>")
    except (OSError, ValueError, AttributeError) as exc:  # fd 0 closed under Python's feet
        reason = getattr(exc, "strerror", None) or exc
        raise UnreadableInput(f"cannot read ({reason})", path="<stdin>") from None


def _size_of(fh) -> int:
    """The size of the file behind ``fh``; 0 for a pipe or a stand-in without a descriptor."""
    try:
        return os.fstat(fh.fileno()).st_size
    except (OSError, ValueError):
        return 0


_BLOCK = 1 << 20


def _read_capped(read, size: int, limit: int | None, source: str) -> bytes:
    """All that ``read(n)`` gives when it is at most ``limit`` bytes. ``size`` (the size ``fstat``
    gives, 0 for a pipe) is asked for in the first call, and once that many bytes came, one more
    (the end, found without asking for a block); more (a pipe, a file that grows, the rest of a
    short read) in blocks, until the end of the file or the limit."""
    if limit is not None and size > limit:
        raise UnreadableInput(_too_large(size, limit), path=source)
    if size and not limits.fits_in_memory(size):  # refused before a byte is read
        raise UnreadableInput(limits.out_of_memory(size), path=source)
    parts = []
    total = 0
    want = size + 1 if size else _BLOCK
    while True:
        block = read(want)
        if not block:  # the end (None: a non-blocking stdin with nothing in it)
            return parts[0] if len(parts) == 1 else b"".join(parts)
        parts.append(block)
        total += len(block)
        if limit is not None and total > limit:
            raise UnreadableInput(_too_large(None, limit), path=source)
        want = 1 if total == size else _BLOCK


def _too_large(size: int | None, limit: int) -> str:
    """Over the size limit: the size when it is known (a pipe is only read up to the limit)."""
    what = f"file is {limits.describe(size)}," if size is not None else "input goes on"
    return limits.beyond_limit(what, limit)


def load(path: str, data: bytes | None = None, fmt: str | None = None, fold: bool = True) -> Recording:
    """Read and fold one recording. Raises UnreadableInput, never anything else, for bad input.
    ``fold=False`` stops before the folds (every ``result`` None): what ``serve`` indexes a
    folder with, folding a recording when a request first matches it."""
    source = "<stdin>" if path == "-" else path
    if data is None:
        data = read_bytes(path, limits.max_size())
    elif len(data) > limits.max_size():
        raise UnreadableInput(limits.beyond_limit(f"file is {limits.describe(len(data))},"), path=source)
    try:
        return _load(source, data, fmt, fold)
    except UnreadableInput as exc:
        exc.path = exc.path or source
        raise
    except ShapeError as exc:
        raise UnreadableInput(exc.what, exc.where, path=source) from None
    except RecursionError:
        raise UnreadableInput("nested too deeply", path=source) from None
    except MemoryError:
        raise UnreadableInput(limits.out_of_memory(len(data), ran_out=True), path=source) from None


def _load(source: str, data: bytes, fmt: str | None, fold: bool = True) -> Recording:
    data = unwrap(data)
    kind = kind_of(data)
    if kind == "empty":
        raise UnreadableInput("empty file")
    # Reading a recording allocates millions of acyclic containers (chunks, deltas), and the
    # cycle collector would rescan the growing heap over and over: about a third of the time of a
    # large load. It is paused while reading and folding, and restored after.
    enabled = gc.isenabled()
    gc.disable()
    try:
        if fmt:
            mod = containers.by_name(fmt)
            if mod is None:
                raise UnreadableInput(f"unknown format {fmt!r} (known: {', '.join(containers.names())})")
            pairs = mod.read_bytes(data) if containers.is_text(mod) else mod.read(parse_document(data))
        else:
            mod, doc = select(data, kind) if fold else _select_skimmed(data, kind)
            pairs = mod.read_bytes(data) if doc is None else mod.read(doc)
        del data
        pairs = [pair for req, resp in pairs for pair in _streams_of(req, resp)]
        exchanges = [_built(mod, i, req, resp, fold) for i, (req, resp) in enumerate(pairs)]
    finally:
        if enabled:
            gc.enable()
    return Recording(source=source, container=mod.NAME, exchanges=exchanges)


def _streams_of(req: Request, resp: Response) -> list[tuple[Request, Response]]:
    """A chunk file (no request recorded) that holds several complete streams back to back
    (``message_start`` … ``message_stop`` three times) as one exchange per stream; anything else
    as it is. The stream's end marker and a cut-off belong to the last stream."""
    if not resp.streaming or req.url is not None or req.body is not None or len(resp.chunks) < 2 \
            or resp.error is not None:
        return [(req, resp)]
    try:
        starts = dialects.stream_starts(resp.chunks)
    except (TypeError, AttributeError, KeyError, ValueError, RecursionError):
        return [(req, resp)]  # chunks no dialect can sniff: ``build_exchange`` says where
    if len(starts) == 1:
        return [(req, resp)]
    out = []
    for n, (start, end) in enumerate(zip(starts, starts[1:] + [len(resp.chunks)])):
        last = n == len(starts) - 1
        times = resp.chunk_times[start:end] if resp.chunk_times is not None else None
        out.append((req.model_copy(), resp.model_copy(update={
            "chunks": resp.chunks[start:end], "chunk_times": times,
            "done_marker": resp.done_marker and last, "cut_off": resp.cut_off if last else None})))
    return out


def unwrap(data: bytes) -> bytes:
    """The recording inside ``data``: a UTF-8 byte order mark dropped, a gzipped file (LangChain's
    ``.yaml.gz`` cassettes) decompressed."""
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    if data[:2] == b"\x1f\x8b":
        from llmtrace.containers.bodies import gunzip

        data = gunzip(data, "gzipped file", what="file")
        if data[:3] == b"\xef\xbb\xbf":
            data = data[3:]
    return data


def select(data: bytes, kind: str | None = None) -> tuple[Any, Any]:
    """The container of ``data``, from its content: ``(module, document)`` for a document
    container, ``(module, None)`` for a text container.

    SSE text is recognized by its first line; otherwise the file is parsed as one document —
    JSON when it starts with ``{`` or ``[``, else YAML — and the document containers are
    sniffed in ``_MODULES`` order; a file that is not one JSON document but starts with a JSON
    line is NDJSON. ``kind``: ``kind_of(data)``, when the caller has it.
    """
    if kind is None:
        kind = kind_of(data)
    if data.startswith(b"LLMTRACE-SPOOL "):  # record's spool: binary, never parsed as a document first
        from llmtrace.containers import spool

        if spool.sniff_text(data):
            return spool, None
    if kind != "sse":
        try:
            doc = parse_document(data, kind)
        except (UnreadableInput, ShapeError) as exc:
            found = _document_lines(data) if kind == "json" else None
            if found is not None:
                return found
            mod = _text_container(data)
            if mod is None:
                if kind == "json":
                    raise  # meant to be JSON: a broken recording
                # Text that no container reads (notes, logs, prose): no recording at all.
                error = exc if isinstance(exc, UnreadableInput) else UnreadableInput(exc.what, exc.where)
                error.not_recording = True
                raise error from None
            return mod, None
        for mod in containers.in_order():
            if not containers.is_text(mod) and mod.sniff(doc):
                return mod, doc
        raise UnreadableInput(f"not a recording ({_describe(doc)})", not_recording=True)
    return _text_container(data), None


def _text_container(data: bytes) -> Any:
    """The first text container that reads ``data``, else None."""
    for mod in containers.in_order():
        if containers.is_text(mod) and mod.sniff_text(data):
            return mod
    return None


def _select_skimmed(data: bytes, kind: str) -> tuple[Any, Any]:
    """``select``, for a read that stops before the folds: a Llama Stack recording (the first
    container sniffed) skimmed — its request and first chunks parsed, not the rest of its
    response (``llama_stack.skim``); any other file as ``select`` reads it."""
    from llmtrace.containers import llama_stack

    doc = llama_stack.skim(data) if kind == "json" else None
    if doc is not None and llama_stack.sniff(doc):
        return llama_stack, doc
    return select(data, kind)


def _document_lines(data: bytes) -> tuple[Any, Any] | None:
    """JSON Lines of whole documents that a document container reads as one (``merge``): an
    OpenTelemetry collector's file export, one OTLP request per line. Only the first line is
    parsed unless a container wants it, so other JSON Lines (chunk streams) cost one line."""
    mergers = [m for m in containers.modules() if not containers.is_text(m) and hasattr(m, "merge")]
    first, _, _ = data.lstrip().partition(b"\n")
    try:
        head = orjson.loads(first)
    except orjson.JSONDecodeError:
        return None
    mod = next((m for m in mergers if m.sniff(head)), None)
    if mod is None:
        return None
    docs = []
    for n, line in enumerate(data.splitlines(), 1):
        if line.strip():
            try:
                docs.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise UnreadableInput(f"line is not JSON ({exc.msg})", f"line {n}") from None
            if not mod.sniff(docs[-1]):
                raise UnreadableInput(f"line is not {mod.NAME} like the first", f"line {n}")
    return mod, mod.merge(docs)


def _built(mod, index: int, req: Request, resp: Response, fold: bool = True) -> Exchange:
    """``build_exchange``; in containers that hold many exchanges (``MANY_EXCHANGES``: cassettes,
    HAR), the place of a bad chunk starts with the exchange's index (the one ``--index`` takes)."""
    try:
        return build_exchange(index, mod.NAME, req, resp, fold)
    except ShapeError as exc:
        if not getattr(mod, "MANY_EXCHANGES", False):
            raise
        raise ShapeError(exc.what, f"exchange {index}, {exc.where}" if exc.where else f"exchange {index}") from None


def parse_document(data: bytes, kind: str | None = None) -> Any:
    """``data`` as one JSON document when it starts like one (``kind``: ``kind_of(data)``, when
    the caller has it), else as YAML."""
    if (kind_of(data) if kind is None else kind) == "json":
        return parse_json(data)
    from llmtrace.containers.vcr import load_yaml

    return load_yaml(data)


def parse_json(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if limits.is_memory_error(exc, len(data)):
            raise MemoryError from None
        if limits.json_too_deep(exc):
            raise UnreadableInput(f"nested too deeply (more than {JSON_DEPTH} levels, or brackets never closed)",
                                  f"line {exc.lineno}, column {exc.colno} (byte {exc.pos})") from None
        msg = str(exc)
        what = "cut off mid-JSON" if "unexpected end" in msg.lower() or exc.pos >= len(data.rstrip()) else "not JSON"
        line = exc.lineno
        col = exc.colno
        raise UnreadableInput(f"{what} ({exc.msg})", f"line {line}, column {col} (byte {exc.pos})") from None


JSON_DEPTH = 1024  # the deepest nesting orjson reads


def _describe(doc: Any) -> str:
    if isinstance(doc, dict):
        keys = ", ".join(str(key) for key in list(doc)[:5])
        return f"an object with keys {keys}" if keys else "an empty object"
    if isinstance(doc, list):
        return f"an array of {len(doc)} items"
    return f"a JSON {type(doc).__name__}"


def build_exchange(index: int, container: str, req: Request, resp: Response, fold: bool = True) -> Exchange:
    payloads = resp.chunks if resp.streaming else ([resp.body] if resp.body is not None else [])
    if resp.streaming and not payloads and resp.body is not None:
        payloads = [resp.body]
    if resp.error is not None:
        payloads = []
    try:
        dialect = dialects.detect(payloads, req.body, req.url)
    except (TypeError, AttributeError, KeyError, ValueError) as exc:  # a field of a type no dialect foresaw
        raise ShapeError(f"unexpected value ({dialects.unexpected(exc)})", "response") from None
    except RecursionError:
        raise ShapeError("nested too deeply", "response") from None
    try:
        normalized = normalize_request(req.body, dialect, req.model)
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        raise ShapeError(f"unexpected value ({dialects.unexpected(exc)})", "request body") from None
    except RecursionError:
        raise ShapeError("nested too deeply", "request body") from None
    exchange = Exchange(index=index, container=container, dialect=dialect, request=req, response=resp,
                        normalized_request=normalized)
    if not fold:
        return exchange
    exchange.result = fold_exchange(exchange)
    if resp.chunk_timing and resp.chunk_times is not None and exchange.result is not None:
        # Arrival times ``llmtrace record`` measured win over any the chunks carry (created_at:
        # the server's clock, not the one the request start was measured on).
        exchange.result.timeline.times = resp.chunk_times
        exchange.result.timeline.timing = resp.chunk_timing
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
    if not resp.streaming and resp.body is None:
        return None
    try:
        return mod.fold(resp.chunks, ctx) if resp.streaming else mod.fold_body(resp.body, ctx)
    except ShapeError as exc:
        if not resp.streaming:
            raise
        failure = exc
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        # Values of a type the fold did not foresee, met while building the result.
        raise ShapeError(f"unexpected value ({dialects.unexpected(exc)})", "response") from None
    except RecursionError:
        raise ShapeError("nested too deeply", "response") from None
    return _fold_leaving_out(mod, resp.chunks, ctx, failure)


# What cannot be judged on a stream read without some of its chunks: what they held is unknown.
PARTIAL_SKIPS = ("content-after-finish", "duplicate-chunk", "duplicated-content", "empty-response",
                 "finish-without-tool-calls", "invalid-tool-arguments", "mixed-ids", "no-finish", "nonstandard-finish",
                 "tool-index-gap", "truncated", "usage-inconsistent", "usage-missing")


def _fold_leaving_out(mod, chunks: list, ctx: dialects.FoldContext, failure: ShapeError):
    """A stream with chunks of a shape the fold cannot read (a field of an unforeseen type): read
    again without them, rather than refusing the file. The chunks left out go to
    ``observations.unread`` (the ``unread-chunk`` finding) and the checks that would judge what
    they held to ``skipped``. When that reading fails too, or the failure was not a chunk's, the
    first error stands."""
    ctx.extra["tolerant"] = True
    try:
        result = mod.fold(chunks, ctx)
    except (ShapeError, TypeError, AttributeError, KeyError, ValueError, RecursionError):
        raise failure from None
    unread = ctx.extra.get("unread")
    if not unread:
        raise failure
    result.observations.unread = unread
    result.observations.skipped = sorted(set(result.observations.skipped) | set(PARTIAL_SKIPS))
    return result
