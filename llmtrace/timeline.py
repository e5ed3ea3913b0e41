"""Timing statistics and per-chunk entries of one exchange, computed from what the recording
really holds (no rich here: show, diff and scan share it).

Definitions (seconds; None = unknown, never invented):

- ``offset_s`` of chunk i: its time minus the time of the first chunk that has one. Recordings
  keep no request start time, so offsets count from the first chunk, not from the request.
- ``gap_s`` of chunk i: its time minus the time of chunk i-1, when both are known (the wait
  before chunk i).
- ``gap_p50_s`` / ``gap_p95_s``: percentiles of those gaps, linearly interpolated between
  ranks (numpy's default method).
- ``longest_stall``: the largest gap, as ``after_chunk`` (the chunk before the wait) and
  ``seconds``.
- ``ttft_s``: time to first token, only where the recording holds what it takes:
  - the request start (HAR ``startedDateTime``) and per-chunk times: the time of the first chunk
    that carried text (content, reasoning, refusal or tool arguments) minus the request start;
  - else the server's own measure, Ollama's ``load_duration + prompt_eval_duration`` (loading
    the model and reading the prompt: the time before the first output token is generated),
    when both are reported.
  Per-chunk times alone never give a TTFT (no request time); ``first_text`` gives instead the
  chunk that brought the first text and its offset from the first chunk.
- ``tokens_per_second``: reported output tokens over a measured generation time: Ollama's
  ``eval_count / eval_duration`` when both are reported; else over the stream's span (last chunk
  time minus first chunk time) when the chunks have times; else over HAR's ``receive`` time (the
  response body's download, first byte to last); otherwise None. Never from estimated counts.
- HAR ``timings`` (``wait`` is the time to the response's first *byte*, not its first token) are
  passed through for display.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from llmtrace.model import Result

# Timeline entries shown when a stream is condensed: the first and the last chunks.
HEAD = 10
TAIL = 10

TTFT_FROM_START = "first text chunk − request start"
TTFT_FROM_DURATIONS = "server: load + prompt eval"
TTFT_RECORDED = "recorded by the client's tracer"
TPS_FROM_DURATIONS = "eval_count / eval_duration"
TPS_FROM_TIMES = "output tokens / stream span"
TPS_FROM_RECEIVE = "output tokens / HAR receive time"


class Entry(NamedTuple):
    """One chunk of the timeline. ``kind`` is the kind of its deltas (content, reasoning,
    refusal, tool) when they all agree, "mixed" when not, None when the chunk carried no text."""

    index: int
    offset_s: float | None
    gap_s: float | None
    text: str
    token_id: int | None
    kind: str | None


class Stall(NamedTuple):
    after_chunk: int
    seconds: float


class Summary(NamedTuple):
    """Timing of one exchange (see the module docstring for each definition)."""

    timing: str
    entries: list[Entry]
    ttft_s: float | None
    ttft_basis: str | None
    gap_p50_s: float | None
    gap_p95_s: float | None
    tokens_per_second: float | None
    tokens_per_second_basis: str | None
    longest_stall: Stall | None
    first_text: tuple[int, float | None] | None  # (chunk, offset_s)
    span_s: float | None
    durations: dict[str, float]
    har_timings: dict[str, float]  # HAR phases in seconds (wait, receive, total, ...)


class Observed(NamedTuple):
    """What the recording shows, next to what the provider reported: chunks, chunks that
    carried content text, and characters of content (all choices)."""

    chunks: int
    content_chunks: int
    characters: int


EMPTY = Summary("none", [], None, None, None, None, None, None, None, None, None, {}, {})


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) of ``values``, linear between ranks; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def entries(result: Result) -> list[Entry]:
    """One entry per chunk: its time offset and gap (None when unknown), its text (every delta
    it carried, joined), its first token id."""
    tl = result.timeline
    n = tl.chunks
    texts: list[list[str] | None] = [None] * n
    kinds: list[str | None] = [None] * n
    token_ids: list[int | None] = [None] * n
    for delta in tl.deltas:
        i = delta.chunk
        if not 0 <= i < n:
            continue
        if texts[i] is None:
            texts[i] = [delta.text]
            kinds[i] = delta.kind
        else:
            texts[i].append(delta.text)
            if kinds[i] != delta.kind:
                kinds[i] = "mixed"
        if token_ids[i] is None:
            token_ids[i] = delta.token_id
    times = tl.times if tl.times is not None and len(tl.times) == n else [None] * n
    origin = next((t for t in times if t is not None), None)
    out = []
    prev = None
    for i in range(n):
        t = times[i]
        offset = t - origin if t is not None else None
        gap = t - prev if t is not None and prev is not None else None
        parts = texts[i]
        out.append(Entry(i, _round(offset), _round(gap), "".join(parts) if parts else "", token_ids[i], kinds[i]))
        prev = t
    return out


def summarize(result: Result | None, timings: dict[str, float] | None = None) -> Summary:
    """The timing summary of an exchange's folded result (EMPTY when there is none);
    ``timings`` are the exchange's own HAR timings (``Response.timings``) when recorded."""
    if result is None:
        return EMPTY
    tl = result.timeline
    timings = timings or {}
    rows = entries(result)
    gaps = [(e.index, e.gap_s) for e in rows if e.gap_s is not None]
    values = [g for _, g in gaps]
    stall = None
    if gaps:
        after, seconds = max(gaps, key=lambda item: item[1])
        stall = Stall(after - 1, seconds)
    offsets = [e.offset_s for e in rows if e.offset_s is not None]
    span = offsets[-1] if len(offsets) >= 2 else None
    first = next((e for e in rows if e.kind is not None), None)
    ttft, ttft_basis = _ttft(tl.times, first, timings.get("started"), tl.durations)
    tps, tps_basis = _tokens_per_second(result.usage.output_tokens, tl.durations, span, timings.get("receive"))
    timing = tl.timing if tl.timing != "none" or not timings else "har"
    return Summary(
        timing=timing,
        entries=rows,
        ttft_s=ttft,
        ttft_basis=ttft_basis,
        gap_p50_s=_round(percentile(values, 50)),
        gap_p95_s=_round(percentile(values, 95)),
        tokens_per_second=tps,
        tokens_per_second_basis=tps_basis,
        longest_stall=stall,
        first_text=(first.index, first.offset_s) if first else None,
        span_s=span,
        durations=tl.durations,
        har_timings={k: v for k, v in timings.items() if k != "started"},
    )


