"""nock recordings (Node's HTTP mocking library, ``nock.back`` / ``nock.recorder`` with
``output_objects``): a JSON array of ``{scope, method, path, body, status, response,
rawHeaders, reqheaders}`` objects, one exchange each, in file order.

``scope`` is the origin (``https://host:443``), ``path`` the path and query, ``body`` the request
body (JSON, an object, or text; JavaScript instrumentations sometimes store Python-like
``repr`` text, kept as text). ``response`` is the body as nock kept it: an object (JSON), a
string, an array of strings (a body that arrived in pieces, joined), or — ``responseIsBinary``
— a hex string of the bytes (a Bedrock event stream, say). ``rawHeaders`` is the flat
``[name, value, name, value, …]`` list of response headers; request headers come from
``reqheaders``. Secrets in headers and URLs are masked as in every container.
"""

from __future__ import annotations

from typing import Any

from llmtrace.containers import bodies, recorded
from llmtrace.errors import ShapeError
from llmtrace.model import Request, Response

NAME = "nock"
MANY_EXCHANGES = True
_KEYS = ("scope", "method", "path")


def sniff(doc: Any) -> bool:
    return (isinstance(doc, list) and bool(doc)
            and all(isinstance(item, dict) and all(k in item for k in _KEYS) and ("response" in item or "status" in item)
                    for item in doc))


def read(doc: Any) -> list[tuple[Request, Response]]:
    if not sniff(doc):
        raise ShapeError("not a nock recording (an array of {scope, method, path, response} objects)")
    return [_exchange(item, f"interaction {n}") for n, item in enumerate(doc)]


def _exchange(item: dict, where: str) -> tuple[Request, Response]:
    scope, path = item.get("scope"), item.get("path")
    if not isinstance(scope, str) or not isinstance(path, str):
        raise ShapeError("scope and path should be strings", where)
    headers = item.get("reqheaders") if isinstance(item.get("reqheaders"), dict) else {}
    headers = recorded.headers_of(headers, f"{where}, request headers")
    body = item.get("body")
    if isinstance(body, str):
        body = recorded.json_or_text(body)
    request = recorded.request(item.get("method"), scope.rstrip("/") + path, headers, body, where)
    status = recorded.status_of(item.get("status"), f"{where}, response status")
    place = f"{where}, response body"
    response = item.get("response")
    if isinstance(response, list) and all(isinstance(piece, str) for piece in response):
        response = "".join(response)
    if isinstance(response, str):
        payloads = bodies.split(response, place)  # a binary body's hex string too: event streams are read from it
    elif response is None:
        payloads = bodies.Payloads(False, [])
    else:
        payloads = bodies.document(response)
    return request, recorded.response(status, payloads)
