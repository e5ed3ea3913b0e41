"""Websocket sessions on the ``serve`` port: realtime recordings (the ``websocket`` container)
replayed to a live client, and the Responses API's websocket mode answered from recorded
``/v1/responses`` streams.

Paths: OpenAI Realtime (``/v1/realtime?model=…``, GA and beta; Azure ``/openai/realtime?deployment=…``
and ``/openai/v1/realtime``; Azure Voice Live ``/voice-live/realtime``; xAI ``/v1/realtime``), Gemini
Live (``/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent`` and every
``…BidiGenerateContent…``), OpenAI Live (``/v1/live/sessions``), ElevenLabs Agents (``/v1/convai/conversation``), any path a recording
made by ``record`` holds (its ``url``), and ``/v1/responses`` (websocket mode).

A recording is split into *connections* at its ``close`` frames (a session that dropped and
reconnected is two). A connection is a list of *steps*: the server frames recorded before the
first client frame, then for each client frame the server frames recorded after it. Serving one:

- on connect, step 0 goes out; each client frame that matches the next recorded client frame
  releases the step after it. Frames match by their ``type`` (OpenAI, ElevenLabs) or their
  top-level key (Gemini Live: ``setup``, ``client_content``, ``realtime_input``, …);
- frames keep their recorded pace (``at``, seconds from the start of the session): a released
  frame is due its recorded distance from the client frame that released it, divided by
  ``--speed``; ``--speed max`` or a recording without times sends at once (``--rate``: evenly);
  payloads (base64 audio included) go out as recorded, binary frames as binary;
- a client frame out of order is answered with the provider's error event (OpenAI
  ``{"type": "error", "error": {"type": "invalid_request_error", "code": "no_match", …}}`` naming
  the type expected; Gemini ``{"error": {…}}``; ElevenLabs ``{"type": "error", …}``) and is not
  consumed; with ``--match loose`` (or ``closest``) it is skipped silently;
- when the recording's frames are all out and the connection closed there with an error code,
  the server closes with that code (1006: the socket dropped, no close frame).

Which connection answers: the path (its family, or the recorded endpoint) and its query's
``model`` / ``deployment`` first, then the first client frame, compared as ``match`` compares HTTP
requests (the request ``opening_request`` makes of it: instructions, tools, model, parameters).
Strict: equal, else a miss; loose and closest: the fewest differences; sequence: the next one
recorded. Among equals, the one served the fewest times (a session recorded twice, the second
after a reconnect, is served in order). A miss on the path or model is the HTTP 404 of
``serve`` (the upgrade refused); a miss on the first client frame is the error event with
``code: "no_match"``, ``llmtrace: {closest, differences}``, and close code 1008.

Faults count the recorded server frames of the connection from 0: ``cut:after=N`` (the socket
dropped after frame N: 1006, no close frame), ``stall:after=N,seconds=S``, ``duplicate:chunk=N``,
``drop-done`` (``response.done``, Gemini's ``turnComplete`` frame, ElevenLabs' ``agent_response``
left out), ``error-in-stream:after=N`` (the provider's error event after frame N, then close 1011),
``error:status=S`` (the upgrade refused with that HTTP error). Every connection is journalled
through ``Replay.note`` when the server has one (one dict per connection and per refused frame).
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import orjson
from aiohttp import WSMsgType, web

from llmtrace.containers.websocket import ELEVENLABS_PATH, LIVE_PATH
from llmtrace.server import faults as faults_mod
from llmtrace.server import match, wire
from llmtrace.server.ws_events import MAX_FRAME, error_event, note  # noqa: F401 (used here and by tests)

_SNAKE = re.compile(r"[A-Z]")
# Client frames that configure a session: the first one chooses the recording.
_DONE = {"openai": ("response.done",), "elevenlabs": ("agent_response",)}


def close_reason(reason: str) -> bytes:
    """A close frame's reason: at most 123 bytes of UTF-8, never cut inside a character."""
    return reason.encode()[:123].decode("utf-8", "ignore").encode()


def family_of_path(path: str) -> str | None:
    """The realtime protocol a websocket path speaks (None: not a realtime path)."""
    low = path.lower().rstrip("/")
    if "bidigeneratecontent" in low:
        return "gemini"
    if "/convai/" in low:
        return "elevenlabs"
    if low.endswith("/realtime") or "/realtime/" in low:
        return "openai"
    if low.endswith("/live/sessions"):
        return "openai-live"  # OpenAI Live (``client.live.connect``): its sessions, not Realtime's
    if low.endswith("/responses"):
        return "responses"
    return None


