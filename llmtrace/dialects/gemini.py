"""Gemini ``generateContent`` and ``generate_content_stream``: every streamed chunk is a whole
GenerateContentResponse holding a delta; the chunks fold into one GenerateContentResponse.

Keys are read and written as recorded: snake_case from SDK dumps (``usage_metadata``,
``finish_reason``, ``function_call``, ``thought_signature``), camelCase from REST
(``usageMetadata``, ``finishReason``, ``functionCall``, ``thoughtSignature``).

Merge rules (reassembly.md):
- candidates are keyed by ``index`` (absent: 0) and output sorted by it;
- parts: adjacent text parts of the same kind (plain text; ``thought: true`` text, which is
  reasoning) are concatenated into one part, except that two parts that both carry a
  ``thought_signature`` are never joined (a signature is kept byte for byte on its part).
  ``function_call`` parts arrive whole and are kept whole; Gemini gives them no id, which is
  normal; when ids exist, an exact repeat of a call already seen with that id is dropped.
  Vertex's opt-in streamed arguments (``will_continue`` calls carrying ``partial_args``) are
  joined into one call: string fragments of a JSON path concatenate, other values are set,
  and the values are placed into ``args`` by their path (a path llmtrace cannot place keeps
  its fragments under ``partial_args``);
  Other parts (inline data, code execution, ...) are kept whole, in arrival order;
- ``finish_reason`` and the other candidate fields: last non-null (it comes on the last chunk);
- ``usage_metadata``: last non-null (a running total, never summed); other top-level fields:
  first non-empty; ``sdk_http_response`` (the SDK's HTTP headers) is dropped.

There is no end marker: a candidate without ``finish_reason`` means the stream stopped early.
A response whose prompt was blocked (``prompt_feedback.block_reason``, no candidates) is complete.
"""

from __future__ import annotations

import re
from typing import Any

from llmtrace.dialects import (
    ANY,
    FoldContext,
    as_dict,
    as_int,
    as_list,
    as_text,
    dump_arguments,
    feed,
    feed_body,
    first,
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

NAMES = ("gemini",)


# Parameters matching counts as absent (https://ai.google.dev/api/generate-content#generationconfig):
# at their documented default. Gemini's sampling defaults depend on the model, so only these.
DEFAULTS = {
    "candidateCount": (1,),  # "If unset, this will default to 1"
    "candidate_count": (1,),
    "stopSequences": (None, []),
    "stop_sequences": (None, []),
}

STOPS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
}
# Every FinishReason the API defines (the normal ones that map to no stop included).
FINISH_REASONS = frozenset(STOPS) | {"FINISH_REASON_UNSPECIFIED", "LANGUAGE", "OTHER", "IMAGE_OTHER", "NO_IMAGE",
                                     "IMAGE_RECITATION", "TOO_MANY_TOOL_CALLS", "MISSING_THOUGHT_SIGNATURE"}

# The two spellings of each key llmtrace reads: SDK dump (snake_case) and REST (camelCase).
USAGE = ("usage_metadata", "usageMetadata")
_DROPPED = ("sdk_http_response", "sdkHttpResponse")
_FINISH = ("finish_reason", "finishReason")
_SIGNATURE = ("thought_signature", "thoughtSignature")
_CALL = ("function_call", "functionCall")
_MODEL = ("model_version", "modelVersion")
_RESPONSE_ID = ("response_id", "responseId")
_FEEDBACK = ("prompt_feedback", "promptFeedback")
_BLOCK_REASON = ("block_reason", "blockReason")
_WILL_CONTINUE = ("will_continue", "willContinue")
_PARTIAL_ARGS = ("partial_args", "partialArgs")
_JSON_PATH = ("json_path", "jsonPath")
_VALUES = (("string_value", "stringValue"), ("number_value", "numberValue"), ("bool_value", "boolValue"))
_NULL_VALUE = ("null_value", "nullValue")
# One step of an RFC 9535 JSON path as Vertex writes them: .name, [0], ['name'] or ["name"].
_PATH_STEP = re.compile(r"""\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]|\["([^"]*)"\]""")


def get(d: dict, names: tuple[str, str]) -> Any:
    """The value under whichever spelling of a key is present (explicit null == absent)."""
    value = d.get(names[0])
    return d.get(names[1]) if value is None else value


def sniff(payload: dict) -> str | None:
    if isinstance(payload.get("candidates"), list):
        return "gemini"
    if any(k in payload for k in _FEEDBACK):
        return "gemini"
    if any(k in payload for k in USAGE) and any(k in payload for k in _MODEL + _RESPONSE_ID):
        return "gemini"
    return None


