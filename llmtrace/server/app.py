"""The HTTP server of ``llmtrace serve``: recordings replayed as live provider endpoints.

Built on aiohttp (an asyncio HTTP server with explicit streaming responses: each frame is one
``write``, sent as one HTTP/1.1 chunk, so a client sees the recorded chunk boundaries and
pace). One request: parse its JSON body (a bad one is the provider's 400), match it to a
recorded exchange (``match``), plan the faults asked for (``faults``), then answer — the
recorded error, the recorded or reassembled body, or the stream frame by frame at its pace
(``pace``). Each request gets one log line on stderr. Imported only by ``serve`` (and
``record``), so no other command pays for aiohttp.
"""

from __future__ import annotations

import asyncio
import math
import random
import sys
import threading
import time
from collections import deque
from contextvars import ContextVar
from typing import Any, NamedTuple

import orjson
from aiohttp import web

from llmtrace.model import Recording
from llmtrace.server import faults as faults_mod
from llmtrace.server import match, pace, wire
from llmtrace.view import request_doc

HEALTH = "/llmtrace/health"
JOURNAL = "/llmtrace/requests"
RESET = "/llmtrace/reset"
# The journal keeps the latest requests only: a long-running server's memory stays bounded.
JOURNAL_SIZE = 10_000
# Where a request carries its journal entry while it is answered.
NOTE = web.RequestKey("llmtrace", dict) if hasattr(web, "RequestKey") else "llmtrace"  # aiohttp < 3.13: a str
# The log lines said for the request a task answers (``Replay.log``, ``Replay.handle``).
_SAID: ContextVar[list | None] = ContextVar("llmtrace_said", default=None)
# Paths the providers serve, even when no recording holds them (a miss there is a no_match,
# elsewhere a plain 404).
PROVIDER_PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/responses", "/v1/messages", "/api/chat",
                  "/api/generate", "/chat/completions", "/completions", "/responses", "/messages")


class Options(NamedTuple):
    speed: float | None = None  # None: as fast as the socket takes them ("max")
    rate: float | None = None
    faults: tuple = ()
    seed: int | None = None
    mode: str = "strict"
    cors: bool = False
    log: Any = None  # a function taking one log line; default: stderr
    roots: tuple = ()  # the paths given on the command line: recordings are named relative to them
    upstream: Any = None  # an ``onmiss.Upstream``: misses are fetched there and recorded


