"""What a recorded exchange looks like on the wire when served again: the frames of a stream
in its dialect's own format, the body of a whole response, and each provider's error shape.

One recorded chunk is one frame, in order, nothing merged or split. Where the recording kept the
stream's text (SSE bodies and files, read with ``bodies.keep_raw`` on, as ``serve`` reads them),
a frame is the recorded text of its event, byte for byte (comments included, ``data: [DONE]``
and what follows the last event as the end). Otherwise the chunk is re-serialized compactly
(orjson) inside its dialect's framing —

- OpenAI chat and completions: SSE ``data: {chunk}``, then ``data: [DONE]`` when the recording
  had it;
- OpenAI Responses and Anthropic Messages: SSE with ``event: <type>`` before each ``data:``;
- Gemini: SSE ``data:`` lines for ``?alt=sse``, else the JSON-array stream Google's REST API
  sends without it (``[{chunk}`` / ``,{chunk}`` / ``]``);
- Ollama: NDJSON, one chunk per line;
- every other dialect: SSE ``data:`` lines (its own framing where the dialect module defines
  one: ``encode`` and ``CONTENT_TYPE`` beside its fold);
- xAI's gRPC streams are not HTTP/1.1 at all: ``grpc_messages`` gives their protobuf messages,
  which ``server.grpc`` sends over HTTP/2.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from llmtrace.sse import event_line
from llmtrace import dialects
from llmtrace.model import Exchange

SSE = "text/event-stream"
NDJSON = "application/x-ndjson"
JSON = "application/json"


class Stream(NamedTuple):
    content_type: str
    frames: list[bytes]  # one per recorded chunk
    end: list[bytes]  # what follows the last chunk (``[DONE]``, the closing ``]``)
    final: int | None  # index of the frame that finishes the response (dropped by ``drop-done``)


def _data(chunk: Any) -> bytes:
    return b"data: " + orjson.dumps(chunk, option=orjson.OPT_NON_STR_KEYS) + b"\n\n"


def _event(chunk: Any) -> bytes:
    kind = chunk.get("type") if isinstance(chunk, dict) else None
    return event_line(kind) + _data(chunk)


def _line(chunk: Any) -> bytes:
    return orjson.dumps(chunk, option=orjson.OPT_NON_STR_KEYS) + b"\n"


def family(dialect: str) -> str:
    """Which provider's conventions (errors, paths) a dialect follows."""
    if dialect.startswith("anthropic"):
        return "anthropic"
    if dialect.startswith("gemini"):
        return "gemini"
    if dialect.startswith("ollama"):
        return "ollama"
    return "openai"


def stream(exchange: Exchange, query: str = "") -> Stream:
    """The frames of a streamed exchange as its provider sent them."""
    chunks = exchange.response.chunks
    dialect = exchange.dialect
    final = exchange.result.observations.finish_chunks.get(0) if exchange.result else None
    if final is None and chunks:
        final = len(chunks) - 1
    raw = getattr(chunks, "raw", None)
    if raw is not None and len(raw) == len(chunks) and dialect != "xai-grpc":
        # The recording kept the stream's text (``bodies.keep_raw``): the recorded bytes, event by event.
        tail = getattr(chunks, "tail", "")
        content_type = NDJSON if dialect.startswith("ollama") else JSON if tail.lstrip().startswith("]") else SSE
        return Stream(content_type, [r.encode() for r in raw], [tail.encode()] if tail else [], final)
    module = dialects.module_for(dialect)
    if module is not None and hasattr(module, "encode"):
        end = getattr(module, "END", None)  # the dialect's end-of-stream event (``[DONE]``), sent when recorded
        return Stream(getattr(module, "CONTENT_TYPE", SSE), [module.encode(c) for c in chunks],
                      [end] if end and exchange.response.done_marker else [], final)
    if dialect in ("openai-chat", "openai-completions"):
        return Stream(SSE, [_data(c) for c in chunks], [b"data: [DONE]\n\n"] if exchange.response.done_marker else [],
                      final)
    if dialect in ("openai-responses", "anthropic-messages", "gemini-interactions"):
        return Stream(SSE, [_event(c) for c in chunks], [], final)
    if dialect.startswith("ollama"):
        return Stream(NDJSON, [_line(c) for c in chunks], [], final)
    if dialect == "gemini" and "alt=sse" not in query:
        frames = [(b"[" if i == 0 else b",\r\n") + orjson.dumps(c, option=orjson.OPT_NON_STR_KEYS)
                  for i, c in enumerate(chunks)]
        return Stream(JSON, frames, [b"]"], final)
    return Stream(SSE, [_data(c) for c in chunks], [], final)


