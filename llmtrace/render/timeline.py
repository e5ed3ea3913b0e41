"""The token timeline of one exchange: a table of chunks (condensed to head and tail unless
asked for all), a summary of its timing, and a sparkline of the gaps between chunks.

Every number comes from ``llmtrace.timeline`` (the same values ``show --json`` prints)."""

from __future__ import annotations

from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from llmtrace import timeline
from llmtrace.model import Result
from llmtrace.render.layout import grid as key_value_grid
from llmtrace.render.safe import more, safe_text

KIND_STYLE = {"reasoning": "dim", "tool": "cyan", "refusal": "yellow"}
NO_TIMING = "no timing in this recording"
BARS = "▁▂▃▄▅▆▇█"
# A condensed timeline shows at most this much of one chunk's text (--all shows everything).
CELL_CHARS = 160
DURATIONS = (("load_duration", "load"), ("prompt_eval_duration", "prompt eval"), ("eval_duration", "eval"),
             ("total_duration", "total"))


def seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


class Sparkline:
    """Values as a row of block characters (highest = tallest), bucketed by maximum to fit
    the width available, so a stall always shows."""

    def __init__(self, values: list[float]):
        self.values = [max(v, 0.0) for v in values]

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(1, max(1, min(len(self.values), options.max_width)))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(self.line(options.max_width), no_wrap=True, overflow="crop")

    def line(self, width: int) -> str:
        values = self.values
        n = len(values)
        width = max(1, min(width, n))
        buckets = [max(values[j * n // width:(j + 1) * n // width]) for j in range(width)]
        top = max(buckets)
        if top <= 0:
            return BARS[0] * width
        return "".join(BARS[round(v / top * (len(BARS) - 1))] for v in buckets)


def chunk_notes(result: Result) -> dict[int, Text]:
    """What else happened at a chunk (``timeline.chunk_notes``), as dim text."""
    joined = {}
    for chunk, parts in timeline.chunk_notes(result).items():
        joined[chunk] = Text(" · ").join(Text(f"{what} ").append_text(safe_text(name, limit=CELL_CHARS))
                                         for what, name in parts)
        joined[chunk].stylize("dim italic")
    return joined


class TimelineView:
    def __init__(self, summary: timeline.Summary, observed: timeline.Observed, streaming: bool,
                 all_chunks: bool = False, notes: dict[int, Text] | None = None):
        self.summary = summary
        self.observed = observed
        self.streaming = streaming
        self.all_chunks = all_chunks
        self.notes = notes or {}

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        entries = self.summary.entries
        if not self.streaming:
            yield Text("not streamed: one response body", style="dim")
        elif not entries:
            yield Text("streamed, but no chunks were recorded", style="dim")
        else:
            yield self._table(entries)
        yield self._summary()

    def _table(self, entries: list[timeline.Entry]) -> Table:
        timed = any(e.offset_s is not None for e in entries)
        tokens = any(e.token_id is not None for e in entries)
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, expand=False)
        table.add_column("#", justify="right", no_wrap=True)
        if timed:
            table.add_column("t (s)", justify="right", no_wrap=True)
            table.add_column("gap (s)", justify="right", no_wrap=True)
        table.add_column("text", overflow="fold", ratio=1)
        if tokens:
            table.add_column("token", justify="right", no_wrap=True)
        head, hidden, tail = _condense(entries, self.all_chunks)
        limit = None if self.all_chunks else CELL_CHARS
        for entry in head:
            table.add_row(*self._cells(entry, timed, tokens, limit))
        if hidden:
            skipped = Text(f"… {hidden} chunks …", style="dim italic")
            table.add_row(*([Text("…")] + [Text("")] * 2 * timed + [skipped] + [Text("")] * tokens))
            for entry in tail:
                table.add_row(*self._cells(entry, timed, tokens, limit))
        return table

    def _cells(self, entry: timeline.Entry, timed: bool, tokens: bool, limit: int | None) -> list[Text]:
        cells = [Text(str(entry.index))]
        if timed:
            cells += [Text(seconds(entry.offset_s)), Text(seconds(entry.gap_s))]
        note = self.notes.get(entry.index)
        if entry.text:
            cell = safe_text(entry.text, style=KIND_STYLE.get(entry.kind or ""), whitespace=True, limit=limit)
            if limit is not None and len(entry.text) > limit:
                cell.append(f" … {more(len(entry.text) - limit)} (--all shows everything)", style="dim")
            if note:
                cell.append("  ").append_text(note)
        else:
            cell = note or Text("—", style="dim")
        cells.append(cell)
        if tokens:
            cells.append(Text("" if entry.token_id is None else str(entry.token_id)))
        return cells

    def _summary(self) -> Table:
        s, seen = self.summary, self.observed
        grid = key_value_grid()
        if self.streaming:
            grid.add_row("chunks", f"{seen.chunks} ({seen.content_chunks} with content)")
        grid.add_row("timing", timing_label(s))
        if s.first_text is not None and s.first_text[1] is not None:
            chunk, offset = s.first_text
            note = "" if s.ttft_basis in (timeline.TTFT_FROM_START, timeline.TTFT_RECORDED) \
                else " (the request start is not recorded)"
            grid.add_row("first text", f"chunk {chunk}, {seconds(offset)} s after the first chunk{note}")
        if s.ttft_s is not None:
            grid.add_row("TTFT", f"{seconds(s.ttft_s)} s ({s.ttft_basis})")
        if s.gap_p50_s is not None:
            grid.add_row("gaps", f"median {seconds(s.gap_p50_s)} s · p95 {seconds(s.gap_p95_s)} s")
        if s.longest_stall is not None:
            grid.add_row("longest stall", f"{seconds(s.longest_stall.seconds)} s after chunk "
                                          f"{s.longest_stall.after_chunk}")
        if s.span_s is not None:
            grid.add_row("stream span", f"{seconds(s.span_s)} s (first to last chunk)")
        if s.tokens_per_second is not None:
            grid.add_row("tokens/s", f"{s.tokens_per_second:.2f} ({s.tokens_per_second_basis})")
        reported = [f"{label} {seconds(s.durations[key])} s" for key, label in DURATIONS if key in s.durations]
        if reported:
            grid.add_row("server times", " · ".join(reported))
        if s.har_timings:
            phases = [f"{name} {seconds(value)} s" for name, value in s.har_timings.items()]
            grid.add_row("HAR timings", " · ".join(phases) + " (wait: to the first byte)"
                         if "wait" in s.har_timings else " · ".join(phases))
        gaps = [e.gap_s for e in s.entries if e.gap_s is not None]
        if len(gaps) >= 2:
            grid.add_row("gap chart", Sparkline(gaps))
        return grid


def timing_label(s: timeline.Summary) -> str:
    timed = any(e.offset_s is not None for e in s.entries)
    if s.timing == "created_at":
        return "per-chunk times (the chunks' created_at)"
    if s.timing == "har":
        return "per-chunk times (HAR)" if timed else "HAR timings of the whole exchange (no per-chunk times)"
    if s.timing == "chunk-times":
        return "per-chunk times (when each arrived, as the recording kept it)"
    if s.timing == "durations":
        return "server-reported durations only (no per-chunk times)"
    return NO_TIMING


def _condense(entries: list, all_chunks: bool) -> tuple[list, int, list]:
    """(head, number hidden, tail); nothing hidden with ``all_chunks`` or a short stream."""
    keep = timeline.HEAD + timeline.TAIL
    if all_chunks or len(entries) <= keep + 1:
        return entries, 0, []
    return entries[:timeline.HEAD], len(entries) - keep, entries[-timeline.TAIL:]
