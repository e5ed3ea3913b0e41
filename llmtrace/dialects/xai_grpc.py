"""xAI's gRPC chat API (``xai_sdk``: ``Chat/GetCompletionChunk`` streams and ``GetCompletion``),
as recorded in pydantic-ai's ``.xai.yaml`` cassettes: each streamed chunk is the protobuf
message in its JSON form (``chunks_json``), the unstreamed response likewise.

A chunk: ``{id, outputs: [{index, delta: {role, content, reasoning_content,
encrypted_content, tool_calls}, finish_reason}], created, model, system_fingerprint, usage,
citations}``. Roles and reasons are proto enum names (``ROLE_ASSISTANT``, ``ROLE_TOOL``,
``REASON_STOP``, ``REASON_MAX_LEN``, ``REASON_TOOL_CALLS``, ...).

Merge rules:
- outputs are keyed by ``index`` (absent = 0); text fields concatenate; tool calls arrive
  whole and are keyed by ``id`` (a later chunk for the same id — a server-side tool's status —
  updates it); ``finish_reason`` last non-null;
- ``usage`` is cumulative in every chunk: the last non-empty one wins, never summed;
- ``id``/``model``/``system_fingerprint``/``created`` first non-empty; ``citations`` collected.

The message: with server-side tools (code execution, web search) one response holds several
outputs — the assistant's call (index 0; a server tool call, ``"server": true``), the tool's result (``ROLE_TOOL``), the assistant's
answer (index 2). They are one turn: content, reasoning and tool calls are those of the
assistant outputs in index order; ``ROLE_TOOL`` outputs are results, kept in the reassembled
response only. When the request asked for several choices (``n`` > 1), each output index is
a choice. The finish reason is that of the last assistant output.
"""

from __future__ import annotations

import functools
from typing import Any

from llmtrace.dialects import (
    FoldContext,
    as_dict,
    as_int,
    as_list,
    as_text,
    dump_arguments,
    feed,
    first,
    parse_arguments,
    stop_of,
)
from llmtrace.dialects.ollama import parse_timestamp
from llmtrace.errors import ShapeError
from llmtrace.model import Delta, Message, Observations, Result, Timeline, ToolCall, ToolEvent, Usage

# Tool call types (``ToolCallType``) of calls the client carries out; every other type
# (``TOOL_CALL_TYPE_WEB_SEARCH_TOOL``, ``…_CODE_EXECUTION_TOOL``, ``…_MCP_TOOL``, …) is a server-side tool.
_CLIENT_CALL_TYPES = frozenset(("TOOL_CALL_TYPE_CLIENT_SIDE_TOOL", "TOOL_CALL_TYPE_INVALID", "CLIENT_SIDE_TOOL"))

NAMES = ("xai-grpc",)

STOPS = {"REASON_STOP": "stop", "REASON_MAX_LEN": "length", "REASON_MAX_CONTEXT": "length",
         "REASON_TOOL_CALLS": "tool_calls", "REASON_TIME_LIMIT": "error", "REASON_INVALID": "error"}
FINISH_REASONS = frozenset(STOPS)
_TEXT = {"content": "content", "reasoning_content": "reasoning", "encrypted_content": None}
_TOP = ("id", "model", "system_fingerprint", "created")


def sniff(payload: dict) -> str | None:
    outputs = payload.get("outputs")
    if isinstance(outputs, list) and outputs and isinstance(outputs[0], dict) \
            and ("delta" in outputs[0] or "message" in outputs[0]) and "id" in payload:
        return "xai-grpc"
    return None


class _Output:
    __slots__ = ("index", "role", "texts", "calls", "finish", "fields")

    def __init__(self, index: int):
        self.index = index
        self.role: str | None = None
        self.texts: dict[str, list[str]] = {}
        self.calls: dict[str, dict] = {}
        self.finish: str | None = None
        self.fields: dict[str, Any] = {}


