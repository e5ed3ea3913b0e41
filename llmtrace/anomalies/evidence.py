"""Evidence for findings: which chunks carried a stretch of reassembled text, and short one-line
renderings of recorded values for messages."""

from __future__ import annotations

from typing import Any

import orjson

from llmtrace.model import Exchange


def span_chunks(exchange: Exchange, choice: int, kind: str, length: int,
                spans: list[tuple[int, int]]) -> list[list[int] | None]:
    """For each ``(start, end)`` span of the reassembled text of ``kind`` ("content",
    "reasoning", "refusal", "tool") in ``choice``, the indices of the chunks whose deltas carried
    it. One pass over the timeline. None for every span when the response was not streamed or
    its deltas do not add up to the ``length`` characters of the text (then they cannot be told)."""
    result = exchange.result
    if not spans or result is None or not exchange.response.streaming:
        return [None] * len(spans)
    order = sorted(range(len(spans)), key=lambda i: spans[i])
    found: list[list[int]] = [[] for _ in spans]
    offset = 0
    first = 0  # the first span, in start order, that can still overlap a delta
    for delta in result.timeline.deltas:
        if delta.choice != choice or delta.kind != kind:
            continue
        start = offset
        offset += len(delta.text)
        while first < len(order) and spans[order[first]][1] <= start:
            first += 1
        k = first
        while k < len(order) and spans[order[k]][0] < offset:
            i = order[k]
            if spans[i][1] > start:
                chunks = found[i]
                if not chunks or chunks[-1] != delta.chunk:
                    chunks.append(delta.chunk)
            k += 1
    if offset != length:
        return [None] * len(spans)
    return found


def finish_chunk(exchange: Exchange, choice: int) -> list[int] | None:
    """The chunk that finished ``choice``, as evidence; None when not streamed or not recorded."""
    chunk = exchange.result.observations.finish_chunks.get(choice) if exchange.result else None
    return [chunk] if chunk is not None and exchange.response.streaming else None


def brief(value: Any, limit: int = 80) -> str:
    """A recorded value on one line, cut at ``limit`` characters."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:  # e.g. an integer beyond 64 bits from a pythonic call
            text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def call_summary(calls: list[dict[str, Any]], limit: int = 120) -> str:
    """``get_weather({"city":"Tokyo"}), get_time(…)`` for calls parsed from text."""
    parts = []
    for call in calls:
        arguments = call.get("arguments")
        parts.append(f"{call.get('name')}({'…' if arguments is None else brief(arguments, limit)})")
    return brief(", ".join(parts), limit)
