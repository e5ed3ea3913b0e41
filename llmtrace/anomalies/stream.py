"""Checks on how the stream ended and what it carried besides text: finish signals, errors,
content filters, late deltas, changing ids."""

from __future__ import annotations

from functools import lru_cache
from operator import itemgetter
from typing import Any, Iterator

from llmtrace import dialects
from llmtrace.anomalies import check, finding
from llmtrace.anomalies.evidence import brief, finish_chunk
from llmtrace.model import Anomaly, Exchange


@check("error-response", "error", needs_result=False)
def error_response(exchange: Exchange) -> list[Anomaly]:
    """A recorded exception or an HTTP status of 400 or more."""
    if not exchange.failed:
        return []
    response = exchange.response
    status = f"status {response.status}" if response.status else "no status"
    detail = response.error_message or response.error
    return [finding(exchange, "error-response", f"the request failed ({status}): {brief(detail, 200)}",
                    details={"status": response.status, "error": response.error})]


@check("bad-status", "error", needs_result=False)
def bad_status(exchange: Exchange) -> list[Anomaly]:
    """A recorded HTTP status no server sends with an answer: outside 100-599, an interim 1xx
    as the final status, or 204/304 (no content) with a body. ``serve`` answers it as 502."""
    response = exchange.response
    status = response.status
    if not status:  # None: not recorded; 0: no response arrived
        return []
    has_body = response.body is not None or bool(response.chunks)
    if 200 <= status <= 599 and not (status in (204, 304) and has_body):
        return []
    why = ("is no HTTP status" if not 100 <= status <= 599 else "is an interim status, not an answer"
           if status < 200 else "carries no content, yet a body was recorded")
    return [finding(exchange, "bad-status", f"the recorded status {status} {why}", details={"status": status})]


@check("error-in-stream", "error")
def error_in_stream(exchange: Exchange) -> list[Anomaly]:
    """An error object inside a successful stream."""
    anomalies: list[Anomaly] = []
    for chunk, error in exchange.result.observations.stream_errors:
        message = error.get("message") if isinstance(error, dict) else None
        anomalies.append(finding(exchange, "error-in-stream", f"error in the stream at chunk {chunk}: "
                                 f"{brief(message if isinstance(message, str) else error, 200)}",
                                 chunks=[chunk], details={"error": error}))
    return anomalies


@check("no-finish", "error")
def no_finish(exchange: Exchange) -> list[Anomaly]:
    """The stream ends without a finish signal (finish_reason, done, message_stop, …)."""
    result = exchange.result
    if result.complete:
        return []
    streamed = exchange.response.streaming
    last = [result.timeline.chunks - 1] if streamed and result.timeline.chunks else None
    what = (f"the stream ends without a finish signal after {result.timeline.chunks} chunks" if streamed
            else "the response carries no finish signal")
    unfinished = [m.index for m in result.choices if m.finish_reason is None]
    anomalies: list[Anomaly] = []
    for choice in unfinished or [None]:
        where = f" (choice {choice})" if len(result.choices) > 1 and choice is not None else ""
        anomalies.append(finding(exchange, "no-finish", f"{what}{where}: the response is incomplete", choice=choice,
                                 chunks=last))
    return anomalies


@check("finish-missing", "info")
def finish_missing(exchange: Exchange) -> list[Anomaly]:
    """A complete stream (it ended with the usage chunk and ``[DONE]``) whose provider never sent
    a finish reason: an omission of the provider's, not an incomplete response."""
    anomalies: list[Anomaly] = []
    result = exchange.result
    last = [result.timeline.chunks - 1] if result.timeline.chunks else None
    for choice in result.observations.finish_missing:
        where = f" (choice {choice})" if len(result.choices) > 1 else ""
        anomalies.append(finding(exchange, "finish-missing", "the stream ended complete (usage, then [DONE]) but "
                                 f"no finish reason was sent{where}", choice=choice, chunks=last))
    return anomalies


@check("unread-chunk", "warning")
def unread_chunk(exchange: Exchange) -> list[Anomaly]:
    """Chunks the reader could not read (a field of a type it did not foresee) and left out: the
    exchange is read without them, and the checks that would judge what they held are skipped."""
    anomalies: list[Anomaly] = []
    unread = exchange.result.observations.unread
    if unread:
        first_chunk, what = unread[0]
        more = f" (and {len(unread) - 1} more)" if len(unread) > 1 else ""
        anomalies.append(finding(exchange, "unread-chunk", f"chunk {first_chunk} could not be read "
                                 f"({brief(what, 160)}){more}: left out of the reassembly",
                                 chunks=[chunk for chunk, _ in unread],
                                 details={"unread": [{"chunk": chunk, "what": text} for chunk, text in unread]}))
    return anomalies


@lru_cache(maxsize=256)
def known_finish_reasons(dialect: str) -> frozenset[str] | None:
    """The finish reasons a dialect defines: its module's ``FINISH_REASONS``, else the keys of its
    ``STOPS`` table; None when the dialect has neither (remembered per dialect: they are constants)."""
    module = dialects.module_for(dialect)
    known = getattr(module, "FINISH_REASONS", None) or getattr(module, "STOPS", None)
    return frozenset(known) if known else None


