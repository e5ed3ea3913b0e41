"""``llmtrace report``: one self-contained HTML page for a recording, a folder of recordings, or
two recordings compared (``--diff A B``); ``--svg`` writes the timeline chart alone.

The page is written whole and atomically (a temporary file renamed into place) to ``-o FILE``,
or ``report.html`` (``report.svg``) in the current folder, and its path goes to stderr.
Unreadable inputs are listed in the page with their reason, the rest is reported, and the exit
code is 2."""

from __future__ import annotations

import os
from pathlib import Path

from llmtrace.commands.per_file import load_all
from llmtrace.errors import UsageError
from llmtrace.output import warn, write_atomically


def run(paths: list[str], output: str | None = None, diff: tuple[str, str] | None = None, svg: bool = False,
        open_browser: bool = False, fmt: str | None = None) -> int:
    from llmtrace.render import html
    from llmtrace.render.html import views

    if diff and paths:
        raise UsageError("--diff A B takes exactly those two recordings: give no other PATH")
    if not diff and not paths:
        raise UsageError("give a recording, a folder, or --diff A B")
    target = Path(output or ("report.svg" if svg else "report.html"))
    if diff:
        recordings, unreadable = _read(list(diff), fmt, explicit_only=True)
        if len(recordings) < 2:
            return 2
        from llmtrace import compare
        from llmtrace.view import documents

        pairs = compare.compare_recordings(documents(recordings[0]), documents(recordings[1]))
        if svg:
            text = _chart_only(recordings[0], recordings[1])
        else:
            text = html.page(f"llmtrace diff: {html.clean(recordings[0].source)} vs {html.clean(recordings[1].source)}",
                             views.diff(recordings[0], recordings[1], pairs, strict=False))
    else:
        recordings, unreadable = _read(paths, fmt)
        single = len(paths) == 1 and not os.path.isdir(paths[0]) and len(recordings) == 1
        if svg:
            if len(recordings) != 1 or len(recordings[0].exchanges) < 1:
                raise UsageError("--svg draws the timeline of one recording: name one file")
            text = _chart_only(recordings[0])
        elif single and not unreadable:
            text = html.page(f"llmtrace: {html.clean(recordings[0].source)}", views.single(recordings[0]))
        else:
            title = "llmtrace: " + html.clean(", ".join(paths))
            text = html.page(title, views.folder(recordings, unreadable))
    _write(target, text)
    warn(f"report written to {target}")
    if open_browser:
        import webbrowser

        webbrowser.open(target.resolve().as_uri())
    return 2 if unreadable else 0


def _read(paths: list[str], fmt: str | None, explicit_only: bool = False):
    from llmtrace.render.html.views import Unreadable

    recordings, failed = load_all(paths, fmt, explicit_only)
    return recordings, [Unreadable(source, reason) for source, reason in failed]


def _chart_only(*recordings) -> str:
    from llmtrace import timeline
    from llmtrace.render import chart
    from llmtrace.render.html import clean
    from llmtrace.view import first_chunk_after_start

    series, timed_all, since = [], True, True
    for label, recording in zip("AB", recordings):
        ex = next((e for e in recording.exchanges if e.result is not None), None)
        if ex is None:
            raise UsageError(f"{recording.source}: no generation to draw")
        summary = timeline.summarize(ex.result, ex.response.timings)
        started = first_chunk_after_start(ex)
        name = clean(recording.source) if len(recordings) == 1 else f"{label}: {clean(recording.source)}"
        s, timed = chart.series_of(name, summary.entries,
                                   started_offset=started, ttft_s=summary.ttft_s)
        series.append(s)
        timed_all = timed_all and timed
        since = since and started is not None
    axis = chart.axis_for(series, timed_all, since)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + chart.svg(series, axis, title="llmtrace timeline",
                                                                   standalone=True, show=clean) + "\n"


def _write(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` whole or not at all."""
    write_atomically(str(target), text.encode("utf-8"))
