"""OpenAI chat completions (and every server that speaks it: Azure, Together, vLLM, Ollama's
/v1, Bedrock, LiteLLM, ...): ``chat.completion.chunk`` streams folded into one
``chat.completion``.

Merge rules (reassembly.md): explicit null == absent; ``role``/``id``/``model``/``type``/
``system_fingerprint`` first non-empty; text fields concatenate; ``finish_reason`` and
``usage`` last non-null; tool calls keyed by (choice, index), a new id or name starting a new
call where the index is missing or reused; per-chunk numbers go to the timeline.

Provider extras of OpenAI-like servers:
- Groq: ``x_groq`` (``id``, ``seed``, and on the last chunk ``usage`` with its timings) merged
  key by key into the response's ``x_groq``; its ``usage`` is the usage when the chunks carry
  no top-level one;
- DeepSeek: ``usage.prompt_cache_hit_tokens`` is the cached count (``prompt_cache_miss_tokens``
  stays in the usage as sent);
- OpenRouter: ``provider`` (first non-empty) kept at the top level; ``usage.cost`` and
  ``cost_details`` stay in the usage; ``reasoning_details`` merged by index;
- OpenRouter image output: ``delta.images`` (``[{"type": "image_url", "image_url": {"url":
  "data:image/png;base64,…"}}]``) concatenated in order into the message's ``images``; kept in
  the reassembled response only — an image is no text, never in the content or the timeline;
- Mistral: ``p`` (random padding against length side channels) is per-chunk noise, dropped;
  content sent as a list of chunks (Magistral) is read part by part: ``text`` parts are
  content, ``thinking`` parts (their own list of text chunks) are reasoning, reassembled under
  ``thinking``.
"""

from __future__ import annotations

from typing import Any

from llmtrace.dialects import (
    ANY,
    stream_requested,
    FoldContext,
    as_dict,
    as_int,
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

NAMES = ("openai-chat",)


# Parameters matching (``serve``) counts as absent: at the value the API reference documents as
# the default (https://platform.openai.com/docs/api-reference/chat/create), or ANY: never a
# change to the answer. ``tool_choice`` ("auto" with tools, "none" without) is ``server.match``'s.
DEFAULTS = {
    "temperature": (1,),  # "Defaults to 1"
    "top_p": (1,),  # "Defaults to 1"
    "n": (1,),  # "Defaults to 1"
    "presence_penalty": (0,),  # "Defaults to 0"
    "frequency_penalty": (0,),  # "Defaults to 0"
    "logprobs": (False,),  # "Defaults to false"
    "stop": (None, [], ""),  # "Defaults to null"
    "logit_bias": (None, {}),  # "Defaults to null"
    "parallel_tool_calls": (True,),  # "Defaults to true"
    "response_format": ({"type": "text"},),  # the default format: text
    "store": ANY,  # kept for distillation and evals: not the answer
    "metadata": ANY,  # tags for the stored completion
    "user": ANY,  # an end-user id, for abuse monitoring
    "safety_identifier": ANY,  # the same, renamed
    "prompt_cache_key": ANY,  # cache routing
    "service_tier": ANY,  # processing tier: latency and price, not content
}

# Reasoning text fields, under the names providers use for them.
REASONING_FIELDS = ("reasoning_content", "reasoning", "thinking")
# Choice keys that are the message, merged by rule, or per-chunk timeline data.
CHOICE_KEYS = frozenset(("index", "delta", "message", "finish_reason", "logprobs", "text", "seed", "token_ids",
                          "token_id", "obfuscation"))
# Choice keys the chat fold does not read (the completions fold reads ``text``).
_UNREAD_CHOICE_KEYS = CHOICE_KEYS - {"index", "delta", "message", "finish_reason", "logprobs"}
# Top-level strings: first non-empty value wins.
_TOP_TEXT = ("id", "model", "system_fingerprint", "service_tier", "object")
STOPS = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "function_call": "tool_calls",
         "content_filter": "content_filter", "error": "error"}