class Replay:
    """The recordings and the state of a running server (requests counted for ``request=K``)."""

    def __init__(self, recordings: list[Recording], options: Options):
        self.recordings = recordings
        self.options = options
        roots = [*options.roots, *([options.upstream.record_to] if options.upstream is not None else [])]
        self.catalog = match.Catalog(recordings, options.mode, [str(r) for r in roots])
        self.rng = random.Random(options.seed)
        self.matched = 0
        self._sink = options.log or _stderr
        self.catalog.folds.log, self.catalog.folds.evicted = self.log, self._forget
        self._remembered: dict[tuple, match.Hit] = {}
        self._cache: dict[tuple, Any] = {}
        self.connections: set = set()  # open gRPC connections (``server.grpc``)
        self.streaming: set[asyncio.Task] = set()  # handlers sending a stream (ended at once on stop)
        self.journal: deque[dict] = deque(maxlen=JOURNAL_SIZE)
        self._journal_lock = threading.Lock()  # read from other threads (``Background.requests``)
        self.grower = None
        if options.upstream is not None:
            from llmtrace.server import onmiss

            self.grower = onmiss.Grower(options.upstream, self.add, self.log)

    def log(self, line: str) -> None:
        """One log line; counted for the request being answered (``handle`` says one itself when
        an answer ended without any)."""
        said = _SAID.get(None)
        if said is not None:
            said.append(None)
        self._sink(line)

    def add(self, recording: Recording) -> None:
        """A recording served from now on (one recorded on a miss)."""
        self.recordings.append(recording)
        self.catalog.add(recording)

    def find(self, method: str, path: str, body: Any, remember: tuple,
             dialect: str | None = None) -> match.Hit | match.Miss:
        """The recorded exchange that answers a request (``remember``: the path and the bytes it
        came as, for the memo — the same bytes to the same path match the same recording: clients
        replaying a test suite send the same requests again and again; sequence mode has state,
        so never). The memo keeps a digest of them, never the bytes: its memory stays small
        whatever the requests hold."""
        key = _digest(remember)
        found = self._remembered.get(key) if self.options.mode != "sequence" else None
        if found is None:
            asked = match.incoming(method, path, body, dialect)
            found = self.catalog.match(path, request_doc(asked), asked.dialect)
            if isinstance(found, match.Hit) and self.options.mode != "sequence" and len(self._remembered) < 10_000:
                self._remembered[key] = found
        if isinstance(found, match.Hit):
            try:
                found.entry.exchange  # noqa: B018 - folded now (a recording indexed at start)
            except match.FoldFailed as exc:
                return match.Miss(None, [], f"{found.entry.file} exchange {found.entry.index} matched, but "
                                            f"{exc.reason}")
        return found

    def _forget(self, recording: Recording) -> None:
        """What was made for the exchanges of a folded recording the index let go of."""
        gone = {id(exchange) for exchange in recording.exchanges}
        for key in [key for key in self._cache if len(key) > 1 and key[1] in gone]:
            del self._cache[key]

    @staticmethod
    def miss_text(found: match.Miss) -> str:
        closest = found.closest
        if closest is None:
            return found.reason or "nothing recorded for this endpoint"
        why = found.reason or (match.summary(found.differences) if found.differences else "—")
        return f"closest {closest.file} exchange {closest.index}: {why}"

    # --- the journal (``GET /llmtrace/requests``, ``POST /llmtrace/reset``, ``server.requests``) ---

    def note(self, method: str, path: str) -> dict:
        """A new journal entry, in arrival order; filled in as the answer goes out."""
        entry = {"method": method, "path": path, "matched": None, "status": None, "frames": 0, "faults": [],
                 "differences": []}
        with self._journal_lock:
            self.journal.append(entry)
        return entry

    def journal_entry(self, request: web.Request, method: str, new: bool = False) -> dict:
        """The journal entry of the request being answered (``handle`` makes it), or with ``new``
        one more entry for the same request (a websocket client event refused)."""
        entry = None if new else request.get(NOTE)
        if entry is None:
            entry = self.note(method, request.path)
            if not new:
                request[NOTE] = entry
        return entry

    @staticmethod
    def noted(entry: dict, found: match.Hit | match.Miss) -> None:
        """What matching found, in the journal entry."""
        if isinstance(found, match.Hit):
            entry["matched"] = {"file": found.entry.file, "exchange": found.entry.index}
        entry["differences"] = match.shown(found.differences)

    def requests(self) -> list[dict]:
        """The journal: one entry per request, oldest first (the latest ``JOURNAL_SIZE``)."""
        with self._journal_lock:
            return [dict(entry) for entry in self.journal]

    def reset(self) -> None:
        """The journal emptied, every ``sequence`` position rewound, requests counted from 0 again
        (``request=K`` faults)."""
        with self._journal_lock:
            self.journal.clear()
        self.catalog.rewind()
        self.matched = 0

    async def journal_list(self, request: web.Request) -> web.Response:
        return self._cors(web.json_response(self.requests(), dumps=_dumps))

    async def journal_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return self._cors(web.json_response({"status": "ok"}, dumps=_dumps))

    def cached(self, key: tuple, make):
        """What every request for the same exchange shares (frames, pace), made once."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def encoded(self, ex, query: str) -> wire.Stream:
        sse = "alt=sse" if "alt=sse" in query else ""
        return self.cached(("stream", id(ex), sse), lambda: wire.stream(ex, query))

    def offsets(self, ex) -> list[float] | None:
        return self.cached(("pace", id(ex)), lambda: pace.offsets(ex, self.options.speed, self.options.rate))

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._guard])
        app.router.add_get(HEALTH, self.health)
        app.router.add_get(JOURNAL, self.journal_list)
        app.router.add_post(RESET, self.journal_reset)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    loopback_only = True  # listening on a loopback address: only loopback Host headers (set by Server)

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        """What is refused before matching: a ``Host`` that is no loopback name or address while
        listening on loopback (421: DNS rebinding, a web page's script reaching the server
        under another name), and a method no recording answers on a provider's POST endpoint
        (405; OPTIONS with ``--cors`` is the preflight)."""
        if self.loopback_only and not is_loopback_host(request.host):
            self.log(f"{request.method} {request.path} → 421 (Host {request.host!r} is not a loopback name)")
            return web.Response(status=421, text="421: this server answers loopback names only (--host 0.0.0.0 "
                                                 "allows any)")
        method = request.method
        if method == "OPTIONS" and self.options.cors:
            return self._cors(web.Response(status=204))
        upgrade = request.headers.get("upgrade", "").lower() == "websocket"  # a realtime session
        if method != "POST" and not upgrade and not request.path.startswith("/llmtrace/") and not self._recorded_method(request.path, method):
            self.log(f"{method} {request.path} → 405 (the endpoint answers POST)")
            return self._cors(web.Response(status=405, headers={"Allow": "POST"}, text="405: POST only"))
        return await handler(request)

    def _recorded_method(self, path: str, method: str) -> bool:
        """Whether a recording answers ``method`` at ``path`` (a GET of a listing, say), or the
        path is none a recording or provider serves (then it is a 404)."""
        if self._methods is None:
            self._methods = {(endpoint, (entry.method or "POST").upper())
                             for endpoint, entries in self.catalog.by_endpoint.items() for entry in entries}
        endpoint = match.endpoint_key(path)
        if (endpoint, method) in self._methods or (method == "HEAD" and (endpoint, "GET") in self._methods):
            return True
        return not self.catalog.knows(path) and not path.endswith(PROVIDER_PATHS) \
            and ":" not in path.rsplit("/", 1)[-1]

    _methods: set | None = None

    def shown(self, source: str) -> str:
        """A recording's name for a client (health, miss bodies): relative to the path it was
        given under (a folder's name and the path inside it, a file's name), never an absolute
        local path."""
        return match.relative_name(source, self.options.roots)

    grpc = False  # the port answers gRPC too (set by ``Server``)

    async def health(self, request: web.Request) -> web.Response:
        endpoints = sorted(self.catalog.by_endpoint)
        doc = {"status": "ok", "recordings": [self.shown(r.source) for r in self.recordings],
               "exchanges": len(self.catalog), "endpoints": endpoints, "match": self.options.mode}
        return self._cors(web.json_response({**doc, **self.beside_http(endpoints)}, dumps=_dumps))

    def beside_http(self, endpoints: list[str]) -> dict:
        """What the port answers besides HTTP requests, listed as ``endpoints`` lists those: the
        websocket paths (each realtime session's recorded path, else the paths its provider's SDKs
        connect to; the Responses API's websocket mode on each recorded ``…/responses``), the
        websocket sessions served, and the gRPC methods."""
        from llmtrace.server import realtime

        paths = {e for e in endpoints if realtime.family_of_path(e) == "responses"}
        sessions = 0
        if any(r.container == "websocket" for r in self.recordings):
            found = realtime.sessions(self)
            paths.update(found.paths())
            sessions = len(found.connections)
        methods = []
        if self.grpc:
            from llmtrace.server.grpc import METHODS

            methods = sorted(METHODS)
        return {"websocket_endpoints": sorted(paths), "sessions": sessions, "grpc_methods": methods}

    def _cors(self, response: web.StreamResponse) -> web.StreamResponse:
        if self.options.cors:
            response.headers["Access-Control-Allow-Origin"] = "*"
            response.headers["Access-Control-Allow-Headers"] = "*"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        return response

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """One request, noted in the journal with how it was answered, and one log line however
        it ends: a client that leaves, a reset inside aiohttp's own writing, a cancel (the server
        stopping) each say what became of it when nothing else did."""
        entry = request[NOTE] = self.note(request.method, request.path)
        said: list = []
        _SAID.set(said)  # this request's task only (aiohttp runs each request in its own task)
        try:
            response = await self._handle(request)
        except ConnectionError as exc:  # the client left (e.g. `curl | head`): no traceback
            if not said:
                self.log(f"{request.method} {request.path} → the client closed the connection after "
                         f"{entry.get('frames') or 0} frames ({type(exc).__name__})")
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError from None
        except asyncio.CancelledError:
            if not said:
                why = "the server is stopping" if self.stopping else "cancelled"
                matched = entry.get("matched")
                label = f"{matched['file']} exchange {matched['exchange']}: " if matched else ""
                frames = entry.get("frames") or 0
                after = f" after {frames} frame{'s' if frames != 1 else ''}" if frames or entry.get("status") else ""
                self.log(f"{request.method} {request.path} → {label}ended{after} ({why})")
            raise
        entry["status"] = response.status
        if not said:
            self.log(f"{request.method} {request.path} → {response.status}")
        return response

    stopping = False  # set by ``Server.stop``: the streams it cancels say so

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        path = request.path
        if request.headers.get("upgrade", "").lower() == "websocket":  # realtime sessions: server.realtime
            from llmtrace.server import realtime

            return await realtime.handle(self, request)
        fam = _family_of_path(path)
        if request.content_type.startswith("application/grpc"):
            self.log(f"{request.method} {path} → 505 (gRPC over HTTP/1.1: a gRPC client speaks HTTP/2)")
            return self._cors(web.Response(status=505, text="gRPC needs HTTP/2 (a plain-text gRPC channel to this port)"))
        if self.grower is None and not self.catalog.knows(path) and not path.endswith(PROVIDER_PATHS) \
                and ":" not in path.rsplit("/", 1)[-1]:
            self.log(f"{request.method} {path} → 404 (no recording serves this path)")
            return self._cors(web.Response(status=404, text="404: Not Found"))
        try:
            raw = await request.read()
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            self.log(f"{request.method} {path} → aborted (the client left while sending its body: {type(exc).__name__})")
            raise asyncio.CancelledError from None
        raw = inflated(raw, request.headers.get("content-encoding"), MAX_BODY)
        if raw is None:
            self.log(f"{request.method} {path} → 413 (the body inflates beyond {MAX_BODY >> 20} MiB)")
            return self._cors(web.Response(status=413, text=f"413: the body inflates beyond {MAX_BODY >> 20} MiB"))
        try:
            body = orjson.loads(raw) if raw.strip() else None
        except orjson.JSONDecodeError as exc:
            self.log(f"{request.method} {path} → 400 (the body is not JSON: {exc.msg})")
            return self._cors(_json(400, wire.error_body(fam, 400, f"the request body is not JSON ({exc.msg})")))
        found = self.find(request.method, path, body, (path, raw))
        if isinstance(found, match.Miss) and self.grower is not None:
            if not await self.grower.wait_for((path, raw)):
                self.noted(request[NOTE], found)
                return await self.grower.fetch(request, (path, raw))
            found = self.find(request.method, path, body, (path, raw))  # recorded meanwhile
        self.noted(request[NOTE], found)
        if isinstance(found, match.Miss):
            self.log(f"{request.method} {path} → 404 no_match ({self.miss_text(found)})")
            return self._cors(_json(404, miss_body(fam, found)))
        entry = found.entry
        number = self.matched
        self.matched += 1
        try:
            return await self._answer(request, entry, number, body, started)
        except ConnectionError as exc:  # the client went away mid-answer: ordinary, one line
            self.log(f"{request.method} {path} → {entry.file} exchange {entry.index}: the client left "
                     f"mid-answer ({type(exc).__name__})")
            raise asyncio.CancelledError from None

    async def _answer(self, request: web.Request, entry: match.Entry, number: int, body: Any,
                      started: float) -> web.StreamResponse:
        ex = entry.exchange
        resp = ex.response
        fam = wire.family(ex.dialect)
        label = f"{entry.file} exchange {ex.index}"
        if request[NOTE]["differences"]:  # loose and closest: what differed
            label += f" (differs: {match.summary(request[NOTE]['differences'])})"
        stream = resp.streaming and not ex.failed and _wants_stream(request, body, ex)
        frames_n = len(resp.chunks) if stream else 0
        plan = faults_mod.plan(list(self.options.faults), number, frames_n, self.rng)
        applied = f", faults {' '.join(plan.applied)}" if plan.applied else ""
        request[NOTE]["faults"] = list(plan.applied)
        if plan.error is not None:
            status = plan.error.values["status"]
            retry = plan.error.values.get("retry_after", 1.0)
            out = _json(status, wire.error_body(fam, status, f"llmtrace fault: error {status}"))
            out.headers["retry-after"] = str(math.ceil(retry))  # delay-seconds: a whole number (RFC 9110 10.2.3)
            self.log(f"{request.method} {request.path} → {label}: {status} (fault){applied}")
            return self._cors(out)
        if ex.failed:
            status = resp.status or 500
            payload = resp.body if resp.body is not None else wire.error_body(fam, status, resp.error_message or "error")
            if not isinstance(payload, (dict, list)):
                payload = wire.error_body(fam, status, str(payload))
            status, recorded = servable_status(status)
            self.log(f"{request.method} {request.path} → {label}: recorded error {resp.status or 500}"
                     f"{_served_as(status, recorded)}{applied}")
            return self._cors(_recorded_status(_json(status, payload), recorded))
        if not stream:
            from llmtrace import reassemble

            payload = reassemble(ex) if ex.result is not None else resp.body
            status, recorded = servable_status(resp.status or 200)
            self.log(f"{request.method} {request.path} → {label}: {resp.status or 200}{_served_as(status, recorded)}, "
                     f"whole body{applied}")
            return self._cors(_recorded_status(_json(status, payload), recorded))
        return await self._stream(request, ex, plan, label, applied)

    async def _stream(self, request: web.Request, ex, plan: faults_mod.Plan, label: str,
                      applied: str) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self.streaming.add(task)
            task.add_done_callback(self.streaming.discard)
        rewritten = wire.tool_calls_as_text(ex, plan.tool_text) if plan.tool_text is not None else None
        if plan.tool_text is not None and rewritten is None:
            applied += " (tool-call-as-text: not for this dialect, skipped)"
        elif rewritten is not None:
            ex = ex.model_copy(update={"response": ex.response.model_copy(update={"chunks": rewritten})})
        if rewritten is None:
            encoded, offsets = self.encoded(ex, request.query_string), self.offsets(ex)
        else:
            encoded, offsets = wire.stream(ex, request.query_string), None
        status, recorded = servable_status(ex.response.status or 200)
        out = _recorded_status(web.StreamResponse(status=status), recorded)
        out.content_type = encoded.content_type
        out.headers["cache-control"] = "no-cache"
        out.enable_chunked_encoding()
        self._cors(out)
        await out.prepare(request)
        request[NOTE]["status"] = out.status  # a cut stream never returns
        clock = pace.Clock(offsets)
        frames = encoded.frames
        last = len(frames) if not plan.drop_done or encoded.final is None else encoded.final
        sent = 0
        for i in range(last):
            await clock.until(i)
            for _ in range(2 if i in plan.duplicate else 1):
                pieces = faults_mod.split_utf8(frames[i]) if plan.split_utf8 else [frames[i]]
                for piece in pieces:
                    await out.write(piece)
            sent += 1
            request[NOTE]["frames"] = sent
            if i in plan.stall:
                await asyncio.sleep(plan.stall[i])
            if plan.cut_after is not None and i >= plan.cut_after:
                self.log(f"{request.method} {request.path} → {label}: cut after frame {i} ({sent} of "
                         f"{len(frames)} frames){applied}")
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError
            if plan.error_after is not None and i == plan.error_after:
                await out.write(wire.in_stream_error(ex.dialect))
                await out.write_eof()
                self.log(f"{request.method} {request.path} → {label}: error in stream after frame {i}{applied}")
                return out
        if not plan.drop_done:
            for tail in encoded.end:
                await out.write(tail)
        await out.write_eof()
        self.log(f"{request.method} {request.path} → {label}: {ex.response.status or 200}, {sent} frames"
                 f"{' (end dropped)' if plan.drop_done else ''}{applied}")
        return out


MAX_BODY = 64 * 2**20  # the largest request body, as sent and as inflated


def inflated(raw: bytes, encoding: str | None, limit: int) -> bytes | None:
    """A request body with its ``Content-Encoding`` (gzip, deflate) undone, never beyond
    ``limit`` bytes (None: it inflates further, a bomb); as sent for any other encoding. The
    server runs with aiohttp's own inflating off (``Server.runner_options``), which has no
    bound of its own."""
    import zlib

    wbits = {"gzip": 31, "x-gzip": 31, "deflate": 15}.get((encoding or "").strip().lower())
    if wbits is None:
        return raw
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error:
        return raw  # not what it says: the JSON parse says so (400)
    return None if len(out) > limit else out


def is_loopback_host(host: str | None) -> bool:
    """Whether a ``Host`` header names this machine: ``localhost`` (and ``*.localhost``), an
    address of 127.0.0.0/8, ``[::1]``; with or without a port."""
    import ipaddress

    if not host:
        return False
    name = host.strip().lower()
    if name.startswith("["):
        name = name[1:name.find("]")] if "]" in name else name[1:]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    name = name.rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


RECORDED_STATUS = "x-llmtrace-recorded-status"


def servable_status(status: int) -> tuple[int, int | None]:
    """The status to answer with for a recorded one, and the recorded one when it cannot go on
    the wire as it is: outside 200-599, 1xx, 204 and 304 (they carry no body, and the answer
    has one) are served as 502, the recorded status in ``x-llmtrace-recorded-status``."""
    if 200 <= status <= 599 and status not in (204, 304):
        return status, None
    return 502, status


def _recorded_status(response: web.StreamResponse, recorded: int | None) -> web.StreamResponse:
    if recorded is not None:
        response.headers[RECORDED_STATUS] = str(recorded)
    return response


def _served_as(status: int, recorded: int | None) -> str:
    return f" (served as {status}: a {recorded} cannot carry the recorded answer)" if recorded is not None else ""


def _digest(parts: tuple) -> bytes:
    """A 32-byte digest of a request's path and bytes (the matched-request memo's key)."""
    import hashlib

    digest = hashlib.blake2b(digest_size=32)
    for part in parts:
        data = part if isinstance(part, (bytes, bytearray, memoryview)) else str(part).encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.digest()


def _wants_stream(request: web.Request, body: Any, ex) -> bool:
    """Whether to answer with the stream: the exchange's dialect's wire rule (``wants_stream`` in
    its module: OpenAI's and Anthropic's ``stream`` flag, absent meaning no; Ollama's, absent
    meaning yes; Gemini's and Bedrock's method in the path), else as the exchange was recorded."""
    from llmtrace.dialects import wants_stream

    return wants_stream(ex.dialect, request.path, body, ex.response.streaming)


def miss_body(fam: str, found: match.Miss) -> dict:
    """A miss's 404 body: the provider's error shape, ``code: "no_match"``, and an ``llmtrace``
    member saying which recorded exchange came closest and what differs (contracts.md)."""
    closest = found.closest
    extra = {"code": "no_match",
             "llmtrace": {"closest": {"file": closest.file, "exchange": closest.index} if closest else None,
                          "differences": match.shown(found.differences),
                          **({"reason": found.reason} if found.reason else {})}}
    return wire.error_body(fam, 404, "no recorded exchange matches this request", extra)


def _family_of_path(path: str) -> str:
    if path.endswith("/messages"):
        return "anthropic"
    if path.startswith("/api/"):
        return "ollama"
    if "generatecontent" in path.lower() or path.startswith(("/v1beta/", "/v1alpha/")):
        return "gemini"
    return "openai"


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _json(status: int, payload: Any) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS),
                        content_type="application/json")


def _stderr(line: str) -> None:
    from llmtrace.output import one_line

    sys.stderr.write(f"llmtrace: {one_line(line)}\n")
    sys.stderr.flush()


class Listening:
    """An aiohttp application listening on ``host:port`` (port 0: a free one; ``port`` is the one
    bound once started), as an async context manager. ``Server`` (``serve``) and the recording
    proxy (``record``) are both one."""

    runner_options: dict = {}

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self.port = port
        self.runner: web.AppRunner | None = None

    def application(self) -> web.Application:
        raise NotImplementedError

    def log_line(self, line: str) -> None:
        """Where aiohttp's own messages go (malformed HTTP, say): one line each."""
        _stderr(line)

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self):
        quiet_aiohttp(self.log_line)
        self.runner = web.AppRunner(self.application(), access_log=None, handle_signals=False, shutdown_timeout=2.0,
                                    **self.runner_options)
        await self.runner.setup()
        site = self.site(self.runner)
        try:
            await site.start()
        except OSError:
            await self.runner.cleanup()
            self.runner = None
            raise
        sockets = site._server.sockets if site._server is not None else []  # the port actually bound
        if sockets:
            self.port = sockets[0].getsockname()[1]
        return self

    def site(self, runner: web.AppRunner) -> web.TCPSite:
        return web.TCPSite(runner, self.host, self.port, reuse_address=True, backlog=1024)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()


