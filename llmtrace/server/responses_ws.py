"""The Responses API's websocket mode on the ``serve`` port (``/v1/responses``, OpenAI and xAI):
each ``{"type": "response.create", …body}`` the client sends is matched like a ``POST
/v1/responses`` request (the body less ``type``, ``stream`` true), and the recorded stream
answers it as websocket text frames — each Responses event one frame, at the recorded pace.
A miss, a recorded error or a frame of another type is the ``error`` event the API sends
(``code: "no_match"`` for a miss, with ``llmtrace: {closest, differences}``); the connection stays
open for the next ``response.create``. Faults apply per response as over HTTP."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import WSMsgType, web

from llmtrace.server import faults as faults_mod
from llmtrace.server import match, pace
from llmtrace.server.ws_events import MAX_FRAME, error_event, note


async def handle(replay, request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=MAX_FRAME, autoping=True, heartbeat=None, compress=False)
    await ws.prepare(request)
    open_sockets = replay.cached(("websocket-open",), set)
    open_sockets.add(ws)
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                event = orjson.loads(msg.data)
            except orjson.JSONDecodeError:
                event = None
            if not isinstance(event, dict) or event.get("type") != "response.create":
                got = event.get("type") if isinstance(event, dict) else "<not JSON>"
                await _send(ws, error_event("openai", "invalid_request_error", "unknown_event",
                                            f"llmtrace serve: expected response.create, received {got!r}"))
                continue
            if not await _respond(replay, request, ws, event, msg.data):
                break
    finally:
        open_sockets.discard(ws)
    return ws


async def _send(ws, payload) -> None:
    await ws.send_str(orjson.dumps(payload).decode())


async def _respond(replay, request: web.Request, ws, event: dict, raw: str) -> bool:
    """Answer one ``response.create``; False when the connection was cut."""
    body = {k: v for k, v in event.items() if k != "type"}
    body["stream"] = True
    path = request.path
    found = replay.find("POST", path, body, (path, "ws:" + raw))
    if isinstance(found, match.Miss):
        closest = found.closest
        replay.log(f"websocket {path} response.create → no_match ({replay.miss_text(found)})")
        found_differences = match.shown([d if isinstance(d, dict) else {"path": d} for d in found.differences])
        note(replay, request, {"method": "WEBSOCKET", "matched": None, "status": None,
                               "differences": found_differences}, own=True)
        await _send(ws, error_event("openai", "invalid_request_error", "no_match",
                                    "llmtrace serve: no recorded response matches this response.create",
                                    {"llmtrace": {"closest": {"file": closest.file, "exchange": closest.index}
                                                  if closest else None, "differences": found_differences}}))
        return True
    ex = found.entry.exchange
    number = replay.matched
    replay.matched += 1
    label = f"{found.entry.file} exchange {ex.index}"
    if ex.failed or not ex.response.streaming:
        error = ex.response.body.get("error") if isinstance(ex.response.body, dict) else None
        await _send(ws, {"type": "error", "error": error if isinstance(error, dict) else
                         {"type": "server_error", "message": ex.response.error_message or "recorded error"}})
        replay.log(f"websocket {path} response.create → {label}: recorded error")
        return True
    chunks = ex.response.chunks
    plan = faults_mod.plan(list(replay.options.faults), number, len(chunks), replay.rng)
    clock = pace.Clock(replay.offsets(ex))
    final = ex.result.observations.finish_chunks.get(0) if ex.result is not None else None
    last = final if plan.drop_done and final is not None else len(chunks)
    for i in range(last):
        await clock.until(i)
        text = orjson.dumps(chunks[i]).decode()
        for _ in range(2 if i in plan.duplicate else 1):
            await ws.send_str(text)
        if i in plan.stall:
            await asyncio.sleep(plan.stall[i])
        if plan.cut_after is not None and i >= plan.cut_after:
            replay.log(f"websocket {path} response.create → {label}: cut after frame {i}")
            if request.transport is not None:
                request.transport.abort()
            return False
        if plan.error_after is not None and i == plan.error_after:
            await _send(ws, error_event("openai", "server_error", "llmtrace_fault", "llmtrace fault: error in stream"))
            replay.log(f"websocket {path} response.create → {label}: error in stream after frame {i}")
            return True
    replay.log(f"websocket {path} response.create → {label}: {last} frames")
    note(replay, request, {"method": "WEBSOCKET", "matched": {"file": found.entry.file, "exchange": ex.index},
                           "status": 200, "frames": last, "faults": list(plan.applied)}, own=True)
    return True
