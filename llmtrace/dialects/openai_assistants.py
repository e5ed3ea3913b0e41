"""OpenAI Assistants API runs (``POST /v1/threads/{thread_id}/runs``, ``/v1/threads/runs``,
``.../runs/{run_id}/submit_tool_outputs`` with ``"stream": true``): the run's event stream
folded into the objects a client would hold once the run is over.

The stream is SSE, ``event: NAME`` + ``data: OBJECT``; the containers keep the data, so the
fold reads each event from its object (``object`` and ``status``):
- ``thread.created`` (``object: "thread"``, create-thread-and-run only): the thread;
- ``thread.run.created`` / ``.queued`` / ``.in_progress`` / ``.cancelling``: the run so far;
  the end states ``thread.run.completed``, ``.requires_action`` (the client must submit
  function outputs: the stream ends there), ``.incomplete``, ``.failed``, ``.cancelled``,
  ``.expired``;
- ``thread.run.step.created`` / ``.in_progress`` / ``.completed`` / ``.failed`` /
  ``.cancelled`` / ``.expired``: run steps (``message_creation`` or ``tool_calls``), and
  ``thread.run.step.delta``: ``delta.step_details.tool_calls[]`` keyed by ``index`` within
  the step — ``function`` (``id``, ``function.name``, ``function.arguments`` in fragments,
  ``function.output`` once answered), ``code_interpreter`` (``input`` in fragments,
  ``outputs[]`` keyed by ``index``: ``logs`` or ``image``), ``file_search``;
- ``thread.message.created`` / ``.in_progress`` / ``.completed`` / ``.incomplete``: messages,
  and ``thread.message.delta``: ``delta.content[]`` keyed by ``index`` — ``text``
  (``text.value`` in fragments, ``text.annotations[]`` keyed by ``index``), ``refusal``,
  ``image_file``, ``image_url``;
- ``error``: an error object (``{code, message, param, type}``, or ``{"error": {...}}``);
  ``done``: ``data: [DONE]``, read by the container as for OpenAI chat.
Objects of any other kind are kept (``unknown_events``), never an error.

Delta merge (the OpenAI SDK's rules, with fragments joined once at the end): strings append,
objects merge key by key, arrays of objects merge entry by entry on their ``index``, other
arrays extend; identity fields (``id``, ``type``, ``object``, ``role``, ``status``,
``file_id``) are never appended to — the first value stays (``type``: the last).

Reassembled output: what the client would fetch without streaming once the run is over,
``{"run", "steps", "messages"}`` — ``run``: the run object of the last run event (its
``status``, ``usage``, ``required_action``, ``last_error`` as sent); ``steps`` and
``messages``: in order of first appearance, each the object of its final event
(``thread.run.step.completed`` ..., ``thread.message.completed`` / ``.incomplete``) when it
arrived, else its last snapshot with the streamed deltas merged in (``index`` fields dropped,
as in the unstreamed shape). ``thread`` is added when the stream created one, ``errors`` for
error events, ``unknown_events`` for objects of unknown kind.

Normalized message (one choice): ``content`` = the ``text`` parts of the assistant messages,
joined (no separator: the timeline's deltas add up to it); ``refusal`` likewise;
``tool_calls`` = the ``function`` calls of the steps that have no ``output`` yet (calls
answered in an earlier request are kept in ``steps`` only; ``id`` is the call id the output is
submitted under), else those of the run's ``required_action``. ``code_interpreter`` and
``file_search`` ran on OpenAI's side: not client tool calls, kept in ``steps``; their input
fragments count as tool deltas on the timeline. ``finish_reason``: the run's end ``status``; for
an incomplete run its ``incomplete_details.reason`` (else that of an incomplete message);
``error`` for an ``error`` event that no end state followed. ``stop``: completed → ``stop``,
requires_action → ``tool_calls``, ``max_completion_tokens`` / ``max_prompt_tokens`` /
``max_tokens`` → ``length``, ``content_filter`` → ``content_filter``, failed / cancelled /
expired / error → ``error``. The stream is complete once an end state (or an ``error``
event) arrived. Usage: the run's ``usage`` (``prompt_tokens``, ``completion_tokens``,
``total_tokens``, ``prompt_token_details.cached_tokens``,
``completion_tokens_details.reasoning_tokens``); step usages are kept in the steps only.
``model`` and the id (``chunk_ids``) are the run's. A failed run's ``last_error`` and
``error`` events go to ``observations.stream_errors``.

Tool-call indices restart in every step; for the index checks each step's calls are numbered
on after the previous step's, so a gap inside a step still shows and a new step does not.

Non-streamed bodies: a run object (``object: "thread.run"``, from creating, polling or
cancelling a run) is a run without text — its messages are fetched separately — so the checks
that read text are skipped for it (``observations.skipped``). A message list (``object:
"list"`` of ``thread.message``), a single message, step or thread is stored data, not a
generation: those stay ``opaque`` (``sniff`` does not claim them).
"""

