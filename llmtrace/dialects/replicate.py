"""Replicate predictions: the server-sent events of a prediction's ``urls.stream``, and the
prediction object itself (``POST /v1/predictions``, ``GET /v1/predictions/{id}``).

The stream is text, not JSON (``llmtrace.containers.bodies`` keeps each named event as
``{"event", "data"}``):
- ``event: output``: one piece of the output as plain text; multi-line data is one piece whose
  lines are joined with ``\\n`` (the SSE rule), blank data is an empty piece;
- ``event: logs``: a line of the model's log output (kept, not content);
- ``event: error``: the prediction failed; its data is the error (JSON or text);
- ``event: done``: the end; data ``{}``, or ``{"reason": "canceled" | "error"}``;
- ``:`` comment lines (``: hi``, ``:408: 408 Request Timeout``) are no events.

Reassembled into the prediction object a finished prediction is: ``output`` as the list of
pieces (language models return a list of strings), ``status`` (``succeeded``, ``failed``,
``canceled``, or ``processing`` when the stream stops before ``done``), ``error``, ``logs``.
The finish reason is what ``done`` says: its ``reason``, else ``"done"``. The stream reports
no token counts; a prediction object's ``metrics`` may (``input_token_count``,
``output_token_count``).
"""

from __future__ import annotations

from typing import Any

import orjson

from llmtrace.sse import data_lines, event_line
from llmtrace.dialects import FoldContext, as_dict, as_int, feed, first
from llmtrace.errors import ShapeError
from llmtrace.model import Delta, Message, Observations, Result, Timeline, Usage

NAMES = ("replicate",)

EVENTS = frozenset(("output", "logs", "error", "done"))
STOPS = {"done": "stop", "succeeded": "stop", "error": "error", "failed": "error"}
FINISH_REASONS = frozenset(("done", "canceled", "error", "succeeded", "failed"))
# Prediction status → the finish reason it is (statuses still running have none).
_STATUS_FINISH = {"succeeded": "succeeded", "failed": "failed", "canceled": "canceled"}
_PREDICTION_KEYS = ("id", "version", "status")


def sniff(payload: dict) -> str | None:
    event = payload.get("event")
    if event in EVENTS and isinstance(payload.get("data"), str) and len(payload) == 2:
        return "replicate"
    if "output" in payload and all(k in payload for k in _PREDICTION_KEYS) and isinstance(payload.get("urls"), dict):
        return "replicate"
    return None


class ReplicateFold:
    """One pass over the text events."""

    def __init__(self, ctx: FoldContext):
        self.ctx = ctx
        self.output: list[str] = []
        self.logs: list[str] = []
        self.error: Any = None
        self.finish: str | None = None
        self.deltas: list[Delta] = []
        self.obs = Observations()
        self.unknown: list[dict] = []

    def add(self, i: int, event: Any) -> None:
        if not isinstance(event, dict):
            raise ShapeError("event should be an object")
        name = event.get("event")
        data = event.get("data")
        if not isinstance(data, str):
            # A named event whose data was JSON (the stream's first named event decided it was
            # not a text stream): kept as it came.
            self.unknown.append(event)
            return
        if name == "output":
            self.output.append(data)
            if data:
                self.deltas.append(Delta(i, 0, "content", data))
        elif name == "logs":
            self.logs.append(data)
        elif name == "error":
            self.error = _json_or_text(data)
            self.obs.stream_errors.append((i, self.error))
        elif name == "done":
            detail = _json_or_text(data)
            reason = detail.get("reason") if isinstance(detail, dict) else None
            self.finish = reason if isinstance(reason, str) and reason else "done"
            self.obs.finish_chunks.setdefault(0, i)
        else:
            self.unknown.append(event)

    def result(self, n_chunks: int) -> Result:
        content = "".join(self.output) if self.output else None
        status = {"done": "succeeded", "canceled": "canceled", "error": "failed"}.get(self.finish or "",
                                                                                     "processing")
        if self.error is not None and status == "succeeded":
            status = "failed"
        response: dict[str, Any] = {"status": status, "output": self.output, "error": self.error,
                                    "logs": "\n".join(self.logs) if self.logs else ""}
        if self.unknown:
            response["unknown_events"] = self.unknown
        message = Message(index=0, role="assistant", content=content, finish_reason=self.finish,
                          stop=STOPS.get(self.finish) if self.finish else None)
        return Result(response=response, choices=[message], usage=Usage(), complete=self.finish is not None,
                      timeline=Timeline(chunks=n_chunks, deltas=self.deltas, times=self.ctx.chunk_times,
                                        timing="har" if self.ctx.chunk_times else "none"),
                      observations=self.obs)


def _json_or_text(data: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return data


def fold(chunks: list, ctx: FoldContext) -> Result:
    state = ReplicateFold(ctx)
    feed(state, chunks)
    return state.result(len(chunks))


CONTENT_TYPE = "text/event-stream"


def encode(chunk: Any) -> bytes:
    """One event as Replicate sends it: ``event: NAME`` and the text, one ``data:`` line per
    line of it (the SSE rule that joins them again with ``\\n``)."""
    if isinstance(chunk, dict) and isinstance(chunk.get("data"), str) and isinstance(chunk.get("event"), str):
        return event_line(chunk["event"]) + data_lines(chunk["data"]) + b"\n"
    return b"data: " + orjson.dumps(chunk, option=orjson.OPT_NON_STR_KEYS) + b"\n\n"


def fold_body(body: Any, ctx: FoldContext) -> Result:
    """A prediction object: ``output`` a string or a list of strings, ``status``, ``metrics``."""
    try:
        return _prediction(body)
    except ShapeError as exc:
        raise ShapeError(exc.what, "response body") from None


def _prediction(body: Any) -> Result:
    if not isinstance(body, dict):
        raise ShapeError("prediction should be an object")
    output = body.get("output")
    if isinstance(output, list):
        pieces = [p for p in output if isinstance(p, str)]
        content = "".join(pieces) if len(pieces) == len(output) else None
    elif isinstance(output, str):
        content = output
    else:
        content = None  # an image URL list, a dict, or no output yet: not text
    status = body.get("status")
    finish = _STATUS_FINISH.get(status) if isinstance(status, str) else None
    metrics = as_dict(body.get("metrics"), "metrics", "")
    model = None
    for key in ("model", "version"):
        model = first(model, body.get(key) if isinstance(body.get(key), str) else None)
    error = body.get("error")
    obs = Observations()
    if error:
        obs.stream_errors.append((0, error))
    inp, out = as_int(metrics.get("input_token_count")), as_int(metrics.get("output_token_count"))
    message = Message(index=0, role="assistant", content=content, finish_reason=finish,
                      stop=STOPS.get(finish) if finish else None)
    return Result(response=body, model=model, choices=[message],
                  usage=Usage(input_tokens=inp, output_tokens=out),
                  complete=finish is not None, observations=obs)
