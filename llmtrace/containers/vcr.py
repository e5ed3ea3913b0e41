"""VCR cassettes, in YAML or JSON, every interaction one exchange in file order (non-LLM
interactions included, so positions match the file).

Variants read:
- VCR.py: ``interactions: [{request, response}]``; request ``uri``, ``method``, ``headers``
  (``{name: [values]}``), ``body`` (text or bytes); response ``status: {code, message}``,
  ``headers``, ``body: {string: …}`` where the string is text or ``!!binary`` bytes (often
  gzip-compressed);
- pydantic-ai's serializer: ``parsed_body`` (the JSON body, already parsed) instead of
  ``body``, on requests and responses;
- Ruby VCR: ``http_interactions``, bodies as ``{encoding, string}`` or
  ``{encoding, base64_string}``;
- go-vcr: request ``url``, bodies as plain text, response ``code`` beside a ``status`` text;
- LangChain's cassettes (``.yaml.gz``: the whole file gzipped): ``requests`` and
  ``responses`` as two parallel lists;
- websocket frames (``{kind, direction, data}``, pydantic-ai's Gemini Live cassettes): each
  frame is an ``opaque`` exchange whose response body is the frame as recorded.

Bodies are decoded and split into chunks by ``llmtrace.containers.bodies`` (SSE, NDJSON, a
JSON document, or text). YAML is parsed by PyYAML, imported only when a YAML file is read, with
its C loader when present and a safe loader that reads ``!!binary`` as bytes, keeps timestamps
as the text recorded, and reads every other tag (``!!python/unicode``, ``!!python/tuple``,
``!ruby/object``, ...) as the plain string, list or mapping it tags: no Python object is ever
constructed from a cassette.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from llmtrace.containers import bodies, recorded
from llmtrace.containers.recorded import header, headers_of
from llmtrace.errors import ShapeError
from llmtrace.model import Request, Response

NAME = "vcr"
MANY_EXCHANGES = True


def sniff(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    if isinstance(doc.get("interactions"), list) or isinstance(doc.get("http_interactions"), list):
        return True
    return isinstance(doc.get("requests"), list) and isinstance(doc.get("responses"), list)


def read(doc: Any) -> list[tuple[Request, Response]]:
    if not sniff(doc):
        raise ShapeError("not a VCR cassette (no \"interactions\" list)")
    items = doc.get("interactions", doc.get("http_interactions"))
    if isinstance(items, list):
        return [_interaction(item, n) for n, item in enumerate(items)]
    requests, responses = doc["requests"], doc["responses"]
    if len(requests) != len(responses):
        raise ShapeError(f"the cassette holds {len(requests)} requests but {len(responses)} responses")
    return [_interaction({"request": req, "response": resp}, n)
            for n, (req, resp) in enumerate(zip(requests, responses))]


def _interaction(item: Any, n: int) -> tuple[Request, Response]:
    where = f"interaction {n}"
    if not isinstance(item, dict):
        raise ShapeError("interaction should be an object", where)
    if "request" not in item and "response" not in item:
        if "data" in item and ("kind" in item or "direction" in item):
            return Request(), Response(body=item)
        raise ShapeError("interaction has neither a request nor a response", where)
    req, resp = item.get("request") or {}, item.get("response") or {}
    if not isinstance(req, dict):
        raise ShapeError("request should be an object", where)
    if not isinstance(resp, dict):
        raise ShapeError("response should be an object", where)
    return _request(req, where), _response(resp, where)


def _request(req: dict, where: str) -> Request:
    headers = headers_of(req.get("headers"), f"{where}, request headers")
    if "parsed_body" in req:
        body = req["parsed_body"]
    else:
        body = recorded.json_or_text(_text(req.get("body"), headers, f"{where}, request body"))
    return recorded.request(req.get("method"), req.get("uri", req.get("url")), headers, body, where)


def _response(resp: dict, where: str) -> Response:
    status = resp.get("code") if "code" in resp else resp.get("status")
    if isinstance(status, dict):
        status = status.get("code")
    status = recorded.status_of(status, f"{where}, response status")
    if "parsed_body" in resp:
        payloads = bodies.document(resp["parsed_body"])
    else:
        headers = headers_of(resp.get("headers"), f"{where}, response headers")
        place = f"{where}, response body"
        payloads = bodies.split(_text(resp.get("body"), headers, place), place)
    return recorded.response(status, payloads)


def _text(body: Any, headers: dict[str, str], where: str) -> str | None:
    """A VCR body (text, bytes, ``{string}`` or ``{base64_string}``) decoded to text."""
    encoding = header(headers, "content-encoding")
    if isinstance(body, dict):
        if "base64_string" in body:
            return bodies.decode(body["base64_string"], where, base64=True, encoding=encoding)
        body = body.get("string")
    return bodies.decode(body, where, encoding=encoding)


# --- YAML ----------------------------------------------------------------------------------------


def load_yaml(data: bytes) -> Any:
    """Parse YAML safely (see the module docstring). ShapeError with the place when it is not
    YAML, or when it is a bare scalar (plain text parses as one YAML string)."""
    import yaml

    try:
        doc = yaml.load(data, Loader=_loader())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        raise ShapeError(f"not JSON, YAML or SSE (YAML: {exc.problem or exc.context})", where) from None
    except yaml.YAMLError as exc:
        raise ShapeError(f"not JSON, YAML or SSE (YAML: {exc})") from None
    if not isinstance(doc, (dict, list)):
        start = len(data) - len(data.lstrip())
        line = data.count(b"\n", 0, start) + 1
        column = start - data.rfind(b"\n", 0, start)
        raise ShapeError("not JSON, YAML or SSE (plain text)", f"line {line}, column {column} (byte {start})")
    return doc


@lru_cache(maxsize=None)
def _loader():
    import yaml

    class CassetteLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        """PyYAML's safe loader, reading VCR's and other recorders' tags as plain data."""

    CassetteLoader.add_constructor("tag:yaml.org,2002:timestamp", _scalar)
    CassetteLoader.add_multi_constructor(None, _plain)
    return CassetteLoader


def _scalar(loader, node) -> str:
    return loader.construct_scalar(node)


def _plain(loader, suffix, node) -> Any:
    """Any other tag (``!!python/unicode``, ``!!python/tuple``, ``!ruby/object:…``): the plain
    value it tags."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)