def _ttft(times: list[float | None] | None, first: Entry | None, started: float | None,
          durations: dict[str, float]) -> tuple[float | None, str | None]:
    if started is not None and first is not None and first.offset_s is not None:
        return _round(times[first.index] - started), TTFT_FROM_START
    load = durations.get("load_duration")
    prompt = durations.get("prompt_eval_duration")
    if load is not None and prompt is not None:
        return _round(load + prompt), TTFT_FROM_DURATIONS
    recorded = durations.get("time_to_first_chunk")  # OpenTelemetry's gen_ai.response.time_to_first_chunk
    if recorded is not None:
        return _round(recorded), TTFT_RECORDED
    return None, None


def _tokens_per_second(tokens: int | None, durations: dict[str, float], span: float | None,
                       receive: float | None) -> tuple[float | None, str | None]:
    if tokens is None:
        return None, None
    for seconds, basis in ((durations.get("eval_duration"), TPS_FROM_DURATIONS), (span, TPS_FROM_TIMES),
                           (receive, TPS_FROM_RECEIVE)):
        if seconds is not None and seconds > 0:
            return _round(tokens / seconds, 2), basis
    return None, None


def observed(result: Result | None) -> Observed:
    if result is None:
        return Observed(0, 0, 0)
    tl = result.timeline
    content_chunks = len({d.chunk for d in tl.deltas if d.kind == "content" and 0 <= d.chunk < tl.chunks})
    characters = sum(len(m.content) for m in result.choices if m.content)
    return Observed(tl.chunks, content_chunks, characters)


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


# --- JSON (contracts.md, ``show --json``) ----------------------------------------------------


def summary_json(summary: Summary) -> dict[str, Any]:
    stall = summary.longest_stall
    return {
        "timing": summary.timing,
        "ttft_s": summary.ttft_s,
        "gap_p50_s": summary.gap_p50_s,
        "gap_p95_s": summary.gap_p95_s,
        "tokens_per_second": summary.tokens_per_second,
        "longest_stall": {"after_chunk": stall.after_chunk, "seconds": stall.seconds} if stall else None,
        "entries": [{"index": e.index, "offset_s": e.offset_s, "gap_s": e.gap_s, "text": e.text,
                     "token_id": e.token_id} for e in summary.entries],
    }


def observed_json(seen: Observed) -> dict[str, int]:
    return {"chunks": seen.chunks, "content_chunks": seen.content_chunks, "characters": seen.characters}


def chunk_notes(result: Result) -> dict[int, list[tuple[str, str]]]:
    """What else happened at a chunk, for the reader, as (what, name) pairs: a tool call
    starting ("tool call", its name) and a choice finishing ("finish", its reason). ``show``'s
    timeline and the report's chunk table both print them ("finish stop")."""
    notes: dict[int, list[tuple[str, str]]] = {}
    seen = set()
    for event in result.observations.tool_events:
        key = (event.choice, event.index, event.id or event.name)
        if event.name and key not in seen:
            seen.add(key)
            notes.setdefault(event.chunk, []).append(("tool call", event.name))
    reasons = {m.index: m.finish_reason for m in result.choices}
    for choice, chunk in result.observations.finish_chunks.items():
        notes.setdefault(chunk, []).append(("finish", str(reasons.get(choice))))
    return notes
