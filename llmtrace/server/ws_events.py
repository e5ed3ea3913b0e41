"""What a websocket session says besides the recorded frames: the provider's error event, the
journal entry of the connection, the largest frame taken. Shared by ``realtime`` (recorded
sessions) and ``responses_ws`` (the Responses API's websocket mode)."""

from __future__ import annotations

from aiohttp import web

MAX_FRAME = 64 * 2**20


def note(replay, request: web.Request, fields: dict, own: bool = False) -> dict:
    """The connection's entry in the server's journal (``GET /llmtrace/requests``), filled in:
    the entry of the upgrade request being answered, or with ``own`` a new entry of its own (a
    client event refused)."""
    entry = replay.journal_entry(request, fields.get("method", request.method), new=own)
    entry.update(fields)
    return entry


def error_event(family: str, kind: str, code: str, message: str, extra: dict | None = None) -> dict:
    """The provider's in-session error event."""
    extra = extra or {}
    if family == "gemini":
        status = {"invalid_request_error": (400, "INVALID_ARGUMENT")}.get(kind, (500, "INTERNAL"))
        return {"error": {"code": status[0], "message": message, "status": status[1], "reason": code, **extra}}
    if family == "elevenlabs":
        return {"type": "error", "error_event": {"error_type": kind, "code": code, "message": message, **extra}}
    return {"type": "error", "event_id": f"event_llmtrace_{code}",
            "error": {"type": kind, "code": code, "message": message, "param": None, "event_id": None, **extra}}
