"""gRPC through ``llmtrace record``: a client connection that opens with the HTTP/2 preface (a
plain-text gRPC channel, as the xAI SDK's ``use_insecure_channel=True``) is proxied call by call
to the upstream over HTTP/2 (``h2`` on both sides; TLS with ALPN ``h2`` when the upstream is
``https``), and each call is recorded.

The client side is ``server.grpc``'s ``Connection`` (its framing, flow control and writes);
instead of answering from recordings, each call goes to the upstream on a stream of one HTTP/2
connection per client connection, both ways at once: the request headers as soon as they come
(``:authority`` the upstream's, the hop-by-hop ones dropped; ``te: trailers`` kept), each request
DATA frame as it arrives (client-streaming calls, xAI's ``Files/UploadFile``, and bidirectional
ones are proxied, not only unary requests; the client's window is opened again only once the
upstream took the bytes, so a slow upstream holds the client back instead of the proxy
buffering), and back the response headers, every DATA frame as it arrives (relayed at once, kept
with its offset) and the trailers (``grpc-status``, ``grpc-message``). A stream the upstream
resets is reset for the client, a call the client cancels is reset upstream; an upstream that
drops the connection cuts the client's. The request is kept for the file up to 64 MiB
(``grpc.MAX_REQUEST``; beyond, forwarded all the same and ``_request_cut`` says so).

Written as pydantic-ai records the xAI SDK (``containers.grpc_cassette``): one cassette per call,
``DIR/NNNN-GRPC-method-slug.xai.yaml`` (numbered with the run's other files), ``{request_stream |
request: {json, raw}, response_stream: {chunks_json, chunks_raw} | response: {json, raw} |
{error}}`` with ``json`` the message decoded by xAI's schema (``dialects.xai_grpc``; other
services keep ``raw`` only) and ``raw`` the message bytes as sent (a request of several messages,
a client stream: the length-prefixed messages one after the other); the reads' offsets (ms from the
call's start), the status and the masked request metadata go in fields the readers ignore
(``_chunk_offsets_ms``, ``_status``, ``_metadata``). ``--save-as vcr`` appends the call to the
run's cassette instead (the same interaction shape). ``serve`` replays the file as gRPC again,
the recorded message bytes on the wire.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

from llmtrace import secrets
from llmtrace.server import grpc

HOP_BY_HOP = frozenset(("connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host"))


class _Server:
    """What ``grpc.Connection`` needs of its server: the open connections and a log."""

    def __init__(self, recorder):
        self.recorder = recorder
        self.connections: set = set()
        self.log = recorder.log


class Upstream:
    """One HTTP/2 client connection to the upstream; each stream's events go to its queue."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.tls = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.tls else 80)
        self.authority = parts.netloc.rsplit("@", 1)[-1]
        self.h2: Any = None
        self.writer: Any = None
        self.streams: dict[int, asyncio.Queue] = {}
        self.window = asyncio.Event()
        self.reader_task: asyncio.Task | None = None
        self.closed = False

    async def open(self, timeout: float) -> None:
        from h2.config import H2Configuration
        from h2.connection import H2Connection

        context = None
        if self.tls:
            context = ssl.create_default_context()
            context.set_alpn_protocols(["h2"])
        reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, ssl=context, server_hostname=self.host if self.tls else None),
            timeout)
        self.h2 = H2Connection(H2Configuration(client_side=True, header_encoding="utf-8"))
        self.h2.initiate_connection()
        self.flush()
        self.reader_task = asyncio.ensure_future(self.read(reader))

    def flush(self) -> None:
        out = self.h2.data_to_send()
        if out and not self.closed:
            self.writer.write(out)

    async def read(self, reader) -> None:
        from h2 import events
        from h2.exceptions import H2Error

        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for event in self.h2.receive_data(data):
                    if isinstance(event, events.DataReceived):
                        self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    if isinstance(event, (events.WindowUpdated, events.RemoteSettingsChanged)):
                        self.window.set()
                    queue = self.streams.get(getattr(event, "stream_id", 0) or 0)
                    if queue is not None:
                        queue.put_nowait(event)
                    if isinstance(event, events.ConnectionTerminated):
                        break
                self.flush()
        except (ConnectionError, H2Error, OSError):
            pass
        finally:
            self.closed = True
            for queue in self.streams.values():
                queue.put_nowait(None)  # the upstream went away

    def start(self, headers: list[tuple[str, str]]) -> tuple[int, asyncio.Queue]:
        """A new stream with the request's headers; its events go to the queue returned."""
        if self.closed:
            raise ConnectionResetError("the upstream went away")
        stream_id = self.h2.get_next_available_stream_id()
        queue: asyncio.Queue = asyncio.Queue()
        self.streams[stream_id] = queue
        self.h2.send_headers(stream_id, headers)
        self.flush()
        return stream_id, queue

    async def send(self, stream_id: int, data: bytes) -> None:
        """Request bytes on the stream, as the upstream's flow-control windows take them."""
        view = memoryview(data)
        while view:
            if self.closed:
                raise ConnectionResetError("the upstream went away")
            room = min(self.h2.local_flow_control_window(stream_id), self.h2.max_outbound_frame_size, len(view))
            if room <= 0:
                self.flush()
                self.window.clear()
                await asyncio.wait_for(self.window.wait(), 60)
                continue
            self.h2.send_data(stream_id, bytes(view[:room]))
            view = view[room:]
        self.flush()

    def end(self, stream_id: int) -> None:
        self.h2.end_stream(stream_id)
        self.flush()

    def cancel(self, stream_id: int) -> None:
        """The client went away mid-call: the upstream's stream is reset (CANCEL)."""
        from h2.errors import ErrorCodes
        from h2.exceptions import H2Error

        self.streams.pop(stream_id, None)
        if not self.closed:
            try:
                self.h2.reset_stream(stream_id, ErrorCodes.CANCEL)
                self.flush()
            except H2Error:
                pass  # the stream had ended already

    def close(self) -> None:
        self.closed = True
        if self.reader_task is not None:
            self.reader_task.cancel()
        if self.writer is not None:
            self.writer.close()


