"""Gemini Live API turns, as a websocket session recorded them (the ``websocket`` container
gives one exchange per model turn; Vertex AI's Live API is the same protocol).

Server frames: ``serverContent`` with ``modelTurn.parts`` (``text``, ``thought`` text,
``inlineData`` audio as base64 PCM, code), ``outputTranscription.text`` (what an audio answer
says), ``generationComplete``, ``turnComplete``, ``interrupted``; ``toolCall.functionCalls``
(``{id, name, args}``) and ``toolCallCancellation``; ``usageMetadata`` (``promptTokenCount``,
``responseTokenCount``, ``totalTokenCount``, ``cachedContentTokenCount``,
``thoughtsTokenCount``), sent beside the frame it ends, a running total: the last one wins.

Normalized message: ``content`` is the text parts joined, or for an audio answer its output
transcription (the model's words; the audio itself is counted in
``Observations.audio_bytes``, never printed); ``reasoning`` the thought parts; tool calls from
``toolCall``. The protocol has no finish reason, only signals, and the finish reason is the
signal that ended the turn, by its field name: ``turnComplete`` (stop ``stop``),
``interrupted`` (the user spoke over the model: no stop), ``toolCall`` (the turn ends in a tool
call and waits for the client's ``tool_response``: stop ``tool_calls``). A turn is complete
when one of them arrived; one that the recording or a dropped socket cut short is not.

Reassembled output: one ``{"serverContent": {"modelTurn": {"role": "model", "parts"},
"outputTranscription", "inputTranscription", "generationComplete", "turnComplete",
"interrupted"}, "toolCall": {"functionCalls"}, "usageMetadata"}`` with adjacent parts of the same
kind merged and each audio run replaced by ``{"inlineData": {"mimeType", "size"}}`` — its size
in bytes instead of the audio.
"""

from __future__ import annotations

from typing import Any

from llmtrace.dialects import FoldContext, as_dict, as_int, as_list, as_text, dump_arguments, feed, parse_arguments
from llmtrace.dialects.openai_realtime import _decoded_size
from llmtrace.errors import ShapeError
from llmtrace.model import Delta, Message, Observations, Result, Timeline, ToolCall, ToolEvent, Usage

NAMES = ("gemini-live",)
FINISH_REASONS = frozenset(("turnComplete", "interrupted", "toolCall"))
STOPS = {"turnComplete": "stop", "toolCall": "tool_calls"}
_TURN_KEYS = ("serverContent", "toolCall", "toolCallCancellation", "setupComplete")


def sniff(payload: dict) -> str | None:
    if any(k in payload for k in _TURN_KEYS):
        return "gemini-live"
    return None