class XaiFold:
    def __init__(self, ctx: FoldContext):
        self.ctx = ctx
        self.top: dict[str, Any] = {}
        self.usage: dict | None = None
        self.citations: list = []
        self.outputs: dict[int, _Output] = {}
        self.times: list[float | None] = []
        self.deltas: list[Delta] = []
        self.obs = Observations()
        body = ctx.request_body
        self.several = isinstance(body, dict) and type(body.get("n")) is int and body["n"] > 1

    def add(self, i: int, chunk: Any) -> None:
        if not isinstance(chunk, dict):
            raise ShapeError("chunk should be an object")
        if isinstance(chunk.get("chunk"), dict) and len(chunk) == 1:
            chunk = chunk["chunk"]  # as the cassette stores it
        for key in _TOP:
            value = chunk.get(key)
            if value not in (None, ""):
                self.top[key] = first(self.top.get(key), value)
        cid = chunk.get("id")
        if isinstance(cid, str) and cid and cid not in self.obs.chunk_ids:
            self.obs.chunk_ids.append(cid)
        usage = chunk.get("usage")
        if usage:
            self.usage = as_dict(usage, "usage", "")
        self.citations.extend(as_list(chunk.get("citations"), "citations", ""))
        created = chunk.get("created")
        self.times.append(parse_timestamp(created) if isinstance(created, str) else None)
        for out in as_list(chunk.get("outputs"), "outputs", ""):
            self._output(i, as_dict(out, "output", ""))

    def _output(self, i: int, out: dict) -> None:
        index = out.get("index", 0)
        if type(index) is not int:
            raise ShapeError("output index should be an integer")
        slot = self.outputs.get(index)
        if slot is None:
            slot = self.outputs[index] = _Output(index)
        delta = out.get("delta")
        if delta is None:
            delta = out.get("message")
        delta = as_dict(delta, "delta", "")
        choice = index if self.several else 0
        role = as_text(delta.get("role"), "role", "")
        slot.role = first(slot.role, role)
        tool_role = slot.role == "ROLE_TOOL"
        for key, kind in _TEXT.items():
            text = as_text(delta.get(key), key, "")
            if text is not None:
                slot.texts.setdefault(key, []).append(text)
                if kind and text and not tool_role:
                    self.deltas.append(Delta(i, choice, kind, text))
        for call in as_list(delta.get("tool_calls"), "tool_calls", ""):
            call = as_dict(call, "tool call", "")
            cid = as_text(call.get("id"), "tool call id", "") or f"#{len(slot.calls)}"
            fn = as_dict(call.get("function"), "function", "")
            known = slot.calls.get(cid)
            if known is None:
                slot.calls[cid] = dict(call)
                if not tool_role:
                    self.obs.tool_events.append(ToolEvent(i, choice, len(slot.calls) - 1, call.get("id"),
                                                          fn.get("name")))
                    args = fn.get("arguments")
                    if args:
                        self.deltas.append(Delta(i, choice, "tool", dump_arguments(args)))
            else:
                known.update({k: v for k, v in call.items() if v is not None})
        finish = as_text(out.get("finish_reason"), "finish_reason", "")
        if finish:
            if slot.finish is None and not tool_role:
                # One turn over several outputs finishes with its last assistant output.
                self.obs.finish_chunks[choice] = i
            slot.finish = finish
        for key, value in out.items():
            if key not in ("index", "delta", "message", "finish_reason") and value is not None:
                slot.fields[key] = value

    def result(self, n_chunks: int, response: Any = None) -> Result:
        slots = [self.outputs[k] for k in sorted(self.outputs)]
        if self.several:
            messages = [self._message(s.index, [s]) for s in slots]
        else:
            messages = [self._message(0, [s for s in slots if s.role != "ROLE_TOOL"])]
        if response is None:
            response = {key: self.top.get(key) for key in _TOP}
            response["outputs"] = [self._provider_output(s) for s in slots]
            response["usage"] = self.usage
            if self.citations:
                response["citations"] = self.citations
        real = sum(t is not None for t in self.times)
        times, timing = (self.times, "created_at") if real >= 2 else (None, "none")
        model = self.top.get("model")
        return Result(response=response, model=model if isinstance(model, str) else None, choices=messages,
                      usage=usage_of(self.usage), complete=all(m.finish_reason is not None for m in messages),
                      timeline=Timeline(chunks=n_chunks, deltas=self.deltas, times=times, timing=timing),
                      observations=self.obs)

    @staticmethod
    def _message(index: int, slots: list[_Output]) -> Message:
        content = reasoning = None
        calls = []
        finish = None
        for s in slots:
            if "content" in s.texts:
                content = (content or "") + "".join(s.texts["content"])
            if "reasoning_content" in s.texts:
                reasoning = (reasoning or "") + "".join(s.texts["reasoning_content"])
            for call in s.calls.values():
                fn = call.get("function") if isinstance(call.get("function"), dict) else {}
                args = fn.get("arguments")
                raw = dump_arguments(args) if args is not None else ""
                kind = call.get("type")
                calls.append(ToolCall(id=call.get("id") if isinstance(call.get("id"), str) else None,
                                      name=fn.get("name") if isinstance(fn.get("name"), str) else None,
                                      arguments=raw, parsed_arguments=parse_arguments(raw),
                                      server=isinstance(kind, str) and kind not in _CLIENT_CALL_TYPES))
            finish = s.finish or finish
        return Message(index=index, role="assistant", content=content, reasoning=reasoning, tool_calls=calls,
                       finish_reason=finish, stop=stop_of(finish, STOPS))

    @staticmethod
    def _provider_output(s: _Output) -> dict:
        message: dict[str, Any] = {"role": s.role}
        for key, parts in s.texts.items():
            message[key] = "".join(parts)
        if s.calls:
            message["tool_calls"] = list(s.calls.values())
        return {"index": s.index, "message": message, "finish_reason": s.finish, **s.fields}