class ProxyConnection(grpc.Connection):
    """A client's HTTP/2 connection whose calls go to the upstream as they arrive: the headers at
    once, each request DATA frame when it comes (client-streaming calls such as xAI's
    ``Files/UploadFile`` and bidirectional ones as well as unary), the client's window opened
    again only once the upstream took the bytes (flow control end to end)."""

    def __init__(self, server: _Server):
        super().__init__(server)
        self.recorder = server.recorder
        self.upstream: Upstream | None = None
        self.opening: asyncio.Lock = asyncio.Lock()
        self.sources: dict[int, asyncio.Queue] = {}  # each call's request frames, not yet forwarded

    def request_started(self, stream_id: int, headers: dict) -> None:
        source: asyncio.Queue = asyncio.Queue()  # bounded by the client's window: nothing acknowledged waits here
        self.sources[stream_id] = source
        self.start(stream_id, self.proxied(stream_id, headers, source))

    def request_data(self, stream_id: int, data: bytes, flow_controlled: int) -> None:
        source = self.sources.get(stream_id)
        if source is None:  # the call is over (answered early, or failed): read and dropped
            self.h2.acknowledge_received_data(flow_controlled, stream_id)
        else:
            source.put_nowait((data, flow_controlled))

    def request_ended(self, stream_id: int) -> None:
        source = self.sources.get(stream_id)
        if source is not None:
            source.put_nowait(None)

    async def proxied(self, stream_id: int, headers: dict, source: asyncio.Queue) -> None:
        from h2.exceptions import H2Error

        try:
            await relay(self, stream_id, headers, source)
        except (ConnectionResetError, H2Error):
            pass
        finally:
            self.sources.pop(stream_id, None)
            for data, flow in _drained(source):  # frames that came meanwhile: the window opened again
                self.h2.acknowledge_received_data(flow, stream_id)
            if not self.closed:
                self.flush()

    async def connect(self) -> Upstream:
        async with self.opening:
            if self.upstream is None or self.upstream.closed:
                upstream = Upstream(self.recorder.upstream)
                await upstream.open(self.recorder.options.connect_timeout)
                self.upstream = upstream
            return self.upstream

    def connection_lost(self, exc) -> None:
        super().connection_lost(exc)
        if self.upstream is not None:
            self.upstream.close()


def _drained(queue: asyncio.Queue) -> list:
    out = []
    while not queue.empty():
        item = queue.get_nowait()
        if item is not None:
            out.append(item)
    return out


