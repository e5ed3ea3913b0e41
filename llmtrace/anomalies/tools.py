"""Checks on the structured tool calls: their arguments, ids, indices and names."""

from __future__ import annotations


from llmtrace.anomalies import check, finding
from llmtrace.anomalies.evidence import brief, finish_chunk, span_chunks
from llmtrace.model import Anomaly, Exchange, Message

# Dialects whose tool calls carry no id by design.
_NO_IDS = frozenset(("gemini", "ollama-chat", "ollama-generate"))


def _argument_chunks(exchange: Exchange, message: Message) -> list[list[int] | None]:
    """The chunks that carried each call's arguments: the choice's tool deltas, read in order,
    add up to the calls' arguments one after another (when calls were streamed interleaved they
    do not, and no chunks are given)."""
    spans = []
    offset = 0
    for call in message.tool_calls:
        spans.append((offset, offset + len(call.arguments)))
        offset += len(call.arguments)
    return span_chunks(exchange, message.index, "tool", offset, spans)


@check("invalid-tool-arguments", "error")
def invalid_tool_arguments(exchange: Exchange) -> list[Anomaly]:
    """Tool-call arguments that are not a JSON object (an empty string, for no arguments, is fine;
    a custom tool's free text is what it should be)."""
    anomalies: list[Anomaly] = []
    free = exchange.result.observations.free_text_calls
    for message in exchange.result.choices:
        evidence = None
        for n, call in enumerate(message.tool_calls):
            parsed = call.parsed_arguments
            if isinstance(parsed, dict) or (free and call.id in free):
                continue  # a JSON object, or a custom tool's free text
            why = "not JSON" if parsed is None else "JSON but not an object"
            if evidence is None:
                evidence = _argument_chunks(exchange, message)
            anomalies.append(finding(exchange, "invalid-tool-arguments", f"arguments of tool call {n} "
                                     f"({brief(call.name)}) are {why}: {brief(call.arguments)}", choice=message.index,
                                     chunks=evidence[n], details={"call": n, "id": call.id, "name": call.name,
                                                                  "arguments": call.arguments}))
    return anomalies


@check("tool-call-missing-id", "warning")
def tool_call_missing_id(exchange: Exchange) -> list[Anomaly]:
    """A tool call without an id where the dialect gives every call one."""
    if exchange.dialect in _NO_IDS:
        return []
    anomalies: list[Anomaly] = []
    for message in exchange.result.choices:
        for n, call in enumerate(message.tool_calls):
            if not call.id:
                anomalies.append(finding(exchange, "tool-call-missing-id",
                                         f"tool call {n} ({brief(call.name)}) has no id", choice=message.index,
                                         details={"call": n, "name": call.name}))
    return anomalies


@check("tool-index-gap", "warning")
def tool_index_gap(exchange: Exchange) -> list[Anomaly]:
    """Tool-call indices that start above 0, skip one, or are reused by a call with another id."""
    anomalies: list[Anomaly] = []
    calls: dict[int, dict[int, str | None]] = {}  # choice → index → the id first seen there
    problems: dict[int, list[tuple[int, str]]] = {}  # choice → [(chunk, what)]
    for event in exchange.result.observations.tool_events:
        if event.index is None:
            continue
        seen = calls.setdefault(event.choice, {})
        if event.index not in seen:
            expected = max(seen) + 1 if seen else 0
            if event.index != expected:
                problems.setdefault(event.choice, []).append(
                    (event.chunk, f"index {event.index} where {expected} was next"))
            seen[event.index] = event.id
        elif event.id and seen[event.index] and event.id != seen[event.index]:
            problems.setdefault(event.choice, []).append(
                (event.chunk, f"index {event.index} reused by another call ({brief(event.id)})"))
    for choice, found in sorted(problems.items()):
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        anomalies.append(finding(exchange, "tool-index-gap", f"tool-call {found[0][1]} at chunk {found[0][0]}{more}",
                                 choice=choice, chunks=sorted({chunk for chunk, _ in found}),
                                 details={"problems": [what for _, what in found]}))
    return anomalies


@check("unknown-tool", "error")
def unknown_tool(exchange: Exchange) -> list[Anomaly]:
    """A structured call to a tool the request did not declare (when it declared some)."""
    declared = exchange.normalized_request.tools
    if not declared:
        return []
    anomalies: list[Anomaly] = []
    for message in exchange.result.choices:
        for n, call in enumerate(message.tool_calls):
            if call.name and call.name not in declared and not call.server:
                anomalies.append(finding(exchange, "unknown-tool", f"tool call {n} calls {brief(call.name)!r}, "
                                         "which the request did not declare", choice=message.index,
                                         details={"call": n, "name": call.name, "declared": declared}))
    return anomalies


@check("finish-without-tool-calls", "error")
def finish_without_tool_calls(exchange: Exchange) -> list[Anomaly]:
    """The finish reason says tool calls, but none came."""
    anomalies: list[Anomaly] = []
    for message in exchange.result.choices:
        if message.stop == "tool_calls" and not message.tool_calls:
            anomalies.append(finding(exchange, "finish-without-tool-calls", f"finish reason {message.finish_reason} "
                                     "but no tool call", choice=message.index,
                                     chunks=finish_chunk(exchange, message.index),
                                     details={"finish_reason": message.finish_reason}))
    return anomalies
