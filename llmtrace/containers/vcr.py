"""VCR cassettes, in YAML or JSON, every interaction one exchange in file order (non-LLM
interactions included, so positions match the file).

Variants read:
- VCR.py: ``interactions: [{request, response}]``; request ``uri``, ``method``, ``headers``
  (``{name: [values]}``), ``body`` (text or bytes); response ``status: {code, message}``,
  ``headers``, ``body: {string: …}`` where the string is text or ``!!binary`` bytes (often
  gzip-compressed); vcrpy's httpx stubs of 2023: ``status_code`` and ``content: <text>`` instead of ``status`` and
  ``body``;
- pydantic-ai's serializer: ``parsed_body`` (the JSON body, already parsed) instead of
  ``body``, on requests and responses;
- Ruby VCR: ``http_interactions``, bodies as ``{encoding, string}`` or
  ``{encoding, base64_string}``;
- go-vcr: request ``url``, bodies as plain text, response ``code`` beside a ``status`` text;
- LangChain's cassettes (``.yaml.gz``: the whole file gzipped): ``requests`` and
  ``responses`` as two parallel lists;
- gRPC messages (pydantic-ai's ``.xai.yaml``: ``request_stream``/``response_stream`` with
  ``json`` and ``chunks_json``), read by ``llmtrace.containers.grpc_cassette``;
- websocket frames (``{kind, direction, data}``, pydantic-ai's Gemini Live cassettes): each
  frame is an ``opaque`` exchange whose response body is the frame as recorded.

Cassettes ``llmtrace record`` wrote keep each network read and its arrival offset in response
fields vcrpy ignores (``_chunks``, ``_timing``): read by ``containers.chunk_reads`` into
``Response.chunk_times`` (timeline timing ``chunk-times``).

Bodies are decoded and split into chunks by ``llmtrace.containers.bodies`` (SSE, NDJSON, a
JSON document, or text). YAML is parsed by PyYAML, imported only when a YAML file is read, with
its C loader when present and a safe loader that reads ``!!binary`` as bytes, keeps timestamps
as the text recorded, and reads every other tag (``!!python/unicode``, ``!!python/tuple``,
``!ruby/object``, ...) as the plain string, list or mapping it tags; a mapping key that is a
pickled string (aiohttp's ``!!python/object/apply:multidict._multidict.istr`` header names) is
read as that string: no Python object is ever constructed from a cassette.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from llmtrace import limits
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
    try:
        return _read_interaction(item, n)
    except RecursionError:  # a value nested too deeply to be turned into text (a header, a URL)
        raise ShapeError("nested too deeply", f"interaction {n}") from None


def _read_interaction(item: Any, n: int) -> tuple[Request, Response]:
    where = f"interaction {n}"
    if not isinstance(item, dict):
        raise ShapeError("interaction should be an object", where)
    if "request_stream" in item or "response_stream" in item or _json_only(item):
        from llmtrace.containers import grpc_cassette  # xAI's gRPC cassettes: rare, imported when met

        if grpc_cassette.is_grpc(item):
            return grpc_cassette.interaction(item, where)
    if "request" not in item and "response" not in item:
        if "data" in item and ("kind" in item or "direction" in item):
            return Request(), Response(body=item)
        raise ShapeError("interaction has neither a request nor a response", where)
    req, resp = item.get("request") or {}, item.get("response") or {}
    if not isinstance(req, dict):
        raise ShapeError("request should be an object", where)
    if not isinstance(resp, dict):
        raise ShapeError("response should be an object", where)
    request, response = _request(req, where), _response(resp, where)
    if isinstance(resp, dict):
        request.leaks.extend(recorded.raw_leaks(None, resp.get("_chunks")))
    return request, response


def _request(req: dict, where: str) -> Request:
    headers = headers_of(req.get("headers"), f"{where}, request headers")
    if "parsed_body" in req:
        body = req["parsed_body"]
    else:
        body = recorded.json_or_text(body_text(req.get("body"), headers, f"{where}, request body"))
    return recorded.request(req.get("method"), req.get("uri", req.get("url")), headers, body, where)


def _response(resp: dict, where: str) -> Response:
    status = resp["code"] if "code" in resp else resp["status_code"] if "status_code" in resp else resp.get("status")
    status = recorded.status_of(status, f"{where}, response status")
    if "parsed_body" in resp:
        payloads = bodies.document(resp["parsed_body"])
    else:
        headers = headers_of(resp.get("headers"), f"{where}, response headers")
        place = f"{where}, response body"
        # vcrpy's httpx stubs of 2023 kept the body as ``content: <text>`` rather than ``body: {string}``.
        body = resp["content"] if "body" not in resp and "content" in resp else resp.get("body")
        payloads = bodies.split(body_text(body, headers, place), place)
        if "_timing" in resp:  # ``llmtrace record``'s reads and times (``containers.chunk_reads``)
            from llmtrace.containers import chunk_reads

            times, timings = chunk_reads.cassette_timing(resp, payloads, header(headers, "content-encoding"), place)
            response = recorded.response(status, payloads, chunk_times=times, timings=timings)
            response.chunk_timing = "chunk-times" if times is not None else None
            return response
    return recorded.response(status, payloads)


def body_text(body: Any, headers: dict[str, str], where: str) -> str | None:
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
    YAML, when it is a bare scalar (plain text parses as one YAML string), when it nests more
    deeply than libyaml reads (1000 levels), or when its aliases expand beyond the budget
    (``expanded_size``)."""
    import yaml

    loader = None
    try:
        loader = _loader()(data)
        node = loader.get_single_node()
        if node is not None and _may_alias(data):
            expanded_size(node, limits.alias_budget(len(data)), len(data))
        doc = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = exc.problem or exc.context or ""
        if "nesting depth" in problem:
            raise ShapeError("nested too deeply (YAML: more than 1000 levels)", where) from None
        raise ShapeError(f"not JSON, YAML or SSE (YAML: {problem})", where) from None
    except yaml.YAMLError as exc:
        raise ShapeError(f"not JSON, YAML or SSE (YAML: {exc})") from None
    finally:
        if loader is not None:
            loader.dispose()
    if not isinstance(doc, (dict, list)):
        start = len(data) - len(data.lstrip())
        line = data.count(b"\n", 0, start) + 1
        column = start - data.rfind(b"\n", 0, start)
        raise ShapeError("not JSON, YAML or SSE (plain text)", f"line {line}, column {column} (byte {start})")
    return doc


