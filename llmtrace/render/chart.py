"""The timeline chart as SVG: how a stream's text grew over time, one point per chunk.

x is time where the recording has it — seconds since the request started when it knows that
(HAR), else since the first chunk — and otherwise the chunk index, labelled so (times are
never invented). y is the cumulative number of characters the chunks carried. Marked: the time
to first token (where known), stalls (gaps far beyond the stream's usual gap, shaded), the
finish. Every point has a ``<title>`` (the browser's tooltip): chunk, time, gap and its text.

Above ``MAX_POINTS`` points a series is drawn from a subset (every chunk that carries a stall or
a finish, and evenly spaced others) so a 100,000-chunk stream stays a light picture; the page's
chunk table still lists every chunk. The output is plain SVG text, deterministic for the same
input; every recorded string in it is escaped (and masked by the caller).
"""

from __future__ import annotations

import math
from html import escape
from typing import Callable, NamedTuple, Sequence

MAX_POINTS = 2000
WIDTH, HEIGHT = 760, 300
LEGEND_CHARS = 96  # what the plot's width holds at 11px: a longer label (a deep path) is cut in the middle


def _fitted(label: str) -> str:
    """A legend label that stays inside the chart: a long one keeps its start and its end."""
    if len(label) <= LEGEND_CHARS:
        return label
    keep = LEGEND_CHARS - 1
    return label[:keep // 2] + "…" + label[len(label) - (keep - keep // 2):]
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 44
COLORS = ("#2563eb", "#db2777")  # first and second series (a diff draws two)


class Point(NamedTuple):
    chunk: int
    x: float
    y: int
    gap_s: float | None
    text: str


class Series(NamedTuple):
    label: str
    points: list[Point]
    ttft_x: float | None = None
    stalls: tuple[tuple[float, float], ...] = ()  # (x start, x end) of each stall
    finish_x: float | None = None


class Axis(NamedTuple):
    label: str
    timed: bool  # x is seconds (else the chunk index)


def series_of(label: str, entries: Sequence, started_offset: float | None = None, ttft_s: float | None = None,
              stall_factor: float = 4.0, min_stall_s: float = 0.25) -> tuple[Series, bool]:
    """A series from timeline entries (``llmtrace.timeline.Entry``): (the series, whether x is
    time). ``started_offset`` is the first chunk's time after the request start, when known."""
    timed = bool(entries) and all(e.offset_s is not None for e in entries)
    shift = started_offset or 0.0
    total = 0
    points: list[Point] = []
    for e in entries:
        total += len(e.text)
        x = (e.offset_s + shift) if timed else float(e.index)
        points.append(Point(e.index, x, total, e.gap_s, e.text))
    stalls: list[tuple[float, float]] = []
    if timed:
        gaps = sorted(e.gap_s for e in entries if e.gap_s is not None)
        if gaps:
            typical = gaps[len(gaps) // 2]
            floor = max(min_stall_s, typical * stall_factor)
            stalls = [(p.x - p.gap_s, p.x) for p in points if p.gap_s is not None and p.gap_s >= floor]
    ttft_x = ttft_s if timed and ttft_s is not None and started_offset is not None else None
    return Series(label, points, ttft_x, tuple(stalls), points[-1].x if points else None), timed


def axis_for(series: Sequence[Series], timed: bool, since_request: bool) -> Axis:
    if not timed:
        return Axis("chunk index (this recording has no per-chunk times)", False)
    return Axis("seconds since the request started" if since_request else "seconds since the first chunk", True)


def downsample(points: list[Point], keep: set[int] = frozenset(), limit: int = MAX_POINTS) -> list[Point]:
    """At most about ``limit`` points: every point whose chunk is in ``keep``, the last one, and
    evenly spaced others, in order."""
    if len(points) <= limit:
        return points
    step = len(points) / limit
    chosen = {int(i * step) for i in range(limit)} | {len(points) - 1}
    return [p for i, p in enumerate(points) if i in chosen or p.chunk in keep]


def _stall_ends(series: Series) -> set[int]:
    """The chunks that end a stall (kept when a series is drawn from a subset): one pass."""
    ends = {end for _, end in series.stalls}
    return {p.chunk for p in series.points if p.gap_s is not None and p.x in ends}


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values between ``lo`` and ``hi`` (steps of 1, 2, 2.5 or 5 times
    a power of ten)."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(nice * power for nice in (1, 2, 2.5, 5, 10) if nice * power >= raw)
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [round(k * step, 10) for k in range(first, last + 1)]


def _fmt(value: float, timed: bool) -> str:
    if not timed:
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".") if value else "0"


def svg(series: Sequence[Series], axis: Axis, title: str = "timeline", standalone: bool = False,
        width: int = WIDTH, height: int = HEIGHT, show: Callable[[str], str] = str) -> str:
    """The chart of one or two series, as an ``<svg>`` element (``standalone``: a whole SVG
    document with its own styles, for ``report --svg``). ``show`` prepares a chunk's text for
    its tooltip (the report masks and escapes it); it runs on the drawn points only, and on
    their first characters only."""
    drawn = [s._replace(points=downsample(s.points, _stall_ends(s))) for s in series]
    xs = [p.x for s in drawn for p in s.points] or [0.0]
    ys = [p.y for s in drawn for p in s.points] or [0]
    x_hi = max(max(xs), max((s.ttft_x or 0) for s in drawn), 1e-9 if axis.timed else 1.0)
    x_lo = min(0.0, min(xs))
    y_hi = max(max(ys), 1)
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM

    def px(x: float) -> float:
        return round(LEFT + (x - x_lo) / (x_hi - x_lo) * plot_w, 2)

    def py(y: float) -> float:
        return round(TOP + plot_h - y / y_hi * plot_h, 2)

    out: list[str] = []
    ns = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    out.append(f'<svg{ns} class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
               f'role="img" aria-label="{escape(title)}">')
    out.append(f"<title>{escape(title)}</title>")
    if standalone:
        out.append("<style>" + STANDALONE_STYLE + "</style>")
    out.append(f'<rect class="plot" x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}"/>')
    for n, s in enumerate(drawn):
        for a, b in s.stalls:
            out.append(f'<rect class="stall" x="{px(a)}" y="{TOP}" width="{max(1.0, round(px(b) - px(a), 2))}" '
                       f'height="{plot_h}"><title>stall: {escape(_fmt(b - a, True))} s before chunk</title></rect>')
    for t in _ticks(x_lo, x_hi):
        out.append(f'<line class="grid" x1="{px(t)}" y1="{TOP}" x2="{px(t)}" y2="{TOP + plot_h}"/>')
        out.append(f'<text class="tick" x="{px(t)}" y="{TOP + plot_h + 14}" text-anchor="middle">{_fmt(t, axis.timed)}</text>')
    for t in _ticks(0, y_hi, 4):
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{py(t) + 4}" text-anchor="end">{int(t)}</text>')
    out.append(f'<text class="label" x="{LEFT + plot_w / 2}" y="{height - 6}" text-anchor="middle">{escape(axis.label)}</text>')
    out.append(f'<text class="label" x="12" y="{TOP + plot_h / 2}" text-anchor="middle" '
               f'transform="rotate(-90 12 {TOP + plot_h / 2})">characters</text>')
    for n, s in enumerate(drawn):
        color = COLORS[n % len(COLORS)]
        if s.ttft_x is not None:
            out.append(f'<line class="ttft" x1="{px(s.ttft_x)}" y1="{TOP}" x2="{px(s.ttft_x)}" y2="{TOP + plot_h}" '
                       f'stroke="{color}"><title>time to first token: {_fmt(s.ttft_x, True)} s</title></line>')
        if s.points:
            path = " ".join(f"{px(p.x)},{py(p.y)}" for p in s.points)
            out.append(f'<polyline class="line" points="{path}" stroke="{color}"/>')
        for p in s.points:
            tip = f"chunk {p.chunk} · {'t=' + _fmt(p.x, True) + ' s' if axis.timed else 'no time'}"
            if p.gap_s is not None:
                tip += f" · gap {_fmt(p.gap_s, True)} s"
            tip += f" · {p.y} characters\n{_clip(p.text, show)}"
            out.append(f'<circle class="point" data-chunk="{p.chunk}" data-series="{n}" cx="{px(p.x)}" cy="{py(p.y)}" '
                       f'r="2.5" fill="{color}"><title>{escape(tip)}</title></circle>')
        if s.finish_x is not None:
            out.append(f'<line class="finish" x1="{px(s.finish_x)}" y1="{TOP}" x2="{px(s.finish_x)}" '
                       f'y2="{TOP + plot_h}" stroke="{color}"><title>finish</title></line>')
    if len(drawn) > 1:
        for n, s in enumerate(drawn):
            y = TOP + 14 + n * 16
            out.append(f'<rect x="{LEFT + 8}" y="{y - 9}" width="10" height="10" fill="{COLORS[n % len(COLORS)]}"/>')
            out.append(f'<text class="legend" x="{LEFT + 24}" y="{y}">{escape(_fitted(s.label))}'
                       f'<title>{escape(s.label)}</title></text>')
    shown = sum(len(s.points) for s in drawn)
    total = sum(len(s.points) for s in series)
    if shown < total:
        out.append(f'<text class="note" x="{LEFT + plot_w}" y="{TOP + 12}" text-anchor="end">'
                   f'{shown:,} of {total:,} chunks drawn; the table lists every one</text>')
    out.append("</svg>")
    return "".join(out)


def _clip(text: str, show: Callable[[str], str] = str, limit: int = 160) -> str:
    if len(text) <= limit:
        return show(text)
    # Masked with a margin past the cut, so that a credential the cut splits is masked whole.
    return show(text[:limit + 1024])[:limit] + f"… ({len(text) - limit:,} more characters)"


STANDALONE_STYLE = (
    ".plot{fill:none;stroke:#9ca3af}.grid{stroke:#e5e7eb}.tick,.label,.legend,.note{font:11px sans-serif;fill:#374151}"
    ".line{fill:none;stroke-width:1.5}.stall{fill:#f59e0b;opacity:.25}.ttft{stroke-dasharray:4 3}"
    ".finish{stroke-dasharray:1 3}"
    "@media (prefers-color-scheme:dark){.tick,.label,.legend,.note{fill:#d1d5db}.grid{stroke:#374151}}"
)
