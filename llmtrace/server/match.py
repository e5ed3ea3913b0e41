"""Which recorded exchange answers a request.

Requests are compared *canonical*: the normalized request (``view.request_doc``: model, messages
as role + text, tools, parameters) with what does not change the answer taken out —

- ``stream`` and ``stream_options`` (how the answer is delivered, not what is asked);
- a parameter at the provider's documented default (``temperature: 1``, ``stop: []``,
  ``parallel_tool_calls: true``, …) or one that never changes the answer (``user``,
  ``metadata``, ``store``): the ``DEFAULTS`` table of the dialect's module, with its sources;
- ``tool_choice`` at its default (``"auto"`` with tools, ``"none"`` without);
- the ``developer`` role, which is OpenAI's new name for ``system``;
- a tool's description: tools compare by name and parameter schema (key order never counts);
- text as one string or as a list of text parts (normalization already makes them one text).

Four ways to choose, on the same endpoint:

- ``strict`` (default): the recorded exchange whose canonical request equals it;
- ``loose``: parameters and tools may differ, the conversation may not (roles, text, tool calls,
  tool results): an agent's next turn is a new request and misses; of several, the one with the
  fewest differences;
- ``sequence``: each endpoint's exchanges in file order across the recordings given, one per
  request; an endpoint that is used up is a miss (``rewind`` starts over);
- ``closest``: the recorded exchange with the fewest differences, whatever they are.

Strict and loose are dictionary look-ups (endpoint + a digest of the canonical request, or of its
conversation), so their cost does not grow with the number of recordings; a miss, and
``closest``, compare against the endpoint's exchanges (a miss only against those of the same
conversation when there are some). A miss says which recorded exchange came closest and what
differs: ``{"path", "recorded", "received"}`` with values as JSON (strings cut to 200 characters,
credentials masked), a tool named by its name (``request.tools[get_weather].parameters…``).
"""

from __future__ import annotations

import os
import re
from collections import defaultdict, deque
from typing import Any, NamedTuple

import orjson

from llmtrace import dialects
from llmtrace.model import Exchange, Recording
from llmtrace.view import request_doc

MODES = ("strict", "loose", "sequence", "closest")
# Parameters that never count, in any dialect: how the answer is delivered, not what is asked.
DELIVERY = frozenset(("stream", "stream_options"))
_REPEATED = re.compile(r"/(v\d+(?:beta\d*|alpha\d*)?)/\1/")
_GEMINI_METHOD = re.compile(r":(stream)?[gG]enerateContent$")
# How many differences a miss reports, and how many exchanges a miss compares at most.
SHOWN = 20
CANDIDATES = 200
TEXT_CUT = 200


def endpoint_key(path: str | None) -> str | None:
    """The endpoint an exchange or a request is filed under: the path without its query and
    percent-escapes, a
    repeated version segment (``/v1/v1/``, a recorder artefact) folded, Gemini's
    ``:streamGenerateContent`` and ``:generateContent`` as one."""
    if not path:
        return None
    path = path.split("?", 1)[0]
    if "%" in path:  # recorded as sent (Bedrock's "v1%3A0"), received decoded
        from urllib.parse import unquote

        path = unquote(path)
    path = _REPEATED.sub(r"/\1/", path)
    return _GEMINI_METHOD.sub(":generateContent", path)


# Where a recording that kept no request (a raw SSE file, chunks saved as JSON Lines) is served:
# the path its dialect's provider serves.
DEFAULT_PATHS = {"openai-chat": "/v1/chat/completions", "openai-completions": "/v1/completions",
                 "openai-responses": "/v1/responses", "anthropic-messages": "/v1/messages",
                 "anthropic-completions": "/v1/complete",
                 "ollama-chat": "/api/chat", "ollama-generate": "/api/generate",
                 "cohere-v2": "/v2/chat", "cohere-v1": "/v1/chat", "xai-grpc": "/xai_api.Chat/GetCompletion",
                 "openai-assistants": "/v1/threads/runs"}  # create thread and run: its one path without ids
# gRPC recordings keep no method: xAI's streamed and unary chat methods are one endpoint (the
# method says how to answer, as ``stream`` does over HTTP). See ``server.grpc``.
GRPC_ENDPOINT = DEFAULT_PATHS["xai-grpc"]


