"""gRPC on the ``serve`` port: xAI's chat API replayed from its recordings (``*.xai.yaml``), over
HTTP/2 as the xAI SDK speaks it, on the same port as the HTTP/1.1 endpoints.

A connection that opens with the HTTP/2 preface (``PRI * HTTP/2.0…``, what a gRPC client sends
on a plain-text channel) is handed to ``Connection``; any other goes to aiohttp (``Sniffing``).
``Connection`` is an asyncio protocol around the ``h2`` state machine (``h2`` keeps the
framing, HPACK, settings, pings and flow-control windows; this module the gRPC rules):

- a request is ``POST /<package>.<Service>/<Method>`` with ``content-type: application/grpc``
  and one length-prefixed message (1 byte "compressed", 4 bytes big-endian length; gzip when the
  client says ``grpc-encoding: gzip``); it is read whole, at most ``MAX_REQUEST`` bytes (the
  requests one connection is sending at once together, and a gzip message once inflated);
- the answer is HTTP status 200, then one length-prefixed message per frame, then trailers with
  ``grpc-status`` (0 = OK) and ``grpc-message`` (percent-encoded); an error before any message
  is "trailers only" (the status in the headers, end of stream);
- the methods: ``/xai_api.Chat/GetCompletionChunk`` answers with the recorded stream, chunk for
  chunk, at its pace; ``/xai_api.Chat/GetCompletion`` with one response (the recorded one, or
  the stream reassembled). Both are filed under one endpoint (``match.GRPC_ENDPOINT``), so
  a streamed recording answers either, as an HTTP exchange answers ``stream`` true or false;
- the request message is decoded with xAI's schema (``dialects.xai_grpc``) to the JSON the
  cassettes record, and matched like any request (strict, loose, sequence); a miss is
  ``NOT_FOUND`` naming the closest recording and what differs. Another method:
  ``UNIMPLEMENTED``;
- the frames are the recorded message bytes where the cassette kept them (``chunks_raw``), else
  the JSON chunk encoded again.

Faults, in gRPC terms: ``error:status=S`` is the gRPC status an HTTP gateway maps S to (429 →
RESOURCE_EXHAUSTED, 503 → UNAVAILABLE, …) with a ``retry-after`` in the metadata;
``error-in-stream`` ends the stream with INTERNAL after frame N; ``cut`` drops the connection;
``drop-done`` leaves out the finishing chunk (the stream still ends with status OK, as a
server that lost it would); ``split-utf8`` sends each message in two DATA frames, the cut inside
a multi-byte character where one is; ``stall`` and ``duplicate`` as over HTTP;
``tool-call-as-text`` does not apply (skipped, logged).

Flow control is honoured: a message larger than the client's window waits for its
WINDOW_UPDATE, and writes wait while the transport's buffer is full.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from typing import Any

from llmtrace.server import faults as faults_mod
from llmtrace.server import match, pace, wire

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_REQUEST = 64 * 2**20
STREAM_METHOD = "/xai_api.Chat/GetCompletionChunk"
UNARY_METHOD = "/xai_api.Chat/GetCompletion"
METHODS = {STREAM_METHOD: True, UNARY_METHOD: False}

OK, INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED = 0, 3, 5, 8
UNIMPLEMENTED, INTERNAL, UNAVAILABLE, UNAUTHENTICATED = 12, 13, 14, 16
# What an HTTP status means in gRPC (the mapping gRPC's HTTP gateways use).
FROM_HTTP = {400: INVALID_ARGUMENT, 401: UNAUTHENTICATED, 403: 7, 404: NOT_FOUND, 409: 10, 429: RESOURCE_EXHAUSTED,
             499: 1, 500: INTERNAL, 501: UNIMPLEMENTED, 503: UNAVAILABLE, 504: 4, 529: UNAVAILABLE}
NAMES = {"OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4, "NOT_FOUND": 5,
         "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8, "FAILED_PRECONDITION": 9,
         "ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12, "INTERNAL": 13, "UNAVAILABLE": 14,
         "DATA_LOSS": 15, "UNAUTHENTICATED": 16}


class GrpcError(Exception):
    """A request answered with a non-OK status and no message."""

    def __init__(self, status: int, message: str, metadata: tuple = ()):
        super().__init__(message)
        self.status, self.message, self.metadata = status, message, metadata


def percent_encoded(message: str) -> str:
    """``grpc-message``: UTF-8, every byte outside printable ASCII (and ``%``) as ``%XX``."""
    return "".join(chr(b) if 0x20 <= b <= 0x7E and b != 0x25 else f"%{b:02X}" for b in message.encode())


def framed(message: bytes) -> bytes:
    """One length-prefixed gRPC message, uncompressed."""
    return b"\0" + len(message).to_bytes(4, "big") + message


def unframed(body: bytes, encoding: str | None) -> bytes:
    """The one message of a unary request body."""
    if len(body) < 5:
        raise GrpcError(INVALID_ARGUMENT, "the request holds no gRPC message")
    compressed, length = body[0], int.from_bytes(body[1:5], "big")
    if length != len(body) - 5:
        raise GrpcError(INVALID_ARGUMENT, f"the request message says {length} bytes, the body has {len(body) - 5}")
    message = body[5:]
    if compressed:
        if encoding != "gzip":
            raise GrpcError(UNIMPLEMENTED, f"compressed request with grpc-encoding {encoding!r}: only gzip is read")
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            message = inflate.decompress(message, MAX_REQUEST + 1)  # never more than the limit, whatever it says
        except zlib.error as exc:
            raise GrpcError(INVALID_ARGUMENT, f"the gzip request does not inflate ({exc})") from None
        if len(message) > MAX_REQUEST:
            raise GrpcError(RESOURCE_EXHAUSTED, "the request message is larger than 64 MiB inflated")
        if not inflate.eof:
            raise GrpcError(INVALID_ARGUMENT, "the gzip request is cut off")
    return message


def status_of_error(error: Any, status: int | None) -> tuple[int, str]:
    """A recorded error as a gRPC status and message (``{"code": 8 | "RESOURCE_EXHAUSTED", "details"|
    "message": …}``, or an HTTP status)."""
    code, text = None, None
    if isinstance(error, dict):
        raw = error.get("code", error.get("status"))
        code = raw if isinstance(raw, int) and 0 <= raw <= 16 else NAMES.get(str(raw).upper()) if raw is not None else None
        text = error.get("details") or error.get("message")
    if code is None:
        code = FROM_HTTP.get(status or 500, INTERNAL if (status or 500) >= 500 else INVALID_ARGUMENT)
    return code, str(text if text is not None else error)


class Sniffing(asyncio.Protocol):
    """The first bytes of a connection decide who serves it: the HTTP/2 preface → gRPC
    (``Connection``), anything else → the HTTP/1.1 protocol ``http1()`` makes (aiohttp's)."""

    def __init__(self, http1, replay, http2=None):
        self.http1 = http1
        self.replay = replay
        self.http2 = http2 or Connection  # ``record`` proxies instead (``server.grpc_record``)
        self.transport: Any = None
        self.buffer = b""

    def connection_made(self, transport) -> None:
        self.transport = transport
        # A connection that says nothing for 30 s is closed (HTTP/1.1's own timeouts start after).
        self.silent = asyncio.get_running_loop().call_later(30, transport.close)

    def data_received(self, data: bytes) -> None:
        self.silent.cancel()
        self.buffer += data
        head = self.buffer[:len(PREFACE)]
        if PREFACE.startswith(head) and len(head) < len(PREFACE):
            self.silent = asyncio.get_running_loop().call_later(30, self.transport.close)
            return  # not enough bytes to tell yet
        protocol = self.http2(self.replay) if head == PREFACE else self.http1()
        self.transport.set_protocol(protocol)
        protocol.connection_made(self.transport)
        protocol.data_received(self.buffer)
        self.buffer = b""

    def eof_received(self) -> bool:
        return False  # closed before it said anything

    def connection_lost(self, exc) -> None:
        self.silent.cancel()
        self.transport = None


class Connection(asyncio.Protocol):
    """One HTTP/2 connection of gRPC calls (each stream handled by its own task)."""

    def __init__(self, replay):
        from h2.config import H2Configuration
        from h2.connection import H2Connection

        self.replay = replay
        self.h2 = H2Connection(H2Configuration(client_side=False, header_encoding="utf-8"))
        self.transport: Any = None
        self.requests: dict[int, tuple[dict, bytearray]] = {}
        self.tasks: dict[int, asyncio.Task] = {}
        self.windows: dict[int, asyncio.Event] = {}
        self.writable = asyncio.Event()
        self.writable.set()
        self.closed = False
        self.pending = 0  # bytes of DATA frames not yet flushed to the socket

    # --- the protocol ---------------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.replay.connections.add(self)  # closed when the server stops
        self.h2.initiate_connection()
        self.flush()

    def data_received(self, data: bytes) -> None:
        from h2 import events
        from h2.exceptions import H2Error

        if self.closed:
            return  # cut: what the client still sends is read and dropped

        try:
            happened = self.h2.receive_data(data)
        except (H2Error, UnicodeDecodeError, ValueError) as exc:
            self.replay.log(f"gRPC connection closed: {type(exc).__name__} from the client")
            self.flush()
            self.transport.close()
            return
        for event in happened:
            if isinstance(event, events.RequestReceived):
                self.request_started(event.stream_id, dict(event.headers))
            elif isinstance(event, events.DataReceived):
                self.request_data(event.stream_id, event.data, event.flow_controlled_length)
            elif isinstance(event, events.StreamEnded):
                self.request_ended(event.stream_id)
            elif isinstance(event, events.StreamReset):
                self.requests.pop(event.stream_id, None)
                task = self.tasks.pop(event.stream_id, None)
                if task is not None:
                    task.cancel()
                self.wake(event.stream_id)
            elif isinstance(event, (events.WindowUpdated, events.RemoteSettingsChanged)):
                self.wake(getattr(event, "stream_id", 0))
            elif isinstance(event, events.ConnectionTerminated):
                self.transport.close()
        self.flush()

    # --- a call's request, as it arrives (``record`` forwards it instead: ``server.grpc_record``) --
    def request_started(self, stream_id: int, headers: dict) -> None:
        self.requests[stream_id] = (headers, bytearray())

    def request_data(self, stream_id: int, data: bytes, flow_controlled: int) -> None:
        """A DATA frame of a request: kept until the request ends (read whole: every method
        answered takes one message), the client's window opened again at once."""
        self.h2.acknowledge_received_data(flow_controlled, stream_id)
        entry = self.requests.get(stream_id)
        if entry is not None:
            entry[1].extend(data)
            if sum(len(body) for _, body in self.requests.values()) > MAX_REQUEST + 5:
                # 64 MiB of requests being received at once on one connection, at most
                del self.requests[stream_id]
                self.trailers_only(stream_id, RESOURCE_EXHAUSTED, "the requests are larger than 64 MiB together")

    def request_ended(self, stream_id: int) -> None:
        entry = self.requests.pop(stream_id, None)
        if entry is not None:
            self.start(stream_id, self.call(stream_id, *entry))

    def start(self, stream_id: int, work) -> None:
        """The task that handles a call (cancelled when the client resets the stream or leaves)."""
        task = asyncio.ensure_future(work)
        self.tasks[stream_id] = task
        task.add_done_callback(lambda _t, s=stream_id: self.tasks.pop(s, None))

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_lost(self, exc) -> None:
        self.replay.connections.discard(self)
        self.closed = True
        for task in list(self.tasks.values()):
            task.cancel()
        self.writable.set()
        self.wake(0)

    # --- writing --------------------------------------------------------------------------------
    def flush(self) -> None:
        self.pending = 0
        out = self.h2.data_to_send()
        if out and not self.closed:
            self.transport.write(out)

    def wake(self, stream_id: int) -> None:
        targets = self.windows.values() if stream_id == 0 else [self.windows.get(stream_id)]
        for event in list(targets):
            if event is not None:
                event.set()

    async def send(self, stream_id: int, data: bytes, flush: bool = True) -> None:
        """``data`` on the stream, as flow control allows: what the window takes now, the rest
        when the client opens it again. ``flush=False`` lets frames gather up to 64 KiB before
        they go to the socket (unpaced streams: one system call per frame would cost more than
        everything else together)."""
        view = memoryview(data)
        while view:
            if self.closed:
                raise ConnectionResetError("the client went away")
            if not self.writable.is_set():
                self.flush()
                await self.writable.wait()
            room = min(self.h2.local_flow_control_window(stream_id), self.h2.max_outbound_frame_size, len(view))
            if room <= 0:
                self.flush()
                event = self.windows.setdefault(stream_id, asyncio.Event())
                event.clear()
                await event.wait()
                continue
            self.h2.send_data(stream_id, bytes(view[:room]))
            self.pending += room
            view = view[room:]
        if flush or self.pending >= 65536:
            self.flush()

    def cut(self) -> None:
        """The connection ends here, no end of stream: a FIN after what was sent, then the
        socket closed once the client closes its side (or after 5 s). Not a reset: the
        client's kernel would drop what it had received but not yet read."""
        self.flush()
        self.closed = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
            asyncio.get_running_loop().call_later(5, self.transport.close)
        else:
            self.transport.close()

    def trailers_only(self, stream_id: int, status: int, message: str, metadata: tuple = ()) -> None:
        self.h2.send_headers(stream_id, [(":status", "200"), ("content-type", "application/grpc"),
                                         ("grpc-status", str(status)), ("grpc-message", percent_encoded(message)),
                                         *metadata], end_stream=True)
        self.flush()

    def end(self, stream_id: int, status: int = OK, message: str = "") -> None:
        trailers = [("grpc-status", str(status))] + ([("grpc-message", percent_encoded(message))] if message else [])
        self.h2.send_headers(stream_id, trailers, end_stream=True)
        self.flush()

    # --- one call -------------------------------------------------------------------------------
    async def call(self, stream_id: int, headers: dict, body: bytearray) -> None:
        from h2.exceptions import H2Error

        try:
            await answer(self, stream_id, headers, bytes(body))
        except GrpcError as exc:
            if not self.closed:
                self.trailers_only(stream_id, exc.status, exc.message, exc.metadata)
        except (ConnectionResetError, H2Error):
            pass  # the client or the stream went away while we wrote
        except ValueError as exc:  # a recorded message the schema cannot write (a field newer than it)
            self.replay.log(f"gRPC {headers.get(':path', '')} → INTERNAL (cannot encode the recorded message: {exc})")
            if not self.closed:
                try:
                    self.trailers_only(stream_id, INTERNAL, f"llmtrace serve: cannot encode the recorded message ({exc})")
                except H2Error:  # the headers went out already: end the stream with the status
                    self.end(stream_id, INTERNAL, f"llmtrace serve: cannot encode the recorded message ({exc})")


async def answer(conn: Connection, stream_id: int, headers: dict, body: bytes) -> None:
    """Answer one gRPC call from the recordings."""
    replay = conn.replay
    path = headers.get(":path", "")
    started = time.monotonic()
    streaming = METHODS.get(path)
    if streaming is None:
        replay.log(f"gRPC {path} → UNIMPLEMENTED (no recording serves this method)")
        raise GrpcError(UNIMPLEMENTED, f"llmtrace serve: no recording serves {path}")
    from llmtrace.dialects import xai_grpc

    message = unframed(body, headers.get("grpc-encoding"))
    try:
        asked = xai_grpc.decode_request(message)
    except ValueError as exc:
        replay.log(f"gRPC {path} → INVALID_ARGUMENT (the request message does not decode: {exc})")
        raise GrpcError(INVALID_ARGUMENT, f"the request message does not decode ({exc})") from None
    found = replay.find("POST", match.GRPC_ENDPOINT, asked, (path, message), "xai-grpc")
    if isinstance(found, match.Miss):
        where = replay.miss_text(found)
        replay.log(f"gRPC {path} → NOT_FOUND no_match ({where})")
        raise GrpcError(NOT_FOUND, f"no recorded exchange matches this request ({where})")
    entry = found.entry
    ex = entry.exchange
    number = replay.matched
    replay.matched += 1
    label = f"{entry.file} exchange {ex.index}"
    frames = xai_grpc_messages(replay, ex) if streaming and ex.response.streaming and not ex.failed else None
    plan = faults_mod.plan(list(replay.options.faults), number, len(frames) if frames else 0, replay.rng)
    applied = f", faults {' '.join(plan.applied)}" if plan.applied else ""
    if plan.error is not None:
        http = plan.error.values["status"]
        retry = plan.error.values.get("retry_after", 1.0)
        status = FROM_HTTP.get(http, INTERNAL if http >= 500 else INVALID_ARGUMENT)
        replay.log(f"gRPC {path} → {label}: status {status} (fault {http}){applied}")
        raise GrpcError(status, f"llmtrace fault: error {http}", (("retry-after", f"{retry:g}"),))
    if ex.failed:
        status, text = status_of_error(ex.response.error if ex.response.error is not None else ex.response.body,
                                       ex.response.status)
        replay.log(f"gRPC {path} → {label}: recorded error, status {status}{applied}")
        raise GrpcError(status, text)
    conn.h2.send_headers(stream_id, [(":status", "200"), ("content-type", "application/grpc"),
                                     ("grpc-accept-encoding", "identity,gzip")])
    conn.flush()
    if frames is None:  # one message: the recorded response, or the stream reassembled (as one chunk if streamed)
        one = xai_grpc_whole(ex, streaming)
        await conn.send(stream_id, framed(one))
        conn.end(stream_id)
        replay.log(f"gRPC {path} → {label}: OK, whole {'chunk' if streaming else 'response'}{applied}")
        return
    if plan.tool_text is not None:
        applied += " (tool-call-as-text: not for this dialect, skipped)"
    clock = pace.Clock(replay.offsets(ex))
    paced = clock.offsets is not None or plan.split_utf8  # each frame on its own write
    final = ex.result.observations.finish_chunks.get(0) if ex.result else None
    last = final if plan.drop_done and final is not None else len(frames)
    sent = 0
    batch = bytearray()  # unpaced: messages gathered into DATA frames of up to 16 KiB (h2's cost is per frame)
    stops = set(plan.stall) | {plan.cut_after, plan.error_after, last - 1}
    for i in range(last):
        await clock.until(i)
        for _ in range(2 if i in plan.duplicate else 1):
            data = framed(frames[i])
            if paced:
                for piece in faults_mod.split_utf8(data) if plan.split_utf8 else [data]:
                    await conn.send(stream_id, piece)
            else:
                batch += data
        sent += 1
        if batch and (len(batch) >= 16384 or i in stops or (plan.cut_after is not None and i >= plan.cut_after)):
            await conn.send(stream_id, bytes(batch), flush=i in stops)
            batch.clear()
        if i in plan.stall:
            conn.flush()
            await asyncio.sleep(plan.stall[i])
        if plan.cut_after is not None and i >= plan.cut_after:
            replay.log(f"gRPC {path} → {label}: cut after frame {i} ({sent} of {len(frames)} frames){applied}")
            conn.cut()
            return
        if plan.error_after is not None and i == plan.error_after:
            conn.end(stream_id, INTERNAL, "llmtrace fault: error in stream")
            replay.log(f"gRPC {path} → {label}: error in stream after frame {i}{applied}")
            return
    conn.end(stream_id)
    took = time.monotonic() - started
    replay.log(f"gRPC {path} → {label}: OK, {sent} frames in {took:.2f} s"
               f"{' (end dropped)' if plan.drop_done else ''}{applied}")


def xai_grpc_messages(replay, ex) -> list[bytes]:
    """The stream's messages, computed once per exchange: the recorded bytes (``chunks_raw``)
    when the cassette kept them, else each JSON chunk encoded."""
    return replay.cached(("grpc", id(ex)), lambda: wire.grpc_messages(ex))


def xai_grpc_whole(ex, streaming: bool) -> bytes:
    """One message: the response as recorded or reassembled, as a chunk when the stream method
    asked for it (a recording of ``GetCompletion`` answering ``GetCompletionChunk``)."""
    from llmtrace import reassemble
    from llmtrace.dialects import xai_grpc

    body = reassemble(ex) if ex.result is not None else ex.response.body
    if streaming:
        return xai_grpc.encode_chunk(xai_grpc.chunk_of_response(body))
    return xai_grpc.encode_response(body)