# An anchor (``&name``) and an alias (``*name``) where a node starts: after a space, a line
# break, a flow indicator or a colon (``{"a":&x 1}``), or at the very start; followed by a
# name. A document with no match for both has no alias (text such as ``a &amp; b`` or
# `` **bold**`` may match, which only costs a count). The character class comes first: the
# regex engine scans for a class faster than for an alternation.
_ANCHOR = re.compile(rb"[\s\[{,:]&[^\s\[\]{},]")
_ALIAS = re.compile(rb"[\s\[{,:]\*[^\s\[\]{},]")


def _may_alias(data: bytes) -> bool:
    return (b"*" in data and b"&" in data and (data[:1] == b"&" or _ANCHOR.search(data) is not None)
            and _ALIAS.search(data) is not None)


def expanded_size(root, budget: int, size: int) -> int:
    """The size of a composed YAML document with every alias expanded: one per value plus the
    characters of each scalar, an aliased subtree counted in full each time it is referenced.
    ShapeError when it exceeds ``budget`` (``size``: the file's, for the message; an alias bomb: 461 bytes of nested aliases expand to
    a billion values; PyYAML shares one Python object per anchor, but everything downstream —
    folding, the JSON written out — walks each reference again), or when an alias refers to a
    node that contains it (a cycle, which no JSON body can be).

    The nodes form a graph that shares subtrees; the walk is iterative and remembers the size
    of each node it has sized, so it is linear in the number of distinct nodes."""
    import yaml

    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # nodes whose children are being sized: the current path
    stack: list = [(root, False)]
    scalar = yaml.ScalarNode
    mapping = yaml.MappingNode
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            if isinstance(node, mapping):
                total = 1 + sum(sizes[id(k)] + sizes[id(v)] for k, v in node.value)
            else:
                total = 1 + sum(sizes[id(child)] for child in node.value)
            open_nodes.discard(key)
            if total > budget:
                raise ShapeError(_too_expanded(size, budget), _line(node))
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if isinstance(node, scalar):
            sizes[key] = 1 + len(node.value)
            continue
        if key in open_nodes:
            raise ShapeError("YAML alias refers to a node that contains it (a cycle)", _line(node))
        open_nodes.add(key)
        stack.append((node, True))
        if isinstance(node, mapping):
            for k, v in node.value:
                stack.append((k, False))
                stack.append((v, False))
        else:
            stack.extend((child, False) for child in node.value)
    return sizes[id(root)]