class Server(Listening):
    """``llmtrace serve``'s server: ``async with Server(recordings) as server: server.base_url``.
    The same port answers gRPC over HTTP/2 (``server.grpc``) when a recording holds gRPC calls."""

    runner_options = {"auto_decompress": False}  # request bodies are inflated under a bound (``inflated``)

    def __init__(self, recordings: list[Recording], host: str = "127.0.0.1", port: int = 0,
                 options: Options = Options()):
        super().__init__(host, port)
        self.replay = Replay(recordings, options)
        self.replay.loopback_only = is_loopback_host(host)
        self.grpc = self.replay.grpc = any("xai-grpc" in match.dialects_of(r) for r in recordings)

    def application(self) -> web.Application:
        return self.replay.app()

    def log_line(self, line: str) -> None:
        self.replay.log(line)
    async def start(self):
        if self.replay.grower is not None:  # the record folder first: a refusal before listening
            await self.replay.grower.open()
        return await super().start()

    @property
    def requests(self) -> list[dict]:
        """The journal (``GET /llmtrace/requests``): one entry per request, in arrival order."""
        return self.replay.requests()

    def reset(self) -> None:
        """``POST /llmtrace/reset``: the journal emptied, sequence positions rewound."""
        self.replay.reset()

    async def stop(self) -> None:
        for connection in list(self.replay.connections):
            connection.transport.close()  # its calls in flight are cancelled
        if ("websocket-open",) in self.replay._cache:  # websocket sessions still open: 1001
            from llmtrace.server import realtime

            await realtime.close_all(self.replay)
        self.replay.stopping = True
        streams = [task for task in self.replay.streaming if not task.done()]
        for task in streams:  # streams in flight end now, not after aiohttp's grace time
            task.cancel()
        if streams:
            self.replay.log(f"stopping: {len(streams)} stream{'s' if len(streams) != 1 else ''} in flight ended")
        await super().stop()
        if self.replay.grower is not None:
            await self.replay.grower.close()

    def site(self, runner: web.AppRunner) -> web.TCPSite:
        if not self.grpc:
            return super().site(runner)
        site = _SniffingSite(runner, self.host, self.port, reuse_address=True, backlog=1024)
        site.replay = self.replay
        return site


