"""Writer (``api.writer.com``): the text completions stream (``/v1/completions``) and the chat
stream (``/v1/chat``).

Completions: SSE events ``{"value": TEXT}``, one piece of text each, and nothing else — no id,
no finish signal, no usage; the stream simply ends. Reassembled into the unstreamed response
``{"model", "choices": [{"text", "log_probs": null}]}`` (the model from the request). With no
end marker in the protocol, a stream that holds pieces counts as complete; one cut inside its
last event is still reported by the container.

Chat: OpenAI-style ``chat.completion.chunk`` objects (folded by the OpenAI chat rules) whose
choices also repeat the ``message`` so far and carry Writer's extras in the delta:
``graph_data`` (Knowledge Graph sources, status, subqueries), ``llm_data``, ``image_data``,
``translation_data``, ``web_search_data``, and ``trace_details`` on the choice. The extras are
kept in the reassembled message: object values merged key by key (the latest non-null value
of each key winning), other values the last non-null.
"""

from __future__ import annotations

from typing import Any

from llmtrace.dialects import FoldContext, as_dict, as_text, feed, feed_body, stream_requested
from llmtrace.dialects.openai_chat import ChatFold
from llmtrace.errors import ShapeError
from llmtrace.model import Delta, Message, Observations, Result, Timeline, Usage

NAMES = ("writer",)

EXTRAS = ("graph_data", "llm_data", "image_data", "translation_data", "web_search_data")
STOPS = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "content_filter": "content_filter"}


def sniff(payload: dict) -> str | None:
    if len(payload) == 1 and isinstance(payload.get("value"), str):
        return "writer"
    choices = payload.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        delta = choices[0].get("delta")
        if delta is None:
            delta = choices[0].get("message")
        if isinstance(delta, dict) and "graph_data" in delta:
            return "writer"
    return None


class WriterChatFold(ChatFold):
    """The OpenAI chat fold, plus Writer's message extras."""

    def __init__(self, ctx: FoldContext):
        super().__init__(ctx)
        self.extras: dict[int, dict[str, Any]] = {}

    def _delta(self, i: int, choice, delta: dict) -> None:
        super()._delta(i, choice, delta)
        kept = None
        for key in EXTRAS:
            value = delta.get(key)
            if value is None:
                continue
            if kept is None:
                kept = self.extras.setdefault(choice.index, {})
            if isinstance(value, dict):
                merged = kept.get(key)
                if not isinstance(merged, dict):
                    merged = kept[key] = {}
                for k, v in value.items():
                    if v is not None or k not in merged:
                        merged[k] = v
            else:
                kept[key] = value

    def result(self, n_chunks: int, response: Any = None) -> Result:
        given = response is not None
        result = super().result(n_chunks, response)
        if not given and isinstance(result.response, dict):
            for choice in result.response.get("choices") or []:
                choice["message"].update(self.extras.get(choice["index"], {}))
        return result


class CompletionsFold:
    def __init__(self, ctx: FoldContext):
        self.ctx = ctx
        self.pieces: list[str] = []
        self.deltas: list[Delta] = []

    def add(self, i: int, chunk: Any) -> None:
        chunk = as_dict(chunk, "chunk", "")
        text = as_text(chunk.get("value"), "value", "")
        if text is not None:
            self.pieces.append(text)
            if text:
                self.deltas.append(Delta(i, 0, "content", text))

    def result(self, n_chunks: int) -> Result:
        body = self.ctx.request_body
        model = body.get("model") if isinstance(body, dict) and isinstance(body.get("model"), str) else None
        text = "".join(self.pieces) if self.pieces else None
        response = {"model": model, "choices": [{"text": text or "", "log_probs": None}]}
        return Result(response=response, model=model, choices=[Message(index=0, role="assistant", content=text)],
                      usage=Usage(), complete=bool(self.pieces),
                      timeline=Timeline(chunks=n_chunks, deltas=self.deltas, times=self.ctx.chunk_times,
                                        timing="har" if self.ctx.chunk_times else "none"),
                      observations=Observations())


def _is_completions(chunks: list) -> bool:
    return bool(chunks) and isinstance(chunks[0], dict) and "value" in chunks[0] and "choices" not in chunks[0]


def fold(chunks: list, ctx: FoldContext) -> Result:
    state: Any = CompletionsFold(ctx) if _is_completions(chunks) else WriterChatFold(ctx)
    feed(state, chunks)
    return state.result(len(chunks))


def fold_body(body: Any, ctx: FoldContext) -> Result:
    if not isinstance(body, dict):
        raise ShapeError("response body should be an object")
    if "choices" in body and isinstance(body["choices"], list) and body["choices"] \
            and isinstance(body["choices"][0], dict) and "text" in body["choices"][0] \
            and "message" not in body["choices"][0]:
        texts = [c.get("text") for c in body["choices"] if isinstance(c, dict)]
        messages = [Message(index=n, role="assistant", content=t if isinstance(t, str) else None)
                    for n, t in enumerate(texts)]
        model = body.get("model") if isinstance(body.get("model"), str) else None
        return Result(response=body, model=model, choices=messages, complete=True)
    state = WriterChatFold(ctx)
    feed_body(state, body)
    return state.result(0, response=body)


def wants_stream(path: str, body: Any) -> bool:
    """Streamed only when the body says ``"stream": true`` (Writer API reference: ``stream`` defaults
    to false)."""
    return stream_requested(body)
