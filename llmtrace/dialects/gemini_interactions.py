"""Gemini Interactions API (``/v1beta/interactions``): the stream's events folded into the one
``interaction`` object the request returns unstreamed.

Two event vocabularies exist, both read:
- the launch one (the corpus): ``interaction.start`` (the interaction shell),
  ``interaction.status_update``, ``content.start`` / ``content.delta`` / ``content.stop``
  (output items keyed by ``index``), ``interaction.complete``; items go to ``outputs``;
- the step one (API revision 2026-05-20): ``interaction.created``, ``step.start`` /
  ``step.delta`` / ``step.stop``, ``interaction.completed``; items go to ``steps``, and text
  deltas go into the ``content`` of their ``model_output`` step;
and ``error`` events (to ``observations.stream_errors``) in both.

Merge rules: the interaction object is the one of the first event, updated field by field with
the non-null fields of the final event (``status``, ``usage``, timestamps); its ``outputs``
(or ``steps``) are rebuilt from the content events, keyed by ``index`` (the final event sends
them empty). Within an item, ``text`` deltas concatenate, ``thought_summary`` texts
concatenate into the thought's ``summary``, ``thought_signature`` is kept byte for byte,
``arguments_delta`` fragments join into the call's ``arguments`` (kept as the raw string when
not valid JSON); a whole ``function_call`` delta sets the call's ``id``, ``name`` and
``arguments``; other deltas set their fields.

Completeness: the stream is complete when the last status it reported (on the first event, a
``status_update`` or the final event) is terminal: ``completed``, ``requires_action``,
``incomplete``, ``failed`` or ``cancelled``. ``[DONE]`` alone does not make it complete: without
a terminal status there is no outcome to report. ``finish_reason`` is that terminal status.
"""

from __future__ import annotations

from typing import Any