def _too_expanded(size: int, budget: int) -> str:
    return (f"YAML aliases expand the document too far (beyond {budget:,} values and characters "
            f"from a {size:,}-byte file: an alias bomb?)")


def _line(node) -> str:
    mark = node.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}"


@lru_cache(maxsize=None)
def _loader():
    import yaml

    class CassetteLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        """PyYAML's safe loader, reading VCR's and other recorders' tags as plain data."""

        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode) and any(not isinstance(k, yaml.ScalarNode) for k, _ in node.value):
                node.value = [(_key_node(k), v) for k, v in node.value]
            return super().construct_mapping(node, deep=deep)

    CassetteLoader.add_constructor("tag:yaml.org,2002:timestamp", _scalar)
    CassetteLoader.add_multi_constructor(None, _plain)
    return CassetteLoader


def _key_node(node):
    """A mapping key that is a pickled string object (vcrpy through aiohttp writes header names
    as ``? !!python/object/apply:multidict._multidict.istr [Content-Type]``, or ``…/new:…``
    with ``args``): a plain string key holding the object's first argument, when that is a
    scalar. No object is constructed. Any other complex key is left as it is (and refused by
    PyYAML as unhashable)."""
    import yaml

    args = node.value if isinstance(node, yaml.SequenceNode) else None
    if isinstance(node, yaml.MappingNode) and node.tag.startswith("tag:yaml.org,2002:python/"):
        args = next((v.value for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == "args"
                     and isinstance(v, yaml.SequenceNode)), None)
    if node.tag.startswith("tag:yaml.org,2002:python/") and args and isinstance(args[0], yaml.ScalarNode):
        return yaml.ScalarNode("tag:yaml.org,2002:str", args[0].value, node.start_mark, node.end_mark)
    return node


def _scalar(loader, node) -> str:
    return loader.construct_scalar(node)


def _plain(loader, suffix, node) -> Any:
    """Any other tag (``!!python/unicode``, ``!!python/tuple``, ``!ruby/object:…``): the plain
    value it tags. A mapping or sequence is filled after it is made, as PyYAML fills untagged
    ones (a generator), so that tagged nesting costs no recursion (a 600-level ``!ruby/object``
    reads like an untagged one)."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        return _plain_mapping(loader, node)
    if isinstance(node, yaml.SequenceNode):
        return _plain_sequence(loader, node)
    return loader.construct_scalar(node)


def _plain_mapping(loader, node):
    data: dict = {}
    yield data
    data.update(loader.construct_mapping(node))


def _plain_sequence(loader, node):
    data: list = []
    yield data
    data.extend(loader.construct_sequence(node))


def _json_only(item: dict) -> bool:
    """A request or response recorded as a gRPC message (``{"json": …}``, no URL)."""
    return any(isinstance(item.get(key), dict) and "json" in item[key] and "uri" not in item[key]
               and "url" not in item[key] for key in ("request", "response"))
