"""The recording reverse proxy of ``llmtrace record``: clients point their base URL at it, it
forwards each request to the upstream and streams the answer back while keeping every byte and
when it arrived (``saving``).

On aiohttp, like ``serve``: ``aiohttp.web`` listens, an ``aiohttp.ClientSession`` talks to the
upstream. The request's path and query are appended to the upstream URL as given; the request
goes on unchanged but for the hop-by-hop headers (``Connection``, ``Transfer-Encoding``, ...)
and ``Host``; nothing is decompressed on either side, so the bytes, and their
``Content-Encoding``, are the provider's. Each read of the upstream's body is written to the
client as soon as it arrives (one ``write``, no buffering) and kept as one chunk with its
offset in milliseconds from the request's start (``time.monotonic``).

Failures pass through as they happened and are recorded: an upstream that cannot be reached
answers 502 (504 when connecting times out); a connection the upstream drops mid-stream, or a
read that times out, drops the client's connection too, and the recording keeps what came
(a cut stream: ``check`` reports ``no-finish``) with ``_error`` saying why. Recordings are
saved by one worker thread, in the order the exchanges end; concurrent exchanges are
independent.
"""

from __future__ import annotations

import asyncio
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, NamedTuple

import aiohttp
from aiohttp import web

from llmtrace.server.app import Listening
from llmtrace.server.forwarding import HOP_BY_HOP, NOT_FORWARDED, upstream_url  # noqa: F401 (names of this module too)
from llmtrace.server.forwarding import forwarded as _forwarded
from llmtrace.server.forwarding import reason as _reason
from llmtrace.server.saving import Capture, Saver


class Options(NamedTuple):
    connect_timeout: float = 30.0
    read_timeout: float | None = 600.0  # seconds without a byte from the upstream
    log: Callable[[str], None] | None = None  # one log line per exchange; default: stderr


def _stderr(line: str) -> None:
    from llmtrace.output import one_line

    sys.stderr.write(f"llmtrace: {one_line(line)}\n")
    sys.stderr.flush()


