"""ElevenLabs Agents (formerly Conversational AI) responses, as a websocket session recorded
them (the ``websocket`` container gives one exchange per agent response).

Server frames carry their payload under ``<type>_event`` (``text_response_part`` and
``client_tool_call`` for two of them), numbered by the agent turn they belong to (``event_id``):

- ``agent_chat_response_part`` — the text as it is generated: ``{type: start|delta|stop, text}``;
- ``agent_response`` — the whole text of the response (sent with its first audio; for a voice
  agent the text streams only in this one frame), with its ``response_id``;
- ``agent_response_correction`` — after the user barged in, the text as far as the agent got to
  say it (``corrected_agent_response``), which replaces the answer;
- ``interruption`` — the user spoke over the agent: the response was cut off;
- ``client_tool_call`` — ``{tool_name, tool_call_id, parameters}``, a tool the client runs; the
  server's ``agent_tool_response`` says it saw the result;
- ``audio`` — ``audio_base_64`` PCM: counted (``Observations.audio_bytes``), never printed;
- ``context_usage`` — ``{model, context_tokens, context_limit_tokens}``: the LLM behind the
  agent and how full its context is. That is no token usage of the response (not its input
  nor its output tokens), so usage stays unreported — and ``usage-missing`` is skipped, not
  reported: the protocol has no token counts to miss; the model is the response's model.

Normalized message: ``content`` is the text deltas joined, or the ``agent_response`` when only
it arrived, or the correction when one came; tool calls from ``client_tool_call`` (parameters
are an object: their JSON is the arguments). The protocol has no finish reason, only events,
and the finish reason is the event that ended the response, by its type: ``agent_response``
(stop ``stop``), ``client_tool_call`` (stop ``tool_calls``), ``interrupted`` (the user spoke
over the agent: no stop, but the response ended as the protocol ends it — complete, as Gemini
Live's ``interrupted``; only a response the recording or a dropped socket cut short is not). Frames of other types are
kept in the exchange's chunks and counted in the reassembled output, never dropped silently.

Reassembled output: ``{"response_id", "event_id", "agent_response" (the text as generated),
"corrected_agent_response", "client_tool_calls": [payloads], "interrupted", "audio": {"size"},
"context_usage", "events": {type: count}}`` with the keys that apply.
"""

from __future__ import annotations

from typing import Any

from llmtrace.dialects import FoldContext, as_dict, as_text, dump_arguments, feed, parse_arguments
from llmtrace.dialects.openai_realtime import _decoded_size
from llmtrace.errors import ShapeError
from llmtrace.model import Delta, Message, Observations, Result, Timeline, ToolCall, ToolEvent, Usage

NAMES = ("elevenlabs-agents",)
FINISH_REASONS = frozenset(("agent_response", "client_tool_call", "interrupted"))
STOPS = {"agent_response": "stop", "client_tool_call": "tool_calls"}
# Frame type → the key of its payload, where it is not ``<type>_event``.
_PAYLOAD_KEYS = {"agent_chat_response_part": "text_response_part", "client_tool_call": "client_tool_call"}
_SPEAKS = ("agent_chat_response_part", "agent_response", "agent_response_correction", "client_tool_call",
           "internal_tentative_agent_response", "agent_tool_response", "context_usage", "interruption", "audio")


def sniff(payload: dict) -> str | None:
    kind = payload.get("type")
    if not isinstance(kind, str) or kind not in _SPEAKS:
        return None
    if isinstance(payload.get(_PAYLOAD_KEYS.get(kind, f"{kind}_event")), dict):
        return "elevenlabs-agents"
    return None


def payload_of(frame: dict, kind: str) -> dict:
    key = _PAYLOAD_KEYS.get(kind, f"{kind}_event")
    return as_dict(frame.get(key), key, "")


