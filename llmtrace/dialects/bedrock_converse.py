"""Amazon Bedrock Converse (``/model/{id}/converse-stream`` and ``/converse``): the ConverseStream
events folded into the response ``Converse`` returns unstreamed.

The events come in AWS event-stream frames (``llmtrace.containers.aws_eventstream``), one per
chunk, shaped as the SDKs hand them over: ``{event-type: payload}``.

- ``messageStart`` ``{role}``;
- ``contentBlockStart`` ``{contentBlockIndex, start: {toolUse: {toolUseId, name, type}} |
  {toolResult: …}}``;
- ``contentBlockDelta`` ``{contentBlockIndex, delta}`` where the delta is ``{text}``,
  ``{toolUse: {input}}`` (JSON fragments, joined into the tool input), ``{reasoningContent:
  {text | signature | redactedContent}}``, ``{citation}`` (a citation of the text that follows
  in its block), ``{toolResult: [content]}`` (server-side tools), or something newer (kept);
- ``contentBlockStop``; ``messageStop`` ``{stopReason, additionalModelResponseFields}``;
- ``metadata`` ``{usage: {inputTokens, outputTokens, totalTokens, cacheReadInputTokens,
  cacheWriteInputTokens}, metrics: {latencyMs}, trace: {guardrail}}``;
- exceptions (``throttlingException``, ``modelStreamErrorException``, …) and ``error``
  messages: errors in the stream;
- any other event type: kept, and shown in the reassembled response under its own name (its
  payload, or the list of them when it came more than once).

The unstreamed shape: ``{"output": {"message": {"role", "content": [block]}}, "stopReason",
"usage", "metrics"}`` (plus ``additionalModelResponseFields`` and ``trace`` when they came),
blocks in ``contentBlockIndex`` order: ``{"text"}``, ``{"toolUse": {"toolUseId", "name",
"input"}}`` (the parsed input; the raw text when it is not JSON), ``{"reasoningContent":
{"reasoningText": {"text", "signature"}}}`` or ``{"reasoningContent": {"redactedContent"}}``,
``{"citationsContent": {"content": [{"text"}], "citations"}}``, ``{"toolResult"}``.

Stop reasons: ``end_turn``, ``stop_sequence`` → stop; ``max_tokens``,
``model_context_window_exceeded`` → length; ``tool_use`` → tool_calls; ``guardrail_intervened``,
``content_filtered`` → content_filter (a guardrail's trace goes to the content-filter results).
``metrics.latencyMs`` is the server-reported total time. The stream is complete when
``messageStop`` arrived and the frames did not break off (a broken prelude or a cut frame).
"""

from __future__ import annotations

from typing import Any

from llmtrace.dialects import (
    FoldContext,
    as_dict,
    as_int,
    as_list,
    as_text,
    dump_arguments,
    feed,
    feed_body,
    first,
    parse_arguments,
    stop_of,
)
from llmtrace.containers.aws_eventstream import BAD_FRAME, CUT_OFF
from llmtrace.errors import ShapeError
from llmtrace.model import Delta, Message, Observations, Result, Timeline, ToolCall, ToolEvent, Usage

NAMES = ("bedrock-converse",)

STOPS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
         "model_context_window_exceeded": "length", "tool_use": "tool_calls",
         "guardrail_intervened": "content_filter", "content_filtered": "content_filter"}
EVENTS = frozenset(("messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockStop", "messageStop"))
# Bedrock pads every event with a random-length "p" string (against size side channels): no data.
PADDING = "p"


def sniff(payload: dict) -> str | None:
    if len(payload) == 1:
        key = next(iter(payload))
        if key in EVENTS and isinstance(payload[key], dict):
            return "bedrock-converse"
        value = payload[key]
        if key == "metadata" and isinstance(value, dict) and ("usage" in value or "metrics" in value):
            return "bedrock-converse"
    output = payload.get("output")
    if isinstance(output, dict) and isinstance(output.get("message"), dict) and "stopReason" in payload:
        return "bedrock-converse"
    return None


def is_error(key: str) -> bool:
    """Whether an event type is an error in the stream (an exception frame, or an error message)."""
    return key == "error" or key.endswith("Exception")