class _StreamedCall:
    """A function call whose arguments arrive over several parts as ``partial_args``."""

    __slots__ = ("key", "call", "values")

    def __init__(self, key: str):
        self.key = key  # how the part spells function_call
        self.call: dict[str, Any] = {}
        self.values: dict[str, Any] = {}  # JSON path -> value, or list of string fragments

    def add(self, call: dict) -> list[str]:
        """One more fragment; returns its string fragments (for the timeline)."""
        texts: list[str] = []
        for key, value in call.items():
            if key in _PARTIAL_ARGS:
                for arg in as_list(value, key, ""):
                    self._arg(as_dict(arg, "partial arg", ""), texts)
            elif key not in _WILL_CONTINUE:
                self.call[key] = first(self.call.get(key), value)
        return texts

    def _arg(self, arg: dict, texts: list[str]) -> None:
        path = as_text(get(arg, _JSON_PATH), "json_path", "") or ""
        for names in _VALUES:
            value = get(arg, names)
            if value is not None:
                if isinstance(value, str):
                    fragments = self.values.get(path)
                    if not isinstance(fragments, list):
                        fragments = self.values[path] = []
                    fragments.append(value)
                    texts.append(value)
                else:
                    self.values[path] = value
                return
        if get(arg, _NULL_VALUE) is not None:
            self.values[path] = None

    def output(self) -> dict:
        call = dict(self.call)
        args = call.get("args")
        args = dict(args) if isinstance(args, dict) else {}
        unplaced = []
        for path, value in self.values.items():
            if isinstance(value, list):
                value = "".join(value)
            if not _place(args, path, value):
                unplaced.append({"json_path": path, "value": value})
        call["args"] = args
        if unplaced:
            call["partial_args"] = unplaced
        return call


def _place(root: dict, path: str, value: Any) -> bool:
    """Set ``value`` at a JSON path (``$.a.b[0]``) inside ``root``; False when it cannot."""
    if not path.startswith("$"):
        return False
    steps: list[str | int] = []
    pos = 1
    while pos < len(path):
        match = _PATH_STEP.match(path, pos)
        if match is None:
            return False
        name = next((g for g in (match[1], match[3], match[4]) if g is not None), None)
        steps.append(int(match[2]) if name is None else name)
        pos = match.end()
    if not steps:
        return False
    node: Any = root
    for step, following in zip(steps, steps[1:] + [None]):
        child: Any = value if following is None else ([] if isinstance(following, int) else {})
        if isinstance(step, int):
            if not isinstance(node, list):
                return False
            node.extend([None] * (step + 1 - len(node)))
            if following is None or node[step] is None:
                node[step] = child
            node = node[step]
        else:
            if not isinstance(node, dict):
                return False
            if following is None or node.get(step) is None:
                node[step] = child
            node = node[step]
    return True


class _Part:
    """A part of the reassembled content: the first fragment's dict and, for text, every
    fragment's text (joined once at the end); for a call streamed in pieces, the call."""

    __slots__ = ("kind", "fields", "texts", "signed", "streamed")

    def __init__(self, kind: str, fields: dict, texts: list[str] | None, signed: bool,
                 streamed: _StreamedCall | None = None):
        self.kind = kind  # "content" | "reasoning" | "tool" | "other"
        self.fields = fields
        self.texts = texts
        self.signed = signed
        self.streamed = streamed

    def output(self) -> dict:
        if self.texts is not None:
            out = dict(self.fields)
            out["text"] = "".join(self.texts)
            return out
        if self.streamed is not None:
            out = dict(self.fields)
            out[self.streamed.key] = self.streamed.output()
            return out
        return self.fields


class _Candidate:
    __slots__ = ("index", "fields", "role", "content_extra", "has_content", "parts", "calls", "streaming_call",
                 "finish_reason")

    def __init__(self, index: int):
        self.index = index
        self.fields: dict[str, Any] = {}  # every key as first seen, "content" a placeholder
        self.role: str | None = None
        self.content_extra: dict[str, Any] = {}
        self.has_content = False
        self.parts: list[_Part] = []
        self.calls: dict[str, dict] = {}  # function calls by id, for dropping exact repeats
        self.streaming_call: _Part | None = None  # a call whose last fragment said will_continue
        self.finish_reason: Any = None