class AgentFold:
    def __init__(self, ctx: FoldContext):
        self.ctx = ctx
        self.parts: list[str] = []
        self.answer: str | None = None  # agent_response
        self.correction: str | None = None
        self.calls: list[dict] = []
        self.usage: dict | None = None
        self.interrupted = False
        self.finish: str | None = None
        self.ids: dict[str, Any] = {}
        self.events: dict[str, int] = {}
        self.audio_bytes = 0
        self.deltas: list[Delta] = []
        self.obs = Observations(skipped=["usage-missing"])  # the protocol reports no tokens at all

    def add(self, i: int, frame: Any) -> None:
        if not isinstance(frame, dict):
            raise ShapeError("frame should be an object")
        kind = frame.get("type")
        if not isinstance(kind, str):
            self.events["(no type)"] = self.events.get("(no type)", 0) + 1
            return
        payload = payload_of(frame, kind) if kind in _SPEAKS or kind in _PAYLOAD_KEYS else {}
        for key in ("response_id", "event_id"):
            if payload.get(key) is not None and key not in self.ids:
                self.ids[key] = payload[key]
        if kind == "agent_chat_response_part":
            text = as_text(payload.get("text"), "text", "text_response_part")
            if payload.get("type") == "delta" and text:
                self.parts.append(text)
                self.deltas.append(Delta(i, 0, "content", text))
        elif kind == "agent_response":
            self.answer = as_text(payload.get("agent_response"), "agent_response", "agent_response_event")
            if not self.parts and self.answer:
                self.deltas.append(Delta(i, 0, "content", self.answer))
            self._finished(i, "agent_response")
        elif kind == "agent_response_correction":
            self.correction = as_text(payload.get("corrected_agent_response"), "corrected_agent_response",
                                      "agent_response_correction_event")
        elif kind == "client_tool_call":
            self.calls.append(payload)
            self.obs.tool_events.append(ToolEvent(i, 0, len(self.calls) - 1, payload.get("tool_call_id"),
                                                  payload.get("tool_name")))
            if payload.get("parameters") is not None:
                self.deltas.append(Delta(i, 0, "tool", dump_arguments(payload["parameters"])))
            self._finished(i, "client_tool_call")
        elif kind == "audio":
            audio = as_text(payload.get("audio_base_64"), "audio_base_64", "audio_event")
            self.audio_bytes += _decoded_size(audio or "")
        elif kind == "interruption":
            self.interrupted = True
        elif kind == "context_usage":
            self.usage = payload
        elif kind == "error" or kind.endswith("_error"):
            self.obs.stream_errors.append((i, frame))
        elif kind != "agent_tool_response":
            self.events[kind] = self.events.get(kind, 0) + 1

    def _finished(self, i: int, signal: str) -> None:
        if self.finish is None or signal == "agent_response":
            self.finish = signal
            self.obs.finish_chunks[0] = i

    def response(self) -> dict:
        out: dict[str, Any] = dict(self.ids)
        said = "".join(self.parts) if self.parts else self.answer
        if said is not None:
            out["agent_response"] = said
        if self.correction is not None:
            out["corrected_agent_response"] = self.correction
        if self.calls:
            out["client_tool_calls"] = self.calls
        if self.interrupted:
            out["interrupted"] = True
        if self.audio_bytes:
            out["audio"] = {"size": self.audio_bytes}
        if self.usage is not None:
            out["context_usage"] = self.usage
        if self.events:
            out["events"] = self.events
        return out

    def result(self, n_chunks: int) -> Result:
        if self.correction is not None:
            content = self.correction
        elif self.parts:
            content = "".join(self.parts)
        else:
            content = self.answer
        calls = []
        for call in self.calls:
            params = call.get("parameters")
            raw = "" if params is None else dump_arguments(params)
            calls.append(ToolCall(id=call.get("tool_call_id"), name=call.get("tool_name"), arguments=raw,
                                  parsed_arguments=parse_arguments(raw)))
        finish = "interrupted" if self.interrupted else self.finish
        stop = STOPS.get(finish) if finish else None
        if stop == "stop" and calls:
            stop = "tool_calls"
        self.obs.audio_bytes = self.audio_bytes
        model = self.usage.get("model") if self.usage else None
        message = Message(index=0, role="assistant", content=content, tool_calls=calls, finish_reason=finish, stop=stop)
        return Result(response=self.response(), model=model if isinstance(model, str) and model else None,
                      choices=[message], usage=Usage(), complete=self.finish is not None or self.interrupted,
                      observations=self.obs,
                      timeline=Timeline(chunks=n_chunks, deltas=self.deltas, times=self.ctx.chunk_times,
                                        timing="har" if self.ctx.chunk_times else "none"))


def fold(chunks: list, ctx: FoldContext) -> Result:
    state = AgentFold(ctx)
    feed(state, chunks)
    return state.result(len(chunks))


def fold_body(body: Any, ctx: FoldContext) -> Result:
    """One server frame on its own, read as a one-frame response."""
    return fold([body], ctx)
