"""Llama Stack's recorder format: one JSON object ``{"request": …, "response": …}`` per file.

Response bodies come as lists of ``{"__type__", "__data__"}`` (pydantic dumps of SDK objects:
OpenAI chunks, Ollama responses, ...), bare dicts (Ollama, Gemini), lists of raw SSE lines
(``""`` entries are the blank separators), or nothing at all for a recorded exception.
Requests come as ``{method, url, headers, body, endpoint, model}``, as
``{test_id, url, method, payload}``, or, for non-HTTP calls, ``{provider, api, file_id}`` or
``{tool_name, kwargs}``. The recorder keeps the client's keyword arguments rather than the wire
body: ``extra_body`` is merged into the body as openai-python sends it (its keys win), and
``extra_headers`` (sent as headers: added to the recorded ones), ``extra_query`` and ``timeout``
(which never travel in the body) are taken out (``wire_body``); every command reads that wire
body. The same two keys also hold single HTTP exchanges other recorders write (a test-agent
proxy: VCR.py's ``status: {code, message}`` and the body as wire text): their body is split as a
cassette's is. Secrets in the headers, ``url`` and ``endpoint`` (a Gemini ``endpoint`` may end in
``?key=…``) and in exception messages are masked as they are read.
"""

from __future__ import annotations

from itertools import repeat
from operator import contains, itemgetter
from typing import Any

from llmtrace.containers import recorded
from llmtrace.containers.bodies import sse_payloads
from llmtrace.containers.recorded import headers_of
from llmtrace.errors import ShapeError
from llmtrace.model import Request, Response
from llmtrace.secrets import mask_text

NAME = "llama-stack"


def sniff(doc: Any) -> bool:
    return (isinstance(doc, dict) and isinstance(doc.get("request"), dict)
            and isinstance(doc.get("response"), dict))


def read(doc: Any) -> list[tuple[Request, Response]]:
    if not isinstance(doc, dict) or "response" not in doc:
        raise ShapeError("not a Llama Stack recording (no \"response\" object)")
    req = doc.get("request")
    resp = doc.get("response")
    if not isinstance(req, dict):
        raise ShapeError("\"request\" should be an object")
    if not isinstance(resp, dict):
        raise ShapeError("\"response\" should be an object")
    return [(_request(req), _response(resp))]


def unwrap(value: Any) -> Any:
    """``{"__type__": …, "__data__": X}`` → X (the recorder's wrapping of SDK objects)."""
    if type(value) is dict and "__data__" in value and "__type__" in value:
        return value["__data__"]
    return value


# Client keyword arguments the recorder keeps in the body; none of them is a body field on the wire.
CLIENT_ARGUMENTS = frozenset(("extra_body", "extra_headers", "extra_query", "timeout"))


def wire_body(body: Any) -> Any:
    """The body as it went over the wire: ``extra_body`` merged (openai-python sends its keys at
    the top level, over the named ones), the other client arguments taken out."""
    if not isinstance(body, dict) or CLIENT_ARGUMENTS.isdisjoint(body):
        return body
    out = {k: v for k, v in body.items() if k not in CLIENT_ARGUMENTS}
    extra = body.get("extra_body")
    if isinstance(extra, dict):
        out.update(extra)
    return out


def _request(req: dict) -> Request:
    kept = req.get("body", req.get("payload"))
    if isinstance(kept, str) and "url" in req:  # an HTTP exchange with its body as wire text (a proxy's)
        kept = recorded.json_or_text(kept)
    body = wire_body(kept)
    if body is None and "url" not in req:
        # Not HTTP (a file processor, a tool invocation): keep what was recorded as the body.
        body = {k: v for k, v in req.items() if k != "test_id"}
    headers = req.get("headers") or {}
    if not isinstance(headers, dict):
        raise ShapeError("request.headers should be an object")
    extra_headers = kept.get("extra_headers") if isinstance(kept, dict) else None
    if isinstance(extra_headers, dict):  # sent as headers, as the client's
        headers = {**headers, **extra_headers}
    return recorded.request(req.get("method"), req.get("url"), headers_of(headers, "request.headers"), body,
                            "", model=req.get("model"), endpoint=req.get("endpoint"))


def _response(resp: dict) -> Response:
    status = recorded.status_of(resp.get("status"), "response.status")
    if "is_streaming" not in resp and "is_exception" not in resp and _http_body(resp.get("body")):
        return _http_response(resp, status)
    streaming = bool(resp.get("is_streaming"))
    if resp.get("is_exception"):
        data = resp.get("exception_data")
        message = resp.get("exception_message")
        if isinstance(data, dict) and type(data.get("status_code")) is int and status is None:
            status = data["status_code"]
        error = data if data is not None else {"message": message}
        text = recorded.error_text(error) or (mask_text(message) if isinstance(message, str) else None)
        return Response(status=status, streaming=streaming, error=error, error_message=text)
    body = resp.get("body")
    if status is not None and status >= 400:
        error, message = recorded.recorded_error(body)
        return Response(status=status, streaming=streaming, body=body, error=error, error_message=message)
    if not streaming:
        if isinstance(body, list):
            body = [unwrap(item) for item in body]
        else:
            body = unwrap(body)
        return Response(status=status, streaming=False, body=body)
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        raise ShapeError("a streamed response.body should be an array of chunks")
    if body and all(isinstance(line, str) for line in body):
        chunks, done, cut_off = sse_payloads(body, "response.body")
        return Response(status=status, streaming=True, chunks=chunks, done_marker=done, cut_off=cut_off)
    return Response(status=status, streaming=True, chunks=_unwrapped(body))


