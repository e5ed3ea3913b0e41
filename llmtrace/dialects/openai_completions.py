"""OpenAI legacy completions (``/v1/completions``; also Ollama's /v1, vLLM, Together, Fireworks,
Cerebras): ``text_completion`` chunks folded into one ``text_completion``.

The top-level merge is the chat fold's (``id``/``model``/``created``/``system_fingerprint``
first non-empty, ``usage`` last non-null); per choice, keyed by ``index``: ``text``
concatenates, legacy logprobs arrays (``tokens``, ``token_logprobs``, ``top_logprobs``,
``text_offset``) concatenate, ``finish_reason`` and extras such as vLLM's ``stop_reason`` are
the last non-null. Together's per-chunk ``delta`` (a copy of ``text`` plus ``token_id``) and
``seed`` are timeline data.
"""

from __future__ import annotations

from typing import Any

from llmtrace.dialects import (
    ANY,
    stream_requested,
    FoldContext,
    as_dict,
    as_list,
    as_text,
    feed,
    feed_body,
    stop_of,
)
from llmtrace.dialects.openai_chat import CHOICE_KEYS, STOPS, ChatFold, usage_of
from llmtrace.model import Delta, Message, Result, Timeline

NAMES = ("openai-completions",)


# Parameters matching counts as absent (https://platform.openai.com/docs/api-reference/completions/create):
# at their documented default, or ANY: never a change to the answer.
DEFAULTS = {
    "temperature": (1,),  # "Defaults to 1"
    "top_p": (1,),  # "Defaults to 1"
    "n": (1,),  # "Defaults to 1"
    "best_of": (1,),  # "Defaults to 1"
    "presence_penalty": (0,),  # "Defaults to 0"
    "frequency_penalty": (0,),  # "Defaults to 0"
    "echo": (False,),  # "Defaults to false"
    "stop": (None, [], ""),  # "Defaults to null"
    "logit_bias": (None, {}),  # "Defaults to null"
    "logprobs": (None,),  # "Defaults to null"
    "suffix": (None,),  # "Defaults to null"
    "user": ANY,
}

# ``text.completion`` (Together's bodies) and ``completion.chunk`` (Together's streams) too.
OBJECTS = frozenset(("text_completion", "text.completion", "completion.chunk"))
LOGPROB_ARRAYS = ("tokens", "token_logprobs", "top_logprobs", "text_offset")
# Choice keys the completions fold does not read (``delta`` is: Together's token ids).
_UNREAD_CHOICE_KEYS = CHOICE_KEYS - {"index", "text", "finish_reason", "logprobs", "delta"}
# A Delta built without the named tuple's Python-level constructor (it is on the hot path).
_new_tuple = tuple.__new__


def sniff(payload: dict) -> str | None:
    obj = payload.get("object")
    if isinstance(obj, str) and obj in OBJECTS:
        return "openai-completions"
    choices = payload.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        item = choices[0]
        if "text" in item and "delta" not in item and "message" not in item:
            return "openai-completions"
    return None


class _TextChoice:
    __slots__ = ("index", "text", "finish_reason", "logprobs", "extras")

    def __init__(self, index: int):
        self.index = index
        self.text: list[str] | None = None
        self.finish_reason: str | None = None
        self.logprobs: dict[str, Any] | None = None
        self.extras: dict[str, Any] = {}