class Entry:
    """One servable exchange: its recording (``file``, relative to the paths given), its place
    there (``index``), the method it was sent with, its canonical request (``canonical``), and the
    exchange itself — held, or for a recording indexed at start (``Indexed``), folded from its
    file when first asked for (``Folds``)."""

    __slots__ = ("file", "request", "index", "method", "source", "_exchange", "_folds")

    def __init__(self, file: str, exchange: Exchange | None, request: dict, *, index: int = 0,
                 method: str | None = None, source: str | None = None, folds: Folds | None = None):
        self.file = file
        self.request = request
        self._exchange = exchange
        self.index = exchange.index if exchange is not None else index
        self.method = exchange.request.method if exchange is not None else method
        self.source = source
        self._folds = folds

    @property
    def exchange(self) -> Exchange:
        """The exchange, folded (raises ``FoldFailed`` when its file no longer reads as it did)."""
        if self._exchange is not None:
            return self._exchange
        return self._folds.exchange(self)

    def __repr__(self) -> str:
        return f"Entry({self.file!r}, exchange {self.index})"


class Hit(NamedTuple):
    entry: Entry
    differences: list[dict] = []  # what differed (loose and closest), as in a miss


class Miss(NamedTuple):
    closest: Entry | None
    differences: list[dict]  # {"path", "recorded", "received"}
    reason: str | None = None  # why, when it is not a difference (a used-up sequence)


def incoming(method: str, path: str, body: Any, dialect: str | None = None) -> Exchange:
    """An incoming request as an exchange without a response, normalized like a recorded one
    (in ``dialect`` when the protocol says which: gRPC; else detected as for a recording)."""
    from llmtrace.containers import recorded
    from llmtrace.model import Response
    from llmtrace.normalize import normalize_request

    request = recorded.request(method, f"http://llmtrace{path}", {}, body, "request")
    dialect = dialect or dialects._detect_from_request(body, request.url)
    return Exchange(index=0, container="http", dialect=dialect, request=request, response=Response(),
                    normalized_request=normalize_request(body, dialect, request.model))


# --- the canonical request ------------------------------------------------------------------------

# Parameters whose value here means "not set" in every dialect (xAI's SDK sends ``n: 1`` with
# every stream; OpenAI-compatible servers share OpenAI's defaults).
COMMON_DEFAULTS = {"n": (1,)}


