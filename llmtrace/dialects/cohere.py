"""Cohere: the v2 chat stream (``/v2/chat``, SSE) and the v1 streams (``/v1/chat`` and
``/v1/generate``, NDJSON), each folded into the response the request returns unstreamed.

v2 (``cohere-v2``), events named by ``type``:
- ``message-start``: the message ``id`` and the message shell (``role``, empty lists);
- ``content-start`` / ``content-delta`` / ``content-end``: content blocks keyed by ``index``,
  ``{"type": "text", "text"}`` (or ``"thinking"``, ``"thinking"``), deltas appended;
- ``tool-plan-delta``: the model's plan before it calls tools (the message's ``tool_plan``;
  llmtrace's *reasoning*);
- ``tool-call-start`` / ``tool-call-delta`` / ``tool-call-end``: tool calls keyed by ``index``,
  ``{id, type, function: {name, arguments}}``, argument fragments appended;
- ``citation-start`` / ``citation-end``: one citation each, collected;
- ``message-end``: ``finish_reason`` (``COMPLETE``, ``STOP_SEQUENCE``, ``MAX_TOKENS``,
  ``TOOL_CALL``, ``ERROR``, ``TIMEOUT``, ...), ``usage`` (``billed_units`` and ``tokens``, each
  ``{input_tokens, output_tokens}``, and ``cached_tokens``), and with ``ERROR`` the ``error``
  text; the stream is complete when it arrived.
The response: ``{id, finish_reason, message: {role, content, tool_plan, tool_calls,
citations}, usage}``.

v1 (``cohere-v1``), events named by ``event_type``, each with ``is_finished``:
``stream-start`` (``generation_id``), ``text-generation`` (``text``; the generate endpoint's
carry an ``index`` when several generations were asked for), ``search-queries-generation``,
``search-results`` (with ``documents``), ``citation-generation``, ``tool-calls-generation``
(whole ``tool_calls: [{name, parameters}]``), ``tool-calls-chunk`` (``tool_call_delta``
fragments), ``stream-end`` (``finish_reason`` and the full ``response``). The reassembled
response is the one ``stream-end`` carries (chat: ``text``, ``chat_history``, ``meta``, ...;
generate: ``generations``) — rebuilt from the events when the stream stops before it.

Usage: ``tokens`` (what the model read and wrote) when reported, else ``billed_units``; no
total is reported. Tool calls in v1 have no id (by design).
"""

from __future__ import annotations

from typing import Any

import orjson

