"""OpenTelemetry traces exported as OTLP JSON (``{"resourceSpans": [{"resource", "scopeSpans":
[{"scope", "spans": [...]}]}]}`` — the OTLP/HTTP JSON encoding; the collector's file exporter
writes one such document per line, read as one), read for their GenAI spans: one exchange per
generation span, in file order.

A span is a generation when its ``gen_ai.operation.name`` is ``chat``, ``text_completion`` or
``generate_content``, or — instrumentations that predate that attribute (OpenLLMetry) — when it
names a model (``gen_ai.request.model``/``gen_ai.response.model``) and is no embeddings, tool
or agent span. Other spans (HTTP client spans, tool executions, agents) are not exchanges.

Attribute values are OTLP ``AnyValue``s (``stringValue``, ``intValue`` — a decimal string in
JSON —, ``doubleValue``, ``boolValue``, ``arrayValue``, ``kvlistValue``, ``bytesValue``) and are
read into plain values. The request is rebuilt from the span in chat terms (``model``,
``messages`` from ``gen_ai.system_instructions`` + ``gen_ai.input.messages`` or the legacy
``gen_ai.prompt.N.*`` attributes, ``tools`` from ``gen_ai.tool.definitions``, the
``gen_ai.request.*`` parameters); the response body is the span's ``gen_ai.*`` attributes, which
the ``otel-genai`` dialect folds. A span keeps no chunks: its fidelity is the final text at
best, and ``gen_ai.response.time_to_first_chunk`` is the one time it may know.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from llmtrace.errors import ShapeError
from llmtrace.model import Request, Response

NAME = "otlp"
MANY_EXCHANGES = True

GENERATIONS = frozenset(("chat", "text_completion", "generate_content"))
NOT_GENERATIONS = frozenset(("embeddings", "execute_tool", "create_agent", "invoke_agent", "invoke_workflow",
                             "retrieval"))
# Request parameters a span records, under gen_ai.request.<name>.
_PARAMS = ("temperature", "top_p", "top_k", "max_tokens", "frequency_penalty", "presence_penalty",
           "stop_sequences", "seed", "choice.count")


def sniff(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("resourceSpans"), list)


def merge(docs: list[Any]) -> dict:
    """Several exports (JSON Lines: the collector's file exporter writes one per line) as one."""
    return {"resourceSpans": [rs for doc in docs for rs in doc["resourceSpans"]]}


def read(doc: Any) -> list[tuple[Request, Response]]:
    if not sniff(doc):
        raise ShapeError("not OTLP JSON (no \"resourceSpans\" list)")
    out: list[tuple[Request, Response]] = []
    for r, resource in enumerate(doc["resourceSpans"]):
        if not isinstance(resource, dict):
            raise ShapeError("resourceSpans item should be an object", f"resourceSpans[{r}]")
        for s, scope in enumerate(resource.get("scopeSpans") or resource.get("instrumentationLibrarySpans") or []):
            if not isinstance(scope, dict):
                raise ShapeError("scopeSpans item should be an object", f"resourceSpans[{r}].scopeSpans[{s}]")
            for n, span in enumerate(scope.get("spans") or []):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{n}]"
                if not isinstance(span, dict):
                    raise ShapeError("span should be an object", where)
                attrs = attributes(span.get("attributes"), where)
                if is_generation(attrs):
                    out.append(_exchange(span, attrs, where))
    return out


def attributes(items: Any, where: str) -> dict[str, Any]:
    """OTLP ``[{"key", "value": AnyValue}]`` → ``{key: plain value}``."""
    if items is None:
        return {}
    if not isinstance(items, list):
        raise ShapeError("attributes should be a list", where)
    out: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise ShapeError("an attribute should be an object with a key", where)
        out[item["key"]] = any_value(item.get("value"), where)
    return out


def any_value(value: Any, where: str) -> Any:
    if not isinstance(value, dict) or not value:
        return None
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        raw = value["intValue"]
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ShapeError(f"intValue should be an integer, got {raw!r}"[:120], where) from None
    if "doubleValue" in value:
        return value["doubleValue"]
    if "boolValue" in value:
        return value["boolValue"]
    if "arrayValue" in value:
        return [any_value(v, where) for v in (value["arrayValue"] or {}).get("values") or []]
    if "kvlistValue" in value:
        return attributes((value["kvlistValue"] or {}).get("values"), where)
    if "bytesValue" in value:
        try:
            return base64.b64decode(value["bytesValue"]).decode("utf-8", "replace")
        except (ValueError, TypeError):
            return None
    return None


