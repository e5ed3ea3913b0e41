"""Anthropic Messages (``/v1/messages``, and servers that speak it: Ollama, Bedrock, Vertex,
LiteLLM): the stream's events folded into the one ``message`` the request returns unstreamed.

Events: ``message_start`` (the message shell and its first usage), ``content_block_start`` /
``content_block_delta`` / ``content_block_stop`` (blocks keyed by their ``index``),
``message_delta`` (``stop_reason``, ``stop_sequence``, running-total usage), ``message_stop``,
``ping``, ``error``.

Merge rules (reassembly.md):
- blocks are keyed by ``index`` and output sorted by it; a delta for an index that was never
  started creates the block (the SDK raises there), its type taken from the delta;
- string fields of a delta (``text_delta.text``, ``thinking_delta.thinking``,
  ``signature_delta.signature``, ...) are appended to the block's field of the same name;
  ``input_json_delta`` fragments are joined into the tool input (``{}`` when empty; the raw
  string is kept, as the input, when it is not valid JSON); ``citations_delta`` citations are
  collected in the block's ``citations``;
- message fields (``id``, ``model``, ``role``, ...): first non-empty; ``stop_reason`` and
  ``stop_sequence``: last non-null; usage: merged per field, the latest non-null value winning
  (``message_delta`` usage is a running total: replaced, never added);
- ``error`` events go to ``observations.stream_errors``.

The stream is complete when ``message_stop`` arrived, or a ``message_delta`` with a
``stop_reason``.
"""

from __future__ import annotations

from typing import Any

from llmtrace.dialects import (
    ANY,
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
from llmtrace.model import (
    Delta,
    Message,
    Observations,
    Result,
    Timeline,
    ToolCall,
    ToolEvent,
    Usage,
)

NAMES = ("anthropic-messages",)


# Parameters matching counts as absent (https://docs.anthropic.com/en/api/messages): at their
# documented default, or ANY: never a change to the answer. ``tool_choice`` ({"type": "auto"}
# with tools) is ``server.match``'s.
DEFAULTS = {
    "temperature": (1,),  # "Defaults to 1.0"
    "stop_sequences": (None, []),
    "metadata": ANY,  # an end-user id, for abuse monitoring
    "service_tier": ANY,  # "auto" by default: capacity, not content
}

EVENTS = frozenset(("message_start", "content_block_start", "content_block_delta", "content_block_stop",
                    "message_delta", "message_stop", "ping"))
STOPS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
         "model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter"}
FINISH_REASONS = frozenset(STOPS) | {"pause_turn"}
# The string field each known text-like delta carries, and the timeline kind of its text.
_DELTA_FIELDS = {"text_delta": "text", "thinking_delta": "thinking", "signature_delta": "signature"}
_TIMELINE = {"text": "content", "thinking": "reasoning"}
# The block type a delta implies, for a block whose start never arrived.
_IMPLIED_TYPE = {"text_delta": "text", "citations_delta": "text", "thinking_delta": "thinking",
                 "signature_delta": "thinking", "input_json_delta": "tool_use"}
_MESSAGE_KEYS = ("id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage")


def sniff(payload: dict) -> str | None:
    kind = payload.get("type")
    if kind in EVENTS and kind != "ping":  # both Anthropic stream APIs send pings: the next event decides
        return "anthropic-messages"
    if kind == "message" and payload.get("role") == "assistant" and isinstance(payload.get("content"), list):
        return "anthropic-messages"
    return None


class _Block:
    """One content block: its start fields, plus the fragments its deltas appended."""

    __slots__ = ("index", "fields", "texts", "json", "citations")

    def __init__(self, index: int, fields: dict):
        self.index = index
        self.fields = fields
        self.texts: dict[str, list[str]] = {}
        self.json: list[str] | None = None
        self.citations: list | None = None

    def output(self) -> dict:
        out = dict(self.fields)
        for key, parts in self.texts.items():
            base = out.get(key)
            out[key] = (base if isinstance(base, str) else "") + "".join(parts)
        if self.json is not None:
            raw = "".join(self.json)
            parsed = parse_arguments(raw)
            out["input"] = raw if parsed is None else parsed
        if self.citations is not None:
            base = out.get("citations")
            out["citations"] = (base if isinstance(base, list) else []) + self.citations
        return out

    def text_of(self, key: str) -> str | None:
        base = self.fields.get(key)
        parts = self.texts.get(key)
        if parts is None:
            return base if isinstance(base, str) else None
        return (base if isinstance(base, str) else "") + "".join(parts)

    def raw_input(self) -> str:
        if self.json is not None:
            return "".join(self.json)
        value = self.fields.get("input")
        return dump_arguments(value) if value is not None else ""