class GeminiFold:
    """One pass over the chunks; text fragments are appended to lists and joined once."""

    def __init__(self, ctx: FoldContext):
        self.ctx = ctx
        self.top: dict[str, Any] = {}
        self.usage_key: str | None = None
        self.candidates: dict[int, _Candidate] = {}
        self.deltas: list[Delta] = []
        self.obs = Observations()
        self._last_id: Any = None

    # -- per chunk ---------------------------------------------------------------------------

    def add(self, i: int, chunk: Any) -> None:
        if not isinstance(chunk, dict):
            raise ShapeError("chunk should be an object")
        top = self.top
        for key, value in chunk.items():
            if key == "candidates":
                top.setdefault(key, None)
                for raw in as_list(value, "candidates", ""):
                    self._candidate(i, as_dict(raw, "candidate", ""))
            elif key in USAGE:
                if value is not None:
                    top[key] = as_dict(value, key, "")
                    self.usage_key = key
            elif key in _DROPPED:
                continue
            elif key not in top:
                top[key] = value
            else:
                top[key] = first(top[key], value)
        rid = get(chunk, _RESPONSE_ID)
        if isinstance(rid, str) and rid and rid != self._last_id:
            self._last_id = rid
            if rid not in self.obs.chunk_ids:
                self.obs.chunk_ids.append(rid)

    def _candidate(self, i: int, raw: dict) -> None:
        index = raw.get("index")
        if index is None:
            index = 0
        elif type(index) is not int:
            raise ShapeError("candidate index should be an integer")
        cand = self.candidates.get(index)
        if cand is None:
            cand = self.candidates[index] = _Candidate(index)
        fields = cand.fields
        for key, value in raw.items():
            if key == "content":
                fields.setdefault(key, None)
                if value is not None:
                    self._content(i, cand, as_dict(value, "content", ""))
            elif key not in fields or value is not None:
                fields[key] = value
        finish = as_text(get(raw, _FINISH), "finish_reason", "")
        if finish is not None:
            if index not in self.obs.finish_chunks and not _runs_code(raw):
                self.obs.finish_chunks[index] = i
            cand.finish_reason = finish

    def _content(self, i: int, cand: _Candidate, content: dict) -> None:
        cand.has_content = True
        for key, value in content.items():
            if key == "parts":
                for part in as_list(value, "parts", ""):
                    self._part(i, cand, as_dict(part, "part", ""))
            elif key == "role":
                if value and not cand.role:
                    cand.role = as_text(value, "role", "")
            elif key not in cand.content_extra or value is not None:
                cand.content_extra[key] = value

    def _part(self, i: int, cand: _Candidate, part: dict) -> None:
        call = get(part, _CALL)
        if call is not None:
            self._call(i, cand, part, as_dict(call, "function_call", ""))
        elif part.get("text") is not None:
            self._text(i, cand, part, as_text(part["text"], "text", ""))
        else:
            cand.parts.append(_Part("other", part, None, False))

    def _text(self, i: int, cand: _Candidate, part: dict, text: str) -> None:
        kind = "reasoning" if part.get("thought") else "content"
        signed = get(part, _SIGNATURE) is not None
        last = cand.parts[-1] if cand.parts else None
        if last is not None and last.kind == kind and not (last.signed and signed):
            last.texts.append(text)
            if len(part) > 1:  # the signature (or another field) the first fragment lacked
                _add_missing(last.fields, part)
            last.signed = last.signed or signed
        else:
            cand.parts.append(_Part(kind, dict(part), [text], signed))
        if text:
            self.deltas.append(Delta(i, cand.index, kind, text))

    def _call(self, i: int, cand: _Candidate, part: dict, call: dict) -> None:
        args = call.get("args")
        if args is not None:
            as_dict(args, "function_call args", "")
        cid = call.get("id") or None
        self.obs.tool_events.append(ToolEvent(i, cand.index, None, cid,
                                              as_text(call.get("name"), "function_call name", "")))
        open_call = cand.streaming_call
        if open_call is not None or get(call, _WILL_CONTINUE) or get(call, _PARTIAL_ARGS) is not None:
            if open_call is None:
                key = _CALL[0] if part.get(_CALL[0]) is not None else _CALL[1]
                open_call = _Part("tool", dict(part), None, False, _StreamedCall(key))
                cand.parts.append(open_call)
            else:  # a later fragment may bring the signature
                _add_missing(open_call.fields, part)
            for text in open_call.streamed.add(call):
                if text:
                    self.deltas.append(Delta(i, cand.index, "tool", text))
            cand.streaming_call = open_call if get(call, _WILL_CONTINUE) else None
            return
        if cid is not None:
            if cand.calls.get(cid) == part:
                return  # an exact repeat of a call already received
            cand.calls.setdefault(cid, part)
        cand.parts.append(_Part("tool", part, None, False))
        self.deltas.append(Delta(i, cand.index, "tool", dump_arguments(args if args is not None else {})))

    # -- result ------------------------------------------------------------------------------

    def result(self, n_chunks: int, response: Any = None) -> Result:
        cands = [self.candidates[k] for k in sorted(self.candidates)]
        messages = [_message(c) for c in cands]
        if cands:
            complete = all(c.finish_reason is not None for c in cands)
        else:
            feedback = get(self.top, _FEEDBACK)
            complete = isinstance(feedback, dict) and get(feedback, _BLOCK_REASON) is not None
        if response is None:
            response = self._response(cands)
        model = get(self.top, _MODEL)
        usage = self.top.get(self.usage_key) if self.usage_key else None
        if isinstance(usage, dict):  # built-in tools' prompts: in the total, in no field of ours
            self.obs.uncounted_tokens = as_int(get(usage, ("tool_use_prompt_token_count", "toolUsePromptTokenCount"))) or 0
        return Result(
            response=response,
            model=model if isinstance(model, str) and model else None,
            choices=messages,
            usage=usage_of(usage),
            complete=complete,
            timeline=Timeline(chunks=n_chunks, deltas=self.deltas, times=self.ctx.chunk_times,
                              timing="har" if self.ctx.chunk_times else "none"),
            observations=self.obs,
        )

    def _response(self, cands: list[_Candidate]) -> dict:
        out = dict(self.top)
        if "candidates" in out:
            out["candidates"] = [_provider_candidate(c) for c in cands]
        return out


