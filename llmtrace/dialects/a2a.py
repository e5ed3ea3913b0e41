"""A2A (Agent2Agent protocol, v0.3 JSON-RPC binding): one agent asking another, recorded by the
calling side — ``message/stream`` answered with server-sent events, ``message/send`` and
``tasks/get`` answered with one JSON-RPC response.

Every event is a JSON-RPC response ``{"jsonrpc": "2.0", "id", "result": {...}}`` whose ``result``
says what it is by ``kind``:
- ``task``: the Task object (``id``, ``contextId``, ``status``, ``artifacts``, ``history``);
- ``status-update``: the task's new ``status`` (``state``: submitted, working, input-required,
  auth-required, completed, failed, canceled, rejected, unknown; an optional ``message`` from the
  agent) and ``final: true`` on the last update of the stream;
- ``artifact-update``: an ``artifact`` (``artifactId``, ``parts``) that is new or replaces the one
  with its id, or — with ``append: true`` — whose parts extend it (``lastChunk`` marks its last
  piece);
- ``message``: a Message (``role`` user | agent, ``parts``); an agent that answers without a task
  sends exactly one and closes the stream.
A call that fails is a JSON-RPC error ``{"jsonrpc", "id", "error": {"code", "message", "data"}}``.
Parts are ``{"kind": "text", "text"}``, ``{"kind": "file", "file"}``, ``{"kind": "data", "data"}``.

A2A 1.0 (JSON-RPC methods ``SendStreamingMessage``, ``SendMessage``, ``GetTask``, …) says what a
result is by its one key instead — ``{"task"}``, ``{"message"}``, ``{"statusUpdate"}``,
``{"artifactUpdate"}`` (``GetTask`` answers with the bare Task) — spells states and roles
``TASK_STATE_COMPLETED`` and ``ROLE_AGENT``, parts without ``kind`` (``{"text"}``, ``{"data"}``,
``{"url"}``, ``{"raw"}``), and drops ``final``. Both are read; finish reasons stay as sent.

Which text is the response: A2A delivers a task's results as artifacts, and uses status messages
for what the agent says about the task (progress notes, a question when it needs input, the
answer itself when an agent puts it there, as crewAI's agents do). So the content is the text of
the artifacts (text parts in order, artifacts in the order they first came, a replaced artifact's
earlier text dropped; pieces are joined as sent, without separators, like every other dialect),
and when the artifacts hold no text, the text of the latest message the agent sent (in a status,
or as a Message). File and data parts are no text: they are kept in the reassembled task only.

The finish reason is the task state the stream ended in: that of the ``final: true`` update or of a
terminal or interrupted state (A2A 1.0 drops ``final``; its streams end on those states) —
completed (stop), input-required and auth-required (stop: the agent's turn ended, awaiting the
caller), failed, rejected, canceled (error); a JSON-RPC error is finish ``error``. A Message answer
is complete with no finish reason (the protocol has none for it). A2A reports no tokens: the usage
checks are skipped, not failed. No model either (the agent is the URL the call went to).

Reassembled as the unstreamed answer — the JSON-RPC response ``message/send`` or ``tasks/get``
would give: ``{"jsonrpc", "id", "result": Task}`` with the final ``status``, the ``artifacts``
assembled, and the ``history`` an A2A server keeps (the request's message, then each status
message a later status replaced); or ``result`` the Message of a message answer; ``error`` when
the call failed. Events of an unknown kind are kept under ``unknown_events``. For A2A 1.0 the
Task carries no ``kind`` and a message answer is ``{"message": Message}``, as 1.0 sends them.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmtrace.dialects import FoldContext, as_dict, as_list, as_text, feed, feed_body
from llmtrace.errors import ShapeError
from llmtrace.model import Delta, Message, NormalizedRequest, Observations, RequestMessage, Result, Timeline, Usage

NAMES = ("a2a",)

KINDS = frozenset(("task", "status-update", "artifact-update", "message"))
TERMINAL = frozenset(("completed", "failed", "canceled", "rejected"))
INTERRUPTED = frozenset(("input-required", "auth-required"))
STOPS = {"completed": "stop", "input-required": "stop", "auth-required": "stop",
         "failed": "error", "rejected": "error", "canceled": "error", "error": "error"}
# A2A 1.0's spelling of the same states (``TASK_STATE_INPUT_REQUIRED``; early drafts: CANCELLED).
V1_STATES = {"TASK_STATE_" + state.upper().replace("-", "_"): state
             for state in ("submitted", "working", *TERMINAL, *INTERRUPTED)}
V1_STATES["TASK_STATE_CANCELLED"] = "canceled"
FINISH_REASONS = frozenset(STOPS) | frozenset(k for k, v in V1_STATES.items() if v in STOPS)
# The JSON-RPC methods whose answer is a task or a message (the others manage push settings).
METHODS = frozenset(("message/send", "message/stream", "tasks/get", "tasks/resubscribe", "tasks/cancel",
                     "SendMessage", "SendStreamingMessage", "GetTask", "SubscribeToTask", "CancelTask"))
# A2A 1.0: the one key a result is wrapped in → the event it is.
WRAPPED = {"task": "task", "message": "message", "statusUpdate": "status-update", "artifactUpdate": "artifact-update"}
_REQUIRED = {"task": "id", "message": "parts", "statusUpdate": "status", "artifactUpdate": "artifact"}
AGENT_ROLES = ("agent", "ROLE_AGENT", None)
# A2A has no token counts: these checks have nothing to judge.
NO_USAGE = ("usage-missing", "usage-inconsistent")


def sniff(payload: dict) -> str | None:
    result = payload.get("result")
    if "jsonrpc" in payload and isinstance(result, dict) and event_of(result)[0] is not None:
        return "a2a"
    return None


def event_of(result: dict) -> tuple[str | None, Any, bool]:
    """(kind, the event's object, whether it is A2A 1.0's spelling) of a JSON-RPC ``result``;
    kind None when it is none of A2A's."""
    kind = result.get("kind")
    if isinstance(kind, str) and kind in KINDS:
        return kind, result, False
    if len(result) == 1:
        key, inner = next(iter(result.items()))
        if key in WRAPPED and isinstance(inner, dict) and _REQUIRED[key] in inner:
            return WRAPPED[key], inner, True
    status = result.get("status")
    if isinstance(status, dict) and isinstance(status.get("state"), str) and status["state"] in V1_STATES \
            and "id" in result:
        return "task", result, True  # 1.0's GetTask: the bare Task
    return None, result, False


