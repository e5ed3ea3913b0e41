"""What the report pages show, as plain data for the template: built from ``llmtrace.view``
(the data ``show`` draws) and ``llmtrace.compare`` (the data ``diff`` draws)."""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

from llmtrace import timeline
from llmtrace.model import Exchange, Recording
from llmtrace.render import chart
from llmtrace.render.html import TABLE_HEAD, TEXT_LIMIT, chart_svg, clean, pretty, seconds, segments
from llmtrace.view import Shown, first_chunk_after_start, request_stream, shown


class Unreadable(NamedTuple):
    source: str
    reason: str


def _cut(text: str) -> tuple[str, int]:
    """``text`` up to TEXT_LIMIT characters, and how many more there were."""
    return (text, 0) if len(text) <= TEXT_LIMIT else (text[:TEXT_LIMIT], len(text) - TEXT_LIMIT)


def _where(a) -> str:
    parts = []
    if a.choice is not None:
        parts.append(f"choice {a.choice}")
    if a.chunks:
        parts.append(f"chunks {a.chunks[0]}–{a.chunks[-1]}" if len(a.chunks) > 1 else f"chunk {a.chunks[0]}")
    if a.span is not None:
        parts.append(f"characters {a.span[0]}–{a.span[1]}")
    return ", ".join(parts)


def exchange_section(prefix: str, item: Shown) -> dict[str, Any]:
    """One exchange: header, request, choices with anomaly spans marked, tool calls, usage,
    chart and chunk table."""
    ex: Exchange = item.exchange
    req, resp, result = ex.request, ex.response, ex.result
    anchor = f"{prefix}x{ex.index}"
    findings = []
    marks: dict[tuple[int | None, str], list] = {}
    for n, a in enumerate(item.anomalies):
        fid = f"{anchor}-a{n}"
        findings.append({"id": fid, "severity": a.severity, "code": a.code, "message": clean(a.message),
                         "where": _where(a)})
        if a.span is not None and a.choice is not None:
            field = a.details.get("field") if isinstance(a.details.get("field"), str) else "content"
            marks.setdefault((a.choice, field), []).append((a.span[0], a.span[1], fid, a.severity))
    choices = []
    for m in result.choices if result else []:
        texts = {}
        for field in ("content", "reasoning", "refusal"):
            value = getattr(m, field)
            if value:
                shown_text, more = _cut(value)
                texts[field] = {"segments": segments(shown_text, marks.get((m.index, field), [])), "more": more}
        choices.append({"index": m.index, "texts": texts, "finish": m.finish_reason, "stop": m.stop,
                        "tool_calls": [{"name": clean(c.name or "—"), "id": clean(c.id or ""), "server": c.server,
                                        "arguments": clean(pretty(c.parsed_arguments)) if c.parsed_arguments is not None
                                        else clean(c.arguments)} for c in m.tool_calls]})
    summary = item.summary
    rows = summary.entries
    notes = timeline.chunk_notes(result) if result else {}
    started = first_chunk_after_start(ex)
    series, timed = chart.series_of(f"exchange {ex.index}", rows,
                                    started_offset=started, ttft_s=summary.ttft_s)
    axis = chart.axis_for([series], timed, started is not None)
    nr = ex.normalized_request
    usage = result.usage if result else None
    header = [
        ("format", f"{ex.container} · {ex.dialect}"),
        ("host", clean(req.host or "—")),
        ("endpoint", clean(" ".join(p for p in (req.method, req.endpoint) if p) or "—")),
        ("url", clean(req.url or "—")),
        ("model", f"requested {clean(nr.model or req.model or '—')} · served {clean((result.model if result else None) or '—')}"),
        ("stream", (f"yes, {len(resp.chunks)} chunks" if resp.streaming else "no") + ("" if request_stream(ex) == resp.streaming
                                                                                     else " (the request asked otherwise)")),
        ("status", str(resp.status) if resp.status is not None else "not recorded"),
        ("fidelity", ex.fidelity or "not a generation"),
    ]
    return {
        "anchor": anchor,
        "index": ex.index,
        "header": header,
        "error": clean(resp.error_message or pretty(resp.error)) if ex.failed else None,
        "messages": [{"role": clean(m.role), "content": clean(_cut(m.content)[0])} for m in nr.messages],
        "tools": [clean(t) for t in nr.tools],
        "params": clean(pretty(nr.params)) if nr.params else None,
        "choices": choices,
        "body": clean(_cut(pretty(resp.body))[0]) if result is None and not ex.failed and resp.body is not None else None,
        "usage": None if usage is None else [(name, getattr(usage, name)) for name in
                                             ("input_tokens", "output_tokens", "total_tokens", "cached_tokens",
                                              "reasoning_tokens")],
        "observed": item.observed,
        "timing": {"basis": summary.timing, "ttft": summary.ttft_s, "ttft_basis": summary.ttft_basis,
                   "p50": summary.gap_p50_s, "p95": summary.gap_p95_s, "tps": summary.tokens_per_second,
                   "stall": summary.longest_stall},
        "chart": chart_svg([series], axis, f"timeline of exchange {ex.index}") if rows else None,
        "cuts": _cuts(anchor, rows[:TABLE_HEAD]),
        "head": min(len(rows), TABLE_HEAD),
        "chunks_head": _rows(anchor, rows[:TABLE_HEAD], notes),
        "chunks_rest": _rows(anchor, rows[TABLE_HEAD:], notes),
        "chunks_rest_count": max(0, len(rows) - TABLE_HEAD),
        "findings": findings,
    }


