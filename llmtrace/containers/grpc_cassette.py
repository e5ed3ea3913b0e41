"""gRPC calls inside a VCR-style cassette, as pydantic-ai records the xAI SDK (``*.xai.yaml``):
an interaction is ``{request_stream | request: {json, raw}, response_stream: {chunks_json,
chunks_raw} | response: {json, raw}}``, ``json`` being the protobuf message in its JSON form
and ``raw`` its serialized bytes (not read: the JSON says the same, except for fields the
recording SDK did not know; ``chunks_raw`` are kept for ``serve`` when ``bodies.keep_raw`` is
on). Each ``chunks_json`` item is ``{"chunk": MESSAGE}``; the messages are the chunks. gRPC
has no URL or status in the recording: the exchange's request carries only the body (its
``model``).

Read by the ``vcr`` container (the file is a cassette: ``interactions: [...]``).
"""

from __future__ import annotations

from typing import Any

from llmtrace.containers import bodies, recorded
from llmtrace.errors import ShapeError
from llmtrace.model import Request, Response

REQUEST_KEYS = ("request_stream", "request")
RESPONSE_KEYS = ("response_stream", "response")


def is_grpc(item: dict) -> bool:
    """An interaction recorded as gRPC messages rather than HTTP."""
    return "request_stream" in item or "response_stream" in item or any(
        isinstance(item.get(key), dict) and "json" in item[key] and "uri" not in item[key] and "url" not in item[key]
        for key in ("request", "response"))


def interaction(item: dict, where: str) -> tuple[Request, Response]:
    req = next((item[k] for k in REQUEST_KEYS if k in item), None) or {}
    if not isinstance(req, dict):
        raise ShapeError("request should be an object", where)
    body = req.get("json")
    request = recorded.request("POST", None, {}, body, where)
    if "response_stream" in item:
        stream = item["response_stream"] or {}
        if not isinstance(stream, dict):
            raise ShapeError("response_stream should be an object", where)
        items = stream.get("chunks_json")
        if items is None:
            items = []
        if not isinstance(items, list):
            raise ShapeError("response_stream.chunks_json should be a list", where)
        chunks = [_unwrapped(chunk) for chunk in items]
        raws = stream.get("chunks_raw")
        if bodies.KEEP_RAW and isinstance(raws, list) and len(raws) == len(chunks) \
                and all(isinstance(r, bytes) for r in raws):
            chunks = bodies.RawChunks(chunks)  # ``serve`` sends the recorded messages (``server.grpc``)
            chunks.raw, chunks.tail = raws, ""
        return request, recorded.response(None, bodies.Payloads(True, chunks))
    resp = item.get("response") or {}
    if not isinstance(resp, dict):
        raise ShapeError("response should be an object", where)
    if resp.get("error") is not None:
        error = resp["error"]
        return request, Response(error=error, error_message=recorded.error_text(error))
    return request, recorded.response(None, bodies.document(resp.get("json")))


def _unwrapped(item: Any) -> Any:
    if isinstance(item, dict) and len(item) == 1 and "chunk" in item:
        return item["chunk"]
    return item
