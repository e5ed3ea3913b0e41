"""Which recorded exchange answers a request.

A request is compared the way ``llmtrace diff`` compares requests: normalized (model, messages,
tools, parameters — ``stream``, ``stream_options``, ids, key order and ``n: 1`` ignored), on the same
endpoint. Three ways to choose:

- ``strict`` (default): the first recorded exchange whose normalized request equals it;
- ``loose``: the recorded exchange of the same endpoint with the fewest differing paths (ties:
  the first in the order the recordings were given);
- ``sequence``: each endpoint's exchanges in file order across the recordings given, one per
  request; an endpoint that is used up is a miss.

A miss says which recorded exchange came closest and the paths that differ (the diff engine's).
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from typing import Any, NamedTuple

import orjson

from llmtrace import compare, dialects
from llmtrace.model import Exchange, Recording
from llmtrace.view import request_doc

MODES = ("strict", "loose", "sequence")
# Request paths that never count: how the answer is delivered, not what is asked.
IGNORED = [compare.parse_path(p) for p in ("request.params.stream", "request.params.stream_options",
                                           "request.endpoint")]
_REPEATED = re.compile(r"/(v\d+(?:beta\d*|alpha\d*)?)/\1/")
_GEMINI_METHOD = re.compile(r":(stream)?[gG]enerateContent$")


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


class Entry(NamedTuple):
    file: str
    exchange: Exchange
    request: dict  # the normalized request, as the diff engine compares it


class Hit(NamedTuple):
    entry: Entry


class Miss(NamedTuple):
    closest: Entry | None
    differences: list[str]


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


# Parameters whose value here means "not set": an SDK that always sends it (xAI's sends ``n: 1``
# with every stream) asks the same as a recording made without it.
DEFAULTS = {"n": 1}


def comparable(request: dict) -> dict:
    """A normalized request as matching compares it: parameters at their "not set" value dropped."""
    params = request.get("params")
    if isinstance(params, dict) and any(params.get(k, object()) == v for k, v in DEFAULTS.items()):
        params = {k: v for k, v in params.items() if not (k in DEFAULTS and v == DEFAULTS[k])}
        return {**request, "params": params}
    return request


def _key(request: dict) -> bytes:
    params = {k: v for k, v in request["params"].items() if k not in ("stream", "stream_options")}
    return orjson.dumps([request["model"], request["messages"], request["tools"], params],
                        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def differences(a: dict, b: dict) -> list[str]:
    """The request paths that differ between two normalized requests."""
    docs = [{"request": r, "choices": [], "usage": {}, "anomalies": [], "response": {}} for r in (a, b)]
    return [d.path for d in compare.compare(*docs) if d.path.startswith("request")
            and not compare.ignored(d.path, IGNORED)]


class Catalog:
    """Every servable exchange of the recordings, filed by endpoint."""

    def __init__(self, recordings: list[Recording], mode: str = "strict"):
        if mode not in MODES:
            raise ValueError(f"unknown match mode {mode!r} (known: {', '.join(MODES)})")
        self.mode = mode
        self.by_endpoint: dict[str, list[Entry]] = defaultdict(list)
        self.by_key: dict[tuple[str, bytes], Entry] = {}
        self.queues: dict[str, deque[Entry]] = defaultdict(deque)
        for recording in recordings:
            self.add(recording)

    def add(self, recording: Recording) -> None:
        """File a recording's exchanges (after those filed before: last in a sequence)."""
        for exchange in recording.exchanges:
            endpoint = endpoint_key(exchange.request.endpoint or DEFAULT_PATHS.get(exchange.dialect))
            if endpoint is None:
                continue
            entry = Entry(recording.source, exchange, comparable(request_doc(exchange)))
            self.by_endpoint[endpoint].append(entry)
            self.by_key.setdefault((endpoint, _key(entry.request)), entry)
            self.queues[endpoint].append(entry)

    def __len__(self) -> int:
        return sum(len(entries) for entries in self.by_endpoint.values())

    def knows(self, path: str) -> bool:
        return endpoint_key(path) in self.by_endpoint

    def match(self, path: str, request: dict) -> Hit | Miss:
        request = comparable(request)
        endpoint = endpoint_key(path)
        entries = self.by_endpoint.get(endpoint or "", [])
        if self.mode == "sequence":
            queue = self.queues.get(endpoint or "")
            if queue:
                return Hit(queue.popleft())
            return Miss(entries[-1] if entries else None, ["sequence: every recorded exchange of this endpoint was served"])
        found = self.by_key.get((endpoint or "", _key(request)))
        if found is not None:
            return Hit(found)
        best: tuple[int, Entry, list[str]] | None = None
        for entry in entries:
            diff = differences(entry.request, request)
            if best is None or len(diff) < best[0]:
                best = (len(diff), entry, diff)
        if best is None:
            return Miss(None, [])
        if self.mode == "loose" or best[0] == 0:  # equal by meaning, not byte for byte
            return Hit(best[1])
        return Miss(best[1], best[2])
