"""OpenAI Realtime API responses, as a websocket session recorded them (the ``websocket``
container gives one exchange per response): OpenAI's GA and beta event names, Azure OpenAI and
Azure Voice Live, xAI's voice API, which speaks the same events, and OpenAI's Live sessions
(see the end).

The events are the Responses API's, renamed: ``response.created`` … ``response.done``,
``response.output_item.added``/``.done``, ``response.content_part.added``, text deltas
(``response.output_text.delta``, beta ``response.text.delta``), audio transcript deltas
(``response.output_audio_transcript.delta``, beta ``response.audio_transcript.delta``),
``response.function_call_arguments.delta``, audio (``response.output_audio.delta``, beta
``response.audio.delta``: base64 PCM) and ``error``. Every event carries an ``event_id``, which
is how they are told apart from the Responses API's SSE events. The fold is the Responses fold
(``llmtrace.dialects.openai_responses``) on the renamed events; what differs is read here:

- content is the text of the response's message parts: ``text`` parts, and for an audio
  response the transcript of its audio (the model's words; ``Observations.audio_bytes``
  counts the audio itself, which is never printed or kept in the reassembled response);
- ``response.done`` ends the response; its ``status`` is the finish reason (``cancelled`` and
  ``incomplete`` give their ``status_details.reason`` — ``turn_detected``, ``max_output_tokens``,
  ``content_filter`` — where there is one);
- usage spells its details ``input_token_details`` / ``output_token_details``.

Reassembled output: the ``response`` object of ``response.done`` (rebuilt from the events
when the session ended before it, and its ``output`` rebuilt from the items when the final
event left it empty while items streamed).

OpenAI Live sessions (model ``gpt-live-1``) are read here too: the same vendor, the same
``type``/``event_id`` frames, and the responses they hold are Responses API responses. Two kinds
of exchange come from them:

- a *voice turn* of the live model (frames ``session.*``): content is its
  ``session.output_transcript.delta`` text (``{delta, start_ms, end_ms}``: the words of the
  audio, which ``session.output_audio.delta`` streams and ``Observations.audio_bytes`` counts);
  usage is seconds of session (``session.usage.updated``, ``session.closed``), not tokens, so
  token usage stays unreported (and ``usage-missing`` is skipped). Live sends no end of a
  turn: the finish reason is the ``session.closed`` reason when the session closed during the
  turn (``close_requested``), else null; a turn is incomplete only when the websocket closed on
  it with an error code.
  Reassembled: ``{"object": "live.turn", "transcript", "start_ms", "end_ms", "audio": {"size"},
  "usage", "closed", "events": {type: count}}``.
- a *delegated response* (frames ``response.event`` wrapping Responses API events under
  ``event``): unwrapped and folded as above.
"""

from __future__ import annotations

from typing import Any

from llmtrace.dialects import FoldContext, as_dict, as_list, as_text, dump_arguments, feed, parse_arguments, stop_of
from llmtrace.dialects.openai_responses import ResponsesFold, usage_of
from llmtrace.errors import ShapeError
from llmtrace.model import Delta, Message, Observations, Result, Timeline, ToolCall

NAMES = ("openai-realtime",)

# Realtime event name → the Responses API event the shared fold reads.
RENAMED = {
    "response.text.delta": "response.output_text.delta",
    "response.output_audio_transcript.delta": "response.output_text.delta",
    "response.audio_transcript.delta": "response.output_text.delta",
    "response.done": "response.completed",
}
AUDIO_DELTAS = frozenset(("response.output_audio.delta", "response.audio.delta"))
FINISH_REASONS = frozenset(("completed", "cancelled", "failed", "incomplete", "max_output_tokens",
                            "content_filter", "turn_detected", "client_cancelled", "close_requested"))
# OpenAI Live frames of a voice turn (the session's own events).
LIVE = frozenset(("session.output_transcript.delta", "session.output_audio.delta", "session.usage.updated",
                  "session.closed", "session.commentary.appended", "session.delegation.created"))