class _Block:
    """One content block: what its start said, and the fragments its deltas carried."""

    __slots__ = ("index", "start", "text", "tool_input", "reasoning", "signature", "redacted", "citations",
                 "results", "other")

    def __init__(self, index: int):
        self.index = index
        self.start: dict[str, Any] = {}
        self.text: list[str] | None = None
        self.tool_input: list[str] | None = None
        self.reasoning: list[str] | None = None
        self.signature: list[str] | None = None
        self.redacted: list[str] | None = None
        self.citations: list | None = None
        self.results: list | None = None
        self.other: dict[str, Any] = {}

    def tool(self) -> dict | None:
        start = self.start.get("toolUse")
        if start is None and self.tool_input is None:
            return None
        return start if isinstance(start, dict) else {}

    def raw_input(self) -> str:
        if self.tool_input is not None:
            return "".join(self.tool_input)
        value = (self.tool() or {}).get("input")
        return dump_arguments(value) if value is not None else ""

    def output(self) -> dict:
        """The block as the unstreamed response holds it."""
        tool = self.tool()
        if tool is not None:
            raw = self.raw_input()
            parsed = parse_arguments(raw)
            return {"toolUse": {**tool, "input": raw if parsed is None else parsed}}
        if self.reasoning is not None or self.signature is not None:
            text: dict[str, Any] = {"text": "".join(self.reasoning or ())}
            if self.signature is not None:
                text["signature"] = "".join(self.signature)
            return {"reasoningContent": {"reasoningText": text}}
        if self.redacted is not None:
            return {"reasoningContent": {"redactedContent": "".join(self.redacted)}}
        if self.citations is not None:
            return {"citationsContent": {"content": [{"text": "".join(self.text or ())}], "citations": self.citations}}
        if "toolResult" in self.start or self.results is not None:
            start = self.start.get("toolResult")
            return {"toolResult": {**(start if isinstance(start, dict) else {}), "content": self.results or []}}
        out: dict[str, Any] = {}
        if self.text is not None or not self.other:
            out["text"] = "".join(self.text or ())
        for key, value in self.other.items():
            out[key] = "".join(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else value
        for key, value in self.start.items():
            out.setdefault(key, value)
        return out


class ConverseFold:
    """One pass over the events; fragments are appended to lists and joined once."""

    def __init__(self, ctx: FoldContext):
        self.ctx = ctx
        self.role: str | None = None
        self.stop_reason: Any = None
        self.stopped = False
        self.broken = False
        self.extra: dict[str, Any] = {}
        self.unknown: dict[str, list] = {}  # events of a type this fold does not know, by type
        self.usage: dict[str, Any] | None = None
        self.metrics: dict[str, Any] | None = None
        self.blocks: dict[int, _Block] = {}
        self.tool_ordinals: dict[int, int] = {}  # block index → the call's number among the tool calls
        self.deltas: list[Delta] = []
        self.obs = Observations()

    # -- per event ---------------------------------------------------------------------------

    def add(self, i: int, chunk: Any) -> None:
        if not isinstance(chunk, dict):
            raise ShapeError("event should be an object")
        for key, event in chunk.items():
            self.event(i, key, event)

    def event(self, i: int, key: str, event: Any) -> None:
        if key == "contentBlockDelta":
            event = as_dict(event, key, "")
            self._delta(i, self._block(event), as_dict(event.get("delta"), "delta", ""))
        elif key == "contentBlockStart":
            event = as_dict(event, key, "")
            self._start(i, self._block(event), as_dict(event.get("start"), "start", ""))
        elif key == "messageStart":
            role = as_dict(event, key, "").get("role")
            self.role = first(self.role, as_text(role, "role", ""))
        elif key == "messageStop":
            event = as_dict(event, key, "")
            reason = as_text(event.get("stopReason"), "stopReason", "")
            if reason is not None:
                if 0 not in self.obs.finish_chunks:
                    self.obs.finish_chunks[0] = i
                self.stop_reason = reason
            self.stopped = True
            for name, value in event.items():
                if name not in ("stopReason", PADDING) and value is not None:
                    self.extra[name] = value
        elif key == "metadata":
            self.metadata(as_dict(event, key, ""))
        elif key == BAD_FRAME:  # a frame the event-stream reader skipped
            self.broken = self.broken or bool(isinstance(event, dict) and event.get("fatal"))
        elif key == CUT_OFF:
            self.broken = True
        elif is_error(key):
            error = dict(event) if isinstance(event, dict) else {"message": event}
            error.setdefault("type", key)
            self.obs.stream_errors.append((i, error))
        elif key != "contentBlockStop":  # contentBlockStop carries nothing to merge
            self.unknown.setdefault(key, []).append(event)

    def metadata(self, meta: dict) -> None:
        usage = meta.get("usage")
        if usage is not None:
            self.usage = as_dict(usage, "usage", "")
        metrics = meta.get("metrics")
        if metrics is not None:
            self.metrics = as_dict(metrics, "metrics", "")
        trace = meta.get("trace")
        if isinstance(trace, dict) and trace.get("guardrail") is not None:
            self.obs.filter_results.append(trace["guardrail"])
        for name, value in meta.items():
            if name not in ("usage", "metrics", PADDING) and value is not None:
                self.extra[name] = value

    def _block(self, event: dict) -> _Block:
        index = event.get("contentBlockIndex", 0)
        if type(index) is not int:
            raise ShapeError("contentBlockIndex should be an integer")
        block = self.blocks.get(index)
        if block is None:
            block = self.blocks[index] = _Block(index)
        return block

    def _start(self, i: int, block: _Block, start: dict) -> None:
        for key, value in start.items():
            if value is not None:
                block.start[key] = value
        tool = start.get("toolUse")
        if isinstance(tool, dict):
            # Tool calls are numbered among themselves (block indices count text blocks too).
            ordinal = self.tool_ordinals.setdefault(block.index, len(self.tool_ordinals))
            self.obs.tool_events.append(ToolEvent(i, 0, ordinal, tool.get("toolUseId") or None, tool.get("name")))

    def _delta(self, i: int, block: _Block, delta: dict) -> None:
        for key, value in delta.items():
            if value is None:
                continue
            if key == "text":
                as_text(value, "text", "")
                if block.text is None:
                    block.text = []
                block.text.append(value)
                if value:
                    self.deltas.append(Delta(i, 0, "content", value))
            elif key == "toolUse":
                fragment = as_text(as_dict(value, "toolUse", "").get("input"), "toolUse.input", "")
                if block.tool_input is None:
                    block.tool_input = []
                if fragment:
                    block.tool_input.append(fragment)
                    self.deltas.append(Delta(i, 0, "tool", fragment))
            elif key == "reasoningContent":
                self._reasoning(i, block, as_dict(value, "reasoningContent", ""))
            elif key == "citation":
                if block.citations is None:
                    block.citations = []
                block.citations.append(value)
            elif key == "toolResult":
                if block.results is None:
                    block.results = []
                block.results.extend(as_list(value, "toolResult", ""))
            else:
                block.other.setdefault(key, []).append(value)

    def _reasoning(self, i: int, block: _Block, value: dict) -> None:
        text = as_text(value.get("text"), "reasoningContent.text", "")
        if text is not None:
            if block.reasoning is None:
                block.reasoning = []
            block.reasoning.append(text)
            if text:
                self.deltas.append(Delta(i, 0, "reasoning", text))
        signature = as_text(value.get("signature"), "reasoningContent.signature", "")
        if signature is not None:
            if block.signature is None:
                block.signature = []
            block.signature.append(signature)
        redacted = value.get("redactedContent")
        if redacted is not None:
            if block.redacted is None:
                block.redacted = []
            block.redacted.append(as_text(redacted, "reasoningContent.redactedContent", ""))

    # -- result ------------------------------------------------------------------------------

    def blocks_in_order(self) -> list[_Block]:
        return [self.blocks[k] for k in sorted(self.blocks)]

    def message(self, blocks: list[_Block]) -> Message:
        content: list[str] | None = None
        reasoning: list[str] | None = None
        calls: list[ToolCall] = []
        for block in blocks:
            tool = block.tool()
            if tool is not None:
                if tool.get("type") in (None, "tool_use"):  # a server-side tool ran on Bedrock's side
                    raw = block.raw_input()
                    calls.append(ToolCall(id=tool.get("toolUseId") or None, name=tool.get("name"), arguments=raw,
                                          parsed_arguments=parse_arguments(raw)))
                continue
            if block.reasoning is not None:
                reasoning = (reasoning or []) + block.reasoning
            if block.text is not None:
                content = (content or []) + block.text
        return Message(
            index=0,
            role=self.role or "assistant",
            content="".join(content) if content is not None else None,
            reasoning="".join(reasoning) if reasoning is not None else None,
            tool_calls=calls,
            finish_reason=self.stop_reason,
            stop=stop_of(self.stop_reason, STOPS),
        )

    def response(self, blocks: list[_Block]) -> dict:
        out: dict[str, Any] = {
            "output": {"message": {"role": self.role or "assistant", "content": [b.output() for b in blocks]}},
            "stopReason": self.stop_reason,
            "usage": self.usage,
            "metrics": self.metrics,
        }
        for key, value in self.extra.items():
            out.setdefault(key, value)
        for key, events in self.unknown.items():  # shown as they came: one payload, or the list
            out.setdefault(key, events[0] if len(events) == 1 else events)
        return out

    def result(self, n_chunks: int) -> Result:
        blocks = self.blocks_in_order()
        return Result(
            response=self.response(blocks),
            model=None,
            choices=[self.message(blocks)],
            usage=usage_of(self.usage),
            complete=self.stopped and not self.broken,
            timeline=timeline_of(self.ctx, n_chunks, self.deltas, latency_ms=(self.metrics or {}).get("latencyMs")),
            observations=self.obs,
        )


def usage_of(usage: Any) -> Usage:
    """Converse usage in llmtrace's terms (cache reads are the cached tokens)."""
    if not isinstance(usage, dict):
        return Usage()
    cached = as_int(usage.get("cacheReadInputTokens"))
    return Usage(
        input_tokens=as_int(usage.get("inputTokens")),
        output_tokens=as_int(usage.get("outputTokens")),
        total_tokens=as_int(usage.get("totalTokens")),
        cached_tokens=cached if cached is not None else as_int(usage.get("cacheReadInputTokenCount")),
    )


def timeline_of(ctx: FoldContext, n_chunks: int, deltas: list[Delta], *, latency_ms: Any = None,
                first_byte_ms: Any = None) -> Timeline:
    """The timeline: per-chunk times when the container recorded them, else Bedrock's reported
    latencies (``latencyMs`` / ``invocationLatency`` as the total, ``firstByteLatency``)."""
    durations = {}
    if type(latency_ms) in (int, float) and latency_ms > 0:
        durations["total_duration"] = latency_ms / 1000
    if type(first_byte_ms) in (int, float) and first_byte_ms > 0:
        durations["first_byte"] = first_byte_ms / 1000
    if ctx.chunk_times:
        timing = "har"
    else:
        timing = "durations" if durations else "none"
    return Timeline(chunks=n_chunks, deltas=deltas, times=ctx.chunk_times, timing=timing, durations=durations)


def fold(chunks: list, ctx: FoldContext) -> Result:
    state = ConverseFold(ctx)
    feed(state, chunks)
    return state.result(len(chunks))


def fold_body(body: Any, ctx: FoldContext) -> Result:
    """A non-streamed ``Converse`` response: the body is the response."""
    state = _BodyFold(ctx)
    feed_body(state, body)
    result = state.result(0)
    result.response = body
    return result


class _BodyFold(ConverseFold):
    """The whole response read through the same blocks as the stream."""

    def add(self, i: int, body: Any) -> None:
        body = as_dict(body, "response body", "")
        message = as_dict(as_dict(body.get("output"), "output", "").get("message"), "output.message", "")
        self.role = as_text(message.get("role"), "role", "")
        for n, item in enumerate(as_list(message.get("content"), "content", "")):
            self._content(i, n, as_dict(item, "content block", ""))
        self.stop_reason = as_text(body.get("stopReason"), "stopReason", "")
        self.stopped = self.stop_reason is not None
        self.metadata({k: v for k, v in body.items() if k in ("usage", "metrics", "trace")})

    def _content(self, i: int, n: int, item: dict) -> None:
        block = self.blocks[n] = _Block(n)
        for key, value in item.items():
            if key == "text":
                block.text = [as_text(value, "text", "") or ""]
            elif key == "toolUse":
                tool = as_dict(value, "toolUse", "")
                block.start["toolUse"] = {k: v for k, v in tool.items() if k != "input"}
                block.tool_input = [dump_arguments(tool["input"])] if tool.get("input") is not None else []
            elif key == "reasoningContent":
                reasoning = as_dict(value, "reasoningContent", "")
                text = as_dict(reasoning.get("reasoningText"), "reasoningText", "")
                if text:
                    block.reasoning = [as_text(text.get("text"), "reasoningText.text", "") or ""]
                if reasoning.get("redactedContent") is not None:
                    block.redacted = [str(reasoning["redactedContent"])]
            elif key == "citationsContent":
                cited = as_dict(value, "citationsContent", "")
                parts = as_list(cited.get("content"), "citationsContent.content", "")
                block.text = [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
                block.citations = as_list(cited.get("citations"), "citations", "")
            else:
                block.start[key] = value


CONTENT_TYPE = "application/vnd.amazon.eventstream"


def encode(chunk: Any) -> bytes:
    """One chunk on the wire (for ``serve``): an AWS event-stream frame with valid CRCs (a
    marker chunk for a bad or cut frame writes nothing)."""
    from llmtrace.containers.aws_eventstream import encode as frames

    return frames([chunk])


def wants_stream(path: str, body: Any) -> bool | None:
    """Decided by the operation in the path (Bedrock Runtime API: ``ConverseStream`` is
    ``/model/{id}/converse-stream``, ``Converse`` is ``/model/{id}/converse``)."""
    if path.endswith("/converse-stream"):
        return True
    return False if path.endswith("/converse") else None