def _rows(anchor: str, entries: list[timeline.Entry], notes: dict[int, list[tuple[str, str]]]) -> Any:
    """The chunk table's rows as HTML (written here rather than in the template: a stream can
    have 100,000 of them, and this is the page's hot loop). Each chunk's text is tinted by its
    position, two tints taking turns (as tokenizer playgrounds show tokens); what else happened
    at a chunk follows its text as ``show`` says it ("finish stop", "tool call NAME")."""
    from html import escape

    from markupsafe import Markup

    out = []
    for e in entries:
        text, more = _cut(e.text)
        tail = f'<span class="muted"> … {more:,} more</span>' if more else ""
        note = notes.get(e.index)
        if note:
            tail += '<span class="note">' + " · ".join(f"{what} {escape(clean(name[:TEXT_LIMIT]))}"
                                                       for what, name in note) + "</span>"
        shown = f'<span class="text k{e.index % 2}">{escape(clean(text))}</span>' if text else ""
        out.append(f'<tr id="{anchor}-k{e.index}"><td class="num">{e.index}</td><td class="num">{seconds(e.offset_s)}</td>'
                   f'<td class="num">{seconds(e.gap_s)}</td><td>{e.kind or ""}</td>'
                   f'<td>{shown}{tail}</td>'
                   f'<td class="num">{"" if e.token_id is None else e.token_id}</td></tr>')
    return Markup("".join(out))


def _cuts(anchor: str, entries: list[timeline.Entry]) -> Any:
    """The stream's text as it came, each chunk's piece in the tint of its row in the chunk table
    (the two tints taking turns) and linked to it: how the stream was cut, at a glance."""
    from html import escape

    from markupsafe import Markup

    pieces = [f'<a class="k{e.index % 2}" href="#{anchor}-k{e.index}" title="chunk {e.index}">'
              f'{escape(clean(_cut(e.text)[0]))}</a>' for e in entries if e.text]
    return Markup("".join(pieces)) if pieces else None


def recording_body(recording: Recording, prefix: str = "r0") -> dict[str, Any]:
    items = [shown(recording, ex) for ex in recording.exchanges]
    return {"source": clean(recording.source), "container": recording.container,
            "exchanges": [exchange_section(prefix, item) for item in items], "items": items}


def single(recording: Recording) -> dict[str, Any]:
    body = recording_body(recording)
    body.pop("items")
    return {"kind": "single", "recording": body, "unreadable": []}


def folder(recordings: list[Recording], unreadable: list[Unreadable]) -> dict[str, Any]:
    """An index of every recording (the same figures as ``scan``), charts of the folder, and one
    lazily drawn section per recording."""
    rows, sections = [], []
    codes: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
    ttfts: list[float] = []
    rates: list[float] = []
    for n, recording in enumerate(recordings):
        body = recording_body(recording, prefix=f"f{n}")
        items = body.pop("items")
        sections.append({"id": f"f{n}", "body": body})
        for item in items:
            ex = item.exchange
            result = ex.result
            model = (result.model if result else None) or ex.request.model or "—"
            out = result.usage.output_tokens if result else None
            found = sorted({a.code for a in item.anomalies})
            codes.update(a.code for a in item.anomalies)
            if out is not None:
                tokens[model] += out
            if item.summary.ttft_s is not None:
                ttfts.append(item.summary.ttft_s)
            if item.summary.tokens_per_second is not None:
                rates.append(item.summary.tokens_per_second)
            worst = max((a.severity for a in item.anomalies), key={"info": 0, "warning": 1, "error": 2}.get,
                        default="")
            rows.append({"section": f"f{n}", "anchor": f"f{n}x{ex.index}", "file": clean(recording.source),
                         "exchange": ex.index, "dialect": ex.dialect, "model": clean(model),
                         "chunks": len(ex.response.chunks) if ex.response.streaming else None, "tokens": out,
                         "finish": clean(", ".join(m.finish_reason or "—" for m in result.choices)) if result else "—",
                         "anomalies": found, "worst": worst})
    charts = {
        "codes": _bars(sorted(codes.items(), key=lambda kv: (-kv[1], kv[0])), "anomalies by code"),
        "tokens": _bars(sorted(((clean(k), v) for k, v in tokens.items()), key=lambda kv: (-kv[1], kv[0])),
                        "output tokens by model"),
        "ttft": _strip(sorted(ttfts), "time to first token", " s"),
        "tps": _strip(sorted(rates), "tokens per second", " tokens/s"),
    }
    return {"kind": "folder", "rows": rows, "sections": sections, "charts": charts,
            "files": len(recordings), "unreadable": [u._replace(source=clean(u.source), reason=clean(u.reason))
                                                     for u in unreadable]}