class Recorder:
    """The proxy's state: upstream, where recordings go, the client session."""

    def __init__(self, upstream: str, saver: Saver, options: Options = Options()):
        self.upstream = upstream
        self.saver = saver
        self.options = options
        self.log = options.log or _stderr
        self.session: aiohttp.ClientSession | None = None
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmtrace-record")
        self.pending: set[asyncio.Future] = set()
        self.count = 0

    def app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 2**20)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def open(self) -> None:
        self.saver.prepare()
        for capture, where in self.saver.recover():
            reads = f"{capture.count} network read{'s' if capture.count != 1 else ''}"
            self.log(f"recovered {capture.method} {capture.path} ({reads} before its recorder stopped) "
                     f"{where if isinstance(where, str) else f'→ {where}'}")
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.options.connect_timeout,
                                        sock_read=self.options.read_timeout)
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        self.session = aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False,
                                             cookie_jar=aiohttp.DummyCookieJar(), trust_env=False)

    async def close(self) -> None:
        if self.pending:
            await asyncio.gather(*self.pending, return_exceptions=True)
        if self.session is not None:
            await self.session.close()
            self.session = None
        self.writer.shutdown(wait=True)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("upgrade", "").lower() == "websocket":  # websocket sessions: server.ws_record
            from llmtrace.server import ws_record

            return await ws_record.relay(self, request)
        return await self.forward(request, self._save)

    async def forward(self, request: web.Request, done: Callable[[Capture], object]) -> web.StreamResponse:
        """Forward one request, streaming the answer back; ``done`` gets the capture however the
        exchange ended (``record`` saves it; ``serve --upstream`` decides)."""
        t0 = time.monotonic()
        started = time.time()
        try:
            body = await request.read()
        except (ConnectionError, asyncio.IncompleteReadError) as exc:  # nothing forwarded: nothing kept
            self.log(f"{request.method} {request.path} → aborted (the client left while sending its body: "
                     f"{type(exc).__name__})")
            raise asyncio.CancelledError from None
        except asyncio.CancelledError:
            self.log(f"{request.method} {request.path} → not forwarded (the proxy stopped while the client sent "
                     f"its body)")
            raise
        version = f"HTTP/{request.version.major}.{request.version.minor}"
        capture = Capture(request.method, upstream_url(self.upstream, request.raw_path), request.raw_path, version,
                          _forwarded(request.raw_headers), body, started, self.saver.folder)
        if request.path.startswith(OWN_PATHS):  # llmtrace's own endpoints (serve's, the proxy's): passed, not kept
            try:
                return await self._relay(request, capture, t0)
            finally:
                capture.discard()
        try:
            return await self._relay(request, capture, t0)
        except asyncio.CancelledError:  # the proxy is stopping: kept as far as it went
            capture.error = capture.error or "the proxy stopped during the exchange"
            raise
        finally:
            if capture.end_ms is None:
                capture.end_ms = (time.monotonic() - t0) * 1000
            done(capture)

    async def _relay(self, request: web.Request, capture: Capture, t0: float) -> web.StreamResponse:
        assert self.session is not None
        try:
            upstream = await self.session.request(
                capture.method, capture.url, headers=capture.request_headers, data=capture.request_body or None,
                allow_redirects=False, skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"))
        except asyncio.TimeoutError:
            return self._failed(capture, t0, 504, "timed out connecting to the upstream")
        except aiohttp.ClientError as exc:
            return self._failed(capture, t0, 502, f"cannot reach the upstream ({_reason(exc)})")
        async with upstream:
            capture.status = upstream.status
            capture.reason = upstream.reason or ""
            capture.response_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in upstream.raw_headers]
            capture.responded()
            out = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for name, value in capture.response_headers:
                if name.lower() not in HOP_BY_HOP:
                    out.headers.add(name, value)
            if upstream.headers.get("content-length") is None and request.method != "HEAD":
                out.enable_chunked_encoding()
            try:
                await out.prepare(request)
            except ConnectionError as exc:  # the client left before the answer began: kept as far as it went
                capture.error = f"the client closed the connection before the answer ({_reason(exc)})"
                raise asyncio.CancelledError from None
            content = upstream.content
            unspooled = None  # why the reads could not all be kept (a full disk): relayed all the same
            try:
                while True:
                    data = await content.readany()
                    if not data:
                        break
                    now = (time.monotonic() - t0) * 1000
                    if capture.first_byte_ms is None:
                        capture.first_byte_ms = now
                    if unspooled is None:
                        try:
                            capture.add(now, data)
                        except OSError as exc:
                            unspooled = f"cannot keep the stream ({_reason(exc)}): recorded as far as it was kept"
                    try:
                        await out.write(data)
                    except (ConnectionError, RuntimeError) as exc:  # the client has gone: stop reading
                        capture.error = f"the client closed the connection ({_reason(exc)})"
                        break
            except asyncio.TimeoutError:
                capture.error = f"the upstream sent nothing for {self.options.read_timeout:g} s: connection dropped"
            except aiohttp.ClientPayloadError as exc:
                capture.error = f"the upstream dropped the connection mid-stream ({_reason(exc)})"
            except aiohttp.ClientError as exc:
                capture.error = f"the upstream connection failed mid-stream ({_reason(exc)})"
            capture.end_ms = (time.monotonic() - t0) * 1000
            if capture.error is not None:
                if request.transport is not None:
                    request.transport.abort()  # the client sees the stream cut, as the proxy did
                capture.error = f"{capture.error}; {unspooled}" if unspooled else capture.error
                return out
            try:
                await out.write_eof()
                capture.error = unspooled
            except ConnectionError as exc:  # the client left as the answer ended
                capture.error = "; ".join(filter(None, (f"the client closed the connection ({_reason(exc)})",
                                                        unspooled)))
            return out

    def _failed(self, capture: Capture, t0: float, status: int, message: str) -> web.Response:
        capture.error = message
        capture.end_ms = (time.monotonic() - t0) * 1000
        return web.Response(status=status, text=f"llmtrace record: {message}\n")

    def _save(self, capture: Capture) -> None:
        self.count += 1
        loop = asyncio.get_running_loop()
        what = []

        def save():
            what.append(received(capture))  # before the spool it reads is gone
            return self.saver.save(capture)

        future = loop.run_in_executor(self.writer, save)
        self.pending.add(future)

        def done(fut: asyncio.Future) -> None:
            self.pending.discard(fut)
            status = capture.status if capture.status is not None else "no response"
            first = f", first byte {capture.first_byte_ms:.0f} ms" if capture.first_byte_ms is not None else ""
            broke = f", {capture.error}" if capture.error else ""
            exc = fut.exception()
            where = f"→ {fut.result()}" if exc is None else f"NOT SAVED ({exc})"
            self.log(f"{capture.method} {capture.path} → {status}, {what[0] if what else received(capture)}"
                     f"{first}, {capture.end_ms:.0f} ms{broke} {where}")

        future.add_done_callback(done)