from __future__ import annotations

from typing import Any

import orjson

from llmtrace.dialects import (
    FoldContext,
    as_dict,
    as_list,
    as_text,
    dump_arguments,
    feed,
    first,
    parse_arguments,
    openai_chat,
    stop_of,
)
from llmtrace.errors import ShapeError
from llmtrace.model import Delta, Message, Observations, Result, Timeline, ToolCall, ToolEvent

NAMES = ("openai-assistants",)

RUN = "thread.run"
STEP = "thread.run.step"
MESSAGE = "thread.message"
STEP_DELTA = "thread.run.step.delta"
MESSAGE_DELTA = "thread.message.delta"
# What sniffing claims: a run, and the deltas only a run stream sends.
SNIFFED = frozenset((RUN, STEP_DELTA, MESSAGE_DELTA))

RUN_ENDS = frozenset(("completed", "requires_action", "incomplete", "failed", "cancelled", "expired"))
STEP_ENDS = frozenset(("completed", "failed", "cancelled", "expired"))
MESSAGE_ENDS = frozenset(("completed", "incomplete"))
STOPS = {"completed": "stop", "requires_action": "tool_calls", "max_completion_tokens": "length",
         "max_prompt_tokens": "length", "max_tokens": "length", "content_filter": "content_filter",
         "failed": "error", "cancelled": "error", "expired": "error", "error": "error"}
# A run's end states, the reasons an incomplete run or message gives, and ``error``.
FINISH_REASONS = frozenset(STOPS) | {"incomplete", "run_cancelled", "run_expired", "run_failed"}
# The checks that read the response's text: skipped for a run body, which holds none.
TEXT_CHECKS = ("tool-call-in-text", "reasoning-in-content", "leaked-control-tokens", "empty-response",
               "duplicated-content", "refusal")
# Fields that name or classify an object: never appended to when a delta repeats them (the first
# value stays; ``type`` and ``index``: the last).
_IDENTITY = frozenset(("id", "object", "role", "status", "file_id"))
_KEPT = _IDENTITY | {"type", "index"}


def sniff(payload: dict) -> str | None:
    obj = payload.get("object")
    if isinstance(obj, str) and obj in SNIFFED:
        return "openai-assistants"
    return None


# --- the delta merge ------------------------------------------------------------------------------


class _Text(list):
    """The fragments of one streamed string, joined once at the end."""


class _Items(dict):
    """An array whose entries merge on their ``index``; entries without one are kept in ``rest``."""

    def __init__(self) -> None:
        super().__init__()
        self.rest: list = []


def _grow(value: Any) -> Any:
    """``value`` in mergeable form (its own copy: deltas are never changed)."""
    if isinstance(value, str):
        return _Text((value,))
    if isinstance(value, dict):
        return {key: _grow(inner) if key not in _KEPT else inner for key, inner in value.items()}
    if isinstance(value, list):
        if all(isinstance(item, dict) for item in value):
            items = _Items()
            _add_items(items, value)
            return items
        return list(value)
    return value