STOPS = {"completed": "stop", "max_output_tokens": "length", "content_filter": "content_filter",
         "failed": "error"}


def sniff(payload: dict) -> str | None:
    kind = payload.get("type")
    if isinstance(kind, str) and "event_id" in payload and (kind.startswith("response.") or kind == "error"):
        return "openai-realtime"
    if isinstance(kind, str) and kind in LIVE:
        return "openai-realtime"
    response = payload.get("response")
    if isinstance(response, dict) and response.get("object") == "realtime.response":
        return "openai-realtime"
    return None


class RealtimeFold(ResponsesFold):
    def __init__(self, ctx: FoldContext):
        super().__init__(ctx)
        self.audio_bytes = 0

    def add(self, i: int, event: Any) -> None:
        if not isinstance(event, dict):
            raise ShapeError("event should be an object")
        kind = event.get("type")
        if kind == "response.event":  # OpenAI Live: a delegated Responses API event, wrapped
            event = as_dict(event.get("event"), "event", "response.event")
            kind = event.get("type")
        if kind in AUDIO_DELTAS:
            self.audio_bytes += _decoded_size(as_text(event.get("delta"), "delta", "") or "")
            return
        renamed = RENAMED.get(kind)
        if renamed is not None:
            if kind == "response.done" and not isinstance(event.get("response"), dict):
                raise ShapeError("response.done should carry a response object")
            event = {**event, "type": renamed}
        super().add(i, event)

    def result(self, n_chunks: int) -> Result:
        response = self.response()
        self.obs.audio_bytes = self.audio_bytes
        status = response.get("status")
        if status == "failed":
            details = response.get("status_details")
            error = details.get("error") if isinstance(details, dict) else None
            if error is not None:
                self.obs.stream_errors.append((self.obs.finish_chunks.get(0, n_chunks - 1), error))
        result = result_of(response, complete=self.final is not None, observations=self.obs)
        result.timeline = Timeline(chunks=n_chunks, deltas=self.deltas, times=self.ctx.chunk_times,
                                   timing="har" if self.ctx.chunk_times else "none")
        return result


def _decoded_size(b64: str) -> int:
    """The number of bytes a base64 text decodes to, without decoding it."""
    n = len(b64)
    return n * 3 // 4 - (2 if b64.endswith("==") else 1 if b64.endswith("=") else 0) if n else 0


def result_of(response: dict, complete: bool, observations: Observations | None = None) -> Result:
    model = response.get("model")
    return Result(response=response, model=model if isinstance(model, str) and model else None,
                  choices=[message_of(response)], usage=usage_of(response.get("usage")), complete=complete,
                  observations=observations or Observations())


def message_of(response: dict) -> Message:
    """The normalized message: the message items' text and transcripts, the function calls."""
    content: list[str] = []
    calls: list[ToolCall] = []
    has_text = False
    for n, item in enumerate(as_list(response.get("output"), "output", "response")):
        where = f"response.output[{n}]"
        item = as_dict(item, "output item", where)
        if item.get("type") == "message":
            for part in as_list(item.get("content"), "content", where):
                part = as_dict(part, "content part", where)
                text = part.get("text") if "text" in part else part.get("transcript")
                if isinstance(text, str):
                    has_text = True
                    content.append(text)
        elif item.get("type") == "function_call":
            raw = item.get("arguments")
            raw = "" if raw is None else dump_arguments(raw)
            calls.append(ToolCall(id=item.get("call_id") or item.get("id"), name=item.get("name"),
                                  arguments=raw, parsed_arguments=parse_arguments(raw)))
    finish = finish_reason_of(response)
    stop = stop_of(finish, STOPS)
    if stop == "stop" and calls:
        stop = "tool_calls"
    return Message(index=0, role="assistant", content="".join(content) if has_text else None,
                   tool_calls=calls, finish_reason=finish, stop=stop)