# Where a session that kept no URL is served: every path of its family answers (``family_of_path``);
# these are the paths the providers' SDKs connect to (``GET /llmtrace/health`` lists them):
# OpenAI and xAI, Azure OpenAI (two), Azure Voice Live; OpenAI Live; Gemini API and Vertex AI
# (google-genai's default versions); ElevenLabs Agents.
FAMILY_PATHS = {"openai": ("/v1/realtime", "/openai/realtime", "/openai/v1/realtime", "/voice-live/realtime"),
                "openai-live": (LIVE_PATH,),
                "gemini": ("/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent",
                           "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"),
                "elevenlabs": (ELEVENLABS_PATH,)}


class Frame(NamedTuple):
    at: float | None
    data: Any  # the JSON frame (or a string that was no JSON)
    payload: str | bytes  # what goes on the wire: text or binary
    wire: bytes = b""  # the whole websocket frame as the server sends it (server frames)


def encoded(payload: str | bytes) -> bytes:
    """One unmasked, uncompressed websocket frame (RFC 6455 5.2), as a server sends it: FIN, the
    opcode (text or binary), the length, the payload."""
    data = payload if isinstance(payload, bytes) else payload.encode()
    head = 0x82 if isinstance(payload, bytes) else 0x81
    n = len(data)
    if n < 126:
        return bytes((head, n)) + data
    if n < 65536:
        return bytes((head, 126)) + n.to_bytes(2, "big") + data
    return bytes((head, 127)) + n.to_bytes(8, "big") + data


class Connection(NamedTuple):
    """One recorded connection, ready to serve."""

    file: str
    number: int  # which connection of the file (0-based)
    family: str
    endpoint: str | None  # the recorded path (``record``'s files), else None: served by family
    model: str | None
    opening: dict | None  # the request the first client frame makes, normalized (``match``)
    steps: list[list[Frame]]  # server frames: before the first client frame, then after each
    client: list[Frame]
    keys: list[str]  # each client frame's matching key
    close: tuple[int | None, str] | None  # how the recording's connection closed, if it did
    origin: float  # ``at`` of the connection's start
    live: bool  # an OpenAI Live session (``session.start``), served on ``/live/sessions``

    @property
    def served_frames(self) -> int:
        return sum(len(step) for step in self.steps)


def key_of(family: str, data: Any) -> str:
    """What a client frame is matched by: its ``type``, or Gemini's top-level key."""
    if isinstance(data, bytes):
        return "<binary>"
    if not isinstance(data, dict):
        return "<text>"
    kind = data.get("type")
    if isinstance(kind, str) and family != "gemini":
        return kind
    keys = [k for k in data if k not in ("event_id",)]
    if not keys:
        return "{}"
    # Gemini's SDKs spell the keys in camelCase (clientContent), its recordings often in snake_case
    return next(iter(_snake({keys[0]: None}))) if family == "gemini" else keys[0]


def _payload(frame: dict) -> tuple[Any, str | bytes] | None:
    kind = frame.get("kind", "message")
    if kind == "binary":
        raw = frame.get("base64")
        try:
            data = base64.b64decode(raw) if isinstance(raw, str) else b""
        except ValueError:
            data = b""
        return data, data
    if kind != "message":
        return None
    data = frame.get("data")
    if isinstance(data, str):
        return data, data
    return data, orjson.dumps(data).decode()


def connections_of(source: str, doc: dict) -> list[Connection]:
    """The connections a websocket recording holds."""
    from llmtrace.containers import websocket

    frames = doc.get("interactions") or []
    family = websocket.family_of(frames)
    url = doc.get("url") if isinstance(doc.get("url"), str) else None
    endpoint = match.endpoint_key(urlsplit(url).path) if url else None
    query = parse_qs(urlsplit(url).query) if url else {}
    out: list[Connection] = []
    current: list[dict] = []
    for frame in frames:
        if not isinstance(frame, dict):
            continue
        current.append(frame)
        if frame.get("kind") == "close":
            out.append(_connection(source, len(out), family, endpoint, query, current))
            current = []
    if any(f.get("kind") != "close" for f in current) or not out:
        out.append(_connection(source, len(out), family, endpoint, query, current))
    return out


