"""Amazon Bedrock InvokeModelWithResponseStream (``/model/{id}/invoke-with-response-stream``): a
stream of ``chunk`` events (AWS event-stream frames, ``{"chunk": {"bytes": BASE64}}``) whose
bytes hold the *model provider's own* streaming events, folded by that provider's rules into the
body ``InvokeModel`` returns unstreamed for that model.

Inner providers, recognized from the first event that has a known shape:

- ``anthropic`` (Claude 3 and later): Anthropic Messages events, folded by
  ``anthropic_messages`` into one ``message``;
- ``amazon-nova``: Converse-like events (``{messageStart}``, ``{contentBlockDelta}``, …), folded
  by ``bedrock_converse`` into ``{"output": {"message"}, "stopReason", "usage"}``;
- ``openai`` (gpt-oss and other OpenAI-compatible models): ``chat.completion.chunk`` events,
  folded by ``openai_chat`` into a ``chat.completion``;
- ``amazon-titan``: ``{outputText, index, totalOutputTextTokenCount, completionReason,
  inputTextTokenCount}`` → ``{"inputTextTokenCount", "results": [{"tokenCount", "outputText",
  "completionReason"}]}``;
- ``meta-llama``: ``{generation, prompt_token_count, generation_token_count, stop_reason}`` → the
  same keys, ``generation`` whole;
- ``cohere`` (Command): ``{text, is_finished, finish_reason}`` or ``{generations: [{text,
  finish_reason}]}`` → ``{"id", "generations": [{"id", "text", "finish_reason"}]}``;
- ``anthropic-completions`` (Claude v2): ``{completion, stop_reason, stop}``, folded by
  ``anthropic_completions`` into ``{"type": "completion", "completion", "stop_reason", "stop"}``;
- ``mistral``: ``{outputs: [{text, stop_reason}]}`` → ``{"outputs": [{"text", "stop_reason"}]}``.

Bedrock adds ``amazon-bedrock-invocationMetrics`` (``inputTokenCount``, ``outputTokenCount``,
``invocationLatency``, ``firstByteLatency``) to the last event: its counts are the usage where
the provider reported none, its latencies the server-reported times; it is not part of the
provider's body. ``amazon-bedrock-guardrailAction: INTERVENED`` is a guardrail intervention, kept
at the top of the reassembled body as ``InvokeModel`` returns it. A guardrail that masked text
leaves the model's own finish in place (then it is a content-filter result); one that blocked
the request or the answer ends the stream with its message (Titan: ``{"outputText": "Input
blocked", …}``) and no finish reason of the provider's: when the stream's last event says
``INTERVENED`` and carries the end of the stream (the invocation metrics, the guardrail trace, or
Titan's output token total), that event is the finish — finish reason ``INTERVENED``, stop
``content_filter``, the stream complete. Exceptions between the chunks are errors in the
stream; a stream whose frames broke off (a broken prelude, a cut frame) is not complete. Events
of no known shape stay in the chunks. ``inner_provider`` names the provider of a stream (for
``show``).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from llmtrace.containers.aws_eventstream import BAD_FRAME, CUT_OFF
from llmtrace.dialects import (
    FoldContext,
    anthropic_completions,
    anthropic_messages,
    as_dict,
    as_int,
    as_list,
    as_text,
    bedrock_converse,
    feed,
    openai_chat,
    stop_of,
)
from llmtrace.errors import ShapeError
from llmtrace.model import Delta, Message, Observations, Result, Usage

NAMES = ("bedrock-invoke",)
METRICS = "amazon-bedrock-invocationMetrics"
GUARDRAIL = "amazon-bedrock-guardrailAction"
TRACE = "amazon-bedrock-trace"
# The finish reason of a stream a guardrail ended (the guardrail action, as sent).
GUARDRAIL_FINISH = "INTERVENED"

_TITAN_STOPS = {"FINISH": "stop", "STOP_CRITERIA_MET": "stop", "LENGTH": "length", "CONTENT_FILTERED": "content_filter",
                "RAG_QUERY_WHEN_RAG_DISABLED": "stop"}
_LLAMA_STOPS = {"stop": "stop", "length": "length"}
_COHERE_STOPS = {"COMPLETE": "stop", "STOP_SEQUENCE": "stop", "MAX_TOKENS": "length", "ERROR": "error",
                 "ERROR_TOXIC": "content_filter", "ERROR_LIMIT": "length", "USER_CANCEL": "stop",
                 "TOOL_CALL": "tool_calls"}
_MISTRAL_STOPS = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "model_length": "length"}
# Every finish reason an inner provider defines (for the nonstandard-finish check).
FINISH_REASONS = frozenset(_TITAN_STOPS) | set(_LLAMA_STOPS) | set(_COHERE_STOPS) | set(anthropic_completions.STOPS) \
    | set(_MISTRAL_STOPS) | {GUARDRAIL_FINISH} | anthropic_messages.FINISH_REASONS | set(bedrock_converse.STOPS) \
    | {"stop", "length", "tool_calls", "content_filter", "function_call"}


def sniff(payload: dict) -> str | None:
    chunk = payload.get("chunk")
    if isinstance(chunk, dict) and "bytes" in chunk and len(payload) == 1:
        return "bedrock-invoke"
    return None


def decode_chunk(chunk: Any) -> Any:
    """The provider event a ``chunk`` carries: ``bytes`` is base64 (as the wire and most
    recorders have it), raw bytes, or the event itself (an SDK dump that decoded it)."""
    chunk = as_dict(chunk, "chunk", "")
    raw = chunk.get("bytes")
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            raw = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ShapeError(f"chunk.bytes is not base64 ({exc})") from None
    if not isinstance(raw, (bytes, bytearray)):
        raise ShapeError("chunk.bytes should be base64 text")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ShapeError(f"chunk.bytes does not hold JSON ({exc.msg})") from None


def provider_of(event: Any) -> str | None:
    """The model provider whose streaming event ``event`` is, or None when no known shape fits."""
    if not isinstance(event, dict):
        return None
    if anthropic_messages.sniff(event):
        return "anthropic"
    core = {k: v for k, v in event.items() if k != METRICS} if METRICS in event else event
    if core and bedrock_converse.sniff(core):
        return "amazon-nova"
    if openai_chat.sniff(event):
        return "openai"
    if "outputText" in event or "completionReason" in event:
        return "amazon-titan"
    if "generation" in event and ("generation_token_count" in event or "stop_reason" in event):
        return "meta-llama"
    if "generations" in event or "is_finished" in event:
        return "cohere"
    if "completion" in event and "stop_reason" in event:
        return "anthropic-completions"
    if isinstance(event.get("outputs"), list):
        return "mistral"
    return None


def inner_provider(chunks: list) -> str | None:
    """The provider of an InvokeModelWithResponseStream stream (from its first known event)."""
    for chunk in chunks:
        if isinstance(chunk, dict) and isinstance(chunk.get("chunk"), dict):
            try:
                found = provider_of(decode_chunk(chunk["chunk"]))
            except ShapeError:
                continue
            if found:
                return found
    return None


# --- the providers that stream plain text -----------------------------------------------------------


class _TextFold:
    """Titan, Llama, Cohere and Mistral: text fragments, a finish reason, token counts (running
    totals: the last reported wins), by choice index."""

    def __init__(self, ctx: FoldContext, provider: str):
        self.ctx = ctx
        self.provider = provider
        self.texts: dict[int, list[str]] = {}
        self.finish: dict[int, Any] = {}
        self.top: dict[str, Any] = {}
        self.deltas: list[Delta] = []
        self.obs = Observations()
        self.stops = {"amazon-titan": _TITAN_STOPS, "meta-llama": _LLAMA_STOPS, "cohere": _COHERE_STOPS,
                      "mistral": _MISTRAL_STOPS}.get(provider, {})

    def add(self, i: int, event: Any) -> None:
        event = as_dict(event, "event", "")
        getattr(self, "_" + self.provider.replace("-", "_"))(i, event)

    def _text(self, i: int, choice: int, text: Any, what: str) -> None:
        text = as_text(text, what, "")
        if text is None:
            return
        self.texts.setdefault(choice, []).append(text)
        if text:
            self.deltas.append(Delta(i, choice, "content", text))

    def _finish(self, i: int, choice: int, reason: Any) -> None:
        if reason is None:
            return
        if choice not in self.finish and choice not in self.obs.finish_chunks:
            self.obs.finish_chunks[choice] = i
        self.finish[choice] = reason

    def _count(self, key: str, value: Any, first: bool = False) -> None:
        if type(value) is float and value.is_integer():
            value = int(value)  # Titan writes its counts as 28.0
        if value is None or (first and self.top.get(key) is not None):
            return
        self.top[key] = value

    def _amazon_titan(self, i: int, event: dict) -> None:
        index = event.get("index") or 0
        index = int(index) if type(index) in (int, float) else 0
        self._text(i, index, event.get("outputText"), "outputText")
        self._finish(i, index, event.get("completionReason"))
        self._count("inputTextTokenCount", event.get("inputTextTokenCount"), first=True)
        self._count("totalOutputTextTokenCount", event.get("totalOutputTextTokenCount"))

    def _meta_llama(self, i: int, event: dict) -> None:
        self._text(i, 0, event.get("generation"), "generation")
        self._finish(i, 0, event.get("stop_reason"))
        self._count("prompt_token_count", event.get("prompt_token_count"), first=True)
        self._count("generation_token_count", event.get("generation_token_count"))

    def _cohere(self, i: int, event: dict) -> None:
        for key in ("id", "prompt"):
            if event.get(key) is not None and key not in self.top:
                self.top[key] = event[key]
        generations = event.get("generations")
        if generations is not None:
            for n, gen in enumerate(as_list(generations, "generations", "")):
                gen = as_dict(gen, "generation", "")
                index = gen.get("index") if type(gen.get("index")) is int else n
                self._text(i, index, gen.get("text"), "text")
                self._finish(i, index, gen.get("finish_reason"))
                if gen.get("id") is not None:
                    self.top.setdefault(f"id:{index}", gen["id"])
            return
        index = event.get("index") if type(event.get("index")) is int else 0
        if event.get("event_type") in (None, "text-generation") and not event.get("is_finished"):
            self._text(i, index, event.get("text"), "text")
        self._finish(i, index, event.get("finish_reason"))

    def _mistral(self, i: int, event: dict) -> None:
        for n, out in enumerate(as_list(event.get("outputs"), "outputs", "")):
            out = as_dict(out, "output", "")
            self._text(i, n, out.get("text"), "text")
            self._finish(i, n, out.get("stop_reason"))

    def choices(self) -> list[int]:
        return sorted(set(self.texts) | set(self.finish)) or [0]

    def result(self, n_chunks: int) -> Result:
        messages = []
        for index in self.choices():
            parts = self.texts.get(index)
            reason = self.finish.get(index)
            messages.append(Message(index=index, content="".join(parts) if parts is not None else None,
                                    finish_reason=reason, stop=stop_of(reason, self.stops)))
        return Result(response=self.response(messages), choices=messages, usage=self.usage(),
                      complete=all(m.finish_reason is not None for m in messages), observations=self.obs)

    def usage(self) -> Usage:
        top = self.top
        keys = {"amazon-titan": ("inputTextTokenCount", "totalOutputTextTokenCount"),
                "meta-llama": ("prompt_token_count", "generation_token_count")}.get(self.provider)
        if keys is None:
            return Usage()
        return Usage(input_tokens=as_int(top.get(keys[0])), output_tokens=as_int(top.get(keys[1])))

    def response(self, messages: list[Message]) -> dict:
        top = self.top
        if self.provider == "amazon-titan":
            return {"inputTextTokenCount": top.get("inputTextTokenCount"),
                    "results": [{"tokenCount": top.get("totalOutputTextTokenCount"), "outputText": m.content or "",
                                 "completionReason": m.finish_reason} for m in messages]}
        if self.provider == "meta-llama":
            m = messages[0]
            return {"generation": m.content or "", "prompt_token_count": top.get("prompt_token_count"),
                    "generation_token_count": top.get("generation_token_count"), "stop_reason": m.finish_reason}
        if self.provider == "cohere":
            out: dict[str, Any] = {"id": top.get("id")}
            generations = []
            for m in messages:
                gen = {"id": top.get(f"id:{m.index}"), "text": m.content or "", "finish_reason": m.finish_reason}
                if len(messages) > 1:
                    gen["index"] = m.index
                generations.append(gen)
            out["generations"] = generations
            if top.get("prompt") is not None:
                out["prompt"] = top["prompt"]
            return out
        return {"outputs": [{"text": m.content or "", "stop_reason": m.finish_reason} for m in messages]}


class _Unknown:
    """No event of a known shape: nothing to fold (the events stay in the chunks)."""

    def __init__(self, ctx: FoldContext):
        self.deltas: list[Delta] = []

    def result(self, n_chunks: int) -> Result:
        return Result(response={}, choices=[Message(index=0)], complete=False)


def _state(provider: str, ctx: FoldContext) -> Any:
    if provider == "anthropic":
        return anthropic_messages.MessagesFold(ctx)
    if provider == "amazon-nova":
        return bedrock_converse.ConverseFold(ctx)
    if provider == "openai":
        return openai_chat.ChatFold(ctx)
    if provider == "anthropic-completions":
        return anthropic_completions.CompletionFold(ctx)
    return _TextFold(ctx, provider)


# --- the stream -----------------------------------------------------------------------------------


class InvokeFold:
    """The outer stream: chunks decoded and handed to the inner provider's fold; Bedrock's own
    additions (invocation metrics, exceptions, broken frames) kept beside it."""

    def __init__(self, ctx: FoldContext):
        self.ctx = ctx
        self.provider: str | None = None
        self.state: Any = None
        self.metrics: dict[str, Any] | None = None
        self.errors: list[tuple[int, Any]] = []
        self.broken = False
        self.guardrail = False  # a guardrail intervened
        self.guardrail_end: int | None = None  # the chunk of the last event, when a guardrail ended the stream

    def add(self, i: int, chunk: Any) -> None:
        if not isinstance(chunk, dict):
            raise ShapeError("event should be an object")
        for key, value in chunk.items():
            if key == "chunk":
                self._inner(i, decode_chunk(value))
            elif key == BAD_FRAME:
                self.broken = self.broken or bool(isinstance(value, dict) and value.get("fatal"))
            elif key == CUT_OFF:
                self.broken = True
            elif bedrock_converse.is_error(key):
                error = dict(value) if isinstance(value, dict) else {"message": value}
                error.setdefault("type", key)
                self.errors.append((i, error))

    def _inner(self, i: int, event: Any) -> None:
        if not isinstance(event, dict):
            raise ShapeError("chunk.bytes should hold a JSON object")
        metrics = event.get(METRICS)
        if metrics is not None:
            self.metrics = as_dict(metrics, METRICS, "")
        intervened = event.get(GUARDRAIL) == "INTERVENED"
        self.guardrail = self.guardrail or intervened
        self.guardrail_end = i if intervened and _ends_stream(event) else None
        if self.state is None:
            self.provider = provider_of(event)
            if self.provider is None:
                return
            self.state = _state(self.provider, self.ctx)
        if self.provider in ("amazon-nova", "openai") and METRICS in event:
            event = {k: v for k, v in event.items() if k != METRICS}
        if self.provider == "openai" and not event:
            return
        self.state.add(i, event)

    def result(self, n_chunks: int) -> Result:
        state = self.state or _Unknown(self.ctx)
        result = state.result(n_chunks)
        metrics = self.metrics or {}
        usage = result.usage
        if usage.input_tokens is None:
            usage.input_tokens = as_int(metrics.get("inputTokenCount"))
        if usage.output_tokens is None:
            usage.output_tokens = as_int(metrics.get("outputTokenCount"))
        obs = result.observations
        if self.errors:
            obs.stream_errors = sorted(obs.stream_errors + self.errors, key=lambda item: item[0])
        if self.guardrail:
            self._guardrail(result)
        result.complete = result.complete and not self.broken
        result.timeline = bedrock_converse.timeline_of(self.ctx, n_chunks, state.deltas,
                                                       latency_ms=metrics.get("invocationLatency"),
                                                       first_byte_ms=metrics.get("firstByteLatency"))
        return result

    def _guardrail(self, result: Result) -> None:
        """A guardrail that ended the stream is its finish; one that let the model finish is a
        content-filter result."""
        if isinstance(result.response, dict):
            result.response[GUARDRAIL] = "INTERVENED"
        unfinished = [m for m in result.choices if m.finish_reason is None]
        if not unfinished or self.guardrail_end is None:
            result.observations.filter_results.append({"guardrail": {"filtered": True, "action": "INTERVENED"}})
            return
        for message in unfinished:
            message.finish_reason, message.stop = GUARDRAIL_FINISH, "content_filter"
            result.observations.finish_chunks.setdefault(message.index, self.guardrail_end)
        result.complete = True


def _ends_stream(event: dict) -> bool:
    """Whether an event carries what only the last event of a stream does: Bedrock's invocation
    metrics, its guardrail trace, Titan's output token total."""
    return METRICS in event or TRACE in event or "totalOutputTextTokenCount" in event