class Call:
    """One gRPC call as it crossed the proxy."""

    def __init__(self, path: str, headers: dict, body: bytes = b""):
        self.path = path
        self.headers = headers
        self.body = bytearray(body)
        self.body_cut = False  # the request was larger than ``grpc.MAX_REQUEST``: its start kept
        self.started = time.time()
        self.t0 = time.monotonic()
        self.reads: list[tuple[float, bytes]] = []
        self.status: int | None = None
        self.message = ""
        self.error: str | None = None

    def offset(self) -> float:
        return (time.monotonic() - self.t0) * 1000

    def keep(self, data: bytes) -> None:
        """Request bytes, kept for the recording up to ``grpc.MAX_REQUEST`` (all are forwarded)."""
        room = grpc.MAX_REQUEST + 5 - len(self.body)
        if len(data) > room:
            self.body_cut = True
        self.body.extend(data[:max(room, 0)])

    def trailers(self, pairs) -> None:
        found = dict(pairs)
        if "grpc-status" in found:
            try:
                self.status = int(found["grpc-status"])
            except ValueError:
                self.status = grpc.NAMES["UNKNOWN"]
            self.message = _unpercent(found.get("grpc-message", ""))


def _unpercent(text: str) -> str:
    from urllib.parse import unquote

    return unquote(text)


def _outgoing(headers: dict, upstream: Upstream) -> list[tuple[str, str]]:
    pseudo = [(":method", headers.get(":method", "POST")), (":scheme", "https" if upstream.tls else "http"),
              (":path", headers.get(":path", "/")), (":authority", upstream.authority)]
    rest = [(k, v) for k, v in headers.items() if not k.startswith(":") and k.lower() not in HOP_BY_HOP]
    return pseudo + rest


async def forward(conn: ProxyConnection, stream_id: int, source: asyncio.Queue, upstream: Upstream,
                  upstream_id: int, call: Call) -> None:
    """The request's DATA frames to the upstream as they arrive, then its end; each frame's bytes
    acknowledged to the client once the upstream took them."""
    from h2.exceptions import H2Error

    try:
        while True:
            item = await source.get()
            if item is None:
                upstream.end(upstream_id)
                return
            data, flow = item
            try:
                call.keep(data)
                await upstream.send(upstream_id, data)
            finally:  # sent, or dropped (the call ended meanwhile): the connection's window is not lost
                if not conn.closed:
                    conn.h2.acknowledge_received_data(flow, stream_id)
                    conn.flush()
    except (ConnectionResetError, H2Error, asyncio.TimeoutError):
        pass  # the upstream went away or ended the stream: the answer side says so


async def relay(conn: ProxyConnection, stream_id: int, headers: dict, source: asyncio.Queue) -> None:
    from h2 import events

    recorder = conn.recorder
    call = Call(headers.get(":path", ""), headers)
    pump: asyncio.Future | None = None
    upstream_id = None
    try:
        try:
            upstream = await conn.connect()
        except (OSError, asyncio.TimeoutError) as exc:
            call.error = f"cannot reach the upstream ({exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__})"
            call.status = grpc.UNAVAILABLE
            for data, _flow in _drained(source):
                call.keep(data)
            conn.trailers_only(stream_id, grpc.UNAVAILABLE, f"llmtrace record: {call.error}")
            return
        upstream_id, queue = upstream.start(_outgoing(headers, upstream))
        pump = asyncio.ensure_future(forward(conn, stream_id, source, upstream, upstream_id, call))
        ended = False
        while not ended:
            try:
                event = await asyncio.wait_for(queue.get(), recorder.options.read_timeout)
            except asyncio.TimeoutError:
                call.error = f"the upstream sent nothing for {recorder.options.read_timeout:g} s: connection dropped"
                conn.cut()
                return
            if event is None:
                call.error = "the upstream dropped the connection mid-call"
                conn.cut()
                return
            if isinstance(event, events.ResponseReceived):
                pairs = [(k, v) for k, v in event.headers if k.lower() not in HOP_BY_HOP]
                call.trailers(pairs)  # trailers only: the status is in the headers
                conn.h2.send_headers(stream_id, pairs, end_stream=event.stream_ended is not None)
                conn.flush()
                ended = event.stream_ended is not None
            elif isinstance(event, events.DataReceived):
                call.reads.append((call.offset(), event.data))
                await conn.send(stream_id, event.data)
                if event.stream_ended is not None:
                    conn.h2.end_stream(stream_id)
                    conn.flush()
                    ended = True
            elif isinstance(event, events.TrailersReceived):
                call.trailers(event.headers)
                conn.h2.send_headers(stream_id, list(event.headers), end_stream=True)
                conn.flush()
                ended = True
            elif isinstance(event, events.StreamEnded):
                ended = True
            elif isinstance(event, events.StreamReset):
                call.error = f"the upstream reset the stream (error code {event.error_code})"
                conn.h2.reset_stream(stream_id, event.error_code)
                conn.flush()
                ended = True
        upstream.streams.pop(upstream_id, None)
        upstream_id = None
    except asyncio.CancelledError:
        call.error = call.error or "the client cancelled the call"
        if upstream_id is not None:
            upstream.cancel(upstream_id)
        raise
    finally:
        if pump is not None and not pump.done():
            pump.cancel()
        _save(recorder, call)


