"""OpenTelemetry GenAI spans (the ``otlp`` container's exchanges): a span's ``gen_ai.*``
attributes read as the response they describe.

What a span says about its generation (the GenAI semantic conventions, and the flattened
attributes OpenLLMetry wrote before them):

- output: ``gen_ai.output.messages`` — ``[{"role", "parts": [{"type": "text", "content"},
  {"type": "reasoning", "content"}, {"type": "tool_call", "id", "name", "arguments"}],
  "finish_reason"}]``, one message per choice —; or legacy ``gen_ai.completion.N.role``,
  ``.content``, ``.finish_reason``, ``.tool_calls.M.{id,name,arguments}``; or a
  ``gen_ai.choice`` event (``index``, ``finish_reason``, ``message``) per choice;
- ``gen_ai.response.finish_reasons`` (one per choice), ``gen_ai.response.model``,
  ``gen_ai.response.id``;
- usage: ``gen_ai.usage.input_tokens``/``output_tokens`` (legacy ``prompt_tokens``/
  ``completion_tokens``), ``gen_ai.usage.cache_read.input_tokens``,
  ``gen_ai.usage.reasoning.output_tokens``, ``llm.usage.total_tokens``;
- ``gen_ai.response.time_to_first_chunk`` (seconds), the span's only time about the stream.

Content capture is off by default in most instrumentations: a span that recorded no output
messages still has its finish reasons and usage, but nothing can be said about its text, so
the checks that read text are named in ``Observations.skipped`` rather than run on nothing.

Reassembled output: the span's attributes, decoded (``gen_ai.*`` and ``llm.*``, structured values
parsed from their JSON text), with the span's name, ids, times and events — what the span holds,
as it holds it.
"""

from __future__ import annotations

from typing import Any

from llmtrace.containers.otlp import indexed, structured
from llmtrace.dialects import FoldContext, as_int, dump_arguments, parse_arguments, stop_of
from llmtrace.errors import ShapeError
from llmtrace.model import Message, Observations, Result, Timeline, ToolCall, Usage

NAMES = ("otel-genai",)
# The conventions' finish reasons, and the provider values instrumentations pass through.
STOPS = {"stop": "stop", "length": "length", "content_filter": "content_filter", "tool_call": "tool_calls",
         "tool_calls": "tool_calls", "error": "error", "end_turn": "stop", "stop_sequence": "stop",
         "max_tokens": "length", "tool_use": "tool_calls", "max_output_tokens": "length",
         "safety": "content_filter"}
# The checks that read the response's text: skipped when the span captured none.
TEXT_CHECKS = ("tool-call-in-text", "reasoning-in-content", "leaked-control-tokens", "empty-response",
               "duplicated-content", "refusal")


def sniff(payload: dict) -> str | None:
    if isinstance(payload.get("span"), dict) and any(key.startswith("gen_ai.") for key in payload):
        return "otel-genai"
    return None


def fold(chunks: list, ctx: FoldContext) -> Result:
    if len(chunks) != 1:
        raise ShapeError("a span is one response, not a stream")
    return fold_body(chunks[0], ctx)


def fold_body(body: Any, ctx: FoldContext) -> Result:
    if not isinstance(body, dict):
        raise ShapeError("span attributes should be an object", "response body")
    finishes = body.get("gen_ai.response.finish_reasons")
    finishes = finishes if isinstance(finishes, list) else [finishes] if isinstance(finishes, str) else []
    obs = Observations()
    messages = _messages(body)
    captured = messages is not None
    if not captured:
        obs.skipped = list(TEXT_CHECKS)
        messages = [{} for _ in finishes] or [{}]
    choices = [_choice(n, message, finishes) for n, message in enumerate(messages)]
    model = body.get("gen_ai.response.model")
    ttft = body.get("gen_ai.response.time_to_first_chunk")
    durations = {"time_to_first_chunk": float(ttft)} if isinstance(ttft, (int, float)) and ttft > 0 else {}
    if not any(c.finish_reason for c in choices):
        obs.skipped.append("no-finish")  # a span that ended recorded no finish: nothing to judge by
    return Result(response=body, model=model if isinstance(model, str) and model else None, choices=choices,
                  usage=_usage(body), complete=True, observations=obs,
                  timeline=Timeline(chunks=0, durations=durations, timing="durations" if durations else "none"))


def _messages(body: dict) -> list[dict] | None:
    """The output messages the span captured, in choice order (None when it captured none)."""
    output = structured(body.get("gen_ai.output.messages"))
    if isinstance(output, list):
        return [m for m in output if isinstance(m, dict)]
    legacy = indexed(body, "gen_ai.completion")
    if legacy:
        return [_legacy(m) for m in legacy]
    choices = [e["attributes"] for e in body.get("events") or []
               if isinstance(e, dict) and e.get("name") == "gen_ai.choice" and isinstance(e.get("attributes"), dict)]
    if choices:
        return [_from_event(c) for c in choices]
    return None


def _legacy(message: dict) -> dict:
    parts: list[dict] = []
    if isinstance(message.get("content"), str):
        parts.append({"type": "text", "content": message["content"]})
    calls: dict[int, dict] = {}
    for key, value in message.items():
        if key.startswith("tool_calls."):
            index, _, field = key[len("tool_calls."):].partition(".")
            if index.isdigit():
                calls.setdefault(int(index), {"type": "tool_call"})[field] = value
    parts.extend(calls[i] for i in sorted(calls))
    return {"role": message.get("role"), "parts": parts, "finish_reason": message.get("finish_reason")}


def _from_event(attrs: dict) -> dict:
    message = structured(attrs.get("message"))
    message = message if isinstance(message, dict) else {}
    parts = [{"type": "text", "content": message["content"]}] if isinstance(message.get("content"), str) else []
    for call in message.get("tool_calls") or []:
        if isinstance(call, dict):
            fn = call.get("function") if isinstance(call.get("function"), dict) else call
            parts.append({"type": "tool_call", "id": call.get("id"), "name": fn.get("name"),
                          "arguments": fn.get("arguments")})
    return {"role": message.get("role"), "parts": parts, "finish_reason": attrs.get("finish_reason")}


def _choice(n: int, message: dict, finishes: list) -> Message:
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    parts = message.get("parts")
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "tool_call":
            args = part.get("arguments")
            raw = "" if args is None else dump_arguments(args)
            calls.append(ToolCall(id=part.get("id"), name=part.get("name"), arguments=raw,
                                  parsed_arguments=parse_arguments(raw)))
        elif isinstance(part.get("content"), str):
            (reasoning if kind in ("reasoning", "thinking") else texts).append(part["content"])
    finish = message.get("finish_reason")
    if not isinstance(finish, str) or not finish:
        finish = finishes[n] if n < len(finishes) and isinstance(finishes[n], str) else None
    stop = stop_of(finish, STOPS)
    role = message.get("role")
    return Message(index=n, role=role if isinstance(role, str) and role else "assistant",
                   content="".join(texts) if texts else None, reasoning="".join(reasoning) or None,
                   tool_calls=calls, finish_reason=finish, stop=stop)


def _usage(body: dict) -> Usage:
    def first(*keys: str) -> int | None:
        for key in keys:
            value = as_int(body.get(key))
            if value is not None:
                return value
        return None

    return Usage(input_tokens=first("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
                 output_tokens=first("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
                 total_tokens=first("gen_ai.usage.total_tokens", "llm.usage.total_tokens"),
                 cached_tokens=first("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"),
                 reasoning_tokens=first("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens"))