def _runs_code(candidate: dict) -> bool:
    """Whether a candidate hands code to Google's code execution: Gemini sends ``STOP`` with the
    ``executableCode`` part, then the result and the answer — that finish is not the stream's
    (the last one is), so content after it is no ``content-after-finish``."""
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return isinstance(parts, list) and any(isinstance(p, dict) and ("executableCode" in p or "executable_code" in p)
                                           for p in parts)


def _add_missing(fields: dict, part: dict) -> None:
    for key, value in part.items():
        if value is not None and key not in fields:
            fields[key] = value


def _provider_candidate(c: _Candidate) -> dict:
    out: dict[str, Any] = {}
    for key, value in c.fields.items():
        if key == "content":
            if c.has_content:
                content: dict[str, Any] = {"parts": [p.output() for p in c.parts]}
                if c.role is not None:
                    content["role"] = c.role
                content.update(c.content_extra)
                out[key] = content
            else:
                out[key] = None
        else:
            out[key] = value
    return out


def _message(c: _Candidate) -> Message:
    content: list[str] | None = None
    reasoning: list[str] | None = None
    calls: list[ToolCall] = []
    for part in c.parts:
        if part.kind == "content":
            if content is None:
                content = []
            content.extend(part.texts)
        elif part.kind == "reasoning":
            if reasoning is None:
                reasoning = []
            reasoning.extend(part.texts)
        elif part.kind == "tool":
            calls.append(_tool_call(get(part.output(), _CALL)))
    stop = stop_of(c.finish_reason, STOPS)
    if stop == "stop" and calls:  # Gemini says STOP for a turn that ends in function calls
        stop = "tool_calls"
    return Message(
        index=c.index,
        role="assistant",  # Gemini's "model" (kept in the provider JSON); neutral here
        content="".join(content) if content is not None else None,
        reasoning="".join(reasoning) if reasoning is not None else None,
        tool_calls=calls,
        finish_reason=c.finish_reason,
        stop=stop,
    )


def _tool_call(call: dict) -> ToolCall:
    args = call.get("args")
    raw = dump_arguments(args if args is not None else {})
    return ToolCall(id=call.get("id") or None, name=call.get("name"), arguments=raw,
                    parsed_arguments=parse_arguments(raw))


def usage_of(usage: Any) -> Usage:
    """Gemini ``usage_metadata`` in llmtrace's terms."""
    if not isinstance(usage, dict):
        return Usage()
    return Usage(
        input_tokens=as_int(get(usage, ("prompt_token_count", "promptTokenCount"))),
        output_tokens=as_int(get(usage, ("candidates_token_count", "candidatesTokenCount"))),
        total_tokens=as_int(get(usage, ("total_token_count", "totalTokenCount"))),
        cached_tokens=as_int(get(usage, ("cached_content_token_count", "cachedContentTokenCount"))),
        reasoning_tokens=as_int(get(usage, ("thoughts_token_count", "thoughtsTokenCount"))),
    )


def fold(chunks: list, ctx: FoldContext) -> Result:
    state = GeminiFold(ctx)
    feed(state, chunks)
    return state.result(len(chunks))


def fold_body(body: Any, ctx: FoldContext) -> Result:
    state = GeminiFold(ctx)
    feed_body(state, body)
    # The body as recorded (its parts are not merged), without the SDK's HTTP headers.
    response = {k: v for k, v in body.items() if k not in _DROPPED}
    return state.result(0, response=response)


def wants_stream(path: str, body: Any) -> bool | None:
    """Decided by the method in the path, not the body (REST reference: ``models.generateContent``
    answers one GenerateContentResponse, ``models.streamGenerateContent`` a stream); an SDK-level
    path (``generate_content_stream``) cannot tell."""
    if ":streamGenerateContent" in path:
        return True
    return False if ":generateContent" in path else None