class CompletionsFold(ChatFold):
    """The chat fold's per-chunk top-level merge, with completions choices."""

    CHOICE = _TextChoice

    def _choice(self, i: int, raw: dict) -> None:
        """One choice of a chunk. The common one — nothing non-null but its ``index`` and its
        ``text`` — is read here, in one pass over its items; any other is read by ``_any_choice``,
        the general way, which reads the common one the same (nothing is changed before the
        choice is known common)."""
        index = text = None
        for key, value in raw.items():
            if value is None:
                continue
            if key == "text":
                text = value
            elif key == "index":
                index = value
            elif key not in _UNREAD_CHOICE_KEYS:
                return self._any_choice(i, raw)
        if text is not None and type(text) is not str:
            return self._any_choice(i, raw)
        if index is None:
            index = 0
        elif type(index) is not int:
            return self._any_choice(i, raw)
        choice = self.choices.get(index)
        if choice is None:
            choice = self.choices[index] = self.CHOICE(index)
        if text is not None:
            if choice.text is None:
                choice.text = [text]
            else:
                choice.text.append(text)
            if text:
                self.deltas.append(_new_tuple(Delta, (i, index, "content", text, None)))

    def _any_choice(self, i: int, raw: dict) -> None:
        choice = self._slot(raw)
        index = choice.index
        text = raw.get("text")
        if text is not None:
            text = as_text(text, "text", "")
            if choice.text is None:
                choice.text = [text]
            else:
                choice.text.append(text)
            if text:
                self.deltas.append(Delta(i, index, "content", text, _token_id(raw)))
        if raw.get("finish_reason") is not None:
            self._finish(i, choice, raw)
        logprobs = raw.get("logprobs")
        if logprobs is not None:
            self._logprobs(choice, as_dict(logprobs, "logprobs", ""))
        if not CHOICE_KEYS.issuperset(raw):
            self._extras(choice, raw)

    @staticmethod
    def _logprobs(choice: _TextChoice, logprobs: dict) -> None:
        merged = choice.logprobs
        if merged is None:
            merged = choice.logprobs = {}
        for key, value in logprobs.items():
            if key in LOGPROB_ARRAYS:
                values = as_list(value, f"logprobs.{key}", "")
                if key in merged:
                    merged[key].extend(values)
                else:
                    merged[key] = list(values)
            elif value is not None:
                merged[key] = value

    def result(self, n_chunks: int, response: Any = None) -> Result:
        choices = [self.choices[k] for k in sorted(self.choices)]
        messages = [_message(c) for c in choices]
        if response is None:
            response = self._response(choices)
        return Result(
            response=response,
            model=self.top["model"] or None,
            choices=messages,
            usage=usage_of(self.usage),
            complete=bool(choices) and all(c.finish_reason is not None for c in choices),
            timeline=Timeline(chunks=n_chunks, deltas=self.deltas, times=self.ctx.chunk_times,
                              timing="har" if self.ctx.chunk_times else "none"),
            observations=self.obs,
        )

    def _response(self, choices: list[_TextChoice]) -> dict:
        top = self.top
        out: dict[str, Any] = {
            "id": top["id"],
            "object": "text_completion",
            "created": top["created"] if top["created"] else self.created_seen,
            "model": top["model"],
            "system_fingerprint": top["system_fingerprint"],
            "choices": [_provider_choice(c) for c in choices],
            "usage": self.usage,
        }
        if top["service_tier"]:
            out["service_tier"] = top["service_tier"]
        if self.filters:
            out["prompt_filter_results"] = self.filters
        return out


def _token_id(raw: dict) -> int | None:
    """Together's per-chunk token id (in its ``delta`` copy of the text)."""
    delta = raw.get("delta")
    token_id = delta.get("token_id") if isinstance(delta, dict) else None
    return token_id if type(token_id) is int else None


def _message(c: _TextChoice) -> Message:
    return Message(index=c.index, role="assistant", content="".join(c.text) if c.text is not None else None,
                   finish_reason=c.finish_reason, stop=stop_of(c.finish_reason, STOPS))


def _provider_choice(c: _TextChoice) -> dict:
    out: dict[str, Any] = {"index": c.index, "text": "".join(c.text) if c.text is not None else None,
                           "finish_reason": c.finish_reason, "logprobs": c.logprobs}
    out.update(c.extras)
    return out


def fold(chunks: list, ctx: FoldContext) -> Result:
    state = CompletionsFold(ctx)
    feed(state, chunks)
    return state.result(len(chunks))


def fold_body(body: Any, ctx: FoldContext) -> Result:
    state = CompletionsFold(ctx)
    feed_body(state, body)
    return state.result(0, response=body)


def wants_stream(path: str, body: Any) -> bool:
    """Streamed only when the body says ``"stream": true`` (API reference, Create completion:
    ``stream`` defaults to false)."""
    return stream_requested(body)
