"""What is shown about an exchange, computed once and drawn by every renderer: the terminal
(``show``), its JSON (``show --json``) and the HTML report; and the exchange as a document for
the diff engine (``diff``, ``report --diff``, the API), whose request part is also what
``serve`` matches requests on. No rich here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from llmtrace.model import Anomaly, Exchange, Message, Recording, Usage

if TYPE_CHECKING:  # the timeline module is loaded by the commands that show one, not by reassemble
    from llmtrace import timeline


class Shown(NamedTuple):
    """Everything shown about one exchange."""

    exchange: Exchange
    summary: timeline.Summary
    observed: timeline.Observed
    anomalies: list[Anomaly]


def shown(recording: Recording, exchange: Exchange) -> Shown:
    from llmtrace import timeline
    from llmtrace.anomalies import detect

    return Shown(exchange, timeline.summarize(exchange.result, exchange.response.timings),
                 timeline.observed(exchange.result), detect(exchange, recording))


def request_stream(exchange: Exchange) -> bool:
    """Whether the request asked for a stream: the body's ``stream`` flag when it has one (a
    recorded error may have asked for one and got none), else whether the response streamed."""
    body = exchange.request.body
    flag = body.get("stream") if isinstance(body, dict) else None
    return flag if isinstance(flag, bool) else exchange.response.streaming


def first_chunk_after_start(exchange: Exchange) -> float | None:
    """Seconds from the request start to the first chunk, where the recording has both (HAR's
    ``startedDateTime`` and per-chunk times); else None."""
    result = exchange.result
    started = (exchange.response.timings or {}).get("started")
    times = result.timeline.times if result else None
    if started is None or not times:
        return None
    first = next((t for t in times if t is not None), None)
    return None if first is None else max(0.0, first - started)


# --- reassembled (reassemble, the API, serve) -------------------------------------------------------


def provider_json(exchange: Exchange) -> Any:
    """The provider-shaped response of one exchange: what ``reassemble`` prints."""
    resp = exchange.response
    if exchange.failed:
        return {"error": resp.error, "status": resp.status}
    if exchange.result is not None:
        return exchange.result.response
    return resp.chunks if resp.streaming and resp.body is None else resp.body


def normalized_json(exchange: Exchange) -> dict:
    """llmtrace's own provider-neutral JSON (contracts.md): ``reassemble --normalized``."""
    out: dict[str, Any] = {"container": exchange.container, "dialect": exchange.dialect,
                           "fidelity": exchange.fidelity}
    result = exchange.result
    out["model"] = (result.model if result and result.model else None) or exchange.request.model
    if exchange.failed:
        out["error"] = exchange.response.error
        out["status"] = exchange.response.status
        return out
    out["choices"] = [m.model_dump() for m in result.choices] if result else []  # no depth limit
    out["usage"] = result.usage.model_dump(mode="json") if result else None
    if result is None:
        out["body"] = provider_json(exchange)
    return out


# --- documents (diff) -----------------------------------------------------------------------------


def documents(recording: Recording) -> list[dict]:
    return [document(exchange, recording) for exchange in recording.exchanges]


def request_doc(exchange: Exchange) -> dict:
    """The request in the terms ``diff`` compares and ``serve`` matches: model, endpoint,
    messages, tools (each with its definition) and parameters."""
    from llmtrace.normalize import tool_definitions

    nr = exchange.normalized_request
    definitions = tool_definitions(exchange.request.body)
    return {
        "model": nr.model,
        "endpoint": exchange.request.endpoint,
        "messages": [m.model_dump(mode="json") for m in nr.messages],
        "tools": {name: definitions.get(name) or {"name": name} for name in nr.tools},
        "params": nr.params,
    }


def document(exchange: Exchange, recording: Recording | None = None) -> dict:
    """One exchange in the provider-neutral terms ``llmtrace.compare`` works on."""
    from llmtrace import compare
    from llmtrace.anomalies import detect
    from llmtrace.timeline import observed, summarize

    request = request_doc(exchange)
    result = exchange.result
    response: dict[str, Any] = {"model": result.model if result else None, "status": exchange.response.status,
                                "error": exchange.response.error}
    if result is None:
        if not exchange.failed:
            response["body"] = provider_json(exchange)
    else:
        summary = summarize(result, exchange.response.timings)
        response["chunks"] = observed(result).chunks
        response.update(timing=summary.timing, ttft_s=summary.ttft_s, gap_p50_s=summary.gap_p50_s,
                        gap_p95_s=summary.gap_p95_s, tokens_per_second=summary.tokens_per_second,
                        longest_stall_s=summary.longest_stall.seconds if summary.longest_stall else None,
                        span_s=summary.span_s)
        if isinstance(result.response, dict):
            response.update({k: result.response[k] for k in compare.VOLATILE if k in result.response})
    return {
        "request": request,
        "choices": [message(m) for m in result.choices] if result else [],
        "usage": (result.usage if result else Usage()).model_dump(mode="json"),
        "anomalies": [x.model_dump() for x in detect(exchange, recording)],  # no depth limit
        "response": response,
    }


def message(m: Message) -> dict:
    """A normalized message as plain data. Not pydantic's ``model_dump``: parsed tool arguments
    are recorded data, and may nest deeper than its serializer goes."""
    out = _fields(m)
    out["tool_calls"] = [_call(call) for call in m.tool_calls]
    return out


def _call(call: Any) -> dict:
    """A tool call's fields; ``server`` only on a hosted tool's call (as ``ToolCall`` dumps it)."""
    out = _fields(call)
    if not out.get("server"):
        out.pop("server", None)
    return out


def _fields(model: Any) -> dict:
    return {name: getattr(model, name) for name, info in type(model).model_fields.items() if not info.exclude}