FINISH_REASONS = frozenset(("stop", "length", "tool_calls", "content_filter", "function_call"))
# Delta keys read on every delta; a delta with any other key is also searched for reasoning text
# and token ids.
_COMMON_DELTA_KEYS = frozenset(("role", "content", "refusal", "tool_calls", "function_call"))
# A Delta built without the named tuple's Python-level constructor (it is on the hot path).
_new_tuple = tuple.__new__


def sniff(payload: dict) -> str | None:
    obj = payload.get("object")
    if obj in ("chat.completion.chunk", "chat.completion"):
        return "openai-chat"
    choices = payload.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        if "delta" in choices[0] or "message" in choices[0]:
            return "openai-chat"
    return None


class _Tool:
    __slots__ = ("index", "id", "type", "name", "args")

    def __init__(self, index: int | None):
        self.index = index
        self.id: str | None = None
        self.type: str | None = None
        self.name: str | None = None
        self.args: list[str] = []


class _Choice:
    __slots__ = ("index", "role", "content", "refusal", "reasoning", "reasoning_details", "tools",
                 "by_index", "finish_reason", "extras", "logprobs", "function_call", "images")

    def __init__(self, index: int):
        self.index = index
        self.role: str | None = None
        self.content: list[str] | None = None
        self.refusal: list[str] | None = None
        self.reasoning: dict[str, list[str]] = {}
        self.reasoning_details: dict[int, dict] | None = None
        self.tools: list[_Tool] = []
        self.by_index: dict[int, _Tool] = {}
        self.finish_reason: str | None = None
        self.extras: dict[str, Any] = {}
        self.logprobs: dict[str, list] | None = None
        self.function_call: dict[str, list[str]] | None = None
        self.images: list | None = None