class _SniffingSite(web.TCPSite):
    """A TCP site whose connections start with ``grpc.Sniffing``: HTTP/2 prefaces go to the gRPC
    server, everything else to aiohttp as usual (what ``TCPSite.start`` does, but for the factory;
    with ``ssl_context``, behind TLS as ``TCPSite`` would be)."""

    __slots__ = ("replay", "http2")

    async def start(self) -> None:
        from llmtrace.server import grpc

        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        http1, replay, http2 = self._runner.server, self.replay, getattr(self, "http2", None)
        self._server = await loop.create_server(lambda: grpc.Sniffing(http1, replay, http2), self._host, self._port,
                                                backlog=self._backlog, reuse_address=self._reuse_address,
                                                ssl=self._ssl_context)
        self._bound_port = self._server.sockets[0].getsockname()[1] if self._server.sockets else self._port


def quiet_aiohttp(log) -> None:
    """aiohttp's loggers (``aiohttp.server``: malformed HTTP, a reset mid-request) say one
    line each through ``log``, with no traceback; nothing reaches Python's last-resort handler.
    A request aiohttp cannot parse is ``bad HTTP request from ADDRESS:PORT: what was wrong``
    (aiohttp logs a bad method on a connection's first request at debug level only: here it is
    a line like the others)."""
    import logging

    class OneLine(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            try:
                exc = record.exc_info[1] if record.exc_info else None
                if _bad_http(exc):
                    log(f"bad HTTP request from {_peer(record)}: {_bad_http_reason(exc)}")
                    return
                if record.levelno < logging.WARNING:
                    return
                message = record.getMessage().strip()
                if exc is not None:
                    reason = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())[:200]
                    message = f"{message}: {type(exc).__name__}" + (f" ({reason})" if reason else "")
                log(message)
            except Exception:  # noqa: BLE001 - logging must never raise
                pass

    for name in ("aiohttp.server", "aiohttp.web", "aiohttp.access", "aiohttp.internal"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [OneLine()]
        logger.propagate = False
        logger.setLevel(logging.DEBUG if name == "aiohttp.server" else logging.WARNING)


def _bad_http(exc: BaseException | None) -> bool:
    from aiohttp.http_exceptions import HttpProcessingError

    return isinstance(exc, HttpProcessingError)


def _bad_http_reason(exc: BaseException) -> str:
    """What aiohttp's parser found wrong, without the bytes it quotes and the caret under them
    ("Invalid method encountered", "Bad status line: Invalid HTTP version")."""
    text = str(getattr(exc, "message", "") or "")
    parts = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("b'", 'b"', "^", "bytearray(")):
            break
        parts.append(line.rstrip(":").split(": b'", 1)[0].split(": bytearray(", 1)[0].rstrip(":"))
    return ": ".join(parts)[:200] or type(exc).__name__