def grpc_messages(exchange: Exchange) -> list[bytes]:
    """A gRPC stream's messages (``xai-grpc``), one per recorded chunk: the recorded protobuf
    bytes where the cassette kept them (``chunks_raw``: they may hold fields its JSON lost), else
    the JSON chunk encoded with xAI's schema."""
    chunks = exchange.response.chunks
    raw = getattr(chunks, "raw", None)
    if raw is not None and len(raw) == len(chunks) and all(isinstance(r, bytes) for r in raw):
        return list(raw)
    from llmtrace.dialects import xai_grpc

    return [xai_grpc.encode_chunk(c) for c in chunks]


def in_stream_error(dialect: str) -> bytes:
    """The provider's error event inside a 200 stream (``error-in-stream`` fault)."""
    fam = family(dialect)
    if fam == "anthropic":
        return _event({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded (llmtrace fault)"}})
    if fam == "ollama":
        return _line({"error": "llmtrace fault: error in stream"})
    if fam == "gemini":
        return _data({"error": {"code": 500, "message": "llmtrace fault: error in stream", "status": "INTERNAL"}})
    return _data({"error": {"message": "llmtrace fault: error in stream", "type": "server_error", "code": "fault"}})


STATUS_TEXT = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
               503: "UNAVAILABLE", 529: "UNAVAILABLE"}
OPENAI_TYPES = {401: ("invalid_request_error", "invalid_api_key"), 404: ("invalid_request_error", None),
                429: ("requests", "rate_limit_exceeded"), 500: ("server_error", None), 503: ("server_error", None)}
ANTHROPIC_TYPES = {400: "invalid_request_error", 404: "not_found_error", 429: "rate_limit_error",
                   500: "api_error", 503: "api_error", 529: "overloaded_error"}


def error_body(fam: str, status: int, message: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """An error response in the provider's own shape, with ``extra`` fields in its error object."""
    extra = extra or {}
    if fam == "anthropic":
        return {"type": "error", "error": {"type": ANTHROPIC_TYPES.get(status, "api_error"), "message": message, **extra}}
    if fam == "gemini":
        return {"error": {"code": status, "message": message, "status": STATUS_TEXT.get(status, "UNKNOWN"), **extra}}
    if fam == "ollama":
        return {"error": message, **extra}
    kind, code = OPENAI_TYPES.get(status, ("invalid_request_error" if status < 500 else "server_error", None))
    return {"error": {"message": message, "type": kind, "param": None, **({"code": code} | extra)}}


def _markup(family: str, name: str, arguments: Any) -> str:
    """One call written as a family's text markup (what a server without the right tool parser
    leaves in the content)."""
    args = orjson.dumps(arguments).decode()
    if family == "mistral":
        return f'[TOOL_CALLS][{{"name": {orjson.dumps(name).decode()}, "arguments": {args}}}]'
    if family == "llama-json":
        return f'{{"name": {orjson.dumps(name).decode()}, "parameters": {args}}}'
    return f'<tool_call>\n{{"name": {orjson.dumps(name).decode()}, "arguments": {args}}}\n</tool_call>'


def tool_calls_as_text(exchange: Exchange, family: str) -> list | None:
    """The chunks of an OpenAI chat stream with its structured tool calls taken out and written
    into the content as ``family`` markup, one chunk per call where the first tool delta was,
    and ``finish_reason: "tool_calls"`` as ``"stop"`` (the server saw only text). None for other
    dialects."""
    if exchange.dialect != "openai-chat" or exchange.result is None:
        return None
    calls = {m.index: m.tool_calls for m in exchange.result.choices if m.tool_calls}
    if not calls:
        return list(exchange.response.chunks)
    out: list = []
    written: set[int] = set()
    for chunk in exchange.response.chunks:
        choices = chunk.get("choices") if isinstance(chunk, dict) else None
        if not isinstance(choices, list):
            out.append(chunk)
            continue
        new_choices, inserted = [], []
        for choice in choices:
            if not isinstance(choice, dict):
                new_choices.append(choice)
                continue
            choice = dict(choice)
            delta = choice.get("delta")
            index = choice.get("index", 0)
            if isinstance(delta, dict) and delta.get("tool_calls"):
                delta = {k: v for k, v in delta.items() if k != "tool_calls"}
                choice["delta"] = delta
                if index not in written and index in calls:
                    written.add(index)
                    for call in calls[index]:
                        args = call.parsed_arguments if call.parsed_arguments is not None else call.arguments
                        inserted.append({**chunk, "choices": [{"index": index, "delta": {
                            "content": _markup(family, call.name or "", args)}, "finish_reason": None}]})
            if choice.get("finish_reason") == "tool_calls":
                choice["finish_reason"] = "stop"
            new_choices.append(choice)
        out.extend(inserted)
        if any(isinstance(c, dict) and (c.get("delta") not in ({}, None) or c.get("finish_reason")) for c in new_choices) \
                or not inserted:
            out.append({**chunk, "choices": new_choices})
    return out