class ChatFold:
    """One pass over the chunks; every text fragment is appended to a list and joined once."""

    CHOICE = _Choice  # the per-choice state (the completions fold swaps in its own)

    def __init__(self, ctx: FoldContext):
        self.ctx = ctx
        self.top: dict[str, Any] = {"id": None, "object": None, "created": None, "model": None,
                                    "system_fingerprint": None, "service_tier": None}
        self.created_seen: Any = None
        self.usage: Any = None
        self.x_groq: dict | None = None
        self.provider: Any = None
        self.filters: list = []
        self.choices: dict[int, _Choice] = {}
        self.deltas: list[Delta] = []
        self.obs = Observations()
        self._last_id: str | None = None
        # Top-level strings not seen yet (first non-empty wins); most are found in chunk 0.
        self._pending: list[str] = list(_TOP_TEXT)
        # ``_choice`` reads the common choice itself, standing for ``_slot`` and ``_delta``: not
        # in a fold that reads more of a delta (Writer's extras).
        self._common_choices = type(self)._delta is ChatFold._delta and type(self)._slot is ChatFold._slot

    # -- per chunk ---------------------------------------------------------------------------

    def add(self, i: int, chunk: Any) -> None:
        if not isinstance(chunk, dict):
            raise ShapeError("chunk should be an object")
        top = self.top
        pending = self._pending
        if pending:  # top-level strings not seen yet: the first non-empty value wins
            found = False
            for key in pending:
                value = chunk.get(key)
                if value is not None and value != "":
                    top[key] = as_text(value, key, "")
                    found = True
            if found:
                self._pending = [key for key in pending if not top[key]]
        cid = chunk.get("id")
        if cid and cid != self._last_id:
            self._last_id = cid = as_text(cid, "id", "")
            if cid not in self.obs.chunk_ids:
                self.obs.chunk_ids.append(cid)
        if not top["created"]:
            created = chunk.get("created")
            if created is not None:
                if self.created_seen is None:
                    self.created_seen = created
                if created:
                    top["created"] = created
        usage = chunk.get("usage")
        if usage is not None:
            self.usage = as_dict(usage, "usage", "")
        if "x_groq" in chunk or "provider" in chunk:
            self._provider_extras(chunk)
        filters = chunk.get("prompt_filter_results")
        if filters:
            filters = as_list(filters, "prompt_filter_results", "")
            self.filters.extend(filters)
            self.obs.filter_results.extend(filters)
        error = chunk.get("error")
        if error is not None:
            self.obs.stream_errors.append((i, error))
        choices = chunk.get("choices")
        if choices is not None:
            if type(choices) is not list:
                raise ShapeError("choices should be an array")
            for raw in choices:
                if type(raw) is not dict:
                    raise ShapeError("choice should be an object")
                self._choice(i, raw)

    def _provider_extras(self, chunk: dict) -> None:
        """Groq's ``x_groq`` (merged key by key, the latest non-null winning) and OpenRouter's
        ``provider`` (first non-empty)."""
        extra = chunk.get("x_groq")
        if extra is not None:
            extra = as_dict(extra, "x_groq", "")
            if self.x_groq is None:
                self.x_groq = {}
            for key, value in extra.items():
                if value is not None or key not in self.x_groq:
                    self.x_groq[key] = value
        provider = chunk.get("provider")
        if provider not in (None, "") and self.provider is None:
            self.provider = provider

    def _slot(self, raw: dict) -> Any:
        """The state of the choice ``raw`` belongs to (by its ``index``; absent means 0)."""
        index = raw.get("index")
        if index is None:
            index = 0
        elif type(index) is not int:
            raise ShapeError("choice index should be an integer")
        choice = self.choices.get(index)
        if choice is None:
            choice = self.choices[index] = self.CHOICE(index)
        return choice

    def _finish(self, i: int, choice: Any, raw: dict) -> None:
        """A non-null ``finish_reason``: the last one wins; the chunk of the first is evidence."""
        finish = as_text(raw["finish_reason"], "finish_reason", "")
        if choice.finish_reason is None and choice.index not in self.obs.finish_chunks:
            self.obs.finish_chunks[choice.index] = i
        choice.finish_reason = finish

    def _extras(self, choice: Any, raw: dict) -> None:
        """Choice-level fields beyond the merged ones (vLLM's ``stop_reason``, ...): last non-null."""
        for key, value in raw.items():
            if value is not None and key not in CHOICE_KEYS:
                if key == "content_filter_results":
                    if not value:
                        continue
                    self.obs.filter_results.append(value)
                choice.extras[key] = value

    def _choice(self, i: int, raw: dict) -> None:
        """One choice of a chunk. The common one — nothing non-null but its ``index`` and a
        ``delta`` that holds nothing non-null but its ``role`` and text — is read here, in one
        pass over each dict's items; any other is read by ``_any_choice``, the general way, which
        reads the common one the same (nothing is changed before the choice is known common)."""
        if not self._common_choices:
            return self._any_choice(i, raw)
        index = delta = None
        for key, value in raw.items():
            if value is None:
                continue
            if key == "delta":
                delta = value
            elif key == "index":
                index = value
            elif key not in _UNREAD_CHOICE_KEYS:
                return self._any_choice(i, raw)
        role = content = token_id = None
        if delta is not None:
            if type(delta) is not dict:
                return self._any_choice(i, raw)
            for key, value in delta.items():
                if value is None:
                    continue
                if key == "content":
                    content = value
                elif key == "role":
                    role = value
                elif key == "token_id":
                    if type(value) is int:
                        token_id = value
                else:
                    return self._any_choice(i, raw)
            if (content is not None and type(content) is not str) or (role is not None and type(role) is not str):
                return self._any_choice(i, raw)
        if index is None:
            index = 0
        elif type(index) is not int:
            return self._any_choice(i, raw)
        choice = self.choices.get(index)
        if choice is None:
            choice = self.choices[index] = self.CHOICE(index)
        if role and not choice.role:
            choice.role = role
        if content is not None:
            if choice.content is None:
                choice.content = [content]
            else:
                choice.content.append(content)
            if content:
                self.deltas.append(_new_tuple(Delta, (i, index, "content", content, token_id)))

    def _any_choice(self, i: int, raw: dict) -> None:
        choice = self._slot(raw)
        delta = raw.get("delta")
        if delta is None:
            delta = raw.get("message")
        if delta is not None:
            if not isinstance(delta, dict):
                raise ShapeError("delta should be an object")
            self._delta(i, choice, delta)
        if raw.get("finish_reason") is not None:
            self._finish(i, choice, raw)
        logprobs = raw.get("logprobs")
        if logprobs is not None:
            logprobs = as_dict(logprobs, "logprobs", "")
            if choice.logprobs is None:
                choice.logprobs = {}
            for key, value in logprobs.items():
                if isinstance(value, list):
                    choice.logprobs.setdefault(key, []).extend(value)
                elif value is not None:
                    choice.logprobs.setdefault(key, [])
        if not CHOICE_KEYS.issuperset(raw):
            self._extras(choice, raw)

    def _delta(self, i: int, choice: _Choice, delta: dict) -> None:
        idx = choice.index
        deltas = self.deltas
        # Most deltas hold only the common fields; the others (reasoning, token ids) are looked
        # for only when the delta has a key beyond them.
        common = _COMMON_DELTA_KEYS.issuperset(delta)
        token_id = None
        if not common:
            token_id = delta.get("token_id")
            if type(token_id) is not int:
                token_id = None
        role = delta.get("role")
        if role is not None:
            if type(role) is not str:
                raise ShapeError("role should be a string")
            if role and not choice.role:
                choice.role = role
        content = delta.get("content")
        if content is not None:
            if not isinstance(content, str):
                content = self._content_parts(i, choice, content, token_id)
            if choice.content is None:
                choice.content = [content]
            else:
                choice.content.append(content)
            if content:
                deltas.append(_new_tuple(Delta, (i, idx, "content", content, token_id)))
        refusal = delta.get("refusal")
        if refusal is not None:
            refusal = as_text(refusal, "refusal", "")
            if choice.refusal is None:
                choice.refusal = [refusal]
            else:
                choice.refusal.append(refusal)
            if refusal:
                deltas.append(Delta(i, idx, "refusal", refusal, token_id))
        if not common:
            for name in REASONING_FIELDS:
                text = delta.get(name)
                if text is not None:
                    text = as_text(text, name, "")
                    choice.reasoning.setdefault(name, []).append(text)
                    if text:
                        deltas.append(Delta(i, idx, "reasoning", text, token_id))
            details = delta.get("reasoning_details")
            if details:
                self._reasoning_details(choice, as_list(details, "reasoning_details", ""))
            images = delta.get("images")
            if images:
                if choice.images is None:
                    choice.images = []
                choice.images.extend(as_list(images, "images", ""))
        calls = delta.get("tool_calls")
        if calls:
            for call in as_list(calls, "tool_calls", ""):
                self._tool(i, choice, as_dict(call, "tool call", ""))
        legacy = delta.get("function_call")
        if legacy:
            legacy = as_dict(legacy, "function_call", "")
            fc = choice.function_call
            if fc is None:
                fc = choice.function_call = {"name": [], "arguments": []}
            name = as_text(legacy.get("name"), "function_call name", "")
            if name and name not in fc["name"]:
                fc["name"].append(name)
            if legacy.get("arguments") is not None:
                fc["arguments"].append(dump_arguments(legacy["arguments"]))

    def _content_parts(self, i: int, choice: _Choice, content: Any, token_id: int | None) -> str:
        """Content sent as a list of parts (Mistral, some servers): the text parts' text, which
        is returned; ``thinking`` parts go to the choice's reasoning (under ``thinking``)."""
        if not isinstance(content, list):
            raise ShapeError("content should be a string")
        texts = []
        for part in content:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "thinking":
                thinking = part.get("thinking")
                if isinstance(thinking, list):
                    thinking = "".join(p.get("text") or "" for p in thinking if isinstance(p, dict))
                thinking = as_text(thinking, "thinking", "") or ""
                choice.reasoning.setdefault("thinking", []).append(thinking)
                if thinking:
                    self.deltas.append(Delta(i, choice.index, "reasoning", thinking, token_id))
            else:
                text = part.get("text")
                if isinstance(text, str):
                    texts.append(text)
        return "".join(texts)

    def _reasoning_details(self, choice: _Choice, details: list) -> None:
        merged = choice.reasoning_details
        if merged is None:
            merged = choice.reasoning_details = {}
        for n, item in enumerate(details):
            item = as_dict(item, "reasoning detail", "")
            key = item.get("index", n)
            if isinstance(key, (dict, list)):
                raise ShapeError("reasoning detail index should be an integer")
            target = merged.get(key)
            if target is None:
                merged[key] = dict(item)
                continue
            for k, v in item.items():
                if v is None:
                    continue
                if isinstance(v, str) and isinstance(target.get(k), str) and k in ("text", "summary", "data"):
                    target[k] += v  # rare: reasoning_details streams are short
                elif target.get(k) in (None, ""):
                    target[k] = v

    def _tool(self, i: int, choice: _Choice, call: dict) -> None:
        index = call.get("index")
        if index is not None and type(index) is not int:
            raise ShapeError("tool call index should be an integer")
        cid = as_text(call.get("id"), "tool call id", "") or None
        fn = call.get("function")
        fn = as_dict(fn, "function", "") if fn is not None else {}
        name = as_text(fn.get("name"), "function name", "") or None
        self.obs.tool_events.append(ToolEvent(i, choice.index, index, cid, name))
        tool = choice.by_index.get(index) if index is not None else (choice.tools[-1] if choice.tools else None)
        if tool is not None and cid and tool.id and cid != tool.id:
            tool = None  # a different call reusing the index (or sent without one)
        elif tool is not None and index is None and name and tool.name and name != tool.name and not cid:
            tool = None
        if tool is None:
            tool = _Tool(index)
            choice.tools.append(tool)
            if index is not None:
                choice.by_index[index] = tool
        if cid and not tool.id:
            tool.id = cid
        ctype = call.get("type")
        if ctype and not tool.type:
            tool.type = ctype
        if name and name != tool.name:
            tool.name = name if tool.name is None else tool.name + name
        args = fn.get("arguments")
        if args is not None:
            args = dump_arguments(args)
            tool.args.append(args)
            if args:
                self.deltas.append(Delta(i, choice.index, "tool", args, None))

    # -- result ------------------------------------------------------------------------------

    def result(self, n_chunks: int, response: Any = None) -> Result:
        choices = [self.choices[k] for k in sorted(self.choices)]
        messages = [_message(c) for c in choices]
        complete = bool(choices) and all(c.finish_reason is not None for c in choices)
        if choices and not complete and self.ctx.extra.get("done_marker") and self._usage() is not None:
            # The stream ended as a complete one does — the usage chunk, then ``[DONE]`` — but the
            # provider never sent a finish reason (OpenRouter does this): an omission, not a cut.
            complete = True
            self.obs.finish_missing = [c.index for c in choices if c.finish_reason is None]
        if response is None:
            response = self._response(choices, messages)
        top = self.top
        return Result(
            response=response,
            model=top["model"] or None,
            choices=messages,
            usage=usage_of(self._usage()),
            complete=complete,
            timeline=Timeline(chunks=n_chunks, deltas=self.deltas, times=self.ctx.chunk_times,
                              timing="har" if self.ctx.chunk_times else "none"),
            observations=self.obs,
        )

    def _usage(self) -> Any:
        """The usage: the last top-level one, else Groq's ``x_groq.usage``."""
        if self.usage is None and self.x_groq is not None and isinstance(self.x_groq.get("usage"), dict):
            return self.x_groq["usage"]
        return self.usage

    def _response(self, choices: list[_Choice], messages: list[Message]) -> dict:
        top = self.top
        out: dict[str, Any] = {
            "id": top["id"],
            "object": "chat.completion",
            "created": top["created"] if top["created"] else self.created_seen,
            "model": top["model"],
            "system_fingerprint": top["system_fingerprint"],
            "service_tier": top["service_tier"],
            "choices": [_provider_choice(c, m) for c, m in zip(choices, messages)],
            "usage": self._usage(),
        }
        if self.provider is not None:
            out["provider"] = self.provider
        if self.x_groq is not None:
            out["x_groq"] = self.x_groq
        if self.filters:
            out["prompt_filter_results"] = self.filters
        return out


