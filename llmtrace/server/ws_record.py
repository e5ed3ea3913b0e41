"""Websocket sessions through ``llmtrace record``: the client's upgrade is forwarded to the
upstream (``ws://`` or ``wss://`` as the upstream URL is ``http`` or ``https``), then every frame
is relayed both ways as it comes — text as text, binary as binary — and kept with its direction
and its time (``at``, seconds from the upgrade, monotonic clock). A close is passed on with its
code and reason; a side that drops without a close frame (1006) drops the other too.

Written as the ``websocket`` container reads it (pydantic-ai's realtime cassettes, plus the
URL): ``{"version": 1, "url", "started", "request_headers", "interactions": [{"kind": "message",
"direction": "sent" | "received", "data": JSON | text, "at"}, {"kind": "binary", "direction",
"base64", "at"}, {"kind": "close", "direction", "code", "reason", "at"}]}``, one file per session,
``DIR/NNNN-WS-endpoint-slug.json`` (numbered with the run's HAR files). ``show``, ``reassemble``,
``diff`` read it back as the responses the session held, with ``timing: "chunk-times"``; ``serve``
serves it on its recorded path.

Secrets are masked unless ``--no-mask``: the secret headers of the upgrade, the URL's secret
query parameters (``?key=``, ``api-key=``), credentials by shape in every text frame, and in the
first client message (ElevenLabs' ``conversation_initiation_client_data``, Gemini's ``setup``,
OpenAI's ``session.update``) every string under a secret name (``api_key``, ``token``, …).
``--save-as vcr``: a VCR cassette holds HTTP interactions only (vcrpy has no websocket frames),
so the upgrade is refused with 501 and a line saying so.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import aiohttp
import orjson
from aiohttp import WSMsgType, web

from llmtrace import secrets
from llmtrace.server.realtime import close_reason

MAX_FRAME = 64 * 2**20
# The handshake's own headers: the proxy makes its own upgrade to the upstream.
HANDSHAKE = frozenset(("sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
                       "sec-websocket-protocol", "sec-websocket-accept"))
_UNSENDABLE = (1005, 1006, 1015)  # codes a close frame may not carry


class Session:
    """One websocket session as it crossed the proxy."""

    __slots__ = ("url", "path", "headers", "started", "t0", "frames", "error", "status")

    def __init__(self, url: str, path: str, headers: list[tuple[str, str]], started: float):
        self.url = url
        self.path = path
        self.headers = headers
        self.started = started
        self.t0 = time.monotonic()
        self.frames: list[tuple[str, str, Any, float, str | None]] = []  # kind, direction, data, at, reason
        self.error: str | None = None
        self.status: int | None = None

    def add(self, kind: str, direction: str, data: Any, reason: str | None = None) -> None:
        self.frames.append((kind, direction, data, time.monotonic() - self.t0, reason))


async def relay(recorder, request: web.Request) -> web.StreamResponse:
    """Forward one websocket session and record it."""
    from llmtrace.server.forwarding import forwarded as _forwarded
    from llmtrace.server.forwarding import reason as _reason
    from llmtrace.server.forwarding import upstream_url

    saver = recorder.saver
    if saver.save_as == "vcr":
        message = "a websocket session cannot be saved in a VCR cassette (vcrpy records HTTP only): record with --save-as har"
        recorder.log(f"GET {request.path} → 501, {message}")
        return web.Response(status=501, text=f"llmtrace record: {message}\n")
    url = upstream_url(recorder.upstream, request.raw_path)
    headers = [(k, v) for k, v in _forwarded(request.raw_headers) if k.lower() not in HANDSHAKE]
    protocols = [p.strip() for p in request.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    session = Session(url, request.raw_path, headers, time.time())
    try:
        upstream = await recorder.session.ws_connect(
            url, headers=headers, protocols=protocols, autoping=True, max_msg_size=MAX_FRAME, compress=0)
    except aiohttp.WSServerHandshakeError as exc:
        session.status = exc.status
        session.error = f"the upstream refused the websocket upgrade ({exc.status} {exc.message})"
        _save(recorder, session)
        return web.Response(status=exc.status or 502, text=f"llmtrace record: {session.error}\n")
    except asyncio.TimeoutError:
        session.error = "timed out connecting to the upstream"
        _save(recorder, session)
        return web.Response(status=504, text=f"llmtrace record: {session.error}\n")
    except aiohttp.ClientError as exc:
        session.error = f"cannot reach the upstream ({_reason(exc)})"
        _save(recorder, session)
        return web.Response(status=502, text=f"llmtrace record: {session.error}\n")
    session.status = 101
    client = web.WebSocketResponse(protocols=[upstream.protocol] if upstream.protocol else (),
                                   max_msg_size=MAX_FRAME, autoping=True, compress=False)
    try:
        await client.prepare(request)
        sides = [asyncio.ensure_future(_pump(client, upstream, "sent", session, request)),
                 asyncio.ensure_future(_pump(upstream, client, "received", session, request))]
        done, pending = await asyncio.wait(sides, return_when=asyncio.FIRST_COMPLETED)
        if pending:
            await asyncio.wait(pending, timeout=5)
        for task in sides:
            task.cancel()
    except asyncio.CancelledError:
        session.error = session.error or "the proxy stopped during the session"
        raise
    finally:
        if not upstream.closed:
            await upstream.close()
        _save(recorder, session)
    return client


async def _pump(src, dst, direction: str, session: Session, request: web.Request) -> None:
    """Frames from one side to the other until that side closes."""
    while True:
        msg = await src.receive()
        if msg.type == WSMsgType.TEXT:
            session.add("message", direction, msg.data)
            await dst.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            session.add("binary", direction, bytes(msg.data))
            await dst.send_bytes(msg.data)
        elif msg.type == WSMsgType.CLOSE:
            code, reason = msg.data, msg.extra or ""
            session.add("close", direction, code, reason)
            if code in _UNSENDABLE or not isinstance(code, int):
                _drop(dst, request)
            else:
                await dst.close(code=code, message=close_reason(reason))
            return
        elif msg.type in (WSMsgType.CLOSED, WSMsgType.CLOSING, WSMsgType.ERROR):
            code = src.close_code if src.close_code not in (None, 1000) else 1006
            if not any(kind == "close" for kind, *_ in session.frames):
                session.add("close", direction, code if code else 1006,
                            "the connection dropped without a close frame" if code == 1006 else "")
                if code in _UNSENDABLE:
                    _drop(dst, request)
                else:
                    await dst.close(code=code)
            return


def _drop(dst, request: web.Request) -> None:
    """The other side dropped without a close frame: this side is dropped too (1006 for it)."""
    if isinstance(dst, web.WebSocketResponse):
        if request.transport is not None:
            request.transport.abort()
    else:
        connection = getattr(dst, "_conn", None)  # aiohttp's client websocket: its connection
        transport = connection.transport if connection is not None else None
        if transport is not None:
            transport.abort()


# --- what is written ------------------------------------------------------------------------------


def _masked_first(data: Any) -> Any:
    """A first client message with every string under a secret name masked."""
    if isinstance(data, dict):
        return {k: (secrets.mask_value(v) if isinstance(v, str) and v and secrets.is_secret_name(k)
                    and not secrets.is_placeholder(v) else _masked_first(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [_masked_first(v) for v in data]
    return data


def document(session: Session, mask: bool) -> dict:
    """The session as the ``websocket`` container reads it."""
    from llmtrace.server.saving import _headers, _iso

    items: list[dict] = []
    first_sent = True
    for kind, direction, data, at, reason in session.frames:
        item: dict[str, Any] = {"kind": kind, "direction": direction}
        if kind == "message":
            text = secrets.mask_text(data) if mask else data
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError:
                value = text
            if mask and direction == "sent" and first_sent:
                value = _masked_first(value)
            item["data"] = value
        elif kind == "binary":
            item["base64"] = base64.b64encode(data).decode("ascii")
        else:
            item.update(code=data, reason=reason or "")
        if direction == "sent" and kind != "close":
            first_sent = False
        item["at"] = round(at, 6)
        items.append(item)
    doc: dict[str, Any] = {"version": 1, "url": secrets.mask_url(session.url) if mask else session.url,
                           "started": _iso(session.started),
                           "request_headers": [{"name": k, "value": v} for k, v in _headers(session.headers, mask)],
                           "interactions": items}
    if session.error:
        doc["_error"] = session.error
    if not items:  # refused or unreachable: a session file the readers take as one (with a close)
        doc["interactions"] = [{"kind": "close", "direction": "received", "code": 1006,
                                "reason": session.error or "no session", "at": 0.0}]
    return doc


def save(saver, session: Session) -> Any:
    """Write the session beside the run's HAR files (called from the writer thread)."""
    from llmtrace.server.saving import slug, write_new

    data = orjson.dumps(document(session, saver.mask), option=orjson.OPT_INDENT_2)
    endpoint = slug(session.path)
    path, taken = write_new(saver.folder, lambda n: f"{n:04d}-WS-{endpoint}.json", saver.number, data)
    saver.number = taken + 1
    return path


def _save(recorder, session: Session) -> None:
    from llmtrace.server.saving import save_later

    def line(where: str) -> str:
        frames = sum(1 for kind, *_ in session.frames if kind != "close")
        closes = [f"{d} closed {c}" for kind, d, c, *_ in session.frames if kind == "close"]
        status = session.status if session.status is not None else "no response"
        return (f"GET {session.path} (websocket) → {status}, {frames} frame{'s' if frames != 1 else ''}"
                f"{', ' + closes[0] if closes else ''}{', ' + session.error if session.error else ''} {where}")

    save_later(recorder, lambda: save(recorder.saver, session), line)
