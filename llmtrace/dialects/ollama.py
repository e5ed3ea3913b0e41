"""Ollama's native API: ``/api/generate`` (text in ``response``) and ``/api/chat`` (text in
``message.content``), streamed as NDJSON lines folded into the one final response.

Merge rules (reassembly.md): text and ``thinking`` concatenate, ``tool_calls`` arrive whole
(arguments as an object, no id by design) and are collected, everything else comes from the
last ``done: true`` line. Durations are nanoseconds, and a zero duration or the epoch
``created_at`` means *unknown*, never zero time.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from llmtrace.dialects import (
    ANY,
    stream_requested,
    FoldContext,
    as_dict,
    as_list,
    as_text,
    dump_arguments,
    feed,
    feed_body,
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

NAMES = ("ollama-generate", "ollama-chat")


# Parameters matching counts as absent (https://github.com/ollama/ollama/blob/main/docs/api.md): at
# their documented default, or ANY: never a change to the answer.
DEFAULTS = {
    "keep_alive": ANY,  # how long the model stays loaded ("defaults to 5m"), not the answer
    "options": (None, {}),  # no options: the Modelfile's
    "format": (None, ""),  # no structured output
    "raw": (False,),
}

# done_reason as sent is the finish_reason; only these map to a stop (never inferred from the content).
STOPS = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}
FINISH_REASONS = frozenset(STOPS) | {"load", "unload"}
# A Delta built without the named tuple's Python-level constructor (it is on the hot path).
_new_tuple = tuple.__new__


def sniff(payload: dict) -> str | None:
    if not isinstance(payload.get("done"), bool) or not ("created_at" in payload or "model" in payload):
        return None
    if "response" in payload:
        return "ollama-generate"
    if isinstance(payload.get("message"), dict):
        return "ollama-chat"
    return None


# --- timestamps --------------------------------------------------------------------------------


# The fraction's first 9 digits are captured, any further ones matched and dropped.
_TIMESTAMP = re.compile(r"(\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d):(\d\d)(?:\.(\d{1,9})\d*)?([Zz]|[+-]\d\d(?::?\d\d)?)?",
                        re.ASCII)
_SCALE = tuple(10 ** n for n in range(10))  # 10 ** digits of a fraction


def parse_timestamp(text: Any) -> float | None:
    """An RFC 3339 time as Ollama writes it (``2025-08-15T20:24:51.063200561Z``, up to 9
    fractional digits used, ``Z`` or a ``±HH:MM`` offset; no offset reads as UTC) in epoch
    seconds. None when it is not such a time, or is the epoch or earlier (Ollama's "unknown")."""
    if not isinstance(text, str):
        return None
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    minute, second, fraction, zone = match.groups()
    base = _minute_seconds(minute)
    second = int(second)
    if base is None or second > 60:
        return None
    seconds = base + second
    if zone and zone != "Z" and zone != "z":
        hours = int(zone[1:3])
        minutes = int(zone[-2:]) if len(zone) > 3 else 0
        if hours > 23 or minutes > 59:
            return None
        seconds += (hours * 3600 + minutes * 60) * (1 if zone[0] == "-" else -1)
    if seconds <= 0:
        return None
    if fraction:
        return seconds + int(fraction) / _SCALE[len(fraction)]
    return float(seconds)


@lru_cache(maxsize=256)
def _minute_seconds(minute: str) -> int | None:
    """``YYYY-MM-DDTHH:MM`` in epoch seconds (cached: a stream's lines share their minutes)."""
    year, month, day = int(minute[0:4]), int(minute[5:7]), int(minute[8:10])
    hour, mins = int(minute[11:13]), int(minute[14:16])
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and mins <= 59):
        return None
    return _days_from_civil(year, month, day) * 86400 + hour * 3600 + mins * 60


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


# --- the fold ----------------------------------------------------------------------------------