def _number(value: Any) -> float | None:
    return float(value) if type(value) in (int, float) else None


def _connection(source: str, number: int, family: str, endpoint: str | None, query: dict,
                frames: list[dict]) -> Connection:
    from llmtrace.containers import websocket

    steps: list[list[Frame]] = [[]]
    client: list[Frame] = []
    close = None
    model = (query.get("model") or query.get("deployment") or query.get("agent_id") or [None])[0]
    times = [_number(f.get("at")) for f in frames]
    origin = next((t for t in times if t is not None), 0.0)
    for frame, at in zip(frames, times):
        if frame.get("kind") == "close":
            close = (frame.get("code") if isinstance(frame.get("code"), int) else None,
                     frame.get("reason") if isinstance(frame.get("reason"), str) else "")
            continue
        got = _payload(frame)
        if got is None:
            continue
        data, payload = got
        if frame.get("direction") == "sent":
            client.append(Frame(at, data, payload))
            steps.append([])
        else:
            steps[-1].append(Frame(at, data, payload, encoded(payload)))
            if model is None and isinstance(data, dict) and isinstance(data.get("session"), dict) \
                    and isinstance(data["session"].get("model"), str):
                model = data["session"]["model"]  # session.created: the model the server runs
    opening = None
    if client and isinstance(client[0].data, dict):
        body = websocket.opening_request(family, client[0].data)
        if model is not None and family == "openai":
            body = {**body, "model": model}
        opening = _normalized(endpoint or "/realtime", body, family)
    keys = [key_of(family, f.data) for f in client]
    return Connection(source, number, family, endpoint, model, opening, steps, client, keys, close, origin,
                      family == "openai" and bool(keys) and keys[0] == "session.start")


def _normalized(path: str, body: dict, family: str) -> dict:
    """The opening request as ``match`` compares requests (its canonical form)."""
    from llmtrace.containers.websocket import FAMILIES
    from llmtrace.view import request_doc

    body = {k: v for k, v in body.items() if k not in ("input", "contents", "messages")}
    if family == "gemini":  # the same request, however spelled: keys in either case, the model however addressed
        body = _snake(body)
        if isinstance(body.get("model"), str):
            body["model"] = body["model"].rsplit("models/", 1)[-1]
    dialect = FAMILIES.get(family)
    doc = request_doc(match.incoming("GET", path, body, dialect))
    return match.canonical(doc, dialect)