def fold(chunks: list, ctx: FoldContext) -> Result:
    state = InvokeFold(ctx)
    feed(state, chunks)
    return state.result(len(chunks))


def fold_body(body: Any, ctx: FoldContext) -> Result:
    """One event-stream ``chunk`` as the whole body (a stream recorded as one object)."""
    return fold([body], ctx)


def chunk_of(event: Any) -> dict:
    """A provider event wrapped as InvokeModelWithResponseStream sends it: ``{"chunk": {"bytes":
    BASE64}}``."""
    return {"chunk": {"bytes": base64.b64encode(orjson.dumps(event)).decode()}}


CONTENT_TYPE = "application/vnd.amazon.eventstream"


def encode(chunk: Any) -> bytes:
    """One chunk on the wire (for ``serve``): an AWS event-stream frame with valid CRCs (a
    marker chunk for a bad or cut frame writes nothing)."""
    from llmtrace.containers.aws_eventstream import encode as frames

    return frames([chunk])


def wants_stream(path: str, body: Any) -> bool | None:
    """Decided by the operation in the path (Bedrock Runtime API: ``InvokeModelWithResponseStream``
    is ``/model/{id}/invoke-with-response-stream``, ``InvokeModel`` is ``/model/{id}/invoke``)."""
    if path.endswith("/invoke-with-response-stream"):
        return True
    return False if path.endswith("/invoke") else None