def _peer(record) -> str:
    """The address and port of the client a record of aiohttp's ``handle_error`` is about: its
    ``request`` is in that frame (the record's own arguments carry the address only)."""
    frame = sys._getframe()
    for _ in range(20):
        frame = frame.f_back
        if frame is None:
            break
        if frame.f_code.co_name == "handle_error":
            transport = getattr(frame.f_locals.get("request"), "transport", None)
            peer = transport.get_extra_info("peername") if transport is not None else None
            if isinstance(peer, tuple) and len(peer) >= 2:
                return f"[{peer[0]}]:{peer[1]}" if ":" in str(peer[0]) else f"{peer[0]}:{peer[1]}"
            break
    return str(record.args[0]) if isinstance(record.args, tuple) and record.args else "a client"


def announce(base: str) -> None:
    """The first stdout lines of ``serve`` and ``record``: the base URL, then the variables the
    SDKs read to go there."""
    sys.stdout.write(f"{base}\nOPENAI_BASE_URL={base}/v1\nANTHROPIC_BASE_URL={base}\nOLLAMA_HOST={base}\n"
                     f"GOOGLE_GEMINI_BASE_URL={base}\n")
    sys.stdout.flush()


async def until_signalled() -> int:
    """Wait for SIGTERM (exit code 0) or Ctrl-C (130): how the commands that listen stop."""
    import signal

    loop = asyncio.get_running_loop()
    stopped: asyncio.Future = loop.create_future()
    for sig, code in ((signal.SIGTERM, 0), (signal.SIGINT, 130)):
        loop.add_signal_handler(sig, lambda code=code: stopped.done() or stopped.set_result(code))
    return await stopped


class Background:
    """A ``Server`` on its own event loop in a daemon thread, for synchronous callers (the pytest
    fixture, tests): ``with Background(server) as base_url: ...``."""

    def __init__(self, server: Server):
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.thread: Any = None
        self.error: BaseException | None = None

    def __enter__(self) -> str:
        import threading

        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(self.server.start())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                self.error = exc
                started.set()
                return
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="llmtrace-serve", daemon=True)
        self.thread.start()
        if not started.wait(30):
            raise RuntimeError("llmtrace serve did not start within 30 s")
        if self.error is not None:
            raise self.error
        return self.server.base_url

    @property
    def requests(self) -> list[dict]:
        """The server's journal (``Server.requests``), read from this thread."""
        return self.server.requests

    def reset(self) -> None:
        """The journal emptied and sequence positions rewound, on the server's loop (done when
        this returns)."""
        async def reset() -> None:
            self.server.reset()

        asyncio.run_coroutine_threadsafe(reset(), self.loop).result(10)

    def __exit__(self, *exc) -> None:
        if self.error is None:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