# --- what is written ------------------------------------------------------------------------------


def messages(reads: list[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
    """The length-prefixed messages in the DATA received, each with the offset of the read that
    completed it (a trailing partial message, from a cut call, is left out)."""
    out: list[tuple[float, bytes]] = []
    buffer = bytearray()
    for offset, data in reads:
        buffer.extend(data)
        while len(buffer) >= 5:
            length = int.from_bytes(buffer[1:5], "big")
            if len(buffer) < 5 + length:
                break
            out.append((offset, bytes(buffer[5:5 + length])))
            del buffer[:5 + length]
    return out


def interaction(call: Call, mask: bool) -> dict:
    """The call in the shape of pydantic-ai's xAI cassettes."""
    from llmtrace.dialects import xai_grpc

    streaming = call.path == grpc.STREAM_METHOD
    xai = call.path in grpc.METHODS
    body = bytes(call.body)
    try:
        request = grpc.unframed(body, call.headers.get("grpc-encoding"))
    except grpc.GrpcError:
        request = body
    request_json = None
    if xai:
        try:
            request_json = xai_grpc.decode_request(request)
        except ValueError:
            request_json = None
    item: dict[str, Any] = {("request_stream" if streaming else "request"): {"json": request_json, "raw": request}}
    received = messages(call.reads)
    if call.status not in (None, grpc.OK) or (call.error and not received):
        item["response"] = {"error": {"code": call.status if call.status is not None else grpc.UNAVAILABLE,
                                      "details": call.message or call.error or ""}}
    elif streaming:
        chunks = []
        for _, raw in received:
            try:
                chunks.append({"chunk": xai_grpc.decode_chunk(raw)})
            except ValueError:
                chunks.append({"chunk": None})
        item["response_stream"] = {"chunks_json": chunks, "chunks_raw": [raw for _, raw in received],
                                   "_chunk_offsets_ms": [round(at, 3) for at, _ in received]}
    else:
        raw = received[0][1] if received else b""
        try:
            decoded = xai_grpc.decode_response(raw) if xai else None
        except ValueError:
            decoded = None
        item["response"] = {"json": decoded, "raw": raw}
    metadata = {k: v for k, v in call.headers.items() if not k.startswith(":")}
    item["_method"] = call.path
    item["_status"] = call.status
    item["_metadata"] = secrets.mask_headers(metadata) if mask else metadata
    if call.error:
        item["_error"] = call.error
    if call.body_cut:
        item["_request_cut"] = f"the request was larger than {grpc.MAX_REQUEST >> 20} MiB: its start is kept"
    return item


def save(saver, call: Call) -> Any:
    """Write the call (from the writer thread): its own cassette, or the run's VCR cassette."""
    from llmtrace.output import write_atomically
    from llmtrace.server.saving import cassette, slug, write_new

    item = interaction(call, saver.mask)
    if saver.save_as == "vcr":
        saver.interactions.append(item)
        write_atomically(str(saver.cassette), cassette(saver.interactions))
        return saver.cassette
    method = slug(call.path.replace(".", "-"))
    path, taken = write_new(saver.folder, lambda n: f"{n:04d}-GRPC-{method}.xai.yaml", saver.number, cassette([item]))
    saver.number = taken + 1
    return path


def _save(recorder, call: Call) -> None:
    from llmtrace.server.saving import save_later

    def line(where: str) -> str:
        n = len(messages(call.reads))
        return (f"gRPC {call.path} → status {call.status if call.status is not None else 'none'}, {n} "
                f"message{'s' if n != 1 else ''}, {call.offset():.0f} ms{', ' + call.error if call.error else ''} {where}")

    save_later(recorder, lambda: save(recorder.saver, call), line)


def site(record_server, runner):
    """The recording proxy's listening site: HTTP/2 prefaces to ``ProxyConnection``, the rest to
    aiohttp (``app._SniffingSite``)."""
    from llmtrace.server.app import _SniffingSite

    out = _SniffingSite(runner, record_server.host, record_server.port, reuse_address=True, backlog=1024)
    out.replay = _Server(record_server.recorder)
    out.http2 = ProxyConnection
    return out


def close_all(server: _Server) -> None:
    for connection in list(server.connections):
        connection.transport.close()