def _message(c: _Choice) -> Message:
    reasoning = None
    if c.reasoning:
        reasoning = "".join("".join(parts) for parts in c.reasoning.values())
    elif c.reasoning_details:
        texts = [d.get("text") or d.get("summary") or "" for d in c.reasoning_details.values()]
        reasoning = "".join(t for t in texts if isinstance(t, str)) or None
    calls = [_tool_call(t) for t in c.tools]
    if c.function_call is not None:
        raw = "".join(c.function_call["arguments"])
        calls.append(ToolCall(id=None, name="".join(c.function_call["name"]) or None, arguments=raw,
                              parsed_arguments=parse_arguments(raw)))
    return Message(
        index=c.index,
        role=c.role or "assistant",
        content="".join(c.content) if c.content is not None else None,
        reasoning=reasoning,
        refusal="".join(c.refusal) if c.refusal is not None else None,
        tool_calls=calls,
        finish_reason=c.finish_reason,
        stop=stop_of(c.finish_reason, STOPS),
    )


def _tool_call(t: _Tool) -> ToolCall:
    raw = "".join(t.args)
    return ToolCall(id=t.id, name=t.name, arguments=raw, parsed_arguments=parse_arguments(raw))


def _provider_choice(c: _Choice, m: Message) -> dict:
    message: dict[str, Any] = {"role": m.role, "content": m.content, "refusal": m.refusal}
    if c.tools:
        message["tool_calls"] = [
            {"id": t.id, "type": t.type or "function", "function": {"name": t.name, "arguments": call.arguments}}
            for t, call in zip(c.tools, m.tool_calls)
        ]
    if c.function_call is not None:
        message["function_call"] = {"name": "".join(c.function_call["name"]) or None,
                                    "arguments": "".join(c.function_call["arguments"])}
    for name, parts in c.reasoning.items():
        message[name] = "".join(parts)
    if c.reasoning_details is not None:
        message["reasoning_details"] = [c.reasoning_details[k] for k in sorted(c.reasoning_details, key=str)]
    if c.images is not None:
        message["images"] = c.images
    out: dict[str, Any] = {"index": c.index, "message": message, "finish_reason": c.finish_reason,
                           "logprobs": c.logprobs}
    out.update(c.extras)
    return out