def _snake(value: Any) -> Any:
    """Every key of a Gemini message in snake_case (its API reads both spellings)."""
    if isinstance(value, dict):
        return {_SNAKE.sub(lambda m: "_" + m.group(0).lower(), k) if isinstance(k, str) else k: _snake(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_snake(v) for v in value]
    return value


differences = match.differences  # ``{"path", "recorded", "received"}``, as a miss reports them
shown = match.shown  # cut and masked for a miss's body or the journal


def _paths(found: list[dict]) -> str:
    return ", ".join(d["path"] for d in found[:5]) or "—"


class Sessions:
    """Every servable connection of the recordings, and how often each was served."""

    def __init__(self, recordings: list) -> None:
        from llmtrace import loader

        self.connections: list[Connection] = []
        self.served: dict[tuple[str, int], int] = {}
        for recording in recordings:
            if recording.container != "websocket" or recording.source == "<stdin>":
                continue
            try:
                doc = loader.parse_document(loader.unwrap(loader.read_bytes(recording.source)))
            except Exception:  # noqa: BLE001 - read once already; gone since: nothing to serve from it
                continue
            if isinstance(doc, dict):
                self.connections.extend(connections_of(recording.source, doc))

    def endpoints(self) -> list[str]:
        return sorted({c.endpoint for c in self.connections if c.endpoint})

    def knows(self, path: str) -> bool:
        return match.endpoint_key(path) in self.endpoints()

    def paths(self) -> set[str]:
        """Where the sessions are served: each one's recorded path, else its family's."""
        return {path for c in self.connections
                for path in ((c.endpoint,) if c.endpoint else FAMILY_PATHS["openai-live" if c.live else c.family])}

    def candidates(self, path: str, family: str | None, model: str | None) -> tuple[list[Connection], list[dict]]:
        """The connections a path and its model may serve, and why none, if none."""
        endpoint = match.endpoint_key(path)
        found = [c for c in self.connections if c.endpoint == endpoint]
        if not found:
            live = family == "openai-live"
            family = "openai" if live else family
            found = [c for c in self.connections if c.endpoint is None and c.family == family and c.live == live]
        if not found:
            return [], []
        if model is not None:
            same = [c for c in found if c.model is None or c.model == model]
            if not same:
                return [], [{"path": "request.model", "recorded": found[0].model, "received": model}]
            found = same
        return found, []

    def choose(self, candidates: list[Connection], first: Any, path: str, model: str | None,
               mode: str) -> tuple[Connection | None, Connection | None, list[dict]]:
        """The connection that answers a client whose first frame is ``first``: (chosen,
        closest, differences)."""
        from llmtrace.containers import websocket

        if mode == "sequence":
            fresh = [c for c in candidates if not self.served.get((c.file, c.number))]
            return (fresh[0], fresh[0], []) if fresh else \
                (None, candidates[-1], [{"path": "sequence: every recorded session was served"}])
        family = candidates[0].family
        opening = websocket.opening_request(family, first) if isinstance(first, dict) else None
        scored = []
        for c in candidates:
            asked = None
            if opening is not None:  # the model the client asked for (none in the URL: the recorded one)
                said = model if model is not None else c.model
                asked = _normalized(path, {**opening, "model": said} if said and family == "openai" else opening, family)
            diff = differences(c.opening, asked) if asked is not None and c.opening is not None else []
            recorded_key = c.keys[0] if c.keys else None
            if key_of(family, first) != recorded_key:
                diff = [{"path": "first client event", "recorded": recorded_key, "received": key_of(family, first)}, *diff]
            scored.append((len(diff), self.served.get((c.file, c.number), 0), c, diff))
        best = min(scored, key=lambda s: (s[0], s[1]))
        if best[0] == 0 or mode in ("loose", "closest"):
            return best[2], best[2], best[3]
        return None, best[2], best[3]


def sessions(replay) -> Sessions:
    return replay.cached(("websocket-sessions",), lambda: Sessions(replay.recordings))


def _is_done(family: str, data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    if family == "gemini":
        content = data.get("serverContent")
        return isinstance(content, dict) and bool(content.get("turnComplete"))
    return data.get("type") in _DONE.get(family, ())


# --- serving ------------------------------------------------------------------------------------


class _Cut(Exception):
    """The connection ends here (a fault)."""


class Live:
    """One client connection being served from one recorded connection."""

    def __init__(self, replay, request: web.Request, ws: web.WebSocketResponse, label: str):
        self.replay = replay
        self.request = request
        self.ws = ws
        self.label = label
        self.conn: Connection | None = None
        self.plan = faults_mod.Plan()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.next_client = 0
        self.frame_number = 0  # recorded server frames passed (sent or dropped)
        self.sent = 0
        self.refused = 0
        self.ended: str | None = None

    def due(self, step: list[Frame], anchor_at: float | None) -> list[tuple[Frame, float]]:
        """The frames of a step with their delay after its release."""
        speed, rate = self.replay.options.speed, self.replay.options.rate
        if speed is None:
            return [(f, 0.0) for f in step]
        out, last = [], 0.0
        timed = any(f.at is not None for f in step)
        for i, f in enumerate(step):
            if timed:
                if f.at is not None and anchor_at is not None:
                    last = max(last, (f.at - anchor_at) / speed)
            elif rate:
                last = i / rate
            out.append((f, last))
        return out

    def release(self, k: int, anchor_at: float | None) -> None:
        assert self.conn is not None
        self.queue.put_nowait((time.monotonic(), self.due(self.conn.steps[k], anchor_at)))

    async def sender(self) -> None:
        batch: list[bytes] = []
        try:
            while True:
                item = await self.queue.get()
                if item is None:
                    return
                t0, frames = item
                for frame, offset in frames:
                    if offset:
                        delay = t0 + offset - time.monotonic()
                        if delay > 0:
                            await self.flush(batch)
                            await asyncio.sleep(delay)
                    if self.plan.applied:
                        await self.emit(frame)
                    else:  # frames due together go out in one write (one system call, not one each)
                        batch.append(frame.wire)
                        self.frame_number += 1
                        self.sent += 1
                        if len(batch) >= 64:
                            await self.flush(batch)
                await self.flush(batch)
                if self.finished() and self.conn.close is not None:
                    await self.close_as_recorded()
                    return
        except _Cut:
            return
        except (ConnectionError, RuntimeError):
            self.ended = self.ended or "the client went away"

    async def flush(self, batch: list[bytes]) -> None:
        """Write the frames gathered, then wait while the socket's buffer is full (as aiohttp's
        own writer does)."""
        if not batch:
            return
        transport = self.request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client went away")
        transport.write(b"".join(batch))
        batch.clear()
        protocol = getattr(getattr(self.ws, "_writer", None), "protocol", None)
        if getattr(protocol, "_paused", False):
            await protocol._drain_helper()

    def finished(self) -> bool:
        return self.conn is not None and self.next_client >= len(self.conn.client) and self.queue.empty()

    async def emit(self, frame: Frame) -> None:
        plan, family = self.plan, self.conn.family
        i = self.frame_number
        self.frame_number += 1
        if plan.drop_done and _is_done(family, frame.data):
            return
        for _ in range(2 if i in plan.duplicate else 1):
            if isinstance(frame.payload, bytes):
                await self.ws.send_bytes(frame.payload)
            else:
                await self.ws.send_str(frame.payload)
        self.sent += 1
        if i in plan.stall:
            await asyncio.sleep(plan.stall[i])
        if plan.cut_after is not None and i >= plan.cut_after:
            self.ended = f"cut after frame {i}"
            self.abort()
            raise _Cut
        if plan.error_after is not None and i == plan.error_after:
            await self.ws.send_str(orjson.dumps(error_event(family, "server_error", "llmtrace_fault",
                                                            "llmtrace fault: error in stream")).decode())
            self.ended = f"error in stream after frame {i}"
            await self.ws.close(code=1011, message=b"llmtrace fault: error in stream")
            raise _Cut

    def abort(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    async def close_as_recorded(self) -> None:
        code, reason = self.conn.close
        if code in (None, 1000, 1005):
            return  # closed normally: the client closes when it is done
        self.ended = f"closed with {code} as recorded"
        if code == 1006 or not (1000 <= code <= 4999) or code in (1004, 1005, 1015):
            self.abort()
            return
        await self.ws.close(code=code, message=close_reason(reason))

    async def refuse(self, data: Any, expected: str | None) -> None:
        family = self.conn.family
        got = key_of(family, data)
        if expected is None:
            message = f"llmtrace serve: the recorded session has no more client events (received {got!r})"
        else:
            message = f"llmtrace serve: expected a client event of type {expected!r} " \
                      f"(recorded client event {self.next_client}), received {got!r}"
        self.refused += 1
        note(self.replay, self.request, {"method": "WEBSOCKET", "matched": {"file": self.conn.file,
                                                                            "session": self.conn.number},
                                         "status": None, "frames": 0, "faults": [], "code": "no_match",
                                         "differences": [{"path": "client event", "recorded": expected,
                                                          "received": got}]}, own=True)
        self.replay.log(f"websocket {self.request.path} → {self.label}: {message.removeprefix('llmtrace serve: ')}")
        await self.ws.send_str(orjson.dumps(error_event(family, "invalid_request_error", "no_match", message,
                                                        {"expected": expected, "received": got})).decode())

    async def received(self, data: Any, at: float) -> None:
        conn = self.conn
        k = self.next_client
        expected = conn.keys[k] if k < len(conn.keys) else None
        if expected is not None and key_of(conn.family, data) == expected:
            self.next_client += 1
            self.release(k + 1, conn.client[k].at)
            return
        if self.replay.options.mode in ("loose", "closest"):
            return  # skipped
        await self.refuse(data, expected)


def _message_data(msg) -> Any:
    if msg.type == WSMsgType.BINARY:
        return bytes(msg.data)
    try:
        return orjson.loads(msg.data)
    except orjson.JSONDecodeError:
        return msg.data


async def handle(replay, request: web.Request) -> web.StreamResponse:
    """A websocket upgrade on the ``serve`` port."""
    path = request.path
    family = family_of_path(path)
    if family == "responses" and not sessions(replay).knows(path):
        from llmtrace.server import responses_ws

        return await responses_ws.handle(replay, request)
    query = request.query
    model = query.get("model") or query.get("deployment")
    found, why = sessions(replay).candidates(path, family, model)
    if found and replay.options.mode == "sequence":  # chosen now: the next recorded session not served yet
        served = sessions(replay).served
        found = [c for c in found if not served.get((c.file, c.number))][:1]
        why = [] if found else [{"path": "sequence: every recorded session was served"}]
    fam = "gemini" if family == "gemini" else "openai"
    if not found:
        reason = f"differs at {_paths(why)}" if why else "no recorded session serves this path"
        replay.log(f"websocket {path} → 404 no_match ({reason})")
        note(replay, request, {"matched": None, "status": 404, "differences": shown(why), "websocket": True})
        body = wire.error_body(fam, 404, "no recorded session matches this connection",
                               {"code": "no_match", "llmtrace": {"closest": None, "differences": shown(why)}})
        return web.Response(status=404, body=orjson.dumps(body), content_type="application/json")
    number = replay.matched
    plan = faults_mod.plan(list(replay.options.faults), number, found[0].served_frames, replay.rng)
    if plan.error is not None:
        status = plan.error.values["status"]
        replay.log(f"websocket {path} → {status} (fault)")
        out = web.Response(status=status, body=orjson.dumps(wire.error_body(fam, status, f"llmtrace fault: error {status}")),
                           content_type="application/json")
        out.headers["retry-after"] = f"{plan.error.values.get('retry_after', 1.0):g}"
        return out
    ws = web.WebSocketResponse(max_msg_size=MAX_FRAME, autoping=True, heartbeat=None, compress=False)
    await ws.prepare(request)
    open_sockets = replay.cached(("websocket-open",), set)
    open_sockets.add(ws)
    live = Live(replay, request, ws, "?")
    served = sessions(replay).served
    # provisional (the least served): step 0 goes out now, the first client frame decides
    live.conn = min(found, key=lambda c: served.get((c.file, c.number), 0))
    live.plan = plan
    live.release(0, live.conn.origin)
    sender = asyncio.ensure_future(live.sender())
    chosen = False
    try:
        async for msg in ws:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            data = _message_data(msg)
            if not chosen:
                chosen = True
                conn, closest, diff = sessions(replay).choose(found, data, path, model, replay.options.mode)
                if conn is None:
                    await _miss(replay, live, closest, diff, path)
                    break
                replay.matched += 1
                key = (conn.file, conn.number)
                sessions(replay).served[key] = sessions(replay).served.get(key, 0) + 1
                if conn is not live.conn:
                    live.conn = conn
                live.label = f"{conn.file} session {conn.number}"
                live.plan = faults_mod.plan(list(replay.options.faults), number, conn.served_frames, replay.rng)
            await live.received(data, time.monotonic())
            if sender.done():
                break
    finally:
        live.queue.put_nowait(None)
        if not sender.done():
            await asyncio.wait([sender], timeout=0.5)
            sender.cancel()
        open_sockets.discard(ws)
        applied = f", faults {' '.join(live.plan.applied)}" if live.plan.applied else ""
        if chosen and live.label != "?":
            replay.log(f"websocket {path} → {live.label}: {live.sent} frames"
                       f"{', ' + live.ended if live.ended else ''}"
                       f"{f', {live.refused} client events refused' if live.refused else ''}{applied}")
            note(replay, request, {"matched": {"file": live.conn.file, "session": live.conn.number}, "status": 101,
                                   "frames": live.sent, "faults": list(live.plan.applied), "websocket": True})
    return ws


async def _miss(replay, live: Live, closest: Connection | None, diff: list[dict], path: str) -> None:
    where = f"closest {closest.file} session {closest.number}" if closest else "nothing recorded"
    replay.log(f"websocket {path} → no_match ({where}, differs at {_paths(diff)})")
    note(replay, live.request, {"matched": None, "status": 101, "differences": shown(diff), "websocket": True})
    extra = {"llmtrace": {"closest": {"file": closest.file, "session": closest.number} if closest else None,
                          "differences": shown(diff)}}
    event = error_event(closest.family if closest else "openai", "invalid_request_error", "no_match",
                        "llmtrace serve: no recorded session matches this session's first event", extra)
    live.queue.put_nowait(None)
    await live.ws.send_str(orjson.dumps(event).decode())
    await live.ws.close(code=1008, message=b"no recorded session matches")


async def close_all(replay) -> None:
    """Close the websockets still open (the server is stopping): 1001, going away."""
    for ws in list(replay.cached(("websocket-open",), set)):
        try:
            await asyncio.wait_for(ws.close(code=1001, message=b"llmtrace serve is stopping"), 1.0)
        except (asyncio.TimeoutError, ConnectionError, RuntimeError):
            pass