def _same(a: Any, b: Any) -> bool:
    """JSON equality for a default: ``1`` equals ``1.0``, ``true`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _at_default(key: str, value: Any, table: dict) -> bool:
    defaults = table.get(key, COMMON_DEFAULTS.get(key))
    if defaults is None:
        return False
    return defaults is dialects.ANY or any(_same(value, d) for d in defaults)


def _tool_choice_default(value: Any, has_tools: bool) -> bool:
    """``tool_choice`` at the value it takes when absent: ``auto`` with tools, ``none`` without
    (OpenAI: "none is the default when no tools are present, auto if tools are present";
    Anthropic: ``{"type": "auto"}``)."""
    kind = value.get("type") if isinstance(value, dict) and len(value) == 1 else value
    return kind == ("auto" if has_tools else "none")


def _schema(definition: Any) -> Any:
    """A tool as matching compares it: its parameter schema (OpenAI ``parameters``, Anthropic
    ``input_schema``, Gemini ``parameters``/``parametersJsonSchema``), not its description."""
    if not isinstance(definition, dict):
        return definition
    for key in ("parameters", "input_schema", "inputSchema", "parametersJsonSchema", "parameters_json_schema",
                "format"):
        if key in definition:
            return {"parameters": definition[key]}
    return {k: v for k, v in definition.items() if k not in ("description", "name", "strict", "type")}


def canonical(request: dict, dialect: str | None) -> dict:
    """A normalized request (``view.request_doc``) as matching compares it."""
    module = dialects.module_for(dialect) if dialect else None
    table = getattr(module, "DEFAULTS", {})
    tools = request.get("tools") or {}
    params = {}
    for key, value in (request.get("params") or {}).items():
        if key in DELIVERY or _at_default(key, value, table):
            continue
        if key == "tool_choice" and _tool_choice_default(value, bool(tools)):
            continue
        params[key] = value
    messages = [{"role": "system" if m.get("role") == "developer" else m.get("role"), "content": m.get("content")}
                for m in request.get("messages") or []]
    return {"model": request.get("model"), "messages": messages,
            "tools": {name: _schema(definition) for name, definition in tools.items()}, "params": params}


def _digest(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def strict_key(request: dict) -> bytes:
    return _digest([request["model"], request["messages"], request["tools"], request["params"]])


def conversation_key(request: dict) -> bytes:
    return _digest(request["messages"])


# --- differences ----------------------------------------------------------------------------------


def differences(recorded: dict, received: dict) -> list[dict]:
    """What differs between two canonical requests: ``{"path", "recorded", "received"}`` in
    document order (values whole; ``shown`` cuts them for output)."""
    from llmtrace import compare  # (difflib and the diff machinery: only once a request differs)

    out: list[dict] = []
    for key in ("model", "messages", "params"):
        for d in compare.value_diff(recorded.get(key), received.get(key)):
            out.append({"path": f"request.{key}{_join(d.path)}", "recorded": d.a, "received": d.b})
    a, b = recorded.get("tools") or {}, received.get("tools") or {}
    for name in list(a) + [n for n in b if n not in a]:
        if name not in b or name not in a:
            out.append({"path": f"request.tools[{name}]", "recorded": a.get(name), "received": b.get(name)})
            continue
        for d in compare.value_diff(a[name], b[name]):
            out.append({"path": f"request.tools[{name}]{_join(d.path)}", "recorded": d.a, "received": d.b})
    return out


def _join(relative: str) -> str:
    return "" if not relative else relative if relative.startswith("[") else "." + relative


def shown(found: list[dict]) -> list[dict]:
    """Differences as a miss reports them: the first ``SHOWN``, strings cut to 200 characters and
    credentials masked, values kept as JSON (a difference of paths alone, such as a used-up
    ``sequence``, keeps just its ``path``)."""
    return [{key: _cut(d[key]) for key in ("path", "recorded", "received") if key in d} for d in found[:SHOWN]]


def _cut(value: Any, depth: int = 0) -> Any:
    from llmtrace.output import masked

    if isinstance(value, str):
        return masked(value, TEXT_CUT)
    if depth >= 8 and isinstance(value, (dict, list)):
        return _cut(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode(), depth)
    if isinstance(value, dict):
        return {_cut(str(k), depth + 1): _cut(v, depth + 1) for k, v in list(value.items())[:SHOWN]}
    if isinstance(value, list):
        return [_cut(v, depth + 1) for v in value[:SHOWN]]
    return value


def summary(found: list[dict], count: int = 3) -> str:
    """The first ``count`` differences in one line, with their values (log lines)."""
    parts = []
    for d in shown(found[:count]):
        recorded, received = (orjson.dumps(d[k], option=orjson.OPT_NON_STR_KEYS).decode() for k in ("recorded",
                                                                                                   "received"))
        parts.append(f"{d['path']}: recorded {_short(recorded)}, received {_short(received)}")
    more = f" (+{len(found) - count} more)" if len(found) > count else ""
    return "; ".join(parts) + more


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def relative_name(source: str, roots) -> str:
    """A recording's name for a client (journal, miss bodies, health, log lines): its path inside
    the folder given that holds it (``chat.yaml`` for ``/home/u/recs/chat.yaml`` served as
    ``recs``), a file given itself by its name; never an absolute local path."""
    for root in roots:
        root = str(root).rstrip("/") or "/"
        if source == root:
            return os.path.basename(source) or source
        if source.startswith(root + "/"):
            return source[len(root) + 1:]
    return os.path.basename(source) if os.path.isabs(source) else source


# --- the catalog ----------------------------------------------------------------------------------


# --- recordings indexed at start, folded on first match ------------------------------------------

# How many folded recordings an index keeps (the least recently matched are folded again if asked).
FOLDS_KEPT = 256


class Skim(NamedTuple):
    """What matching needs of one exchange, taken at start without folding its response."""
    index: int
    endpoint: str
    method: str | None
    dialect: str
    request: dict  # the canonical request
    key: bytes  # its digest (``strict_key``)
    conversation: bytes  # the digest of its conversation (``conversation_key``)


class Indexed(NamedTuple):
    """A recording as ``serve`` indexes a folder's files: its source, container and servable
    exchanges (``Skim``); folded from ``source`` when a request first matches it."""
    source: str
    container: str
    exchanges: tuple[Skim, ...]
    fmt: str | None = None


def skim(exchange: Exchange) -> Skim | None:
    """An exchange as matching files it; None when it has no endpoint (not servable)."""
    endpoint = endpoint_key(exchange.request.endpoint or DEFAULT_PATHS.get(exchange.dialect))
    if endpoint is None:
        return None
    request = canonical(request_doc(exchange), exchange.dialect)
    return Skim(exchange.index, endpoint, exchange.request.method, exchange.dialect, request, strict_key(request),
                conversation_key(request))


def indexed(recording: Recording, fmt: str | None = None) -> Indexed:
    """A recording read without its folds (``loader.load(..., fold=False)``) as its index."""
    found = (skim(exchange) for exchange in recording.exchanges)
    return Indexed(recording.source, recording.container, tuple(s for s in found if s is not None), fmt)


def read_input(item, fmt: str | None = None) -> Recording | Indexed:
    """One input of ``serve`` (a ``walk.Input``): a file named on the command line (or stdin, or
    a URL) read and folded now, as every command reads it; a file found in a folder indexed
    only — its requests filed for matching, its response folded when a request first matches it:
    a folder of thousands starts in a fraction of the time."""
    from llmtrace.loader import load

    if item.explicit or item.path == "-" or "://" in item.path:
        return load(item.path, fmt=fmt)
    return indexed(load(item.path, fmt=fmt, fold=False), fmt)


def dialects_of(recording: Recording | Indexed) -> set[str]:
    return {exchange.dialect for exchange in recording.exchanges}


class FoldFailed(Exception):
    """An indexed recording that no longer reads as it did at start: ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Folds:
    """The indexed recordings folded so far, the ``size`` latest matched kept (an evicted one is
    handed to ``evicted``). A file that fails to fold, or no longer holds the requests it held
    at start, fails every time after (``FoldFailed``), with one line to ``log`` the first time."""

    def __init__(self, size: int = FOLDS_KEPT):
        from collections import OrderedDict

        self.size = size
        self.kept: OrderedDict[str, Recording] = OrderedDict()
        self.failed: dict[str, str] = {}
        self.formats: dict[str, str | None] = {}
        self.keys: dict[str, list[tuple[int, bytes]]] = {}
        self.count = 0  # folds done (a file folded again after eviction counts again)
        self.log = None
        self.evicted = None

    def add(self, recording: Indexed) -> None:
        self.formats[recording.source] = recording.fmt
        self.keys[recording.source] = [(skim.index, skim.key) for skim in recording.exchanges]

    def exchange(self, entry: Entry) -> Exchange:
        source = entry.source
        if source in self.failed:
            raise FoldFailed(self.failed[source])
        recording = self.kept.get(source)
        if recording is None:
            try:
                recording = self._fold(source)
            except FoldFailed as exc:
                self.failed[source] = exc.reason
                if self.log is not None:
                    self.log(f"{entry.file}: {exc.reason} (found when first matched: not served)")
                raise
            self.kept[source] = recording
            if len(self.kept) > self.size:
                _, old = self.kept.popitem(last=False)
                if self.evicted is not None:
                    self.evicted(old)
        else:
            self.kept.move_to_end(source)
        return recording.exchanges[entry.index]

    def _fold(self, source: str) -> Recording:
        from llmtrace.errors import UnreadableInput
        from llmtrace.loader import load

        from llmtrace.containers import bodies

        self.count += 1
        kept, bodies.KEEP_RAW = bodies.KEEP_RAW, True  # served as the recorded bytes, as at start
        try:
            recording = load(source, fmt=self.formats.get(source))
        except UnreadableInput as exc:
            raise FoldFailed(exc.what if not exc.where else f"{exc.what}, {exc.where}") from None
        except Exception as exc:  # noqa: BLE001 - one file's bug must not stop the server
            if os.environ.get("LLMTRACE_DEBUG"):
                raise
            raise FoldFailed(f"internal error: {type(exc).__name__}: {exc}") from None
        finally:
            bodies.KEEP_RAW = kept
        exchanges = recording.exchanges
        for index, key in self.keys.get(source, ()):
            if index >= len(exchanges) or strict_key(canonical(request_doc(exchanges[index]),
                                                                exchanges[index].dialect)) != key:
                raise FoldFailed("changed since serve started")
        return recording


