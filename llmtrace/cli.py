"""The command line: a thin typer app. Each command parses its options and hands over to
``llmtrace.commands.<name>.run``; heavy modules (rich, pydantic models) load only there."""

from __future__ import annotations

import os
import sys
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


def _finish(action, source: str) -> None:
    """Run a command; turn bad input and usage errors into one line and an exit code."""
    from llmtrace.errors import UnreadableInput
    from llmtrace.output import warn

    try:
        code = action()
    except UnreadableInput as exc:
        warn(exc.line())
        code = 2
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        _silence_stdout()
        code = 0
    except Exception as exc:  # noqa: BLE001 - never a traceback for a user
        if os.environ.get("LLMTRACE_DEBUG"):
            raise
        if type(exc).__name__ == "UsageError":
            warn(str(exc))
        else:
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
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