from llmtrace.dialects import (
    stream_requested,
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
from llmtrace.errors import ShapeError
from llmtrace.model import Delta, Message, Observations, Result, Timeline, ToolCall, ToolEvent, Usage

NAMES = ("cohere-v2", "cohere-v1")

V2_EVENTS = frozenset(("message-start", "content-start", "content-delta", "content-end", "tool-plan-delta",
                       "tool-call-start", "tool-call-delta", "tool-call-end", "citation-start", "citation-end",
                       "message-end", "debug"))
V1_EVENTS = frozenset(("stream-start", "text-generation", "search-queries-generation", "search-results",
                       "citation-generation", "tool-calls-generation", "tool-calls-chunk", "stream-end",
                       "debug"))
STOPS = {"COMPLETE": "stop", "STOP_SEQUENCE": "stop", "END_TURN": "stop", "MAX_TOKENS": "length",
         "ERROR_LIMIT": "length", "TOOL_CALL": "tool_calls", "ERROR": "error", "ERROR_TOXIC": "content_filter",
         "TIMEOUT": "error"}
FINISH_REASONS = frozenset(STOPS) | {"USER_CANCEL"}


def sniff(payload: dict) -> str | None:
    kind = payload.get("type")
    if kind in V2_EVENTS and kind != "debug":
        return "cohere-v2"
    event = payload.get("event_type")
    if event in V1_EVENTS and "is_finished" in payload:
        return "cohere-v1"
    finish = payload.get("finish_reason")
    if isinstance(finish, str) and finish in FINISH_REASONS:
        if isinstance(payload.get("message"), dict) and "id" in payload:
            return "cohere-v2"  # an unstreamed v2 chat response
        if "generation_id" in payload or "chat_history" in payload:
            return "cohere-v1"
    if isinstance(payload.get("generations"), list) and isinstance(payload.get("meta"), dict):
        return "cohere-v1"  # an unstreamed generate response
    return None


def usage_of(usage: Any) -> Usage:
    """Cohere usage (v2 ``usage`` or v1 ``meta``): ``tokens`` when reported, else ``billed_units``."""
    if not isinstance(usage, dict):
        return Usage()
    tokens = usage.get("tokens")
    if not isinstance(tokens, dict) or not tokens:
        tokens = usage.get("billed_units")
    tokens = tokens if isinstance(tokens, dict) else {}
    return Usage(input_tokens=as_int(tokens.get("input_tokens")), output_tokens=as_int(tokens.get("output_tokens")),
                 cached_tokens=as_int(usage.get("cached_tokens")))


def _timeline(ctx: FoldContext, n_chunks: int, deltas: list[Delta]) -> Timeline:
    return Timeline(chunks=n_chunks, deltas=deltas, times=ctx.chunk_times, timing="har" if ctx.chunk_times else "none")


# --- v2 ------------------------------------------------------------------------------------------


class _Call:
    __slots__ = ("fields", "name", "args")

    def __init__(self, fields: dict):
        self.fields = fields
        self.name: str | None = None
        self.args: list[str] = []


class V2Fold:
    """One pass over the v2 events; fragments are appended to lists and joined once."""

    def __init__(self, ctx: FoldContext):
        self.ctx = ctx
        self.id: str | None = None
        self.role: str | None = None
        self.blocks: dict[int, dict[str, Any]] = {}
        self.texts: dict[int, dict[str, list[str]]] = {}
        self.plan: list[str] | None = None
        self.calls: dict[int, _Call] = {}
        self.citations: list = []
        self.finish: str | None = None
        self.ended = False
        self.usage: dict | None = None
        self.extra: dict[str, Any] = {}
        self.unknown: list = []
        self.deltas: list[Delta] = []
        self.obs = Observations()

    def add(self, i: int, event: Any) -> None:
        if not isinstance(event, dict):
            raise ShapeError("event should be an object")
        kind = event.get("type")
        delta = as_dict(event.get("delta"), "delta", "")
        message = as_dict(delta.get("message"), "delta.message", "")
        if kind == "content-delta" or kind == "content-start":
            self._content(i, self._index(event), as_dict(message.get("content"), "content", ""))
        elif kind == "tool-plan-delta":
            text = as_text(message.get("tool_plan"), "tool_plan", "")
            if text is not None:
                self._plan(i, text)
        elif kind == "tool-call-start" or kind == "tool-call-delta":
            self._call(i, self._index(event), as_dict(message.get("tool_calls"), "tool_calls", ""))
        elif kind == "citation-start":
            citation = message.get("citations")
            if citation is not None:
                self.citations.append(citation)
        elif kind == "message-start":
            self._start(i, event, message)
        elif kind == "message-end":
            self._end(i, delta)
        elif kind not in V2_EVENTS:
            self.unknown.append(event)
        # content-end, tool-call-end, citation-end and debug carry nothing to merge.

    def _index(self, event: dict) -> int:
        index = event.get("index", 0)
        if type(index) is not int:
            raise ShapeError("index should be an integer")
        return index

    def _start(self, i: int, event: dict, message: dict) -> None:
        mid = as_text(event.get("id"), "id", "")
        self.id = first(self.id, mid)
        if mid and mid not in self.obs.chunk_ids:
            self.obs.chunk_ids.append(mid)
        self.role = first(self.role, as_text(message.get("role"), "role", ""))
        for n, block in enumerate(as_list(message.get("content"), "content", "")):
            self._content(i, n, as_dict(block, "content block", ""))
        plan = as_text(message.get("tool_plan"), "tool_plan", "")
        if plan:
            self._plan(i, plan)
        for n, call in enumerate(as_list(message.get("tool_calls"), "tool_calls", "")):
            self._call(i, n, as_dict(call, "tool call", ""))
        self.citations.extend(as_list(message.get("citations"), "citations", ""))

    def _plan(self, i: int, text: str) -> None:
        if self.plan is None:
            self.plan = []
        self.plan.append(text)
        if text:
            self.deltas.append(Delta(i, 0, "reasoning", text))

    def _content(self, i: int, index: int, content: dict) -> None:
        block = self.blocks.get(index)
        if block is None:
            block = self.blocks[index] = {}
            self.texts[index] = {}
        texts = self.texts[index]
        for key, value in content.items():
            if isinstance(value, str) and key != "type":
                texts.setdefault(key, []).append(value)
                kind = "content" if key == "text" else "reasoning" if key == "thinking" else None
                if kind and value:
                    self.deltas.append(Delta(i, 0, kind, value))
            elif value is not None and (key not in block or block[key] in (None, "")):
                block[key] = value
        if "type" not in block:
            block["type"] = "thinking" if "thinking" in content else "text"

    def _call(self, i: int, index: int, call: dict) -> None:
        slot = self.calls.get(index)
        if slot is None:
            slot = self.calls[index] = _Call({})
        fn = as_dict(call.get("function"), "function", "")
        for key, value in call.items():
            if key != "function" and value is not None and slot.fields.get(key) in (None, ""):
                slot.fields[key] = value
        name = as_text(fn.get("name"), "function name", "")
        if name:
            slot.name = name if slot.name is None else slot.name + name
        args = fn.get("arguments")
        if args is not None:
            args = dump_arguments(args)
            slot.args.append(args)
            if args:
                self.deltas.append(Delta(i, 0, "tool", args))
        cid = call.get("id")
        if cid is not None or name:
            self.obs.tool_events.append(ToolEvent(i, 0, index, cid if isinstance(cid, str) else None, name or None))

    def _end(self, i: int, delta: dict) -> None:
        self.ended = True
        finish = as_text(delta.get("finish_reason"), "finish_reason", "")
        if finish:
            self.finish = finish
            self.obs.finish_chunks.setdefault(0, i)
        usage = delta.get("usage")
        if usage is not None:
            self.usage = as_dict(usage, "usage", "")
        for key, value in delta.items():
            if key not in ("finish_reason", "usage") and value is not None:
                self.extra[key] = value
        if delta.get("error") is not None:
            self.obs.stream_errors.append((i, {"message": delta.get("error"), "type": delta.get("error_type")}))

    # -- result --------------------------------------------------------------------------------

    def result(self, n_chunks: int) -> Result:
        content: list[str] | None = None
        thinking: list[str] | None = None
        blocks = []
        for index in sorted(self.blocks):
            block = dict(self.blocks[index])
            for key, parts in self.texts[index].items():
                base = block.get(key)
                block[key] = (base if isinstance(base, str) else "") + "".join(parts)
            blocks.append(block)
            if block.get("type") == "thinking":
                thinking = (thinking or []) + [block.get("thinking") or ""]
            elif isinstance(block.get("text"), str):
                content = (content or []) + [block["text"]]
        calls, provider_calls = [], []
        for index in sorted(self.calls):
            slot = self.calls[index]
            raw = "".join(slot.args)
            fn = {"name": slot.name, "arguments": raw}
            provider_calls.append({**slot.fields, "function": fn})
            cid = slot.fields.get("id")
            calls.append(ToolCall(id=cid if isinstance(cid, str) and cid else None, name=slot.name, arguments=raw,
                                  parsed_arguments=parse_arguments(raw)))
        plan = "".join(self.plan) if self.plan is not None else None
        reasoning = None
        if thinking is not None or plan:
            reasoning = "".join(thinking or []) + (plan or "")
        message: dict[str, Any] = {"role": self.role or "assistant", "content": blocks}
        if plan:
            message["tool_plan"] = plan
        if provider_calls:
            message["tool_calls"] = provider_calls
        if self.citations:
            message["citations"] = self.citations
        response: dict[str, Any] = {"id": self.id, "finish_reason": self.finish, "message": message,
                                    "usage": self.usage}
        response.update(self.extra)
        if self.unknown:
            response["unknown_events"] = self.unknown
        return Result(
            response=response,
            choices=[Message(index=0, role=self.role or "assistant",
                             content="".join(content) if content is not None else None, reasoning=reasoning,
                             tool_calls=calls, finish_reason=self.finish, stop=stop_of(self.finish, STOPS))],
            usage=usage_of(self.usage),
            complete=self.ended,
            timeline=_timeline(self.ctx, n_chunks, self.deltas),
            observations=self.obs,
        )


def _v2_body(body: Any) -> Result:
    """An unstreamed v2 chat response."""
    if not isinstance(body, dict):
        raise ShapeError("response should be an object")
    message = as_dict(body.get("message"), "message", "")
    text, thinking = [], []
    for block in as_list(message.get("content"), "message.content", ""):
        block = as_dict(block, "content block", "")
        if block.get("type") == "thinking":
            thinking.append(as_text(block.get("thinking"), "thinking", "") or "")
        elif isinstance(block.get("text"), str):
            text.append(block["text"])
    plan = as_text(message.get("tool_plan"), "tool_plan", "")
    calls = []
    for call in as_list(message.get("tool_calls"), "tool_calls", ""):
        call = as_dict(call, "tool call", "")
        fn = as_dict(call.get("function"), "function", "")
        args = fn.get("arguments")
        raw = dump_arguments(args) if args is not None else ""
        calls.append(ToolCall(id=call.get("id") if isinstance(call.get("id"), str) else None,
                              name=as_text(fn.get("name"), "function name", ""), arguments=raw,
                              parsed_arguments=parse_arguments(raw)))
    finish = as_text(body.get("finish_reason"), "finish_reason", "")
    reasoning = "".join(thinking) + (plan or "") if thinking or plan else None
    return Result(response=body,
                  choices=[Message(index=0, role=as_text(message.get("role"), "role", "") or "assistant",
                                   content="".join(text) if text else None, reasoning=reasoning, tool_calls=calls,
                                   finish_reason=finish, stop=stop_of(finish, STOPS))],
                  usage=usage_of(body.get("usage")), complete=finish is not None)


# --- v1 ------------------------------------------------------------------------------------------


class V1Fold:
    """One pass over the v1 events (chat and generate)."""

    def __init__(self, ctx: FoldContext):
        self.ctx = ctx
        self.generation_id: str | None = None
        self.texts: dict[int, list[str]] = {}
        self.lists: dict[str, list] = {}
        self.tool_calls: list[dict] | None = None
        self.chunked: dict[int, dict[str, Any]] = {}
        self.end: dict | None = None
        self.finish: str | None = None
        self.unknown: list = []
        self.deltas: list[Delta] = []
        self.obs = Observations()

    def add(self, i: int, event: Any) -> None:
        if not isinstance(event, dict):
            raise ShapeError("event should be an object")
        kind = event.get("event_type")
        if kind == "text-generation":
            index = event.get("index", 0)
            if type(index) is not int:
                raise ShapeError("index should be an integer")
            text = as_text(event.get("text"), "text", "")
            if text is not None:
                self.texts.setdefault(index, []).append(text)
                if text:
                    self.deltas.append(Delta(i, index, "content", text))
        elif kind == "stream-start":
            gid = as_text(event.get("generation_id"), "generation_id", "")
            self.generation_id = first(self.generation_id, gid)
            if gid and gid not in self.obs.chunk_ids:
                self.obs.chunk_ids.append(gid)
        elif kind == "tool-calls-generation":
            calls = as_list(event.get("tool_calls"), "tool_calls", "")
            self.tool_calls = (self.tool_calls or []) + [as_dict(c, "tool call", "") for c in calls]
            for n, call in enumerate(self.tool_calls):
                self.obs.tool_events.append(ToolEvent(i, 0, n, None, call.get("name")))
        elif kind == "tool-calls-chunk":
            self._chunk(i, as_dict(event.get("tool_call_delta"), "tool_call_delta", ""))
        elif kind == "stream-end":
            self.end = event
            self.finish = as_text(event.get("finish_reason"), "finish_reason", "")
            if self.finish:
                self.obs.finish_chunks.setdefault(0, i)
        elif kind in ("search-queries-generation", "search-results", "citation-generation"):
            for key, value in event.items():
                if isinstance(value, list):
                    self.lists.setdefault(key, []).extend(value)
        elif kind not in V1_EVENTS:
            self.unknown.append(event)

    def _chunk(self, i: int, delta: dict) -> None:
        index = delta.get("index", 0)
        if type(index) is not int:
            raise ShapeError("tool_call_delta index should be an integer")
        slot = self.chunked.setdefault(index, {"name": None, "parameters": []})
        name = as_text(delta.get("name"), "tool_call_delta name", "")
        if name:
            slot["name"] = name
            self.obs.tool_events.append(ToolEvent(i, 0, index, None, name))
        params = delta.get("parameters")
        if params is not None:
            params = dump_arguments(params)
            slot["parameters"].append(params)
            if params:
                self.deltas.append(Delta(i, 0, "tool", params))

    def result(self, n_chunks: int) -> Result:
        response = as_dict(self.end.get("response"), "response", "stream-end") if self.end else {}
        usage = usage_of(response.get("meta"))
        choices = []
        indexes = sorted(self.texts) or [0]
        generations = response.get("generations")
        for index in indexes:
            parts = self.texts.get(index)
            text = "".join(parts) if parts is not None else None
            if text is None and isinstance(response.get("text"), str):
                text = response["text"]
            finish = self.finish
            if isinstance(generations, list) and index < len(generations) and isinstance(generations[index], dict):
                own = generations[index].get("finish_reason")
                finish = own if isinstance(own, str) and own else finish
            choices.append(Message(index=index, role="assistant", content=text,
                                   tool_calls=self._calls(response) if index == 0 else [],
                                   finish_reason=finish, stop=stop_of(finish, STOPS)))
        if not self.end:
            response = self._rebuilt()
        elif self.unknown:
            response = {**response, "unknown_events": self.unknown}
        return Result(response=response, choices=choices, usage=usage, complete=self.end is not None,
                      timeline=_timeline(self.ctx, n_chunks, self.deltas), observations=self.obs)

    def _calls(self, response: dict) -> list[ToolCall]:
        calls = self.tool_calls
        if calls is None and self.chunked:
            calls = []
            for index in sorted(self.chunked):
                slot = self.chunked[index]
                raw = "".join(slot["parameters"])
                calls.append({"name": slot["name"], "parameters": raw})
        if calls is None:
            calls = [as_dict(c, "tool call", "response") for c in as_list(response.get("tool_calls"), "tool_calls",
                                                                           "response")]
        out = []
        for call in calls:
            params = call.get("parameters")
            raw = dump_arguments(params) if params is not None else ""
            out.append(ToolCall(id=None, name=call.get("name") if isinstance(call.get("name"), str) else None,
                                arguments=raw, parsed_arguments=parse_arguments(raw)))
        return out

    def _rebuilt(self) -> dict:
        """The response when the stream stopped before ``stream-end``: what the events carried."""
        out: dict[str, Any] = {"text": "".join(self.texts.get(0, [])), "generation_id": self.generation_id}
        out.update(self.lists)
        if self.tool_calls is not None:
            out["tool_calls"] = self.tool_calls
        elif self.chunked:
            out["tool_calls"] = [{"name": s["name"], "parameters": parse_arguments("".join(s["parameters"]))}
                                 for _, s in sorted(self.chunked.items())]
        out["finish_reason"] = None
        if self.unknown:
            out["unknown_events"] = self.unknown
        return out


def _v1_body(body: Any) -> Result:
    """An unstreamed v1 chat or generate response."""
    if not isinstance(body, dict):
        raise ShapeError("response should be an object")
    state = V1Fold(FoldContext(dialect="cohere-v1"))
    state.end = {"response": body}
    state.finish = as_text(body.get("finish_reason"), "finish_reason", "")
    generations = body.get("generations")
    if isinstance(generations, list):
        for n, gen in enumerate(generations):
            gen = as_dict(gen, "generation", "")
            state.texts[n] = [as_text(gen.get("text"), "generation text", "") or ""]
    result = state.result(0)
    result.complete = state.finish is not None or isinstance(generations, list)
    result.response = body
    return result


# --- entry points ----------------------------------------------------------------------------------


def fold(chunks: list, ctx: FoldContext) -> Result:
    state = V2Fold(ctx) if ctx.dialect == "cohere-v2" else V1Fold(ctx)
    feed(state, chunks)
    return state.result(len(chunks))


def fold_body(body: Any, ctx: FoldContext) -> Result:
    try:
        return _v2_body(body) if ctx.dialect == "cohere-v2" else _v1_body(body)
    except ShapeError as exc:
        raise ShapeError(exc.what, "response body") from None


# --- the wire format (for serve) -----------------------------------------------------------------

CONTENT_TYPE = "text/event-stream"


def encode(chunk: Any) -> bytes:
    """One event as Cohere sends it: v2 ``event: TYPE`` + ``data: JSON`` (SSE), v1 one JSON line
    (NDJSON; the module has one content type, the v2 stream's, which v1 streams are served
    under too)."""
    data = orjson.dumps(chunk, option=orjson.OPT_NON_STR_KEYS)
    if isinstance(chunk, dict) and "event_type" in chunk:
        return data + b"\n"
    kind = chunk.get("type") if isinstance(chunk, dict) else None
    head = b"event: " + kind.encode() + b"\n" if isinstance(kind, str) and "\n" not in kind else b""
    return head + b"data: " + data + b"\n\n"


def wants_stream(path: str, body: Any) -> bool:
    """Streamed only when the body says ``"stream": true`` (v1 ``/v1/chat``: ``stream`` defaults to false;
    v2 ``/v2/chat``: the SDK's ``chat_stream`` sets it)."""
    return stream_requested(body)