def is_generation(attrs: dict[str, Any]) -> bool:
    operation = attrs.get("gen_ai.operation.name")
    if operation is not None:
        return operation in GENERATIONS
    if attrs.get("llm.request.type") in ("embedding", "rerank"):
        return False
    return bool(attrs.get("gen_ai.request.model") or attrs.get("gen_ai.response.model"))


def structured(value: Any) -> Any:
    """A structured attribute: recorded as JSON text by most SDKs, as an AnyValue by others."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _exchange(span: dict, attrs: dict[str, Any], where: str) -> tuple[Request, Response]:
    model = attrs.get("gen_ai.request.model")
    body: dict[str, Any] = {"model": model} if isinstance(model, str) else {}
    messages = _system(attrs) + _input_messages(attrs)
    if messages:
        body["messages"] = messages
    tools = structured(attrs.get("gen_ai.tool.definitions"))
    if isinstance(tools, list):
        body["tools"] = tools
    for name in _PARAMS:
        if f"gen_ai.request.{name}" in attrs:
            body[name] = attrs[f"gen_ai.request.{name}"]
    host = attrs.get("server.address")
    port = attrs.get("server.port")
    if isinstance(host, str) and isinstance(port, int):
        host = f"{host}:{port}"
    request = Request(method=None, host=host if isinstance(host, str) else None,
                      model=model if isinstance(model, str) else None, body=body)
    response_body = {key: structured(value) for key, value in attrs.items()
                     if key.startswith(("gen_ai.", "llm.")) or key.startswith("error.")}
    response_body["span"] = {key: span.get(key) for key in ("name", "traceId", "spanId", "startTimeUnixNano",
                                                              "endTimeUnixNano", "status") if key in span}
    response_body["events"] = [_event(e, f"{where}.events") for e in span.get("events") or [] if isinstance(e, dict)]
    status = span.get("status") if isinstance(span.get("status"), dict) else {}
    error = None
    if status.get("code") in (2, "STATUS_CODE_ERROR"):
        error = {"message": status.get("message") or attrs.get("error.type") or "the span ended in error",
                 "type": attrs.get("error.type")}
    response = Response(streaming=False, body=response_body, error=error,
                        error_message=error["message"] if error else None)
    return request, response


def _event(event: dict, where: str) -> dict:
    return {"name": event.get("name"), "timeUnixNano": event.get("timeUnixNano"),
            "attributes": {k: structured(v) for k, v in attributes(event.get("attributes"), where).items()}}


def _system(attrs: dict[str, Any]) -> list[dict]:
    system = structured(attrs.get("gen_ai.system_instructions"))
    if isinstance(system, list):
        text = "".join(p.get("content", "") for p in system if isinstance(p, dict) and isinstance(p.get("content"), str))
        return [{"role": "system", "content": text}] if text else []
    if isinstance(system, str) and system:
        return [{"role": "system", "content": system}]
    return []


def _input_messages(attrs: dict[str, Any]) -> list[dict]:
    messages = structured(attrs.get("gen_ai.input.messages"))
    if isinstance(messages, list):
        return [{"role": m.get("role") or "user", "content": parts_text(m.get("parts"))}
                for m in messages if isinstance(m, dict)]
    return indexed(attrs, "gen_ai.prompt")


def parts_text(parts: Any) -> str:
    """The text of OTel GenAI message parts: text parts' content, tool calls and results named."""
    if not isinstance(parts, list):
        return parts if isinstance(parts, str) else ""
    out: list[str] = []
    for part in parts:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "tool_call":
            out.append(f"[tool call] {part.get('name')}({orjson.dumps(part.get('arguments')).decode()})")
        elif kind == "tool_call_response":
            response = part.get("response")
            out.append("[tool result] " + (response if isinstance(response, str) else orjson.dumps(response).decode()))
        elif isinstance(part.get("content"), str) and kind in ("text", None):
            out.append(part["content"])
        elif kind is not None:
            out.append(f"[{kind}]")
    return "".join(out)


def indexed(attrs: dict[str, Any], prefix: str) -> list[dict]:
    """Legacy flattened messages (``gen_ai.prompt.0.role``, ``gen_ai.prompt.0.content``, …), in
    index order."""
    found: dict[int, dict] = {}
    start = len(prefix) + 1
    for key, value in attrs.items():
        if not key.startswith(prefix + "."):
            continue
        index, _, field = key[start:].partition(".")
        if index.isdigit() and field:
            found.setdefault(int(index), {})[field] = value
    return [found[i] for i in sorted(found)]