_DATA = itemgetter("__data__")


def _unwrapped(body: list) -> list:
    """``unwrap`` of each chunk. The usual stream, every chunk a wrapped object, is unwrapped in
    two passes in C: every item holds ``__type__``, and each one's ``__data__`` is taken (of the
    values a recording parses to, only an object passes both: a string or an array holding
    ``__type__`` takes no ``["__data__"]``). Any other stream is unwrapped item by item, as
    ``unwrap`` does it."""
    try:
        if all(map(contains, body, repeat("__type__"))):
            return list(map(_DATA, body))
    except (KeyError, TypeError):
        pass
    return [item["__data__"] if type(item) is dict and "__data__" in item and "__type__" in item else item
            for item in body]


def _http_body(body: Any) -> bool:
    """A body stored as an HTTP recorder stores it (the wire text, or VCR.py's ``{string}``),
    not as Llama Stack's parsed objects."""
    return isinstance(body, str) or (isinstance(body, dict) and len(body) == 1
                                     and ("string" in body or "base64_string" in body))


def _http_response(resp: dict, status: int | None) -> Response:
    """A single exchange a test-agent proxy wrote (``{"request", "response": {"status": {"code",
    "message"}, "headers", "body": "data: …"}}``): the body split as a cassette's is."""
    from llmtrace.containers import bodies
    from llmtrace.containers.vcr import body_text

    headers = headers_of(resp.get("headers"), "response.headers")
    return recorded.response(status, bodies.split(body_text(resp.get("body"), headers, "response.body"),
                                                  "response.body"))


# --- skimming: the request and the first chunks, without parsing the whole file ------------------

_BODY_KEY = b'"body":'


def skim(data: bytes, items: int = 8) -> dict | None:
    """The recording with ``response.body`` cut to its first ``items`` chunks, parsing only
    what precedes the body, those chunks and what follows the body; None when the file is not
    shaped for that (then it is read whole). What ``serve`` indexes a folder with: the request
    and the first chunks (which tell the dialect) are all matching needs.

    It relies on the layout the recorder writes (``json.dumps(indent=2)``): a raw newline is only
    ever between tokens, so a line is where a chunk or the body ends. Every cut is checked by
    parsing: what precedes the body must read as an object whose last member is
    ``response.body``, the chunks kept as a whole array, and what follows the body as the rest
    of ``response`` and of the document — a wrong cut unbalances the brackets and fails to parse.
    """
    import orjson

    start = data.find(b"{")
    if start < 0 or data[:start].strip():
        return None
    at = data.find(b'"response"', start)
    while at >= 0:
        body = data.find(_BODY_KEY, at)
        if body < 0:
            return None
        opening = body + len(_BODY_KEY)
        while data[opening:opening + 1] in (b" ", b"\n", b"\r", b"\t"):
            opening += 1
        if data[opening:opening + 1] != b"[":
            return None  # a body that is no array of chunks: parsed whole anyway
        try:
            head = orjson.loads(data[:opening] + b"0}}")
        except orjson.JSONDecodeError:
            at = data.find(b'"response"', at + 1)
            continue
        break
    else:
        return None
    response = head.get("response") if isinstance(head, dict) else None
    if not isinstance(response, dict) or list(response)[-1:] != ["body"] or response["body"] != 0 \
            or list(head)[-1:] != ["response"] or not isinstance(head.get("request"), dict) \
            or not isinstance(head["request"].get("url"), str):
        return None
    # The chunks: one per line at the first chunk's indentation, the body's end two spaces left.
    line = data.find(b"\n", opening) + 1
    if line == 0:
        return None
    margin = line
    while data[margin:margin + 1] == b" ":
        margin += 1
    indent = data[line:margin]
    if len(indent) < 2 or data[margin:margin + 1] != b"{":
        return None
    close = b"\n" + indent + b"}"
    cut = opening + 1
    for _ in range(items):
        found = data.find(close, cut)
        if found < 0:
            return None
        cut = found + len(close)
        if data[cut:cut + 1] != b",":
            break
    end = data.find(b"\n" + indent[:-2] + b"]", cut)
    if end < 0:
        return None
    try:
        chunks = orjson.loads(data[opening:cut] + b"]")
        tail = orjson.loads(b'{"response":{"body":0' + data[end + len(indent):])
    except orjson.JSONDecodeError:
        return None
    rest = tail.get("response") if isinstance(tail, dict) else None
    if not isinstance(rest, dict) or rest.get("body") != 0 or list(rest)[:1] != ["body"] \
            or any(key in head for key in tail if key != "response"):
        return None
    response.update(rest)
    response["body"] = chunks
    head.update((key, value) for key, value in tail.items() if key != "response")
    return head