class OllamaFold:
    """One pass over the NDJSON lines; text fragments are appended to lists and joined once."""

    def __init__(self, ctx: FoldContext):
        self.ctx = ctx
        self.chat = ctx.dialect == "ollama-chat"
        self.model: str | None = None
        self.role: str | None = None
        self.content: list[str] | None = None
        self.thinking: list[str] | None = None
        self.tool_calls: list[dict] = []
        self.calls: list[ToolCall] = []
        self.last: dict | None = None
        self.last_index = 0
        self.done: dict | None = None
        self.done_index = 0
        self.times: list[float | None] = []
        self.deltas: list[Delta] = []
        self.obs = Observations()

    def add(self, i: int, chunk: Any) -> None:
        if not isinstance(chunk, dict):
            raise ShapeError("chunk should be an object")
        self.last, self.last_index = chunk, i
        done = chunk.get("done")
        if done is not None and not isinstance(done, bool):
            raise ShapeError("done should be a boolean")
        if done:
            self.done, self.done_index = chunk, i
            self.obs.finish_chunks.setdefault(0, i)
        model = chunk.get("model")
        if model is not None and not isinstance(model, str):
            raise ShapeError("model should be a string")
        if model and not self.model:  # the first non-empty one
            self.model = model
        created = chunk.get("created_at")
        if created is not None and not isinstance(created, str):
            raise ShapeError("created_at should be a string")
        self.times.append(parse_timestamp(created))
        error = chunk.get("error")
        if error is not None:
            self.obs.stream_errors.append((i, error))
        if self.chat:
            message = chunk.get("message")
            if message is not None:
                self._message(i, as_dict(message, "message", ""))
        else:
            self._text(i, chunk.get("response"), chunk.get("thinking"), "response")

    def _message(self, i: int, message: dict) -> None:
        role = message.get("role")
        if role is not None and not isinstance(role, str):
            raise ShapeError("message.role should be a string")
        if role and not self.role:  # the first non-empty one
            self.role = role
        self._text(i, message.get("content"), message.get("thinking"), "message.content")
        calls = message.get("tool_calls")
        if calls is not None:
            for call in as_list(calls, "message.tool_calls", ""):
                self._tool(i, as_dict(call, "tool call", ""))

    def _text(self, i: int, text: Any, thinking: Any, name: str) -> None:
        if text is not None:
            text = as_text(text, name, "")
            if self.content is None:
                self.content = [text]
            else:
                self.content.append(text)
            if text:
                self.deltas.append(_new_tuple(Delta, (i, 0, "content", text, None)))
        if thinking is not None:
            thinking = as_text(thinking, "thinking", "")
            if self.thinking is None:
                self.thinking = [thinking]
            else:
                self.thinking.append(thinking)
            if thinking:
                self.deltas.append(Delta(i, 0, "reasoning", thinking, None))

    def _tool(self, i: int, call: dict) -> None:
        fn = as_dict(call.get("function"), "tool call function", "")
        name = as_text(fn.get("name"), "tool call name", "")
        cid = as_text(call.get("id"), "tool call id", "")
        index = fn.get("index")
        if index is not None and type(index) is not int:
            raise ShapeError("tool call index should be an integer")
        args = fn.get("arguments")
        raw = dump_arguments(args) if args is not None else ""
        parsed = args if args is not None and not isinstance(args, str) else parse_arguments(raw)
        self.tool_calls.append(call)
        self.calls.append(ToolCall(id=cid or None, name=name, arguments=raw, parsed_arguments=parsed))
        self.obs.tool_events.append(ToolEvent(i, 0, index, cid or None, name))
        if raw:
            self.deltas.append(Delta(i, 0, "tool", raw, None))

    # -- result ------------------------------------------------------------------------------

    def result(self, n_chunks: int, response: Any = None) -> Result:
        """The folded result; metrics come from the last done line (else the last line)."""
        if self.done is not None:
            base, where = self.done, f"chunk {self.done_index}"
        else:
            base, where = self.last or {}, f"chunk {self.last_index}"
        finish = as_text(base.get("done_reason"), "done_reason", where) if self.done is not None else None
        content = "".join(self.content) if self.content is not None else None
        thinking = "".join(self.thinking) if self.thinking is not None else None
        if response is None:
            response = self._response(base, content, thinking)
        message = Message(index=0, role=self.role or "assistant", content=content, reasoning=thinking,
                          tool_calls=self.calls, finish_reason=finish, stop=stop_of(finish, STOPS))
        return Result(
            response=response,
            model=self.model,
            choices=[message],
            usage=Usage(input_tokens=_count(base, "prompt_eval_count", where),
                        output_tokens=_count(base, "eval_count", where)),
            complete=self.done is not None,
            timeline=self._timeline(n_chunks, base, where),
            observations=self.obs,
        )

    def _response(self, base: dict, content: str | None, thinking: str | None) -> dict:
        out = dict(base)
        if not self.chat:
            if content is not None:
                out["response"] = content
            if thinking is not None:
                out["thinking"] = thinking
            return out
        message = dict(base.get("message") or {})
        if self.role:
            message["role"] = self.role
        if content is not None:
            message["content"] = content
        if thinking is not None:
            message["thinking"] = thinking
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        out["message"] = message
        return out

    def _timeline(self, n_chunks: int, base: dict, where: str) -> Timeline:
        durations = {}
        for key, value in base.items():
            if key.endswith("_duration") and value is not None:
                if type(value) not in (int, float):
                    raise ShapeError(f"{key} should be a number", where)
                if value > 0:
                    durations[key] = value / 1e9
        real = sum(t is not None for t in self.times)
        if real >= 2:
            times, timing = self.times, "created_at"
        elif self.ctx.chunk_times:
            times, timing = self.ctx.chunk_times, "har"
        else:
            times, timing = None, "durations" if durations else "none"
        return Timeline(chunks=n_chunks, deltas=self.deltas, times=times, timing=timing, durations=durations)


def _count(line: dict, key: str, where: str) -> int | None:
    value = line.get(key)
    if value is not None and type(value) is not int:
        raise ShapeError(f"{key} should be an integer", where)
    return value


def fold(chunks: list, ctx: FoldContext) -> Result:
    state = OllamaFold(ctx)
    feed(state, chunks)
    return state.result(len(chunks))


def fold_body(body: Any, ctx: FoldContext) -> Result:
    state = OllamaFold(ctx)
    feed_body(state, body)
    try:
        return state.result(0, response=body)
    except ShapeError as exc:
        raise ShapeError(exc.what, "response body") from None


def wants_stream(path: str, body: Any) -> bool:
    """Ollama streams unless the body says ``"stream": false`` (docs/api.md: "stream: if false the
    response will be returned as a single response object")."""
    return stream_requested(body, default=True)