def plain_state(state: Any) -> Any:
    """A state in A2A 0.3's words (``TASK_STATE_INPUT_REQUIRED`` → ``input-required``)."""
    return V1_STATES.get(state, state) if isinstance(state, str) else state


def is_request(body: Any) -> bool:
    """A JSON-RPC request for an A2A method (how a call answered only by an error is known)."""
    return isinstance(body, dict) and "jsonrpc" in body and isinstance(body.get("method"), str) \
        and body["method"] in METHODS


def text_of_parts(parts: list) -> str | None:
    """The text parts of a message or artifact, joined as sent; None when there is none."""
    texts = [p["text"] for p in parts if isinstance(p, dict) and _is_text(p)]
    return "".join(texts) if texts else None


def _is_text(part: dict) -> bool:
    return isinstance(part.get("text"), str) and part.get("kind", part.get("type", "text")) == "text"


class A2AFold:
    """One pass over the JSON-RPC events: the task as the server keeps it, and the agent's text."""

    def __init__(self, ctx: FoldContext):
        self.ctx = ctx
        self.rpc_id: Any = None
        self.task_id: Any = None
        self.context_id: Any = None
        self.task_seen = False  # a task, status or artifact event came (not a lone message)
        self.status: dict | None = None
        self.metadata: Any = None
        self.history: list | None = None  # None until a task event gives one
        self.moved: list = []  # status messages a later status replaced (into the history)
        self.artifacts: dict[Any, dict] = {}
        self.artifact_deltas: dict[Any, list[Delta]] = {}
        self.messages: list = []  # Message events
        self.agent_text: tuple[str, Delta] | None = None  # the latest agent message's text
        self.finish: str | None = None
        self.final = False
        self.error: Any = None
        self.unknown: list = []
        self.v1 = False  # A2A 1.0 spelling seen
        self.obs = Observations(skipped=list(NO_USAGE))

    def add(self, i: int, event: Any) -> None:
        if not isinstance(event, dict):
            raise ShapeError("event should be an object")
        if self.rpc_id is None:
            self.rpc_id = event.get("id")
        rpc_id = event.get("id")
        if isinstance(rpc_id, str) and rpc_id and rpc_id not in self.obs.chunk_ids:
            self.obs.chunk_ids.append(rpc_id)  # every event answers the one request: one id
        if event.get("error") is not None:
            self.error = event["error"]
            self.obs.stream_errors.append((i, self.error))
            self._finished(i, "error")
            return
        kind, result, v1 = event_of(event["result"]) if isinstance(event.get("result"), dict) else (None, None, False)
        self.v1 = self.v1 or v1
        if kind == "task":
            self._task(i, result)
        elif kind == "status-update":
            self._ids(result, "taskId")
            self._status(i, result.get("status"), result.get("final") is True)
        elif kind == "artifact-update":
            self._ids(result, "taskId")
            self._artifact(i, as_dict(result.get("artifact"), "artifact", "result"), result.get("append") is True)
        elif kind == "message":
            self.messages.append(result)
            self._agent_message(i, result)
        else:
            self.unknown.append(event)

    def _ids(self, result: dict, task_key: str) -> None:
        self.task_seen = True
        if self.task_id is None:
            self.task_id = result.get(task_key)
        if self.context_id is None:
            self.context_id = result.get("contextId")

    def _task(self, i: int, task: dict) -> None:
        self._ids(task, "id")
        if task.get("metadata") is not None:
            self.metadata = task["metadata"]
        if task.get("history") is not None:
            self.history = list(as_list(task["history"], "history", "result"))
            self.moved = []
        for artifact in as_list(task.get("artifacts"), "artifacts", "result"):
            self._artifact(i, as_dict(artifact, "artifact", "result.artifacts"), False)
        if task.get("status") is not None:
            self._status(i, task["status"], False, moves=False)

    def _status(self, i: int, status: Any, final: bool, moves: bool = True) -> None:
        status = as_dict(status, "status", "result")
        state = as_text(status.get("state"), "status.state", "result")
        previous = self.status.get("message") if self.status else None
        if moves and isinstance(previous, dict) and previous is not status.get("message"):
            self.moved.append(previous)  # an A2A server keeps a replaced status message in the history
        self.status = status
        message = status.get("message")
        if message is not None:
            self._agent_message(i, as_dict(message, "status.message", "result"))
        if final or plain_state(state) in TERMINAL or plain_state(state) in INTERRUPTED:
            self.final = True
            self._finished(i, state)

    def _finished(self, i: int, reason: str | None) -> None:
        self.finish = reason
        self.obs.finish_chunks[0] = i

    def _agent_message(self, i: int, message: dict) -> None:
        if message.get("role") not in AGENT_ROLES:
            return
        text = text_of_parts(as_list(message.get("parts"), "parts", "message"))
        if text:
            self.agent_text = (text, Delta(i, 0, "content", text))

    def _artifact(self, i: int, artifact: dict, append: bool) -> None:
        key = artifact.get("artifactId", artifact.get("index"))
        parts = as_list(artifact.get("parts"), "artifact.parts", "result")
        pieces = [Delta(i, 0, "content", p["text"]) for p in parts if isinstance(p, dict) and _is_text(p) and p["text"]]
        kept = self.artifacts.get(key)
        if append and kept is not None:
            kept["parts"] = kept["parts"] + parts
            self.artifact_deltas[key].extend(pieces)
            return
        # New, or replacing the one with its id (an append to an artifact never started is kept
        # as a new one: its text arrived, whatever the server made of it).
        self.artifacts[key] = {**artifact, "parts": list(parts)}
        self.artifact_deltas[key] = pieces

    def task(self) -> dict:
        """The Task as ``tasks/get`` returns it at the end of the stream."""
        task: dict[str, Any] = {"id": self.task_id, "contextId": self.context_id}
        if self.status is not None:
            task["status"] = self.status
        if self.artifacts:
            task["artifacts"] = list(self.artifacts.values())
        history = self.history if self.history is not None else self._request_history()
        history = history + self.moved
        if history:
            task["history"] = history
        if not self.v1:
            task["kind"] = "task"
        if self.metadata is not None:
            task["metadata"] = self.metadata
        return task

    def _request_history(self) -> list:
        """The request's message, as the server stores it when the stream began without a task."""
        body = self.ctx.request_body
        params = body.get("params") if isinstance(body, dict) else None
        message = params.get("message") if isinstance(params, dict) else None
        if not isinstance(message, dict):
            return []
        stored = dict(message)
        for key, value in (("contextId", self.context_id), ("taskId", self.task_id)):
            if value is not None and key not in stored:
                stored[key] = value
        return [stored]

    def content(self) -> tuple[str | None, list[Delta]]:
        deltas = [d for pieces in self.artifact_deltas.values() for d in pieces]
        if deltas:
            return "".join(d.text for d in deltas), sorted(deltas, key=lambda d: d.chunk)
        if self.agent_text is not None:
            return self.agent_text[0], [self.agent_text[1]]
        return None, []

    def response(self) -> dict:
        out: dict[str, Any] = {"jsonrpc": "2.0", "id": self.rpc_id}
        if self.task_seen:
            out["result"] = self.task()
        elif self.messages:
            out["result"] = {"message": self.messages[-1]} if self.v1 else self.messages[-1]
        if self.error is not None:
            out["error"] = self.error
        if self.unknown:
            out["unknown_events"] = self.unknown
        return out

    def result(self, n_chunks: int) -> Result:
        content, deltas = self.content()
        answered = bool(self.messages) and not self.task_seen  # a Message answer: complete as it is
        finish = self.finish
        message = Message(index=0, role="assistant", content=content, finish_reason=finish,
                          stop=STOPS.get(plain_state(finish)) if finish else None)
        return Result(response=self.response(), choices=[message], usage=Usage(),
                      complete=self.final or self.error is not None or answered,
                      timeline=Timeline(chunks=n_chunks, deltas=deltas, times=self.ctx.chunk_times,
                                        timing="har" if self.ctx.chunk_times else "none"),
                      observations=self.obs)