@check("nonstandard-finish", "warning")
def nonstandard_finish(exchange: Exchange) -> list[Anomaly]:
    """A finish reason that is empty or outside the dialect's set."""
    anomalies: list[Anomaly] = []
    known = known_finish_reasons(exchange.dialect)
    for message in exchange.result.choices:
        reason = message.finish_reason
        if reason is None or (reason in known if known is not None else message.stop is not None):
            continue
        anomalies.append(finding(exchange, "nonstandard-finish", f"finish reason {brief(reason)!r} is not one "
                                 f"{exchange.dialect} defines", choice=message.index,
                                 chunks=finish_chunk(exchange, message.index), details={"finish_reason": reason}))
    return anomalies


@check("truncated", "warning")
def truncated(exchange: Exchange) -> list[Anomaly]:
    """Stopped at the token limit; an error when a tool call was cut."""
    anomalies: list[Anomaly] = []
    for message in exchange.result.choices:
        if message.stop != "length":
            continue
        free = exchange.result.observations.free_text_calls
        cut = [c.name for c in message.tool_calls if c.parsed_arguments is None and not (free and c.id in free)]
        text = f"stopped at the token limit ({message.finish_reason})"
        if cut:
            text += f"; tool call {brief(cut[-1])} was cut off"
        anomalies.append(finding(exchange, "truncated", text, severity="error" if cut else None,
                                 choice=message.index, chunks=finish_chunk(exchange, message.index),
                                 details={"finish_reason": message.finish_reason,
                                          **({"cut_tool": cut[-1]} if cut else {})}))
    return anomalies


@check("content-filter", "warning")
def content_filter(exchange: Exchange) -> list[Anomaly]:
    """Output stopped by a content filter, or content-filter results that flag something."""
    anomalies: list[Anomaly] = []
    result = exchange.result
    for message in result.choices:
        if message.stop == "content_filter" and message.finish_reason != "refusal":  # a refusal has its own code
            anomalies.append(finding(exchange, "content-filter",
                                     f"stopped by a content filter ({message.finish_reason})",
                                     choice=message.index, chunks=finish_chunk(exchange, message.index),
                                     details={"finish_reason": message.finish_reason}))
    flagged = sorted({name for item in result.observations.filter_results for name in _flagged(item)})
    if flagged:
        anomalies.append(finding(exchange, "content-filter", f"content filter flagged {', '.join(flagged)}",
                                 details={"categories": flagged}))
    return anomalies


def _flagged(value: Any, name: str | None = None) -> Iterator[str]:
    """Category names of filter results marked filtered/blocked/detected, at any depth (Azure's
    ``{"hate": {"filtered": true, …}}``, safety ratings ``{"category": …, "blocked": true}``)."""
    if isinstance(value, dict):
        if any(value.get(flag) is True for flag in ("filtered", "blocked", "detected")):
            yield str(value.get("category") or name or "unnamed")
        for key, inner in value.items():
            if isinstance(inner, (dict, list)):
                yield from _flagged(inner, key)
    elif isinstance(value, list):
        for inner in value:
            yield from _flagged(inner, name)


_CHUNK = itemgetter(0)  # Delta.chunk


@check("content-after-finish", "warning")
def content_after_finish(exchange: Exchange) -> list[Anomaly]:
    """Content or tool deltas after a choice's finish chunk (a later usage-only chunk is fine)."""
    result = exchange.result
    finish_chunks = result.observations.finish_chunks
    deltas = result.timeline.deltas
    if not finish_chunks or not exchange.response.streaming or not deltas:
        return []
    if max(map(_CHUNK, deltas)) <= min(finish_chunks.values()):
        return []  # no delta after the first finish (told in C): the usual case
    late: dict[int, list[int]] = {}
    for delta in deltas:
        finished = finish_chunks.get(delta.choice)
        if finished is not None and delta.chunk > finished:
            chunks = late.setdefault(delta.choice, [])
            if not chunks or chunks[-1] != delta.chunk:
                chunks.append(delta.chunk)
    anomalies: list[Anomaly] = []
    for choice, chunks in sorted(late.items()):
        anomalies.append(finding(exchange, "content-after-finish",
                                 f"{len(chunks)} chunk{'s' if len(chunks) > 1 else ''} with content after the "
                                 f"finish at chunk {finish_chunks[choice]}", choice=choice, chunks=chunks,
                                 details={"finish_chunk": finish_chunks[choice]}))
    return anomalies


@check("mixed-ids", "warning")
def mixed_ids(exchange: Exchange) -> list[Anomaly]:
    """Chunk ids that change within one stream (an empty id is not counted)."""
    anomalies: list[Anomaly] = []
    ids = exchange.result.observations.chunk_ids
    if len(ids) > 1:
        anomalies.append(finding(exchange, "mixed-ids", f"{len(ids)} different ids in one stream: "
                                 f"{brief(', '.join(ids), 120)}", details={"ids": ids}))
    return anomalies