from llmtrace.dialects import (
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

NAMES = ("gemini-interactions",)

_FIRST = frozenset(("interaction.start", "interaction.created"))
_FINAL = frozenset(("interaction.complete", "interaction.completed"))
_ITEM_START = frozenset(("content.start", "step.start"))
_ITEM_DELTA = frozenset(("content.delta", "step.delta"))
EVENTS = _FIRST | _FINAL | _ITEM_START | _ITEM_DELTA | {"content.stop", "step.stop", "interaction.status_update"}
TERMINAL = frozenset(("completed", "requires_action", "incomplete", "failed", "cancelled"))
STOPS = {"completed": "stop", "requires_action": "tool_calls", "incomplete": "length", "failed": "error"}
FINISH_REASONS = TERMINAL
_MEDIA = frozenset(("image", "audio", "document", "video"))


def sniff(payload: dict) -> str | None:
    if payload.get("event_type") in EVENTS or payload.get("object") == "interaction":
        return "gemini-interactions"
    return None


class _Text:
    """A text item being rebuilt: its first fields, text fragments and annotations."""

    __slots__ = ("fields", "parts", "annotations")

    def __init__(self, fields: dict):
        self.fields = fields
        self.parts: list[str] = []
        self.annotations: list | None = None

    def add(self, text: str, annotations: list) -> None:
        self.parts.append(text)
        if annotations:
            if self.annotations is None:
                self.annotations = []
            self.annotations.extend(annotations)

    def output(self) -> dict:
        out = dict(self.fields)
        base = out.get("text")
        out["text"] = (base if isinstance(base, str) else "") + "".join(self.parts)
        if self.annotations is not None:
            base = out.get("annotations")
            out["annotations"] = (base if isinstance(base, list) else []) + self.annotations
        return out


def _append_text(items: list, text: str, annotations: list) -> None:
    """Text into a list of content items: continue a trailing text item, or start one."""
    last = items[-1] if items else None
    if not isinstance(last, _Text):
        last = _Text({"type": "text"})
        items.append(last)
    last.add(text, annotations)


class _Item:
    """One output item (or step) being rebuilt."""

    __slots__ = ("index", "fields", "text", "content", "summary", "signature", "args")

    def __init__(self, index: int, fields: dict):
        self.index = index
        self.fields = fields
        self.text: _Text | None = None  # a text item's own text
        self.content: list | None = None  # a model_output step's content items
        self.summary: list | None = None  # a thought's summary items
        self.signature: list[str] | None = None
        self.args: list[str] | None = None

    def output(self) -> dict:
        out = self.text.output() if self.text is not None else dict(self.fields)
        for key, items in (("content", self.content), ("summary", self.summary)):
            if items is not None:
                base = out.get(key)
                out[key] = (base if isinstance(base, list) else []) + [
                    x.output() if isinstance(x, _Text) else x for x in items]
        if self.signature is not None:
            base = out.get("signature")
            out["signature"] = (base if isinstance(base, str) else "") + "".join(self.signature)
        if self.args is not None:
            raw = "".join(self.args)
            parsed = parse_arguments(raw)
            out["arguments"] = raw if parsed is None else parsed
        return out

    def raw_arguments(self) -> str | None:
        return "".join(self.args) if self.args is not None else None


class InteractionFold:
    """One pass over the events; text fragments are appended to lists and joined once."""

    def __init__(self, ctx: FoldContext):
        self.ctx = ctx
        self.top: dict[str, Any] = {}
        self.status: Any = None
        self.steps = False  # the step vocabulary (``steps``) rather than the launch one (``outputs``)
        self.items: dict[int, _Item] = {}
        self.final_items: Any = None
        self.deltas: list[Delta] = []
        self.obs = Observations()

    # -- per event ---------------------------------------------------------------------------

    def add(self, i: int, event: Any) -> None:
        if not isinstance(event, dict):
            raise ShapeError("event should be an object")
        kind = event.get("event_type")
        if kind in _ITEM_DELTA:
            self.steps = self.steps or kind == "step.delta"
            self._delta(i, self._item(event, None), as_dict(event.get("delta"), "delta", ""))
        elif kind in _ITEM_START:
            self.steps = self.steps or kind == "step.start"
            key = "step" if kind == "step.start" else "content"
            fields = as_dict(event.get(key), key, "")
            self._start(i, self._item(event, fields), fields)
        elif kind in _FIRST or kind in _FINAL:
            self.steps = self.steps or kind in ("interaction.created", "interaction.completed")
            self.interaction(as_dict(event.get("interaction"), "interaction", ""), final=kind in _FINAL)
        elif kind == "interaction.status_update":
            self._status(event.get("status"))
        elif kind == "error":
            self.obs.stream_errors.append((i, event.get("error")))
        # content.stop / step.stop carry nothing to merge; unknown events are skipped.

    def interaction(self, interaction: dict, final: bool = False) -> None:
        """The interaction object of the first or final event (or a non-streamed body)."""
        top = self.top
        for key, value in interaction.items():
            if key in ("outputs", "steps"):
                if value:
                    self.final_items = as_list(value, key, "")
                    self.steps = key == "steps"
                top.setdefault(key, None)
            elif value is not None or key not in top:
                if final or top.get(key) is None:
                    top[key] = value
        self._status(interaction.get("status"))
        iid = interaction.get("id")
        if isinstance(iid, str) and iid and iid not in self.obs.chunk_ids:
            self.obs.chunk_ids.append(iid)

    def _status(self, status: Any) -> None:
        if status is not None:
            self.status = as_text(status, "status", "")

    def _item(self, event: dict, fields: dict | None) -> _Item:
        index = event.get("index")
        if index is None:
            index = max(self.items) if self.items else 0
        elif type(index) is not int:
            raise ShapeError("index should be an integer")
        item = self.items.get(index)
        if item is None:
            item = self.items[index] = _Item(index, dict(fields) if fields is not None else {})
        return item

    def _start(self, i: int, item: _Item, fields: dict) -> None:
        for key, value in fields.items():
            if value is not None and item.fields.get(key) is None:
                item.fields[key] = value
        if fields.get("type") == "function_call":
            self.obs.tool_events.append(ToolEvent(i, 0, item.index, fields.get("id") or None, fields.get("name")))

    def _delta(self, i: int, item: _Item, delta: dict) -> None:
        dtype = delta.get("type")
        fields = item.fields
        if "type" not in fields:
            fields["type"] = _implied_type(dtype, self.steps)
        if dtype == "text":
            text = as_text(delta.get("text"), "text", "") or ""
            annotations = as_list(delta.get("annotations"), "annotations", "")
            if fields["type"] == "model_output":
                if item.content is None:
                    item.content = []
                _append_text(item.content, text, annotations)
            else:
                if item.text is None:
                    item.text = _Text(fields)
                item.text.add(text, annotations)
            if text:
                self.deltas.append(Delta(i, 0, "content", text))
        elif dtype == "thought_summary":
            content = as_dict(delta.get("content"), "thought summary content", "")
            if item.summary is None:
                item.summary = []
            text = content.get("text")
            if text is not None:
                text = as_text(text, "thought summary text", "")
                _append_text(item.summary, text, as_list(content.get("annotations"), "annotations", ""))
                if text:
                    self.deltas.append(Delta(i, 0, "reasoning", text))
            elif content:
                item.summary.append(content)
        elif dtype == "thought_signature":
            signature = as_text(delta.get("signature"), "signature", "")
            if signature is not None:
                if item.signature is None:
                    item.signature = []
                item.signature.append(signature)
        elif dtype == "arguments_delta":
            fragment = as_text(delta.get("partial_arguments"), "partial_arguments", "")
            if fragment is not None:
                if item.args is None:
                    item.args = []
                item.args.append(fragment)
                if fragment:
                    self.deltas.append(Delta(i, 0, "tool", fragment))
        elif dtype == "text_annotation_delta":
            annotations = as_list(delta.get("annotations"), "annotations", "")
            target = item.content[-1] if item.content else item.text
            if isinstance(target, _Text):
                target.add("", annotations)
        elif dtype in _MEDIA and fields["type"] == "model_output":
            if item.content is None:
                item.content = []
            item.content.append(dict(delta))
        else:
            for key, value in delta.items():
                if key != "type" and value is not None:
                    fields[key] = value
            if dtype == "function_call":
                args = fields.get("arguments")
                as_dict(args, "function_call arguments", "")
                self.obs.tool_events.append(ToolEvent(i, 0, item.index, delta.get("id") or None, delta.get("name")))
                if args is not None:
                    self.deltas.append(Delta(i, 0, "tool", dump_arguments(args)))

    # -- result ------------------------------------------------------------------------------

    def result(self, n_chunks: int, response: Any = None) -> Result:
        items = [self.items[k] for k in sorted(self.items)]
        if items:
            built = [item.output() for item in items]
            raws = [item.raw_arguments() for item in items]
        else:
            built = self.final_items or []
            raws = [None] * len(built)
        if response is None:
            response = self._response(built)
        terminal = self.status in TERMINAL
        model = self.top.get("model") or self.top.get("agent")
        return Result(
            response=response,
            model=model if isinstance(model, str) else None,
            choices=[_message(built, raws, self.status if terminal else None)],
            usage=usage_of(self.top.get("usage")),
            complete=terminal,
            timeline=Timeline(chunks=n_chunks, deltas=self.deltas, times=self.ctx.chunk_times,
                              timing="har" if self.ctx.chunk_times else "none"),
            observations=self.obs,
        )


    def _response(self, built: list) -> dict:
        """The interaction with its rebuilt items, placed after ``status`` as the API does."""
        key = "steps" if self.steps else "outputs"
        out: dict[str, Any] = {}
        for name, value in self.top.items():
            out[name] = value
            if name == "status" and key not in self.top:
                out[key] = None
        out[key] = built
        if self.status is not None:
            out["status"] = self.status
        return out


def _implied_type(dtype: Any, steps: bool) -> Any:
    """The type of an item whose start never arrived, from its first delta."""
    if dtype == "text":
        return "model_output" if steps else "text"
    if dtype in ("thought_summary", "thought_signature"):
        return "thought"
    if dtype == "arguments_delta":
        return "function_call"
    return dtype


def _message(items: list, raws: list[str | None], finish: str | None) -> Message:
    """The normalized message of rebuilt (or recorded) ``outputs`` / ``steps``."""
    content: list[str] | None = None
    reasoning: list[str] | None = None
    calls: list[ToolCall] = []
    for item, raw in zip(items, raws):
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "text" or kind == "model_output":
            texts = [item] if kind == "text" else [c for c in as_list(item.get("content"), "content", "")
                                                   if isinstance(c, dict) and c.get("type") == "text"]
            if content is None:
                content = []
            content.extend(t.get("text") or "" for t in texts)
        elif kind == "thought":
            for part in as_list(item.get("summary"), "summary", ""):
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    if reasoning is None:
                        reasoning = []
                    reasoning.append(part["text"])
        elif kind == "function_call":
            if raw is None:
                args = item.get("arguments")
                raw = dump_arguments(args) if args is not None else ""
            calls.append(ToolCall(id=item.get("id") or None, name=item.get("name"), arguments=raw,
                                  parsed_arguments=parse_arguments(raw)))
    return Message(
        index=0,
        role="assistant",  # neutral; the provider JSON keeps the role as sent
        content="".join(content) if content is not None else None,
        reasoning="".join(reasoning) if reasoning is not None else None,
        tool_calls=calls,
        finish_reason=finish,
        stop=stop_of(finish, STOPS),
    )


def usage_of(usage: Any) -> Usage:
    """Interactions usage in llmtrace's terms (snake_case as sent; the SDK's camelCase too)."""
    if not isinstance(usage, dict):
        return Usage()

    def count(snake: str, camel: str) -> int | None:
        value = usage.get(snake)
        return as_int(usage.get(camel) if value is None else value)

    return Usage(
        input_tokens=count("total_input_tokens", "totalInputTokens"),
        output_tokens=count("total_output_tokens", "totalOutputTokens"),
        total_tokens=count("total_tokens", "totalTokens"),
        cached_tokens=count("total_cached_tokens", "totalCachedTokens"),
        reasoning_tokens=count("total_thought_tokens", "totalThoughtTokens"),
    )


def fold(chunks: list, ctx: FoldContext) -> Result:
    state = InteractionFold(ctx)
    feed(state, chunks)
    try:
        return state.result(len(chunks))
    except ShapeError as exc:  # outputs the final event sent, when no content events arrived
        raise ShapeError(exc.what, "the final event's outputs") from None


def fold_body(body: Any, ctx: FoldContext) -> Result:
    state = InteractionFold(ctx)
    try:
        if not isinstance(body, dict):
            raise ShapeError("response body should be an object")
        state.interaction(body, final=True)
        result = state.result(0, response=body)
    except ShapeError as exc:
        raise ShapeError(exc.what, "response body") from None
    return result


def wants_stream(path: str, body: Any) -> bool:
    """Streamed only when the body says ``"stream": true`` (Interactions API reference)."""
    return stream_requested(body)
