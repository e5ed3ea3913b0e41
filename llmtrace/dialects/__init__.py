"""Dialects: what a stream speaks. Each dialect is one module with

- ``NAMES``: the dialect names it handles (contracts.md vocabulary);
- ``sniff(payload) -> str | None``: the dialect name when one chunk/body has its shape;
- ``fold(chunks, ctx) -> Result``: streamed chunks folded into the unstreamed response;
- ``fold_body(body, ctx) -> Result``: a non-streaming body read into the same Result;
- optionally ``STREAM_START = (key, value)``: the event that opens a stream, where the dialect has
  one (a chunk file with several is split into one exchange per stream);
- optionally ``dialect_of_path(path) -> str | None``: the dialect an endpoint names on its own
  (Bedrock's), used before the request body when no chunk or body shape told.
- optionally ``wants_stream(path, body) -> bool | None``: whether a request asks for the stream,
  by the provider's wire rule (None: the rule cannot tell; ``serve`` answers as recorded);
- optionally ``DEFAULTS``: parameters whose value is the provider's documented default, which
  matching treats as absent (``{name: (value, ...)}``, each with its source).

Adding a dialect means adding a module and listing it in ``_MODULES``, with the keys its
``sniff`` needs and its ``NAMES``.
"""

from __future__ import annotations

import functools
import importlib
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from llmtrace.errors import ShapeError
from llmtrace.urls import url_path

# Order matters only where shapes overlap: the more specific sniffers come first. With each module:
# the top-level keys a payload holds at least one of whenever its ``sniff`` claims it (a necessary
# condition read off each ``sniff``; tests/test_dialect_index.py checks it) and its ``NAMES``. A
# payload is offered only to the modules that could claim it, and a dialect's module is found by
# its name: reading one recording imports the modules its payloads could speak, not every module
# sniffed before its own (a Llama Stack file of OpenAI chat chunks imported 16 of them, now 6).
_MODULES = (
    # websocket events: the Responses API's names, with an event_id
    ("openai_realtime", ("type", "response"), ("openai-realtime",)),
    ("gemini_live", ("serverContent", "toolCall", "toolCallCancellation", "setupComplete"), ("gemini-live",)),
    # websocket frames with a <type>_event payload (agent_response, client_tool_call, …)
    ("elevenlabs_agents", ("type",), ("elevenlabs-agents",)),
    ("otel_genai", ("span",), ("otel-genai",)),
    # objects named thread.run, thread.run.step.delta, thread.message.delta
    ("openai_assistants", ("object",), ("openai-assistants",)),
    ("openai_responses", ("type", "object"), ("openai-responses",)),
    ("anthropic_messages", ("type",), ("anthropic-messages",)),
    # Anthropic's legacy /v1/complete: {"type": "completion", "completion": TEXT}
    ("anthropic_completions", ("type",), ("anthropic-completions",)),
    ("gemini_interactions", ("event_type", "object"), ("gemini-interactions",)),
    # v2 event types are hyphenated, v1 chunks carry event_type and is_finished
    ("cohere", ("type", "event_type", "finish_reason", "generations"), ("cohere-v2", "cohere-v1")),
    ("xai_grpc", ("outputs",), ("xai-grpc",)),
    # before the OpenAI folds: Writer's chat chunks are chat chunks with graph_data
    ("writer", ("value", "choices"), ("writer",)),
    ("watsonx", ("model_id",), ("watsonx",)),
    ("replicate", ("event", "output"), ("replicate",)),
    # before openai_chat: Together's completion.chunk also carries a delta
    ("openai_completions", ("object", "choices"), ("openai-completions",)),
    ("openai_chat", ("object", "choices"), ("openai-chat",)),
    ("ollama", ("done",), ("ollama-generate", "ollama-chat")),
    ("gemini", ("candidates", "prompt_feedback", "promptFeedback", "usage_metadata", "usageMetadata"), ("gemini",)),
    # before bedrock_invoke: InvokeAgent's chunks are {"chunk": {"bytes"}} too, of plain text
    ("bedrock_agent", ("trace", "returnControl", "chunk"), ("bedrock-agent",)),
    # AWS event-stream chunks ({event-type: payload})
    ("bedrock_converse", ("messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockStop", "messageStop",
                          "metadata", "output"), ("bedrock-converse",)),
    ("bedrock_invoke", ("chunk",), ("bedrock-invoke",)),
    ("bedrock_retrieve", ("output", "citation"), ("bedrock-retrieve",)),
    # Agent2Agent JSON-RPC: {"jsonrpc", "result": {"kind": task | status-update | artifact-update | message}}
    ("a2a", ("jsonrpc",), ("a2a",)),
)
_SNIFFED = tuple((name, frozenset(keys)) for name, keys, _ in _MODULES)
_SNIFF_KEYS = frozenset(key for _, keys, _ in _MODULES for key in keys)
_MODULE_OF = {dialect: name for name, _, names in _MODULES for dialect in names}

OPAQUE = "opaque"