class LiveFold:
    def __init__(self, ctx: FoldContext):
        self.ctx = ctx
        self.parts: list[dict] = []  # merged model-turn parts, audio as {"inlineData": {mimeType, size}}
        self.transcript: list[str] = []
        self.heard: list[str] = []
        self.flags: dict[str, bool] = {}
        self.calls: list[dict] = []
        self.usage: dict | None = None
        self.finish: str | None = None
        self.finish_chunk: int | None = None
        self.audio_bytes = 0
        self.deltas: list[Delta] = []
        self.obs = Observations()

    def add(self, i: int, frame: Any) -> None:
        if not isinstance(frame, dict):
            raise ShapeError("frame should be an object")
        if frame.get("usageMetadata") is not None:
            self.usage = as_dict(frame["usageMetadata"], "usageMetadata", "")
        content = frame.get("serverContent")
        if content is not None:
            self._content(i, as_dict(content, "serverContent", ""))
        call = frame.get("toolCall")
        if call is not None:
            for fc in as_list(as_dict(call, "toolCall", "").get("functionCalls"), "functionCalls", "toolCall"):
                fc = as_dict(fc, "function call", "toolCall")
                self.calls.append(fc)
                self.obs.tool_events.append(ToolEvent(i, 0, len(self.calls) - 1, fc.get("id"), fc.get("name")))
                args = fc.get("args")
                if args is not None:
                    self.deltas.append(Delta(i, 0, "tool", dump_arguments(args)))
            self._finished(i, "toolCall")
        if "error" in frame:
            self.obs.stream_errors.append((i, frame["error"]))

    def _content(self, i: int, content: dict) -> None:
        turn = content.get("modelTurn")
        if turn is not None:
            for part in as_list(as_dict(turn, "modelTurn", "").get("parts"), "parts", "modelTurn"):
                self._part(i, as_dict(part, "part", "modelTurn"))
        for key, sink in (("outputTranscription", self.transcript), ("inputTranscription", self.heard)):
            value = content.get(key)
            if value is not None:
                text = as_text(as_dict(value, key, "").get("text"), "text", key)
                if text:
                    sink.append(text)
                    if sink is self.transcript:
                        self.deltas.append(Delta(i, 0, "content", text))
        for flag in ("generationComplete", "turnComplete", "interrupted"):
            if content.get(flag):
                self.flags[flag] = True
        if content.get("interrupted"):
            self._finished(i, "interrupted")
        elif content.get("turnComplete"):
            self._finished(i, "turnComplete")

    def _part(self, i: int, part: dict) -> None:
        data = part.get("inlineData") or part.get("inline_data")
        if isinstance(data, dict):
            size = _decoded_size(as_text(data.get("data"), "inlineData.data", "") or "")
            self.audio_bytes += size
            mime = data.get("mimeType") or data.get("mime_type")
            last = self.parts[-1] if self.parts else None
            if last is not None and "inlineData" in last and last["inlineData"].get("mimeType") == mime:
                last["inlineData"]["size"] += size
            else:
                self.parts.append({"inlineData": {"mimeType": mime, "size": size}})
            return
        text = part.get("text")
        if isinstance(text, str):
            thought = bool(part.get("thought"))
            if text:
                self.deltas.append(Delta(i, 0, "reasoning" if thought else "content", text))
            last = self.parts[-1] if self.parts else None
            if last is not None and isinstance(last.get("text"), str) and bool(last.get("thought")) == thought \
                    and set(last) <= {"text", "thought"}:
                last["text"] += text
            else:
                self.parts.append(dict(part))
            return
        self.parts.append(part)

    def _finished(self, i: int, signal: str) -> None:
        if self.finish is None or signal != "toolCall":
            self.finish = signal
            self.finish_chunk = i
            self.obs.finish_chunks[0] = i

    def response(self) -> dict:
        content: dict[str, Any] = {}
        if self.parts:
            content["modelTurn"] = {"role": "model", "parts": self.parts}
        if self.transcript:
            content["outputTranscription"] = {"text": "".join(self.transcript)}
        if self.heard:
            content["inputTranscription"] = {"text": "".join(self.heard)}
        content.update(self.flags)
        out: dict[str, Any] = {}
        if content:
            out["serverContent"] = content
        if self.calls:
            out["toolCall"] = {"functionCalls": self.calls}
        if self.usage is not None:
            out["usageMetadata"] = self.usage
        return out

    def result(self, n_chunks: int) -> Result:
        texts = [p["text"] for p in self.parts if isinstance(p.get("text"), str) and not p.get("thought")]
        thoughts = [p["text"] for p in self.parts if isinstance(p.get("text"), str) and p.get("thought")]
        content = "".join(texts) if texts else ("".join(self.transcript) if self.transcript else None)
        calls = []
        for fc in self.calls:
            args = fc.get("args")
            raw = "" if args is None else dump_arguments(args)
            calls.append(ToolCall(id=fc.get("id"), name=fc.get("name"), arguments=raw, parsed_arguments=parse_arguments(raw)))
        stop = STOPS.get(self.finish) if self.finish else None
        if stop == "stop" and calls:
            stop = "tool_calls"
        self.obs.audio_bytes = self.audio_bytes
        message = Message(index=0, role="assistant", content=content, reasoning="".join(thoughts) or None,
                          tool_calls=calls, finish_reason=self.finish, stop=stop)
        return Result(response=self.response(), choices=[message], usage=usage_of(self.usage),
                      complete=self.finish is not None, observations=self.obs,
                      timeline=Timeline(chunks=n_chunks, deltas=self.deltas, times=self.ctx.chunk_times,
                                        timing="har" if self.ctx.chunk_times else "none"))


def usage_of(usage: Any) -> Usage:
    if not isinstance(usage, dict):
        return Usage()
    return Usage(input_tokens=as_int(usage.get("promptTokenCount")),
                 output_tokens=as_int(usage.get("responseTokenCount", usage.get("candidatesTokenCount"))),
                 total_tokens=as_int(usage.get("totalTokenCount")),
                 cached_tokens=as_int(usage.get("cachedContentTokenCount")),
                 reasoning_tokens=as_int(usage.get("thoughtsTokenCount")))


def fold(chunks: list, ctx: FoldContext) -> Result:
    state = LiveFold(ctx)
    feed(state, chunks)
    return state.result(len(chunks))


def fold_body(body: Any, ctx: FoldContext) -> Result:
    """One server frame on its own, read as a one-frame turn."""
    return fold([body], ctx)