class Catalog:
    """Every servable exchange of the recordings, filed by endpoint, and the indexes that make
    strict and loose look-ups: endpoint + digest of the canonical request, endpoint + digest of
    its conversation."""

    def __init__(self, recordings: list[Recording | Indexed], mode: str = "strict", roots: list[str] | None = None):
        if mode not in MODES:
            raise ValueError(f"unknown match mode {mode!r} (known: {', '.join(MODES)})")
        self.mode = mode
        self.by_endpoint: dict[str, list[Entry]] = defaultdict(list)
        self.by_key: dict[tuple[str, bytes], Entry] = {}
        self.by_conversation: dict[tuple[str, bytes], list[Entry]] = defaultdict(list)
        self.roots = roots or []
        self.queues: dict[str, deque[Entry]] = {}
        self.folds = Folds()
        for recording in recordings:
            self.add(recording)
        self.rewind()

    def add(self, recording: Recording | Indexed) -> None:
        """File a recording's exchanges (after those filed before: last in a sequence); an
        ``Indexed`` one's are folded when first matched. A websocket session's are not HTTP
        exchanges: ``server.realtime`` serves the session."""
        if recording.container == "websocket":
            return
        name = relative_name(recording.source, self.roots)
        if isinstance(recording, Indexed):
            self.folds.add(recording)
            filed = [(s, Entry(name, None, s.request, index=s.index, method=s.method, source=recording.source,
                               folds=self.folds)) for s in recording.exchanges]
        else:
            found = ((exchange, skim(exchange)) for exchange in recording.exchanges)
            filed = [(s, Entry(name, exchange, s.request)) for exchange, s in found if s is not None]
        for s, entry in filed:
            self.by_endpoint[s.endpoint].append(entry)
            self.by_key.setdefault((s.endpoint, s.key), entry)
            self.by_conversation[(s.endpoint, s.conversation)].append(entry)
            self.queues.setdefault(s.endpoint, deque()).append(entry)

    def rewind(self) -> None:
        """Every ``sequence`` position back to the first exchange."""
        self.queues = {endpoint: deque(entries) for endpoint, entries in self.by_endpoint.items()}

    def __len__(self) -> int:
        return sum(len(entries) for entries in self.by_endpoint.values())

    def knows(self, path: str) -> bool:
        return endpoint_key(path) in self.by_endpoint

    def match(self, path: str, request: dict, dialect: str | None = None) -> Hit | Miss:
        """The answer to a normalized request (``view.request_doc``) of ``dialect`` sent to ``path``."""
        asked = canonical(request, dialect)
        endpoint = endpoint_key(path) or ""
        entries = self.by_endpoint.get(endpoint, [])
        if self.mode == "sequence":
            queue = self.queues.get(endpoint)
            if queue:
                return Hit(queue.popleft())
            return Miss(entries[-1] if entries else None, [],
                        "sequence: every recorded exchange of this endpoint was served")
        found = self.by_key.get((endpoint, strict_key(asked)))
        if found is not None:
            return Hit(found)
        same_talk = self.by_conversation.get((endpoint, conversation_key(asked)), [])
        best = _closest(same_talk, asked)
        if best is not None and (not best[1] or self.mode == "loose"):
            return Hit(best[0], best[1])  # equal by meaning (1 and 1.0), or the conversation is
        if self.mode == "closest":
            best = _closest(entries, asked)
            if best is not None:
                return Hit(best[0], best[1])
        if best is None:
            best = _closest(_likeliest(entries, asked), asked)
        if best is None:
            return Miss(None, [])
        return Miss(best[0], best[1])


def _closest(entries: list[Entry], asked: dict) -> tuple[Entry, list[dict]] | None:
    """The entry with the fewest differences (ties: the first given), and its differences."""
    best: tuple[Entry, list[dict]] | None = None
    for entry in entries:
        found = differences(entry.request, asked)
        if best is None or len(found) < len(best[1]):
            best = (entry, found)
            if not found:
                break
    return best


def _likeliest(entries: list[Entry], asked: dict) -> list[Entry]:
    """The ``CANDIDATES`` entries a miss compares in full, when the endpoint holds more: those
    sharing the longest start of the conversation, then the model (a cheap ranking)."""
    if len(entries) <= CANDIDATES:
        return entries
    messages = asked["messages"]

    def shared(entry: Entry) -> tuple[int, bool]:
        theirs = entry.request["messages"]
        n = 0
        while n < len(messages) and n < len(theirs) and messages[n] == theirs[n]:
            n += 1
        return n, entry.request["model"] == asked["model"]

    ranked = sorted(range(len(entries)), key=lambda i: shared(entries[i]), reverse=True)[:CANDIDATES]
    return [entries[i] for i in sorted(ranked)]