@dataclass
class FoldContext:
    """What a fold may need beyond the chunks."""

    dialect: str
    request_body: Any = None
    endpoint: str | None = None
    chunk_times: list[float | None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_LOADED: dict[str, Any] = {}


def _module(name: str):
    """The dialect module ``name``, imported on first use."""
    mod = _LOADED.get(name)
    if mod is None:
        mod = _LOADED[name] = importlib.import_module(f"llmtrace.dialects.{name}")
    return mod


@functools.cache
def modules() -> tuple:
    """The dialect modules, in sniffing order (imported on first use, once)."""
    return tuple(_module(name) for name, _, _ in _MODULES)


def module_for(dialect: str):
    """The module of ``dialect``, else None."""
    name = _MODULE_OF.get(dialect)
    return None if name is None else _module(name)


def sniff(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return None
    for candidate in _candidates(_SNIFF_KEYS.intersection(payload)):
        found = candidate(payload)
        if found:
            return found
    return None


@functools.lru_cache(maxsize=256)
def _candidates(keys: frozenset) -> tuple:
    """The ``sniff`` of each module, in sniffing order, that could claim a payload holding these
    of the index's keys (remembered: payloads come in a few shapes, of the 34 keys the index
    names). Those modules are imported on the first payload of the shape."""
    return tuple(_module(name).sniff for name, needed in _SNIFFED if not needed.isdisjoint(keys))


def detect(payloads: list[Any], request_body: Any = None, url: str | None = None) -> str:
    """The dialect of an exchange: from chunk shape first, the request body second, the URL
    last (contracts.md). ``payloads`` are the chunks, or ``[body]`` when not streamed."""
    for payload in payloads[:8]:
        found = sniff(payload)
        if found:
            return found
    if payloads and all(isinstance(p, dict) and not _has_generation_keys(p) for p in payloads[:8]):
        # A body we can see and that is not a generation (embeddings, model lists, errors).
        if not _looks_like_error(payloads[0]):
            return OPAQUE
    return _detect_from_request(request_body, url)


def stream_starts(chunks: list) -> list[int]:
    """Where each stream begins in ``chunks`` when they hold several back to back (a chunk file
    that kept streams one after another): the positions of the dialect's stream-start events
    (``STREAM_START``: the key and value of the event that opens a stream, where a dialect has
    one), ``[0]`` otherwise."""
    mod = module_for(detect(chunks[:8])) if chunks else None
    start = getattr(mod, "STREAM_START", None)
    if start is None:
        return [0]
    key, value = start
    found = [n for n, chunk in enumerate(chunks) if type(chunk) is dict and chunk.get(key) == value]
    return [0] + [n for n in found if n > 0] if len(found) > 1 else [0]


def _has_generation_keys(payload: dict) -> bool:
    return any(k in payload for k in ("choices", "candidates", "message", "response", "delta", "type"))


def _looks_like_error(payload: Any) -> bool:
    return isinstance(payload, dict) and "error" in payload


# OpenAI Assistants (and Azure OpenAI's): a run is created, continued or created with its thread here;
# the other thread paths (messages, a thread itself) hold stored objects, not generations.
_ASSISTANTS_RUN = re.compile(r"/(?:v1|openai)/threads/(?:[^/]+/)?runs(?:/[^/]+/submit_tool_outputs)?/?$")
_ASSISTANTS_THREADS = re.compile(r"/(?:v1|openai)/threads(?:/|$)")


@functools.cache
def _path_rules() -> tuple:
    """The modules' ``dialect_of_path``, in sniffing order (looked up once: ``getattr`` on a module
    that lacks the name builds the AttributeError it then drops)."""
    return tuple(mod.dialect_of_path for mod in modules() if "dialect_of_path" in vars(mod))


def _detect_from_request(body: Any, url: str | None) -> str:
    path = url_path(url)
    for dialect_of_path in _path_rules():
        # An endpoint that names its API alone (Bedrock's ``/model/{id}/converse-stream``): it wins over
        # the body, whose messages look like any chat API's (a 400 answered with no events).
        found = dialect_of_path(path)
        if found:
            return found
    if isinstance(body, dict) and "jsonrpc" in body:
        # An A2A call answered only by a JSON-RPC error (its answers are sniffed by shape); any other
        # JSON-RPC (MCP's tool calls, posted to ``/messages`` too) is not a generation.
        return "a2a" if module_for("a2a").is_request(body) else OPAQUE
    if _ASSISTANTS_THREADS.search(path):
        return "openai-assistants" if _ASSISTANTS_RUN.search(path) else OPAQUE
    if isinstance(body, dict):
        if "contents" in body:
            return "gemini"
        if path.endswith("/api/chat"):
            return "ollama-chat"
        if path.endswith("/api/generate"):
            return "ollama-generate"
        if "messages" in body:
            if path.endswith("/messages") or "anthropic_version" in body or "system" in body and "max_tokens" in body:
                return "anthropic-messages"
            return "openai-chat"
        if "input" in body and path.endswith("/interactions"):
            return "gemini-interactions"
        if "input" in body and path.endswith("/responses"):
            return "openai-responses"
        if "prompt" in body and path.endswith("/completions"):
            return "openai-completions"
    for suffix, dialect in (
        ("/chat/completions", "openai-chat"),
        ("/completions", "openai-completions"),
        ("/responses", "openai-responses"),
        ("/messages", "anthropic-messages"),
        ("/api/chat", "ollama-chat"),
        ("/api/generate", "ollama-generate"),
        ("/interactions", "gemini-interactions"),
        ("/v1/complete", "anthropic-completions"),
        ("generate_content", "gemini"),
        ("generateContent", "gemini"),
    ):
        if path.endswith(suffix) or (suffix.startswith("generate") and suffix in path):
            return dialect
    return OPAQUE


class _Any:
    def __repr__(self) -> str:
        return "ANY"


# In a dialect's ``DEFAULTS``: a parameter that never changes the answer, whatever its value.
ANY = _Any()


def stream_requested(body: Any, default: bool = False) -> bool:
    """The body's ``stream`` flag (a boolean), else ``default``: the rule of the APIs that stream
    only when asked (OpenAI, Anthropic, Cohere) and of Ollama's, which streams unless told not to."""
    flag = body.get("stream") if isinstance(body, dict) else None
    return flag if isinstance(flag, bool) else default


def wants_stream(dialect: str, path: str, body: Any, recorded: bool) -> bool:
    """Whether a request to ``path`` with ``body`` asks for a stream, by ``dialect``'s wire rule
    (its module's ``wants_stream``); where the dialect has none or its rule cannot tell, as the
    exchange was ``recorded``."""
    module = module_for(dialect)
    rule = getattr(module, "wants_stream", None)
    answer = rule(path, body) if rule is not None else None
    return recorded if answer is None else answer


# --- helpers shared by the folds -------------------------------------------------------------


def feed(state: Any, chunks: list) -> None:
    """Fold every chunk into ``state`` (``state.add(i, chunk)``), in order; a wrong type inside a
    chunk surfaces as a ShapeError that names the chunk — or, when the fold's context is tolerant
    (``extra["tolerant"]``, the loader's second reading), the chunk is left out and listed in
    ``extra["unread"]`` as ``(chunk, what)``."""
    add = state.add
    ctx = getattr(state, "ctx", None)
    tolerant = ctx is not None and ctx.extra.get("tolerant")
    for i, chunk in enumerate(chunks):
        try:
            add(i, chunk)
        except ShapeError as exc:
            if tolerant:
                ctx.extra.setdefault("unread", []).append((i, exc.what))
                continue
            raise ShapeError(exc.what, f"chunk {i}") from None
        except (TypeError, AttributeError, KeyError, ValueError) as exc:
            # A value of a type no check above foresaw: still the input's fault, and still
            # one line that names the chunk rather than a traceback.
            if tolerant:
                ctx.extra.setdefault("unread", []).append((i, f"unexpected value ({unexpected(exc)})"))
                continue
            raise ShapeError(f"unexpected value ({unexpected(exc)})", f"chunk {i}") from None


def feed_body(state: Any, body: Any) -> None:
    """Fold a non-streamed body into ``state`` as its one chunk; errors name the response body."""
    try:
        state.add(0, body)
    except ShapeError as exc:
        raise ShapeError(exc.what, "response body") from None


def unexpected(exc: Exception) -> str:
    """A short, one-line description of an exception raised by a value of the wrong type."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:120]}" if text else type(exc).__name__


def first(current: Any, value: Any) -> Any:
    """First non-empty value wins (explicit null and "" count as absent)."""
    return value if (current is None or current == "") and value not in (None, "") else current


_LONG_DIGITS = re.compile(r"\d{19}")


def parse_arguments(raw: str) -> Any:
    """Parsed tool arguments: the JSON object (or other value) when ``raw`` is valid JSON, ``{}``
    for an empty string (a no-argument call), else None. Never repaired."""
    if not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if _LONG_DIGITS.search(raw):
        # orjson reads integers beyond 64 bits as floats; the standard library keeps them exact.
        import json

        return json.loads(raw)
    return value


def dump_arguments(value: Any) -> str:
    """Arguments that arrived as an object, serialized once (compact, keys as sent)."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def stop_of(reason: Any, table: dict[str, str]) -> str | None:
    if not isinstance(reason, str):
        return None
    return table.get(reason) or table.get(reason.lower())


def as_dict(value: Any, what: str, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ShapeError(f"{what} should be an object", where)
    return value


def as_list(value: Any, what: str, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ShapeError(f"{what} should be an array", where)
    return value


def as_text(value: Any, what: str, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ShapeError(f"{what} should be a string", where)


def uncounted_tokens(usage: Any, fields: dict[str, str]) -> int:
    """Tokens a provider's total counts in no field of llmtrace's ``Usage``: the sum of ``fields``,
    a dialect's ``TOTAL_ALSO_COUNTS`` table (raw usage field → where the provider documents that its
    total includes it). The ``usage-inconsistent`` check allows for them."""
    if not isinstance(usage, dict):
        return 0
    return sum(as_int(usage.get(key)) or 0 for key in fields)


def as_int(value: Any) -> int | None:
    """An integer token count, or None (booleans and other types are not counts)."""
    return value if type(value) is int else None