def usage_of(usage: Any) -> Usage:
    if not isinstance(usage, dict):
        return Usage()
    return Usage(input_tokens=as_int(usage.get("prompt_tokens")), output_tokens=as_int(usage.get("completion_tokens")),
                 total_tokens=as_int(usage.get("total_tokens")),
                 cached_tokens=as_int(usage.get("cached_prompt_text_tokens")),
                 reasoning_tokens=as_int(usage.get("reasoning_tokens")))


def fold(chunks: list, ctx: FoldContext) -> Result:
    state = XaiFold(ctx)
    feed(state, chunks)
    return state.result(len(chunks))


def fold_body(body: Any, ctx: FoldContext) -> Result:
    state = XaiFold(ctx)
    try:
        state.add(0, body)
        return state.result(0, response=body)
    except ShapeError as exc:
        raise ShapeError(exc.what, "response body") from None


# --- the wire form (for ``serve``): protobuf bytes of the JSON messages the cassettes hold ---------
# The schema table (llmtrace/dialects/xai_schema.py) is compiled on first use: only serve needs it.

REQUEST = "xai_api.GetCompletionsRequest"
CHUNK = "xai_api.GetChatCompletionChunk"
RESPONSE = "xai_api.GetChatCompletionResponse"


@functools.cache
def schema():
    """xAI's chat messages compiled for ``llmtrace.protobuf`` (built once)."""
    from llmtrace.dialects import xai_schema

    return _protobuf().Schema(xai_schema.MESSAGES, xai_schema.ENUMS)


def _protobuf():
    """``llmtrace.protobuf``, imported by the wire form only (reading a cassette never needs it)."""
    from llmtrace import protobuf

    return protobuf


def encode_chunk(chunk: dict) -> bytes:
    """A ``GetChatCompletionChunk`` (as ``chunks_json`` holds it, bare or as ``{"chunk": …}``)."""
    if isinstance(chunk, dict) and len(chunk) == 1 and isinstance(chunk.get("chunk"), dict):
        chunk = chunk["chunk"]
    return _protobuf().encode(schema(), CHUNK, chunk)


def decode_chunk(data: bytes) -> dict:
    return _protobuf().decode(schema(), CHUNK, data)


def encode_request(request: dict) -> bytes:
    return _protobuf().encode(schema(), REQUEST, request)


def decode_request(data: bytes) -> dict:
    return _protobuf().decode(schema(), REQUEST, data)


def encode_response(response: dict) -> bytes:
    """The unstreamed ``GetChatCompletionResponse`` (``GetCompletion``'s answer)."""
    return _protobuf().encode(schema(), RESPONSE, response)


def decode_response(data: bytes) -> dict:
    return _protobuf().decode(schema(), RESPONSE, data)


def chunk_of_response(response: dict) -> dict:
    """An unstreamed ``GetChatCompletionResponse`` as the one ``GetChatCompletionChunk`` that says
    the same: each output's ``message`` becomes its ``delta`` (the two messages have the same
    fields); ``settings`` (the request's echo) has no place in a chunk."""
    chunk = {key: value for key, value in response.items() if key != "settings"}
    outputs = response.get("outputs")
    if isinstance(outputs, list):
        chunk["outputs"] = [{("delta" if key == "message" else key): value for key, value in out.items()}
                            if isinstance(out, dict) else out for out in outputs]
    return chunk
