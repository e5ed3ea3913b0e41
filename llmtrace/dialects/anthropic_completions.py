"""Anthropic's legacy Text Completions API (``POST /v1/complete``, Claude 1 and 2; the same
events inside Bedrock's InvokeModelWithResponseStream for ``anthropic.claude-v2``): the prompt
is one text (``"\\n\\nHuman: …\\n\\nAssistant:"``), the answer one text continued piece by piece.

Streamed, the API sends ``event: completion`` events whose data is ``{"type": "completion",
"id", "completion", "stop_reason", "model", "stop", "log_id"}``: ``completion`` is the next
piece of text, ``stop_reason`` null until the last event (``stop_sequence`` — ``stop`` then
names the sequence met, usually ``"\\n\\nHuman:"`` — or ``max_tokens``), plus ``event: ping``
and ``event: error`` (``{"type": "error", "error": {type, message}}``). Bedrock's events are
the bare ``{completion, stop_reason, stop}``. Unstreamed, the response is one completion
object, which is also what the stream reassembles into: the pieces concatenated, ``id`` /
``model`` / ``log_id`` the first non-empty, ``stop_reason`` and ``stop`` the last non-null.

The API reports no token usage at all: ``usage-missing`` is skipped for it, not failed (Bedrock
adds its own counts around these events; see ``bedrock_invoke``). The stream is complete when a
``stop_reason`` arrived.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmtrace.dialects import FoldContext, as_text, feed, feed_body, first, stop_of, stream_requested
from llmtrace.errors import ShapeError
from llmtrace.model import Delta, Message, Observations, Result, Timeline

NAMES = ("anthropic-completions",)

STOPS = {"stop_sequence": "stop", "max_tokens": "length"}
# Fields of the completion object other than the text and the finish, in the API's order.
_FIELDS = ("id", "model", "log_id")
# The checks this API holds no data for: it never reports token usage.
NOT_REPORTED = ["usage-missing"]


def sniff(payload: dict) -> str | None:
    if payload.get("type") == "completion" and isinstance(payload.get("completion"), str):
        return "anthropic-completions"
    return None


class CompletionFold:
    """One pass over completion events; the text pieces are appended to a list and joined once."""

    def __init__(self, ctx: FoldContext):
        self.ctx = ctx
        self.pieces: list[str] | None = None
        self.top: dict[str, Any] = {}
        self.stop_reason: Any = None
        self.stop: Any = None
        self.deltas: list[Delta] = []
        self.obs = Observations()

    def add(self, i: int, event: Any) -> None:
        if not isinstance(event, dict):
            raise ShapeError("event should be an object")
        kind = event.get("type")
        if kind == "error":
            self.obs.stream_errors.append((i, event.get("error")))
            return
        if kind not in (None, "completion"):
            return  # ping, and event types this fold does not know: they stay in the chunks
        text = as_text(event.get("completion"), "completion", "")
        if text is not None:
            if self.pieces is None:
                self.pieces = []
            self.pieces.append(text)
            if text:
                self.deltas.append(Delta(i, 0, "content", text))
        reason = as_text(event.get("stop_reason"), "stop_reason", "")
        if reason is not None:
            if self.stop_reason is None and 0 not in self.obs.finish_chunks:
                self.obs.finish_chunks[0] = i
            self.stop_reason = reason
        if event.get("stop") is not None:
            self.stop = event["stop"]
        for key in _FIELDS:
            value = event.get(key)
            if value is not None:
                self.top[key] = first(self.top.get(key), value)
        cid = self.top.get("id")
        if isinstance(cid, str) and cid and cid not in self.obs.chunk_ids:
            self.obs.chunk_ids.append(cid)

    def result(self, n_chunks: int, response: Any = None) -> Result:
        text = "".join(self.pieces) if self.pieces is not None else None
        model = self.top.get("model")
        message = Message(index=0, role="assistant", content=text, finish_reason=self.stop_reason,
                          stop=stop_of(self.stop_reason, STOPS))
        return Result(
            response=self._response(text) if response is None else response,
            model=model if isinstance(model, str) and model else None,
            choices=[message],
            complete=self.stop_reason is not None,
            timeline=Timeline(chunks=n_chunks, deltas=self.deltas, times=self.ctx.chunk_times,
                              timing="har" if self.ctx.chunk_times else "none"),
            observations=self.obs,
        )

    def _response(self, text: str | None) -> dict:
        """The unstreamed completion object; ``id``, ``model`` and ``log_id`` only when the
        events carried them (Bedrock's do not)."""
        top = self.top
        out: dict[str, Any] = {"type": "completion"}
        if "id" in top:
            out["id"] = top["id"]
        out["completion"] = text or ""
        out["stop_reason"] = self.stop_reason
        if "model" in top:
            out["model"] = top["model"]
        out["stop"] = self.stop
        if "log_id" in top:
            out["log_id"] = top["log_id"]
        return out


def fold(chunks: list, ctx: FoldContext) -> Result:
    state = CompletionFold(ctx)
    feed(state, chunks)
    result = state.result(len(chunks))
    result.observations.skipped = list(NOT_REPORTED)
    return result


def fold_body(body: Any, ctx: FoldContext) -> Result:
    state = CompletionFold(ctx)
    feed_body(state, body)
    result = state.result(0, response=body)
    result.observations.skipped = list(NOT_REPORTED)
    return result


# --- the wire format (for serve) -----------------------------------------------------------------

CONTENT_TYPE = "text/event-stream"


def encode(chunk: Any) -> bytes:
    """One event as the API sends it: ``event: TYPE`` (``completion``, ``ping``, ``error``) and
    its ``data:`` line."""
    kind = chunk.get("type") if isinstance(chunk, dict) else None
    head = b"event: " + kind.encode() + b"\n" if isinstance(kind, str) and kind and "\n" not in kind else b""
    return head + b"data: " + orjson.dumps(chunk, option=orjson.OPT_NON_STR_KEYS) + b"\n\n"


def wants_stream(path: str, body: Any) -> bool:
    """Streamed only when the body says ``"stream": true`` (API reference, Create a Text
    Completion)."""
    return stream_requested(body)