class MessagesFold:
    """One pass over the events; text fragments are appended to lists and joined once."""

    def __init__(self, ctx: FoldContext):
        self.ctx = ctx
        self.top: dict[str, Any] = {}
        self.usage: dict[str, Any] | None = None
        self.stop_reason: Any = None
        self.stop_sequence: Any = None
        self.stopped = False
        self.blocks: dict[int, _Block] = {}
        self._last_index: int | None = None
        self._tool_order: dict[int, int] = {}  # content block index → the call's position among tool calls
        self.deltas: list[Delta] = []
        self.obs = Observations()

    # -- per event ---------------------------------------------------------------------------

    def add(self, i: int, event: Any) -> None:
        if not isinstance(event, dict):
            raise ShapeError("event should be an object")
        kind = event.get("type")
        if kind == "content_block_delta":
            self._delta(i, event)
        elif kind == "content_block_start":
            block = as_dict(event.get("content_block"), "content_block", "")
            self._start(i, self._index(event), block)
        elif kind == "message_start":
            self.message(i, as_dict(event.get("message"), "message", ""))
        elif kind == "message_delta":
            delta = as_dict(event.get("delta"), "delta", "")
            for key, value in delta.items():
                if value is not None:
                    self._set(i, key, value)
            self._usage(event.get("usage"))
        elif kind == "message_stop":
            self.stopped = True
        elif kind == "error":
            self.obs.stream_errors.append((i, event.get("error")))
        # content_block_stop and ping carry nothing to merge; unknown events are skipped.

    def message(self, i: int, message: dict) -> None:
        """The message shell of ``message_start`` (or a whole non-streamed message)."""
        for key, value in message.items():
            if key == "content":
                for n, block in enumerate(as_list(value, "content", "")):
                    self._start(i, n, as_dict(block, "content block", ""))
            elif key == "usage":
                self._usage(value)
            elif value is not None:
                self._set(i, key, value)
        mid = self.top.get("id")
        if isinstance(mid, str) and mid and mid not in self.obs.chunk_ids:
            self.obs.chunk_ids.append(mid)

    def _set(self, i: int, key: str, value: Any) -> None:
        if key == "stop_reason":
            as_text(value, "stop_reason", "")
            if self.stop_reason is None and 0 not in self.obs.finish_chunks:
                self.obs.finish_chunks[0] = i
            self.stop_reason = value
        elif key == "stop_sequence":
            self.stop_sequence = value
        else:
            self.top[key] = first(self.top.get(key), value)

    def _usage(self, usage: Any) -> None:
        if usage is None:
            return
        usage = as_dict(usage, "usage", "")
        if self.usage is None:
            self.usage = {}
        for key, value in usage.items():
            if value is not None or key not in self.usage:
                self.usage[key] = value

    def _index(self, event: dict) -> int:
        index = event.get("index")
        if index is None:
            return self._last_index if self._last_index is not None else 0
        if type(index) is not int:
            raise ShapeError("block index should be an integer")
        return index

    def _start(self, i: int, index: int, fields: dict) -> None:
        block = self.blocks.get(index)
        if block is None:
            block = self.blocks[index] = _Block(index, dict(fields))
        else:  # a second start for the same index: keep what arrived, add what is new
            for key, value in fields.items():
                if value is not None and block.fields.get(key) in (None, "", {}, []):
                    block.fields[key] = value
        self._last_index = index
        if fields.get("type") == "tool_use":
            # Tool calls are numbered in the order they start: the block index also counts the
            # text and thinking blocks before them, so it is no tool index (text, then a call at
            # block 1, is normal). A second start of the same block is the same call.
            ordinal = self._tool_order.setdefault(index, len(self._tool_order))
            self.obs.tool_events.append(ToolEvent(i, 0, ordinal, fields.get("id") or None, fields.get("name")))
        for key, kind in _TIMELINE.items():
            text = fields.get(key)
            if text and isinstance(text, str):
                self.deltas.append(Delta(i, 0, kind, text))

    def _delta(self, i: int, event: dict) -> None:
        index = self._index(event)
        delta = as_dict(event.get("delta"), "delta", "")
        dtype = delta.get("type")
        block = self.blocks.get(index)
        if block is None:
            block = self.blocks[index] = _Block(index, {"type": _IMPLIED_TYPE.get(dtype, dtype)})
        self._last_index = index
        if dtype == "input_json_delta":
            fragment = as_text(delta.get("partial_json"), "partial_json", "")
            if fragment is not None:
                if block.json is None:
                    block.json = []
                block.json.append(fragment)
                if fragment:
                    self.deltas.append(Delta(i, 0, "tool", fragment))
            return
        if dtype == "citations_delta":
            citation = delta.get("citation")
            if citation is not None:
                if block.citations is None:
                    block.citations = []
                block.citations.append(citation)
            return
        known = _DELTA_FIELDS.get(dtype)
        if known is not None:
            as_text(delta.get(known), known, "")
        for key, value in delta.items():
            if key == "type" or value is None:
                continue
            if isinstance(value, str):
                block.texts.setdefault(key, []).append(value)
                kind = _TIMELINE.get(key)
                if kind and value:
                    self.deltas.append(Delta(i, 0, kind, value))
            else:
                block.fields[key] = value

    # -- result ------------------------------------------------------------------------------

    def result(self, n_chunks: int, response: Any = None) -> Result:
        blocks = [self.blocks[k] for k in sorted(self.blocks)]
        message = self._message(blocks)
        if response is None:
            response = self._response(blocks)
        model = self.top.get("model")
        return Result(
            response=response,
            model=model if isinstance(model, str) and model else None,
            choices=[message],
            usage=usage_of(self.usage),
            complete=self.stopped or self.stop_reason is not None,
            timeline=Timeline(chunks=n_chunks, deltas=self.deltas, times=self.ctx.chunk_times,
                              timing="har" if self.ctx.chunk_times else "none"),
            observations=self.obs,
        )

    def _message(self, blocks: list[_Block]) -> Message:
        content: list[str] | None = None
        reasoning: list[str] | None = None
        calls: list[ToolCall] = []
        for block in blocks:
            btype = block.fields.get("type")
            if btype == "text":
                if content is None:
                    content = []
                content.append(block.text_of("text") or "")
            elif btype == "thinking":
                if reasoning is None:
                    reasoning = []
                reasoning.append(block.text_of("thinking") or "")
            elif btype == "tool_use":
                raw = block.raw_input()
                calls.append(ToolCall(id=block.fields.get("id") or None, name=block.fields.get("name"),
                                      arguments=raw, parsed_arguments=parse_arguments(raw)))
        role = self.top.get("role")
        return Message(
            index=0,
            role=role if isinstance(role, str) and role else "assistant",
            content="".join(content) if content is not None else None,
            reasoning="".join(reasoning) if reasoning is not None else None,
            tool_calls=calls,
            finish_reason=self.stop_reason,
            stop=stop_of(self.stop_reason, STOPS),
        )

    def _response(self, blocks: list[_Block]) -> dict:
        top = self.top
        out: dict[str, Any] = {
            "id": top.get("id"),
            "type": top.get("type") or "message",
            "role": top.get("role") or "assistant",
            "model": top.get("model"),
            "content": [b.output() for b in blocks],
            "stop_reason": self.stop_reason,
            "stop_sequence": self.stop_sequence,
            "usage": self.usage,
        }
        for key, value in top.items():
            if key not in _MESSAGE_KEYS:
                out[key] = value
        return out


def usage_of(usage: Any) -> Usage:
    """Anthropic usage in llmtrace's terms (no total is reported; cache reads are the cached)."""
    if not isinstance(usage, dict):
        return Usage()
    return Usage(
        input_tokens=as_int(usage.get("input_tokens")),
        output_tokens=as_int(usage.get("output_tokens")),
        total_tokens=as_int(usage.get("total_tokens")),
        cached_tokens=as_int(usage.get("cache_read_input_tokens")),
    )


def fold(chunks: list, ctx: FoldContext) -> Result:
    state = MessagesFold(ctx)
    feed(state, chunks)
    return state.result(len(chunks))


def fold_body(body: Any, ctx: FoldContext) -> Result:
    state = MessagesFold(ctx)
    try:
        if not isinstance(body, dict):
            raise ShapeError("response body should be an object")
        state.message(0, body)
    except ShapeError as exc:
        raise ShapeError(exc.what, "response body") from None
    return state.result(0, response=body)


def wants_stream(path: str, body: Any) -> bool:
    """Streamed only when the body says ``"stream": true`` (API reference, Messages: ``stream`` is
    optional; absent, the whole ``message``)."""
    return stream_requested(body)