def _add_items(items: _Items, entries: list) -> None:
    for entry in entries:
        index = entry.get("index") if isinstance(entry, dict) else None
        if type(index) is not int:
            items.rest.append(_grow(entry))
        elif index in items:
            _merge(items[index], entry)
        else:
            items[index] = _grow(entry)


def _merge(acc: dict, delta: dict) -> None:
    for key, value in delta.items():
        current = acc.get(key)
        if current is None or current == "":
            acc[key] = _grow(value) if key not in _KEPT else value
        elif value is None or key in _IDENTITY:
            continue
        elif key == "type" or key == "index":
            acc[key] = value
        elif isinstance(current, _Text) and isinstance(value, str):
            current.append(value)
        elif isinstance(current, _Items) and isinstance(value, list):
            _add_items(current, value)
        elif isinstance(current, dict) and isinstance(value, dict):
            _merge(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            current.extend(value)
        else:  # a value of another kind than before: the latest wins
            acc[key] = _grow(value)


def _finished(value: Any) -> Any:
    """A merged value back in plain JSON form (``index`` dropped from merged array entries)."""
    if isinstance(value, _Text):
        return "".join(value)
    if isinstance(value, _Items):
        out = [_finished(value[k]) for k in sorted(value)]
        for entry in out:
            if isinstance(entry, dict):
                entry.pop("index", None)
        return out + [_finished(v) for v in value.rest]
    if isinstance(value, dict):
        return {key: _finished(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_finished(inner) for inner in value]
    return value


# --- the fold ---------------------------------------------------------------------------------------


class _Object:
    """A step or message being streamed: its latest snapshot, the merged deltas, and its final
    copy once an end event arrives."""

    __slots__ = ("fields", "merged", "final", "base")

    def __init__(self, fields: dict):
        self.fields = fields
        self.merged: dict | None = None
        self.final: dict | None = None
        self.base = 0  # the step's first tool-call number (tool-index checks)

    def output(self, key: str) -> dict:
        """The final copy, else the snapshot with ``key`` (content, step_details) rebuilt."""
        if self.final is not None:
            return self.final
        if self.merged is None or key not in self.merged:
            return self.fields
        extra = {k: _finished(v) for k, v in self.merged.items() if k != key and k not in self.fields}
        return {**self.fields, **extra, key: _finished(self.merged[key])}


class AssistantsFold:
    """One pass over the run's events."""

    def __init__(self, ctx: FoldContext):
        self.ctx = ctx
        self.run: dict | None = None
        self.ended: str | None = None  # the end status, or "error"
        self.usage: dict | None = None
        self.model: str | None = None
        self.thread: dict | None = None
        self.steps: dict[str, _Object] = {}
        self.messages: dict[str, _Object] = {}
        self.errors: list = []
        self.unknown: list = []
        self.next_call = 0
        self.deltas: list[Delta] = []
        self.obs = Observations()

    def add(self, i: int, event: Any) -> None:
        if not isinstance(event, dict):
            raise ShapeError("event should be an object")
        obj = event.get("object")
        if obj == MESSAGE_DELTA:
            self._message_delta(i, event)
        elif obj == STEP_DELTA:
            self._step_delta(i, event)
        elif obj == RUN:
            self._run(i, event)
        elif obj == MESSAGE:
            self._snapshot(self.messages, event, MESSAGE_ENDS)
        elif obj == STEP:
            self._snapshot(self.steps, event, STEP_ENDS)
        elif obj == "thread":
            self.thread = event
        elif obj is None and (isinstance(event.get("error"), dict) or isinstance(event.get("message"), str)):
            self._error(i, event)
        else:
            self.unknown.append(event)

    def _object(self, table: dict[str, _Object], event: dict, kind: str) -> _Object:
        oid = event.get("id")
        key = oid if isinstance(oid, str) else ""
        found = table.get(key)
        if found is None:  # a delta for an object never announced: start it from the delta
            found = table[key] = _Object({"id": oid, "object": kind})
        return found

    def _snapshot(self, table: dict[str, _Object], event: dict, ends: frozenset) -> None:
        item = self._object(table, event, event["object"])
        item.fields = event
        if event.get("status") in ends:
            item.final = event

    def _message_delta(self, i: int, event: dict) -> None:
        message = self._object(self.messages, event, MESSAGE)
        delta = as_dict(event.get("delta"), "delta", "")
        if message.merged is None:
            message.merged = {"content": _Items()}
        for key, value in delta.items():
            if key != "content" and value is not None and message.merged.get(key) is None:
                message.merged[key] = value  # role and other fields: the first value
        for part in as_list(delta.get("content"), "delta.content", ""):
            part = as_dict(part, "content part", "")
            kind = part.get("type")
            if kind == "text":
                text = as_dict(part.get("text"), "text", "")
                value = as_text(text.get("value"), "text.value", "")
                if value:
                    self.deltas.append(Delta(i, 0, "content", value))
            elif kind == "refusal":
                value = as_text(part.get("refusal"), "refusal", "")
                if value:
                    self.deltas.append(Delta(i, 0, "refusal", value))
        _add_items(message.merged["content"], as_list(delta.get("content"), "delta.content", ""))

    def _step_delta(self, i: int, event: dict) -> None:
        step = self._object(self.steps, event, STEP)
        delta = as_dict(event.get("delta"), "delta", "")
        details = as_dict(delta.get("step_details"), "step_details", "")
        if step.merged is None:
            step.merged = {}
            step.base = self.next_call  # steps run one after another: numbered on from the last
        for n, call in enumerate(as_list(details.get("tool_calls"), "tool_calls", "")):
            self._call_delta(i, step, as_dict(call, f"tool_calls[{n}]", ""))
        _merge(step.merged, {"step_details": details})

    def _call_delta(self, i: int, step: _Object, call: dict) -> None:
        index = call.get("index")
        if index is not None and type(index) is not int:
            raise ShapeError("tool call index should be an integer")
        fn = as_dict(call.get("function"), "function", "")
        name = as_text(fn.get("name"), "function name", "")
        text = fn.get("arguments")
        text = dump_arguments(text) if text is not None else None
        if "code_interpreter" in call:
            text = as_text(as_dict(call.get("code_interpreter"), "code_interpreter", "").get("input"),
                           "code_interpreter.input", "")
        if text:
            self.deltas.append(Delta(i, 0, "tool", text))
        cid = call.get("id")
        if index is not None:
            number = step.base + index
            self.next_call = max(self.next_call, number + 1)
            if cid is not None or name:
                self.obs.tool_events.append(ToolEvent(i, 0, number, cid if isinstance(cid, str) else None,
                                                      name or None))

    def _run(self, i: int, run: dict) -> None:
        self.run = run
        rid = run.get("id")
        if isinstance(rid, str) and rid and rid not in self.obs.chunk_ids:
            self.obs.chunk_ids.append(rid)
        self.model = first(self.model, as_text(run.get("model"), "model", ""))
        if run.get("usage") is not None:
            self.usage = as_dict(run.get("usage"), "usage", "")
        status = run.get("status")
        if status in RUN_ENDS:
            self.ended = status
            self.obs.finish_chunks.setdefault(0, i)
            if status == "failed" and run.get("last_error") is not None:
                self.obs.stream_errors.append((i, run["last_error"]))

    def _error(self, i: int, event: dict) -> None:
        error = event["error"] if isinstance(event.get("error"), dict) else event
        self.errors.append(event)
        self.obs.stream_errors.append((i, error))
        if self.ended is None:
            self.ended = "error"
            self.obs.finish_chunks.setdefault(0, i)

    def response(self) -> dict:
        out: dict[str, Any] = {}
        if self.thread is not None:
            out["thread"] = self.thread
        out["run"] = self.run
        out["steps"] = [step.output("step_details") for step in self.steps.values()]
        out["messages"] = [message.output("content") for message in self.messages.values()]
        if self.errors:
            out["errors"] = self.errors
        if self.unknown:
            out["unknown_events"] = self.unknown
        return out

    def result(self, n_chunks: int) -> Result:
        response = self.response()
        message = message_of(self.run or {}, response["steps"], response["messages"], self.ended == "error")
        return Result(response=response, model=self.model, choices=[message], usage=usage_of(self.usage),
                      complete=self.ended is not None,
                      timeline=Timeline(chunks=n_chunks, deltas=self.deltas, times=self.ctx.chunk_times,
                                        timing="har" if self.ctx.chunk_times else "none"),
                      observations=self.obs)


def message_of(run: dict, steps: list, messages: list, ended_by_error: bool = False) -> Message:
    """The normalized message of a run, its steps and its messages (reassembled objects);
    ``ended_by_error``: an ``error`` event ended the stream before any end state."""
    content: list[str] = []
    refusal: list[str] = []
    has_text = False
    incomplete: str | None = None
    for n, message in enumerate(messages):
        where = f"messages[{n}]"
        message = as_dict(message, "message", where)
        if message.get("role") not in (None, "assistant"):
            continue
        details = message.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        incomplete = reason if isinstance(reason, str) and reason else incomplete
        for part in as_list(message.get("content"), "content", where):
            part = as_dict(part, "content part", where)
            if part.get("type") == "text":
                has_text = True
                text = as_dict(part.get("text"), "text", where)
                content.append(as_text(text.get("value"), "text.value", where) or "")
            elif part.get("type") == "refusal":
                refusal.append(as_text(part.get("refusal"), "refusal", where) or "")
    calls = _step_calls(steps) or _required_calls(run)
    finish = finish_reason_of(run, incomplete)
    if finish is None and ended_by_error:
        finish = "error"
    return Message(index=0, role="assistant", content="".join(content) if has_text else None,
                   refusal="".join(refusal) if refusal else None, tool_calls=calls, finish_reason=finish,
                   stop=stop_of(finish, STOPS))


def _tool_call(call: dict, where: str) -> ToolCall | None:
    """A ``function`` tool call awaiting its output as a ToolCall; None for any other."""
    if call.get("type") != "function":
        return None
    fn = as_dict(call.get("function"), "function", where)
    if fn.get("output") is not None:
        return None
    raw = fn.get("arguments")
    raw = "" if raw is None else dump_arguments(raw)
    cid = call.get("id")
    return ToolCall(id=cid if isinstance(cid, str) and cid else None,
                    name=as_text(fn.get("name"), "function name", where), arguments=raw,
                    parsed_arguments=parse_arguments(raw))


def _step_calls(steps: list) -> list[ToolCall]:
    out = []
    for n, step in enumerate(steps):
        where = f"steps[{n}]"
        details = as_dict(as_dict(step, "step", where).get("step_details"), "step_details", where)
        for call in as_list(details.get("tool_calls"), "tool_calls", where):
            found = _tool_call(as_dict(call, "tool call", where), where)
            if found is not None:
                out.append(found)
    return out


def _required_calls(run: dict) -> list[ToolCall]:
    where = "reassembled run"  # the run as its last event left it
    action = as_dict(run.get("required_action"), "required_action", where)
    submit = as_dict(action.get("submit_tool_outputs"), "submit_tool_outputs", where)
    out = []
    for call in as_list(submit.get("tool_calls"), "tool_calls", f"{where}.required_action"):
        found = _tool_call(as_dict(call, "tool call", f"{where}.required_action"), f"{where}.required_action")
        if found is not None:
            out.append(found)
    return out


def finish_reason_of(run: dict, incomplete: str | None = None) -> str | None:
    """The run's end ``status`` (None while it runs); for an incomplete run, its
    ``incomplete_details.reason``, else ``incomplete`` (an incomplete message's reason)."""
    status = run.get("status")
    if status == "incomplete":
        details = run.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        return reason if isinstance(reason, str) and reason else incomplete or status
    return status if status in RUN_ENDS else None


usage_of = openai_chat.usage_of  # a run's usage is Chat Completions usage


def fold(chunks: list, ctx: FoldContext) -> Result:
    state = AssistantsFold(ctx)
    feed(state, chunks)
    try:
        return state.result(len(chunks))
    except ShapeError as exc:
        raise ShapeError(exc.what, exc.where or "reassembled run") from None


def fold_body(body: Any, ctx: FoldContext) -> Result:
    """A run sent unstreamed: complete as it arrived (a queued run has no finish reason yet),
    without text; any other object is read as a one-event stream."""
    if not isinstance(body, dict):
        raise ShapeError("response body should be an object", "response body")
    if body.get("object") != RUN:
        return fold([body], ctx)
    try:
        message = message_of(body, [], [])
    except ShapeError as exc:
        raise ShapeError(exc.what, "response body") from None
    obs = Observations(skipped=list(TEXT_CHECKS))
    if body.get("status") == "failed" and body.get("last_error") is not None:
        obs.stream_errors.append((0, body["last_error"]))
    model = body.get("model")
    return Result(response=body, model=model if isinstance(model, str) and model else None, choices=[message],
                  usage=usage_of(body.get("usage")), complete=True, observations=obs)


# --- the wire format (for serve) -----------------------------------------------------------------

CONTENT_TYPE = "text/event-stream"
END = b"event: done\ndata: [DONE]\n\n"  # after the last object, when the recording had [DONE]
# Statuses whose event name is ambiguous, resolved to the event that lets a client (the OpenAI
# SDK's stream helpers) start its snapshot: a run is created queued and then sent queued again;
# a message and a step are created in_progress and then sent in_progress again.
_FIRST_EVENT = {RUN: "queued", STEP: "in_progress", MESSAGE: "in_progress"}


def event_name(chunk: Any) -> str | None:
    """The SSE event name of one recorded object: ``thread.run.<status>`` and likewise for steps
    and messages (the first state as ``.created``), the delta objects by their ``object``,
    ``thread.created``, ``error``; None for anything else."""
    if not isinstance(chunk, dict):
        return None
    obj = chunk.get("object")
    if obj in (RUN, STEP, MESSAGE):
        status = chunk.get("status")
        if not isinstance(status, str) or not status or "\n" in status:
            return None
        return f"{obj}.created" if status == _FIRST_EVENT[obj] else f"{obj}.{status}"
    if obj in (STEP_DELTA, MESSAGE_DELTA):
        return obj
    if obj == "thread":
        return "thread.created"
    if obj is None and (isinstance(chunk.get("error"), dict) or isinstance(chunk.get("message"), str)):
        return "error"
    if isinstance(obj, str) and obj.startswith("thread.") and "\n" not in obj:
        return obj
    return None


def encode(chunk: Any) -> bytes:
    """One object as the Assistants API streams it: ``event: NAME`` + ``data: JSON``. Recorded
    SSE text is served byte for byte instead wherever the recording kept it (``wire.stream``),
    so this only names events of recordings that kept the objects alone (JSON chunk files, HAR
    without text); there, ``thread.run.created`` / ``.queued``, ``thread.message.created`` /
    ``.in_progress`` and ``thread.run.step.created`` / ``.in_progress`` cannot be told apart
    (the same object, the same status) and are all sent as ``.created``."""
    data = orjson.dumps(chunk, option=orjson.OPT_NON_STR_KEYS)
    name = event_name(chunk)
    head = b"event: " + name.encode() + b"\n" if name else b""
    return head + b"data: " + data + b"\n\n"


def wants_stream(path: str, body: Any) -> bool | None:
    """The body's ``stream`` flag when it has one (API reference, Create run: ``stream``); absent,
    as recorded (unstreamed, a run answers its ``queued`` Run object, which a reassembled run —
    run, steps and messages — is not)."""
    flag = body.get("stream") if isinstance(body, dict) else None
    return flag if isinstance(flag, bool) else None
