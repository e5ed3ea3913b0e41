"""The command line: a thin typer app. Each command parses its options and hands over to
``llmtrace.commands.<name>.run``; heavy modules (rich, pydantic models) load only there."""

from __future__ import annotations

import gc
import os
import sys
from enum import Enum
from typing import List, Optional

import typer

from llmtrace import __version__

app = typer.Typer(
    name="llmtrace",
    help="Inspect recorded LLM streaming transcripts: reassemble, show, check, diff.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"llmtrace {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Inspect recorded LLM streaming transcripts: reassemble, show, check, diff."""


FORMAT_HELP = "Container format, overriding detection (llama-stack, vcr, har, sse, ndjson, json-chunks)."


@app.command()
def reassemble(
    file: str = typer.Argument(..., metavar="FILE", help="Recording to read; - for stdin."),
    index: Optional[int] = typer.Option(None, "--index", "-i", help="Only exchange N (0-based)."),
    normalized: bool = typer.Option(False, "--normalized", "-n", help="llmtrace's provider-neutral JSON."),
    fmt: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
) -> None:
    """Print the response the request would have returned unstreamed, as JSON.

    One exchange: one JSON object (indented on a terminal). Several: JSON Lines.
    Exit 1 when the recording holds an error response, 2 when it cannot be read.
    """
    from llmtrace.commands import reassemble as cmd

    _finish(lambda: cmd.run(file, index=index, normalized=normalized, fmt=fmt), file)


class FailOn(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"


@app.command()
def check(
    paths: List[str] = typer.Argument(..., metavar="PATH", help="Files or directories (recursive); - for stdin."),
    fail_on: FailOn = typer.Option(FailOn.error, "--fail-on", help="Exit 1 when a finding reaches this severity."),
    as_json: bool = typer.Option(False, "--json", help="JSON Lines, one line per input file."),
    ignore: List[str] = typer.Option([], "--ignore", metavar="CODE", help="Silence an anomaly code (repeatable)."),
    fmt: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
) -> None:
    """Detect anomalies (tool calls written as text, truncation, unfinished streams, ...).

    Exit 0 when nothing reaches --fail-on, 1 when something does, 2 when an input cannot be read.
    """
    from llmtrace.commands import check as cmd

    _finish(lambda: cmd.run(paths, fail_on=fail_on.value, as_json=as_json, ignore=ignore, fmt=fmt), "check")


@app.command()
def show(
    paths: List[str] = typer.Argument(..., metavar="FILE", help="Recordings to show; - for stdin."),
    all_chunks: bool = typer.Option(False, "--all", help="Every chunk in the timeline, not head and tail."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document per file (JSON Lines for several)."),
    index: Optional[int] = typer.Option(None, "--index", "-i", help="Only exchange N (0-based)."),
    fmt: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
) -> None:
    """Show a recording at a glance: request, response, token timeline, usage, anomalies."""
    from llmtrace.commands import show as cmd

    _finish(lambda: cmd.run(paths, all_chunks=all_chunks, as_json=as_json, index=index, fmt=fmt), "show")


@app.command()
def diff(
    a: str = typer.Argument(..., metavar="A", help="First recording."),
    b: str = typer.Argument(..., metavar="B", help="Second recording."),
    strict: bool = typer.Option(False, "--strict", help="Also compare ids, timestamps, chunk counts and timing."),
    ignore: List[str] = typer.Option([], "--ignore", metavar="PATH", help="Drop a path, e.g. usage.output_tokens or choices[*].reasoning (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="The differences as a JSON list of {path, change, a, b}."),
    stat: bool = typer.Option(False, "--stat", help="One summary line."),
    by_request: bool = typer.Option(False, "--by-request", help="Pair exchanges by request instead of by position."),
    fmt: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
) -> None:
    """Compare two recordings after reassembly. Exit 0 when equivalent, 1 when they differ, 2 on unreadable input."""
    from llmtrace.commands import diff as cmd

    _finish(lambda: cmd.run(a, b, strict=strict, ignore=ignore, as_json=as_json, stat=stat,
                            by_request=by_request, fmt=fmt), a)


@app.command()
def scan(
    paths: List[str] = typer.Argument(..., metavar="PATH", help="Files or directories (recursive)."),
    as_json: bool = typer.Option(False, "--json", help="The summary as one JSON document."),
    jsonl: bool = typer.Option(False, "--jsonl", help="One flat JSON row per exchange (for DuckDB, pandas)."),
    fail_on: Optional[FailOn] = typer.Option(None, "--fail-on", help="Exit 1 when an anomaly reaches this severity."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1, help="Worker processes (default: one per core)."),
    fmt: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
) -> None:
    """Sweep many recordings: exchanges by container, dialect, host and model; usage totals;
    anomalies by code; files that fail to parse. Exit 2 when a file cannot be read."""
    from llmtrace.commands import scan as cmd

    _finish(lambda: cmd.run(paths, as_json=as_json, jsonl=jsonl, fail_on=fail_on.value if fail_on else None,
                            fmt=fmt, jobs=jobs), "scan")


def _finish(action, source: str) -> None:
    """Run a command; turn bad input and usage errors into one line and an exit code."""
    from llmtrace.errors import UnreadableInput, UsageError
    from llmtrace.output import warn

    try:
        code = action()
    except UnreadableInput as exc:
        warn(exc.line())
        code = 2
    except UsageError as exc:
        warn(str(exc))
        code = 2
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        _silence_stdout()
        code = 0
    except Exception as exc:  # noqa: BLE001 - never a traceback for a user
        if os.environ.get("LLMTRACE_DEBUG"):
            raise
        warn(f"{source}: internal error: {type(exc).__name__}: {exc} "
             "(set LLMTRACE_DEBUG=1 for the traceback, and please report it)")
        code = 2
    raise typer.Exit(code)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def main() -> None:
    # A short-lived process that builds large acyclic trees (parsed JSON, chunks): the cycle
    # collector would only rescan them. Memory is returned when the process exits.
    gc.disable()
    # llmtrace uses no pydantic plugins: looking them up imports and scans package metadata.
    from llmtrace._startup import disable_pydantic_plugins

    disable_pydantic_plugins()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