def _bars(items: list[tuple[str, int]], title: str) -> Any:
    from markupsafe import Markup

    if not items:
        return None
    from html import escape

    width, bar_h = 520, 18
    top = max(v for _, v in items)
    out = [f'<svg class="bars" viewBox="0 0 {width} {len(items) * bar_h + 8}" width="{width}" '
           f'height="{len(items) * bar_h + 8}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for n, (label, value) in enumerate(items):
        y = 4 + n * bar_h
        w = round(value / top * 260, 1) if top else 0
        out.append(f'<text class="tick" x="190" y="{y + 12}" text-anchor="end">{escape(label[:40])}</text>')
        out.append(f'<rect class="bar" x="196" y="{y + 2}" width="{max(w, 1)}" height="{bar_h - 6}">'
                   f'<title>{escape(label)}: {value:,}</title></rect>')
        out.append(f'<text class="tick" x="{200 + w}" y="{y + 12}">{value:,}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def _strip(values: list[float], title: str, unit: str) -> Any:
    """A distribution as a strip of dots on one axis, with its median marked; every figure with
    its ``unit``."""
    from markupsafe import Markup

    if not values:
        return None
    from html import escape

    width, height, left, right = 520, 56, 16, 16
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0

    def x(v: float) -> float:
        return round(left + (v - lo) / span * (width - left - right), 2)

    median = timeline.percentile(values, 50)
    out = [f'<svg class="strip" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
           f'<line class="grid" x1="{left}" y1="24" x2="{width - right}" y2="24"/>']
    for v in values:
        out.append(f'<circle class="dot" cx="{x(v)}" cy="24" r="3"><title>{v:g}{unit}</title></circle>')
    out.append(f'<line class="median" x1="{x(median)}" y1="12" x2="{x(median)}" y2="36"><title>median {median:g}{unit}'
               f'</title></line>')
    n = len(values)
    out.append(f'<text class="tick" x="{left}" y="50">{lo:g}{unit}</text>'
               f'<text class="tick" x="{width - right}" y="50" text-anchor="end">{hi:g}{unit}</text>'
               f'<text class="tick" x="{width / 2}" y="50" text-anchor="middle">median {median:g}{unit}, {n} '
               f'exchange{"" if n == 1 else "s"}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def diff(ra: Recording, rb: Recording, pairs: list, strict: bool) -> dict[str, Any]:
    """Two recordings: the diff engine's differences (words marked in text), both timelines on
    one chart, and each recording's own section."""
    from llmtrace import compare

    rows = []
    for pair in pairs:
        for d in pair.differences:
            words = None
            if isinstance(d.a, str) and isinstance(d.b, str):
                words = [(op, clean(text)) for op, text in compare.word_diff(d.a, d.b)]
            rows.append({"path": clean(d.path), "change": d.change, "counts": d.counts or strict,
                         "a": None if d.a is None else clean(d.a if isinstance(d.a, str) else pretty(d.a, indent=False)),
                         "b": None if d.b is None else clean(d.b if isinstance(d.b, str) else pretty(d.b, indent=False)),
                         "words": words})
    series, timed_all, since = [], True, True
    for label, recording in (("A", ra), ("B", rb)):
        ex = recording.exchanges[0] if recording.exchanges else None
        if ex is None or ex.result is None:
            continue
        summary = timeline.summarize(ex.result, ex.response.timings)
        started = first_chunk_after_start(ex)
        s, timed = chart.series_of(f"{label}: {clean(recording.source)}", summary.entries,
                                   started_offset=started, ttft_s=summary.ttft_s)
        timed_all = timed_all and timed
        since = since and started is not None
        series.append(s)
    if series and not timed_all:  # one side has no times: both on the chunk index, never invented times
        series = [chart.series_of(s.label, [timeline.Entry(p.chunk, None, None, p.text, None, None) for p in s.points])[0]
                  for s in series]
    axis = chart.axis_for(series, timed_all, since)
    a_body, b_body = recording_body(ra, "a"), recording_body(rb, "b")
    a_body.pop("items")
    b_body.pop("items")
    counted = [r for r in rows if r["counts"]]
    return {"kind": "diff", "rows": rows, "counted": len(counted), "a": a_body, "b": b_body,
            "chart": chart_svg(series, axis, "both timelines") if series else None, "unreadable": []}