def fold(chunks: list, ctx: FoldContext) -> Result:
    state = A2AFold(ctx)
    feed(state, chunks)
    return state.result(len(chunks))


def fold_body(body: Any, ctx: FoldContext) -> Result:
    """A ``message/send`` or ``tasks/get`` answer: a Task, a Message, or a JSON-RPC error. A task
    still running (a non-blocking send, a poll) is a snapshot, not a broken stream: ``no-finish``
    is skipped for it."""
    state = A2AFold(ctx)
    feed_body(state, body)
    result = state.result(0)
    result.response = body
    result.timeline = Timeline()
    if not result.complete:
        result.observations.skipped.append("no-finish")
    return result


CONTENT_TYPE = "text/event-stream"


def encode(chunk: Any) -> bytes:
    """One event as an A2A server sends it: ``data: {jsonrpc response}`` and a blank line."""
    return b"data: " + orjson.dumps(chunk, option=orjson.OPT_NON_STR_KEYS) + b"\n\n"


# --- the request ------------------------------------------------------------------------------


def normalize_request(body: dict, model: str | None = None) -> NormalizedRequest:
    """The JSON-RPC request in neutral terms: ``params.message`` as the one message (its role as
    sent), the method and ``params.configuration`` (``historyLength`` of a poll) as parameters.
    Ids (request, message, task) differ on every run and are left out."""
    params = body.get("params") if isinstance(body.get("params"), dict) else {}
    messages = []
    message = params.get("message")
    if isinstance(message, dict):
        parts = message.get("parts") if isinstance(message.get("parts"), list) else []
        messages.append(RequestMessage(role=str(message.get("role") or "user"),
                                       content="".join(_request_part(p) for p in parts)))
    out: dict[str, Any] = {}
    if isinstance(body.get("method"), str):
        out["method"] = body["method"]
    if isinstance(params.get("configuration"), dict):
        out.update(params["configuration"])
    if "historyLength" in params:
        out["historyLength"] = params["historyLength"]
    return NormalizedRequest(model=model, messages=messages, params=out)


def _request_part(part: Any) -> str:
    if not isinstance(part, dict):
        return ""
    if _is_text(part):
        return part["text"]
    kind = part.get("kind", part.get("type"))
    if kind == "data" or (kind is None and "data" in part):
        return orjson.dumps(part.get("data"), option=orjson.OPT_NON_STR_KEYS).decode()
    if kind is None:
        kind = "file" if "file" in part or "url" in part or "raw" in part else None
    return f"[{kind}]" if isinstance(kind, str) else ""


STREAMING_METHODS = frozenset(("message/stream", "tasks/resubscribe", "SendStreamingMessage", "SubscribeToTask"))


def wants_stream(path: str, body: Any) -> bool | None:
    """Decided by the JSON-RPC method (A2A spec: ``message/stream`` and ``tasks/resubscribe`` answer
    with server-sent events); for the others, as recorded (their answer is one JSON-RPC response,
    which a reassembled task is not)."""
    method = body.get("method") if isinstance(body, dict) else None
    return True if method in STREAMING_METHODS else None