def received(capture: Capture) -> str:
    """What came back, for the log line: the stream's events (SSE events, NDJSON lines) where the
    body is one and readable as sent, and the network reads they came in, counted apart (the
    body read back piece by piece: memory does not grow with it)."""
    reads = capture.count
    text = f"{reads} network read{'s' if reads != 1 else ''}"
    kind = (capture.header("content-type") or "").split(";")[0].strip().lower()
    if capture.header("content-encoding") not in (None, "", "identity"):
        return text
    if kind == "text/event-stream":
        events, unit = _count(capture, True), "SSE event"
    elif kind in NDJSON_TYPES:
        events, unit = _count(capture, False), "NDJSON line"
    else:
        return text
    return f"{events} {unit}{'s' if events != 1 else ''} in {text}"


def _count(capture: Capture, sse: bool) -> int:
    """SSE events (runs of lines between blank lines with a field, not only comments) or
    NDJSON lines (not blank) in the body, any line ending, read piece by piece."""
    count, held = 0, b""
    has = False  # the run (SSE) or line (NDJSON) so far counts
    line = b""  # the start of the line being read (at most its first byte)
    for _, data in capture.pieces():
        data = held + data
        held = b"\r" if data.endswith(b"\r") else b""  # maybe half a CRLF
        data = (data[:-1] if held else data).replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = data.split(b"\n")
        for done in lines[:-1]:
            whole = line + done[:1]
            if sse:
                if not whole and not line:  # a blank line ends the run
                    count += has
                    has = False
                elif not whole.startswith(b":"):
                    has = True
            else:
                count += has or bool(done.strip())
                has = False
            line = b""
        last = lines[-1]
        if last:
            if not sse:
                has = has or bool(last.strip())
            line = (line + last[:1])[:1]
    if sse:
        whole = line
        return count + (has or (bool(whole) and not whole.startswith(b":")))
    return count + has


NDJSON_TYPES = frozenset(("application/x-ndjson", "application/ndjson", "application/jsonl", "application/json-seq",
                          "application/x-jsonlines", "application/jsonlines"))
OWN_PATHS = ("/llmtrace/",)


class RecordServer(Listening):
    """A running recording proxy on ``host:port`` (port 0: a free one), as an async context
    manager: ``async with RecordServer(upstream, saver) as proxy: proxy.base_url``."""

    runner_options = {"auto_decompress": False}  # bodies pass through as the upstream sent them

    def __init__(self, upstream: str, saver: Saver, host: str = "127.0.0.1", port: int = 0,
                 options: Options = Options()):
        super().__init__(host, port)
        self.recorder = Recorder(upstream, saver, options)

    def application(self) -> web.Application:
        return self.recorder.app()

    def site(self, runner: web.AppRunner) -> web.TCPSite:  # gRPC (HTTP/2 prefaces): server.grpc_record
        from llmtrace.server import grpc_record

        self.grpc_site = grpc_record.site(self, runner)
        return self.grpc_site

    async def start(self) -> "RecordServer":
        await super().start()
        await self.recorder.open()
        return self

    async def stop(self) -> None:
        site = getattr(self, "grpc_site", None)
        if site is not None:  # gRPC connections still open: closed (their calls are cut)
            from llmtrace.server import grpc_record

            grpc_record.close_all(site.replay)
        await super().stop()
        await self.recorder.close()