def usage_of(usage: Any) -> Usage:
    """OpenAI-style usage (chat and completions) in llmtrace's terms."""
    if not isinstance(usage, dict):
        return Usage()
    # The Assistants API's run usage spells them ``prompt_token_details`` / ``completion_token_details``.
    prompt_details = usage.get("prompt_tokens_details") or usage.get("prompt_token_details")
    completion_details = usage.get("completion_tokens_details") or usage.get("completion_token_details")
    cached = prompt_details.get("cached_tokens") if isinstance(prompt_details, dict) else None
    if cached is None:
        cached = usage.get("cached_tokens")  # Together reports it at the top level
    if cached is None:
        cached = usage.get("prompt_cache_hit_tokens")  # DeepSeek
    reasoning = completion_details.get("reasoning_tokens") if isinstance(completion_details, dict) else None
    return Usage(
        input_tokens=as_int(usage.get("prompt_tokens")),
        output_tokens=as_int(usage.get("completion_tokens")),
        total_tokens=as_int(usage.get("total_tokens")),
        cached_tokens=as_int(cached),
        reasoning_tokens=as_int(reasoning),
    )


def fold(chunks: list, ctx: FoldContext) -> Result:
    state = ChatFold(ctx)
    feed(state, chunks)
    return state.result(len(chunks))


def fold_body(body: Any, ctx: FoldContext) -> Result:
    state = ChatFold(ctx)
    feed_body(state, body)
    return state.result(0, response=body)


def wants_stream(path: str, body: Any) -> bool:
    """Streamed only when the body says ``"stream": true``; absent or false, one ``chat.completion``
    (API reference, Create chat completion: ``stream`` defaults to false)."""
    return stream_requested(body)
