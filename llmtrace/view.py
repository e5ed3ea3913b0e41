"""What is shown about an exchange, computed once and drawn by every renderer: the terminal
(``show``), its JSON (``show --json``) and the HTML report. No rich here."""

from __future__ import annotations

from typing import NamedTuple

from llmtrace import timeline
from llmtrace.model import Anomaly, Exchange, Recording


class Shown(NamedTuple):
    """Everything shown about one exchange."""

    exchange: Exchange
    summary: timeline.Summary
    observed: timeline.Observed
    anomalies: list[Anomaly]


def shown(recording: Recording, exchange: Exchange) -> Shown:
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
