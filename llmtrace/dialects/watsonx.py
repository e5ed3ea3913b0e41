"""IBM watsonx.ai text generation: ``/ml/v1/text/generation_stream`` (and the older
``/ml/v1-beta/generation/text_stream``), SSE events folded into the ``/text/generation``
response; the unstreamed response is read too.

Each event is ``{model_id, created_at, results: [{generated_text, generated_token_count,
input_token_count, stop_reason, ...}], system: {warnings}}``; ``results[j]`` is choice ``j``.
Merge rules: ``generated_text`` concatenates; ``generated_token_count`` is a running total
(the last value wins, never summed); ``input_token_count`` is reported once (the first event,
``0`` after it: the largest value is the count); ``stop_reason`` is ``not_finished`` until the
last event (``eos_token``, ``max_tokens``, ``stop_sequence``, ``token_limit``, ``time_limit``,
``cancelled``, ``error``), and the stream is complete when every result has another one;
other result fields (``seed``, token details) last non-null; ``model_id``/``model_version``
first; ``system.warnings`` collected. ``created_at`` times the events.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmtrace.dialects import FoldContext, as_dict, as_int, as_list, as_text, feed, first, stop_of
from llmtrace.dialects.ollama import parse_timestamp
from llmtrace.errors import ShapeError
from llmtrace.model import Delta, Message, Observations, Result, Timeline, Usage

NAMES = ("watsonx",)

STOPS = {"eos_token": "stop", "stop_sequence": "stop", "max_tokens": "length", "token_limit": "length",
         "time_limit": "length", "error": "error"}
FINISH_REASONS = frozenset(STOPS) | {"cancelled", "not_finished"}
_RUNNING = "not_finished"


def sniff(payload: dict) -> str | None:
    results = payload.get("results")
    if "model_id" in payload and isinstance(results, list) and results and isinstance(results[0], dict) \
            and "generated_text" in results[0]:
        return "watsonx"
    return None


class _Result:
    __slots__ = ("text", "fields", "stop", "input", "output")

    def __init__(self):
        self.text: list[str] = []
        self.fields: dict[str, Any] = {}
        self.stop: str | None = None
        self.input: int | None = None
        self.output: int | None = None


class WatsonxFold:
    def __init__(self, ctx: FoldContext):
        self.ctx = ctx
        self.top: dict[str, Any] = {}
        self.results: dict[int, _Result] = {}
        self.warnings: list = []
        self.system: dict[str, Any] = {}
        self.times: list[float | None] = []
        self.deltas: list[Delta] = []
        self.obs = Observations()

    def add(self, i: int, event: Any) -> None:
        if not isinstance(event, dict):
            raise ShapeError("event should be an object")
        for key, value in event.items():
            if key == "results":
                for j, item in enumerate(as_list(value, "results", "")):
                    self._result(i, j, as_dict(item, "result", ""))
            elif key == "system":
                system = as_dict(value, "system", "")
                for skey, svalue in system.items():
                    if skey == "warnings":
                        self.warnings.extend(as_list(svalue, "system.warnings", ""))
                    elif svalue is not None:
                        self.system[skey] = svalue
            elif key == "errors" and value:
                self.obs.stream_errors.append((i, value))
            elif value is not None:
                self.top[key] = first(self.top.get(key), value)
        created = event.get("created_at")
        if created is not None and not isinstance(created, str):
            raise ShapeError("created_at should be a string")
        self.times.append(parse_timestamp(created))

    def _result(self, i: int, j: int, item: dict) -> None:
        slot = self.results.get(j)
        if slot is None:
            slot = self.results[j] = _Result()
        text = as_text(item.get("generated_text"), "generated_text", "")
        if text is not None:
            slot.text.append(text)
            if text:
                self.deltas.append(Delta(i, j, "content", text))
        stop = as_text(item.get("stop_reason"), "stop_reason", "")
        if stop and stop != _RUNNING:
            if slot.stop is None:
                self.obs.finish_chunks.setdefault(j, i)
            slot.stop = stop
        count = as_int(item.get("input_token_count"))
        if count is not None and (slot.input is None or count > slot.input):
            slot.input = count
        count = as_int(item.get("generated_token_count"))
        if count is not None:
            slot.output = count
        for key, value in item.items():
            if key not in ("generated_text", "stop_reason", "input_token_count", "generated_token_count") \
                    and value is not None:
                slot.fields[key] = value

    def result(self, n_chunks: int, response: Any = None) -> Result:
        slots = [self.results[j] for j in sorted(self.results)]
        messages = [Message(index=j, role="assistant", content="".join(s.text), finish_reason=s.stop,
                            stop=stop_of(s.stop, STOPS)) for j, s in zip(sorted(self.results), slots)]
        if response is None:
            response = dict(self.top)
            response["results"] = [{"generated_text": "".join(s.text), "generated_token_count": s.output,
                                    "input_token_count": s.input, "stop_reason": s.stop or _RUNNING, **s.fields}
                                   for s in slots]
            if self.warnings or self.system:
                response["system"] = {**self.system, **({"warnings": self.warnings} if self.warnings else {})}
        inputs = [s.input for s in slots if s.input is not None]
        outputs = [s.output for s in slots if s.output is not None]
        usage = Usage(input_tokens=inputs[0] if len(inputs) == 1 else (sum(inputs) if inputs else None),
                      output_tokens=outputs[0] if len(outputs) == 1 else (sum(outputs) if outputs else None))
        real = sum(t is not None for t in self.times)
        if real >= 2:
            times, timing = self.times, "created_at"
        elif self.ctx.chunk_times:
            times, timing = self.ctx.chunk_times, "har"
        else:
            times, timing = None, "none"
        model = self.top.get("model_id")
        return Result(response=response, model=model if isinstance(model, str) else None, choices=messages,
                      usage=usage, complete=bool(slots) and all(s.stop is not None for s in slots),
                      timeline=Timeline(chunks=n_chunks, deltas=self.deltas, times=times, timing=timing),
                      observations=self.obs)


def fold(chunks: list, ctx: FoldContext) -> Result:
    state = WatsonxFold(ctx)
    feed(state, chunks)
    return state.result(len(chunks))


CONTENT_TYPE = "text/event-stream"


def encode(chunk: Any) -> bytes:
    """One event as watsonx sends it: ``event: message`` and the JSON ``data:``."""
    return b"event: message\ndata: " + orjson.dumps(chunk, option=orjson.OPT_NON_STR_KEYS) + b"\n\n"


def fold_body(body: Any, ctx: FoldContext) -> Result:
    state = WatsonxFold(ctx)
    try:
        state.add(0, body)
        return state.result(0, response=body)
    except ShapeError as exc:
        raise ShapeError(exc.what, "response body") from None


def wants_stream(path: str, body: Any) -> bool | None:
    """Decided by the path (watsonx.ai API: ``/ml/v1/text/generation_stream`` and ``…/chat_stream``
    stream, ``/ml/v1/text/generation`` and ``…/chat`` answer one body)."""
    path = path.split("?", 1)[0]
    if path.endswith(("_stream", "/text_stream")):
        return True
    return False if path.endswith(("/text/generation", "/text/chat", "/generation/text")) else None
