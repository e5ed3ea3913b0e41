"""OpenAI Responses API (``/v1/responses``): the stream's events folded into the one
``response`` object the request returns unstreamed.

Events: ``response.created`` / ``.queued`` / ``.in_progress`` (the response so far),
``response.output_item.added`` / ``.done`` (output items keyed by ``output_index``),
``response.content_part.added``, ``response.output_text.delta``, ``response.refusal.delta``,
``response.function_call_arguments.delta``, ``response.custom_tool_call_input.delta``,
``response.reasoning_summary_part.added``, ``response.reasoning_summary_text.delta``,
``response.reasoning_text.delta``, the terminal ``response.completed`` / ``.incomplete`` /
``.failed``, and ``error``. Other events (``*.done`` repeats of text already streamed, tool
progress such as ``response.web_search_call.searching``) carry nothing to merge.

Reassembled output: the ``response`` of the terminal event, as sent (its ``output`` filled from
the finished items when the event leaves it out, as the SDK does); without a terminal event,
the last ``response`` snapshot with ``output`` rebuilt from the events — an item's
``output_item.done`` copy when it arrived, else its ``output_item.added`` fields with the
deltas joined into its parts, ``arguments`` (``input`` for custom tools) and summary.

Normalized message (one choice), from the output items: ``content`` = the text parts of the
message items joined, ``refusal`` = their refusal parts, ``reasoning`` = the reasoning items'
summary and reasoning text, ``tool_calls`` = the ``function_call`` and ``custom_tool_call``
items (``call_id`` as the id; a custom tool's ``input`` is its arguments, free text by design:
``observations.free_text_calls`` says so, so it is not judged as JSON); server-side tool calls
such as web search are not client tool calls and are not listed. ``finish_reason`` is the response ``status``, or for an
incomplete response its ``incomplete_details.reason``; ``stop``: completed → ``stop`` (or
``tool_calls`` when the output holds function calls), ``max_output_tokens`` → ``length``,
``content_filter`` → ``content_filter``, failed → ``error``. Usage: ``input_tokens``,
``output_tokens``, ``total_tokens``, ``input_tokens_details.cached_tokens``,
``output_tokens_details.reasoning_tokens``. The stream is complete when a terminal event
arrived; ``error`` events and the error of a failed response go to
``observations.stream_errors``.
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

NAMES = ("openai-responses",)


# Parameters matching counts as absent (https://platform.openai.com/docs/api-reference/responses/create):
# at their documented default, or ANY: never a change to the answer.
DEFAULTS = {
    "temperature": (1,),  # "Defaults to 1"
    "top_p": (1,),  # "Defaults to 1"
    "parallel_tool_calls": (True,),  # "Defaults to true"
    "truncation": ("disabled",),  # "Defaults to disabled"
    "background": (False,),  # "Defaults to false"
    "include": (None, []),  # nothing extra
    "text": ({"format": {"type": "text"}},),  # the default output format
    "store": ANY,  # "Defaults to true": kept for later retrieval, not the answer
    "metadata": ANY,
    "user": ANY,
    "safety_identifier": ANY,
    "prompt_cache_key": ANY,
    "service_tier": ANY,  # "Defaults to auto": latency and price, not content
}

TERMINAL = frozenset(("response.completed", "response.incomplete", "response.failed"))
SNAPSHOTS = frozenset(("response.created", "response.queued", "response.in_progress"))
# A response's end states, and with the reasons an incomplete response gives, its finish reasons.
END_STATES = frozenset(("completed", "incomplete", "failed", "cancelled"))
FINISH_REASONS = END_STATES | {"max_output_tokens", "max_messages", "content_filter", "steered"}
STOPS = {"completed": "stop", "max_output_tokens": "length", "content_filter": "content_filter",
         "failed": "error"}
# Delta events that append text to a part of an item: (timeline kind, the item's type and the
# part's type when the delta arrives before them, where the part index is).
_TEXT_DELTAS = {
    "response.output_text.delta": ("content", "message", "output_text", "content_index"),
    "response.refusal.delta": ("refusal", "message", "refusal", "content_index"),
    "response.reasoning_text.delta": ("reasoning", "reasoning", "reasoning_text", "content_index"),
    "response.reasoning_summary_text.delta": ("reasoning", "reasoning", "summary_text", "summary_index"),
}


def sniff(payload: dict) -> str | None:
    kind = payload.get("type")
    if isinstance(kind, str):
        # Realtime API events share these names but carry an event_id: they are websocket frames.
        if kind.startswith("response.") and "event_id" not in payload:
            return "openai-responses"
        return None
    if payload.get("object") == "response" and "output" in payload:
        return "openai-responses"
    return None


class _Item:
    """An output item being streamed: its added fields, text fragments per part, and its
    finished copy once ``output_item.done`` arrives."""

    __slots__ = ("fields", "parts", "summary", "args", "done")

    def __init__(self, fields: dict):
        self.fields = fields
        self.parts: dict[int, tuple[dict, list[str]]] = {}
        self.summary: dict[int, tuple[dict, list[str]]] = {}
        self.args: list[str] | None = None
        self.done: dict | None = None

    def rebuilt(self) -> dict:
        if self.done is not None:
            return self.done
        item = dict(self.fields)
        if self.parts:
            item["content"] = [_joined(part, texts, "refusal" if part.get("type") == "refusal" else "text")
                               for part, texts in (self.parts[k] for k in sorted(self.parts))]
        if self.summary:
            item["summary"] = [_joined(part, texts, "text") for part, texts in (self.summary[k] for k in sorted(self.summary))]
        if self.args is not None:
            item["input" if item.get("type") == "custom_tool_call" else "arguments"] = "".join(self.args)
        return item


def _joined(part: dict, texts: list[str], key: str) -> dict:
    if not texts:
        return part
    out = dict(part)
    out[key] = "".join(texts)
    return out


def _index(event: dict, key: str) -> int:
    value = event.get(key)
    if value is None:
        return 0
    if type(value) is not int:
        raise ShapeError(f"{key} should be an integer")
    return value


class ResponsesFold:
    """One pass over the events; text fragments are appended to lists and joined once."""

    def __init__(self, ctx: FoldContext):
        self.ctx = ctx
        self.snapshot: dict | None = None
        self.final: dict | None = None
        self.items: dict[int, _Item] = {}
        self.deltas: list[Delta] = []
        self.obs = Observations()

    def _item(self, event: dict, kind: str) -> _Item:
        index = _index(event, "output_index")
        item = self.items.get(index)
        if item is None:  # a delta for an item never announced: start it from the delta's kind
            item = self.items[index] = _Item({"id": event.get("item_id"), "type": kind})
        return item

    def add(self, i: int, event: Any) -> None:
        if not isinstance(event, dict):
            raise ShapeError("event should be an object")
        kind = event.get("type")
        text = _TEXT_DELTAS.get(kind)
        if text is not None:
            self._text(i, event, *text)
        elif kind == "response.function_call_arguments.delta" or kind == "response.custom_tool_call_input.delta":
            function = kind == "response.function_call_arguments.delta"
            item = self._item(event, "function_call" if function else "custom_tool_call")
            delta = as_text(event.get("delta"), "delta", "") or ""
            if item.args is None:
                item.args = []
            item.args.append(delta)
            if delta and function:
                self.deltas.append(Delta(i, 0, "tool", delta))
        elif kind == "response.output_item.added":
            self._added(i, event)
        elif kind == "response.output_item.done":
            self._item(event, "message").done = as_dict(event.get("item"), "item", "")
        elif kind == "response.content_part.added":
            self._part(self._item(event, "message").parts, _index(event, "content_index"), event)
        elif kind == "response.reasoning_summary_part.added":
            self._part(self._item(event, "reasoning").summary, _index(event, "summary_index"), event)
        elif kind in SNAPSHOTS or kind in TERMINAL:
            self._lifecycle(i, kind, as_dict(event.get("response"), "response", ""))
        elif kind == "error":
            self.obs.stream_errors.append((i, event))

    def _text(self, i: int, event: dict, kind: str, item_type: str, part_type: str, index_key: str) -> None:
        item = self._item(event, item_type)
        parts = item.summary if index_key == "summary_index" else item.parts
        index = _index(event, index_key)
        slot = parts.get(index)
        if slot is None:
            slot = parts[index] = ({"type": part_type}, [])
        text = as_text(event.get("delta"), "delta", "") or ""
        slot[1].append(text)
        if text:
            self.deltas.append(Delta(i, 0, kind, text))

    def _part(self, parts: dict, index: int, event: dict) -> None:
        part = as_dict(event.get("part"), "part", "")
        slot = parts.get(index)
        parts[index] = (part, slot[1] if slot is not None else [])

    def _added(self, i: int, event: dict) -> None:
        fields = as_dict(event.get("item"), "item", "")
        index = _index(event, "output_index")
        previous = self.items.get(index)
        item = self.items[index] = _Item(dict(fields))
        if previous is not None:  # deltas that came before their item was announced
            item.parts, item.summary, item.args = previous.parts, previous.summary, previous.args
        if fields.get("type") in ("function_call", "custom_tool_call"):
            self.obs.tool_events.append(ToolEvent(i, 0, None, fields.get("call_id") or None, fields.get("name") or None))

    def _lifecycle(self, i: int, kind: str, response: dict) -> None:
        rid = response.get("id")
        if isinstance(rid, str) and rid and rid not in self.obs.chunk_ids:
            self.obs.chunk_ids.append(rid)
        if kind in SNAPSHOTS:
            self.snapshot = response
            return
        self.final = response
        self.obs.finish_chunks.setdefault(0, i)
        if kind == "response.failed" and response.get("error") is not None:
            self.obs.stream_errors.append((i, response["error"]))

    def response(self) -> dict:
        final = self.final
        items = [self.items[k] for k in sorted(self.items)]
        if final is not None:
            if final.get("output") or (final.get("output") is not None and not items):
                return final
            # The event left the output out, or sent it empty after items streamed (OpenAI Live's
            # delegated responses): the items, finished as their events left them.
            return {**final, "output": [item.done if item.done is not None else item.rebuilt() for item in items]}
        base = self.snapshot if self.snapshot is not None else {"object": "response", "status": None}
        return {**base, "output": [item.rebuilt() for item in items]}

    def result(self, n_chunks: int) -> Result:
        response = self.response()
        result = result_of(response, complete=self.final is not None, observations=self.obs)
        result.timeline = Timeline(chunks=n_chunks, deltas=self.deltas, times=self.ctx.chunk_times,
                                   timing="har" if self.ctx.chunk_times else "none")
        return result


def result_of(response: dict, complete: bool, observations: Observations | None = None) -> Result:
    """The Result of a whole response object (streamed and reassembled, or sent unstreamed)."""
    model = response.get("model")
    message = message_of(response)
    observations = observations or Observations()
    for item in response.get("output") or ():  # custom tools take free text (message_of checked the shapes)
        if item.get("type") == "custom_tool_call":
            observations.free_text_calls.append(item.get("call_id") or item.get("id"))
    return Result(
        response=response,
        model=model if isinstance(model, str) and model else None,
        choices=[message],
        usage=usage_of(response.get("usage")),
        complete=complete,
        observations=observations,
    )


def message_of(response: dict) -> Message:
    """The normalized message of a response object, from its output items."""
    content: list[str] = []
    refusal: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    role = None
    has_text = False
    for n, item in enumerate(as_list(response.get("output"), "output", "response")):
        where = f"response.output[{n}]"
        item = as_dict(item, "output item", where)
        kind = item.get("type")
        if kind == "message":
            role = role or item.get("role")
            for part in as_list(item.get("content"), "content", where):
                part = as_dict(part, "content part", where)
                if part.get("type") == "refusal":
                    refusal.append(as_text(part.get("refusal"), "refusal", where) or "")
                elif "text" in part:
                    has_text = True
                    content.append(as_text(part.get("text"), "text", where) or "")
        elif kind == "reasoning":
            for key in ("summary", "content"):
                for part in as_list(item.get(key), key, where):
                    reasoning.append(as_text(as_dict(part, "reasoning part", where).get("text"), "text", where) or "")
        elif kind == "function_call":
            raw = item.get("arguments")
            raw = "" if raw is None else dump_arguments(raw)
            calls.append(ToolCall(id=item.get("call_id") or item.get("id"), name=item.get("name"),
                                  arguments=raw, parsed_arguments=parse_arguments(raw)))
        elif kind == "custom_tool_call":  # a custom tool's free-text input (GPT-5 freeform, grammar tools)
            raw = as_text(item.get("input"), "input", where) or ""
            calls.append(ToolCall(id=item.get("call_id") or item.get("id"), name=item.get("name"),
                                  arguments=raw, parsed_arguments=parse_arguments(raw)))
    finish = finish_reason_of(response)
    stop = stop_of(finish, STOPS)
    if stop == "stop" and calls:
        stop = "tool_calls"
    return Message(
        index=0,
        role=role if isinstance(role, str) and role else "assistant",
        content="".join(content) if has_text else None,
        reasoning="".join(reasoning) or None,
        refusal="".join(refusal) if refusal else None,
        tool_calls=calls,
        finish_reason=finish,
        stop=stop,
    )


def finish_reason_of(response: dict) -> str | None:
    """The response's end ``status`` (None while queued or in progress); for an incomplete
    response, its ``incomplete_details.reason``."""
    status = response.get("status")
    if status == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        return reason if isinstance(reason, str) and reason else status
    return status if status in END_STATES else None


def usage_of(usage: Any) -> Usage:
    if not isinstance(usage, dict):
        return Usage()
    # The Realtime API (``openai_realtime``) spells them ``input_token_details``.
    inputs = usage.get("input_tokens_details") or usage.get("input_token_details")
    outputs = usage.get("output_tokens_details") or usage.get("output_token_details")
    return Usage(
        input_tokens=as_int(usage.get("input_tokens")),
        output_tokens=as_int(usage.get("output_tokens")),
        total_tokens=as_int(usage.get("total_tokens")),
        cached_tokens=as_int(inputs.get("cached_tokens")) if isinstance(inputs, dict) else None,
        reasoning_tokens=as_int(outputs.get("reasoning_tokens")) if isinstance(outputs, dict) else None,
    )


def fold(chunks: list, ctx: FoldContext) -> Result:
    state = ResponsesFold(ctx)
    feed(state, chunks)
    try:
        return state.result(len(chunks))
    except ShapeError as exc:
        raise ShapeError(exc.what, exc.where or "reassembled response") from None


def fold_body(body: Any, ctx: FoldContext) -> Result:
    """A response sent unstreamed. It arrived whole, so it is complete even while ``queued`` or
    ``in_progress`` (background mode: the answer comes with a later GET); then its message has
    no finish reason."""
    if not isinstance(body, dict):
        raise ShapeError("response body should be an object", "response body")
    obs = Observations()
    if body.get("status") == "failed" and body.get("error") is not None:
        obs.stream_errors.append((0, body["error"]))
    return result_of(body, True, obs)


def wants_stream(path: str, body: Any) -> bool:
    """Streamed only when the body says ``"stream": true`` (API reference, Create a model response:
    ``stream`` defaults to false)."""
    return stream_requested(body)