def finish_reason_of(response: dict) -> str | None:
    status = response.get("status")
    if status in ("incomplete", "cancelled"):
        details = response.get("status_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        return reason if isinstance(reason, str) and reason else status
    return status if status in ("completed", "failed") else None


class VoiceFold:
    """An OpenAI Live voice turn: the transcript of what the live model said."""

    def __init__(self, ctx: FoldContext):
        self.ctx = ctx
        self.words: list[str] = []
        self.span: list[Any] = [None, None]  # start_ms of the first words, end_ms of the last
        self.usage: Any = None
        self.closed: dict | None = None
        self.dropped = False  # the websocket closed with an error code
        self.events: dict[str, int] = {}
        self.audio_bytes = 0
        self.deltas: list[Delta] = []
        self.obs = Observations(skipped=["usage-missing"])  # Live counts seconds, never tokens

    def add(self, i: int, frame: Any) -> None:
        if not isinstance(frame, dict):
            raise ShapeError("frame should be an object")
        kind = frame.get("type")
        if kind == "session.output_transcript.delta":
            text = as_text(frame.get("delta"), "delta", "") or ""
            self.words.append(text)
            if text:
                self.deltas.append(Delta(i, 0, "content", text))
            if self.span[0] is None:
                self.span[0] = frame.get("start_ms")
            self.span[1] = frame.get("end_ms", self.span[1])
        elif kind == "session.output_audio.delta":
            self.audio_bytes += _decoded_size(as_text(frame.get("delta"), "delta", "") or "")
        elif kind in ("session.usage.updated", "session.closed"):
            if frame.get("usage") is not None:
                self.usage = frame["usage"]
            if kind == "session.closed":
                self.closed = {k: frame[k] for k in ("reason",) if k in frame}
                self.obs.finish_chunks[0] = i
        elif kind == "error":
            self.obs.stream_errors.append((i, frame.get("error", frame)))
        elif kind is None and frame.get("kind") == "close":  # the websocket's own close frame
            if frame.get("code") not in (1000, None):
                self.dropped = True
        else:
            name = kind if isinstance(kind, str) else "(no type)"
            self.events[name] = self.events.get(name, 0) + 1

    def result(self, n_chunks: int) -> Result:
        reason = self.closed.get("reason") if self.closed else None
        finish = reason if isinstance(reason, str) and reason else None
        response: dict[str, Any] = {"object": "live.turn", "transcript": "".join(self.words) if self.words else None}
        if self.span[0] is not None:
            response["start_ms"], response["end_ms"] = self.span
        if self.audio_bytes:
            response["audio"] = {"size": self.audio_bytes}
        if self.usage is not None:
            response["usage"] = self.usage
        if self.closed is not None:
            response["closed"] = self.closed
        if self.events:
            response["events"] = self.events
        self.obs.audio_bytes = self.audio_bytes
        message = Message(index=0, role="assistant", content=response["transcript"], finish_reason=finish,
                          stop=stop_of(finish, STOPS))
        return Result(response=response, choices=[message], complete=not self.dropped, observations=self.obs,
                      timeline=Timeline(chunks=n_chunks, deltas=self.deltas, times=self.ctx.chunk_times,
                                        timing="har" if self.ctx.chunk_times else "none"))


def _voice_turn(chunks: list) -> bool:
    """Whether the chunks are a Live voice turn (session events) rather than a response."""
    for chunk in chunks:
        if isinstance(chunk, dict) and isinstance(chunk.get("type"), str):
            return chunk["type"].startswith("session.")
    return False


def fold(chunks: list, ctx: FoldContext) -> Result:
    if _voice_turn(chunks):
        voice = VoiceFold(ctx)
        feed(voice, chunks)
        return voice.result(len(chunks))
    state = RealtimeFold(ctx)
    feed(state, chunks)
    try:
        return state.result(len(chunks))
    except ShapeError as exc:
        raise ShapeError(exc.what, exc.where or "reassembled response") from None


def fold_body(body: Any, ctx: FoldContext) -> Result:
    """A ``response`` object on its own (a recorder that kept only ``response.done``)."""
    if not isinstance(body, dict):
        raise ShapeError("response body should be an object", "response body")
    response = body.get("response") if body.get("type") == "response.done" else body
    return result_of(as_dict(response, "response", "response body"), True)
