"""The command line: a thin typer app. Each command parses its options and hands over to
``llmtrace.commands.<name>.run``; heavy modules (rich, pydantic models) load only there."""

import gc
import os
import sys
from enum import Enum
from typing import List, Optional, Tuple

import typer

from llmtrace import __version__
from llmtrace._startup import answer_plain_values_without_typer_adapters

app = typer.Typer(
    name="llmtrace",
    help="Read, check, diff, replay and record LLM streaming traffic: reassemble, show, check, diff, scan, report, redact, serve, record.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _no_type_after_flags() -> None:
    """Help without ``<bool>`` after a flag (``--json``, not ``--json <bool>``) nor a type after
    an argument named by its metavar: newer typer versions print the Python type of every
    parameter in the rich help. Where typer has no such hook, nothing changes."""
    from typer import core

    for cls, hides in ((getattr(core, "TyperOption", None), lambda p: p.is_flag),
                       (getattr(core, "TyperArgument", None), lambda p: p.metavar is not None)):
        shown = getattr(cls, "display_type_rich", None)
        if shown is None or getattr(shown, "_llmtrace", False):
            continue

        def display_type_rich(self, ctx, shown=shown, hides=hides):
            return None if hides(self) else shown(self, ctx)

        display_type_rich._llmtrace = True
        cls.display_type_rich = display_type_rich


_no_type_after_flags()
answer_plain_values_without_typer_adapters()


def _version(value: bool) -> None:
    if value:
        print(f"llmtrace {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Read, check, diff, replay and record LLM streaming traffic: reassemble, show, check, diff, scan, report, redact, serve, record."""


def _complete_format(incomplete: str) -> list[str]:
    """``--format`` values for shell completion (the container names, without importing them)."""
    return [name for name in CONTAINER_NAMES if name.startswith(incomplete)]


def _complete_fault(incomplete: str) -> list[str]:
    """``--fault`` specs for shell completion: the fault names, then their keys (and
    ``tool-call-as-text``'s families)."""
    from llmtrace.server.faults import FAMILIES, KEYS

    name, colon, _ = incomplete.partition(":")
    if not colon:
        return [f + (":" if KEYS[f] and f != "tool-call-as-text" else "") for f in KEYS if f.startswith(incomplete)]
    if name == "tool-call-as-text":
        options = [f"{name}:family={family}" for family in FAMILIES]
    elif name in KEYS:
        options = [f"{name}:{key}=" for key in KEYS[name]] + [f"{name}:request="]
    else:
        options = []
    return [option for option in options if option.startswith(incomplete)]


CONTAINER_NAMES = ("llama-stack", "vcr", "har", "sse", "ndjson", "json-chunks", "websocket", "aws-eventstream",
                   "mitmproxy", "otlp", "nock", "claude-agent-sdk", "llmtrace-spool")
FORMAT_HELP = f"Container format, overriding detection ({', '.join(CONTAINER_NAMES)})."
MAX_SIZE_HELP = "Largest file or decoded (gunzipped) body to read, e.g. 200M or 2G (default 1G)."
STORAGE_HELP = ("For URLs (s3://, gs://, az://, http(s)://): an option of the store's fsspec driver, e.g. "
                "endpoint_url=http://127.0.0.1:9000 or anon=true (repeatable; needs llmtrace[distributed]).")


@app.command()
def reassemble(
    file: str = typer.Argument(..., metavar="FILE", help="Recording to read; - for stdin."),
    index: Optional[int] = typer.Option(None, "--index", "-i", help="Only exchange N (0-based)."),
    normalized: bool = typer.Option(False, "--normalized", "-n", help="llmtrace's provider-neutral JSON."),
    request: bool = typer.Option(False, "--request", help="The request body as sent over the wire (compact, "
                                                          "for curl -d @-), not the response."),
    fmt: Optional[str] = typer.Option(None, "--format", metavar="NAME", help=FORMAT_HELP,
                                       autocompletion=_complete_format),
    max_size: Optional[str] = typer.Option(None, "--max-size", metavar="SIZE", help=MAX_SIZE_HELP),
) -> None:
    """Print the response the request would have returned unstreamed, as JSON.

    One exchange: one JSON object (indented on a terminal). Several: JSON Lines.
    Exit 1 when the recording holds an error response, 2 when it cannot be read.
    --request: the recorded request body instead, one compact line per exchange (exit 1 when one
    kept none).
    """
    from llmtrace.commands import reassemble as cmd

    _finish(_limited(max_size, lambda: cmd.run(file, index=index, normalized=normalized, fmt=fmt, request=request)),
            file)


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
    fmt: Optional[str] = typer.Option(None, "--format", metavar="NAME", help=FORMAT_HELP,
                                       autocompletion=_complete_format),
    max_size: Optional[str] = typer.Option(None, "--max-size", metavar="SIZE", help=MAX_SIZE_HELP),
    storage_option: List[str] = typer.Option([], "--storage-option", metavar="KEY=VALUE", help=STORAGE_HELP),
) -> None:
    """Detect anomalies (tool calls written as text, truncation, unfinished streams, ...).

    Exit 0 when nothing reaches --fail-on, 1 when something does, 2 when an input cannot be read.
    """
    from llmtrace.commands import check as cmd

    _finish(_limited(max_size, lambda: cmd.run(paths, fail_on=fail_on.value, as_json=as_json, ignore=ignore, fmt=fmt),
                     storage_option), "check")


@app.command()
def show(
    paths: List[str] = typer.Argument(..., metavar="FILE", help="Recordings to show; - for stdin."),
    all_chunks: bool = typer.Option(False, "--all", help="Everything: every chunk in the timeline, not head and "
                                    "tail, and long texts (content, arguments, errors) whole, not cut."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document per file (JSON Lines for several)."),
    index: Optional[int] = typer.Option(None, "--index", "-i", help="Only exchange N (0-based)."),
    fmt: Optional[str] = typer.Option(None, "--format", metavar="NAME", help=FORMAT_HELP,
                                       autocompletion=_complete_format),
    max_size: Optional[str] = typer.Option(None, "--max-size", metavar="SIZE", help=MAX_SIZE_HELP),
) -> None:
    """Show a recording at a glance: request, response, token timeline, usage, anomalies."""
    from llmtrace.commands import show as cmd

    _finish(_limited(max_size, lambda: cmd.run(paths, all_chunks=all_chunks, as_json=as_json, index=index, fmt=fmt)),
            "show")


@app.command()
def diff(
    a: str = typer.Argument(..., metavar="A", help="First recording."),
    b: str = typer.Argument(..., metavar="B", help="Second recording."),
    strict: bool = typer.Option(False, "--strict", help="Also compare ids, timestamps, chunk counts and timing."),
    ignore: List[str] = typer.Option([], "--ignore", metavar="PATH", help="Drop a path, e.g. usage.output_tokens or choices[*].reasoning (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="The differences as a JSON list of {path, change, a, b}."),
    stat: bool = typer.Option(False, "--stat", help="One summary line."),
    by_request: bool = typer.Option(False, "--by-request", help="Pair exchanges by request instead of by position."),
    fmt: Optional[str] = typer.Option(None, "--format", metavar="NAME", help=FORMAT_HELP,
                                       autocompletion=_complete_format),
    max_size: Optional[str] = typer.Option(None, "--max-size", metavar="SIZE", help=MAX_SIZE_HELP),
) -> None:
    """Compare two recordings after reassembly. Exit 0 when equivalent, 1 when they differ, 2 on unreadable input."""
    from llmtrace.commands import diff as cmd

    _finish(_limited(max_size, lambda: cmd.run(a, b, strict=strict, ignore=ignore, as_json=as_json, stat=stat,
                                               by_request=by_request, fmt=fmt)), a)


@app.command()
def scan(
    paths: List[str] = typer.Argument(..., metavar="PATH", help="Files or directories (recursive)."),
    as_json: bool = typer.Option(False, "--json", help="The summary as one JSON document."),
    jsonl: bool = typer.Option(False, "--jsonl", help="One flat JSON row per exchange (for DuckDB, pandas)."),
    fail_on: Optional[FailOn] = typer.Option(None, "--fail-on", help="Exit 1 when an anomaly reaches this severity."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1, metavar="N",
                                       help="Worker processes (default: from the work: none for a few files, "
                                            "up to one per free core)."),
    parquet: Optional[str] = typer.Option(None, "--parquet", metavar="PATH_OR_URL",
                                          help="Also write the rows as Parquet (with --scheduler: a folder of parts)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", metavar="tcp://HOST:8786|local",
                                            help="Scan on a Dask cluster, or on a local one of --workers processes."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, metavar="N",
                                          help="Workers of --scheduler local (default: cores)."),
    fmt: Optional[str] = typer.Option(None, "--format", metavar="NAME", help=FORMAT_HELP,
                                       autocompletion=_complete_format),
    max_size: Optional[str] = typer.Option(None, "--max-size", metavar="SIZE", help=MAX_SIZE_HELP),
    storage_option: List[str] = typer.Option([], "--storage-option", metavar="KEY=VALUE", help=STORAGE_HELP),
) -> None:
    """Sweep many recordings: providers, models, usage totals, anomalies by code.

    Exchanges by container, dialect, host and model; usage totals; anomalies by code; files that
    fail to parse. PATHs may be URLs (s3://bucket/prefix, gs://, az://, https://, globs). Exit 2
    when a file cannot be read."""
    from llmtrace.commands import scan as cmd

    _finish(_limited(max_size, lambda: cmd.run(paths, as_json=as_json, jsonl=jsonl,
                                               fail_on=fail_on.value if fail_on else None, fmt=fmt, jobs=jobs,
                                               parquet=parquet, scheduler=scheduler, workers=workers),
                     storage_option), "scan")


@app.command()
def report(
    paths: List[str] = typer.Argument(None, metavar="PATH", help="A recording, several, or folders (recursive)."),
    output: Optional[str] = typer.Option(None, "--output", "-o", metavar="FILE",
                                         help="Where to write (default report.html, or report.svg with --svg)."),
    diff: Optional[Tuple[str, str]] = typer.Option(None, "--diff", metavar="A B", help="Compare two recordings."),
    svg: bool = typer.Option(False, "--svg", help="Only the timeline chart, as a standalone SVG."),
    open_browser: bool = typer.Option(False, "--open", help="Open the page in a browser when written."),
    fmt: Optional[str] = typer.Option(None, "--format", metavar="NAME", help=FORMAT_HELP,
                                       autocompletion=_complete_format),
    max_size: Optional[str] = typer.Option(None, "--max-size", metavar="SIZE", help=MAX_SIZE_HELP),
    storage_option: List[str] = typer.Option([], "--storage-option", metavar="KEY=VALUE", help=STORAGE_HELP),
) -> None:
    """Write one self-contained HTML page: a recording, a folder, or two recordings compared.

    The timeline as a chart, anomalies marked in the text, every chunk in a table; nothing is
    fetched from outside the file. Exit 2 when an input cannot be read (it is listed in the page).
    """
    from llmtrace.commands import report as cmd

    _finish(_limited(max_size, lambda: cmd.run(paths or [], output=output, diff=diff, svg=svg,
                                                open_browser=open_browser, fmt=fmt), storage_option), "report")


@app.command()
def redact(
    paths: List[str] = typer.Argument(..., metavar="FILE", help="Recordings to redact; - for stdin (with -o)."),
    in_place: bool = typer.Option(False, "--in-place", help="Replace each FILE (atomically)."),
    backup: Optional[str] = typer.Option(None, "--backup", metavar="SUFFIX",
                                         help="With --in-place: keep the original as FILE+SUFFIX."),
    output: Optional[str] = typer.Option(None, "--output", "-o", metavar="OUT",
                                         help="Write the redacted copy of the one FILE here (- for stdout)."),
    max_size: Optional[str] = typer.Option(None, "--max-size", metavar="SIZE", help=MAX_SIZE_HELP),
) -> None:
    """Replace the credentials a recording holds with placeholders, changing no other byte.

    What `check` reports as unmasked-secret becomes a placeholder of its kind (<OPENAI_API_KEY>, ...).

    Needs --in-place or -o OUT. Prints one line per replacement (masked). Exit 0 when nothing
    was found, 1 when something was replaced, 2 on a usage error or an unreadable FILE.
    """
    from llmtrace.commands import redact as cmd

    _finish(_limited(max_size, lambda: cmd.run(paths, in_place=in_place, backup=backup, output=output)), "redact")


FAULT_HELP = "A fault on demand, e.g. cut:after=3 (repeatable; the faults are listed below)."
FAULT_GRAMMAR = "\n".join([
    "Faults (--fault SPEC; frames count from 0; ,request=K faults only the K-th request, 0-based):",
    "stall:after=N,seconds=S     pause S seconds after frame N (after=random: drawn from --seed)",
    "cut:after=N                 close the connection after frame N, no end of stream",
    "duplicate:chunk=N           send frame N twice",
    "split-utf8                  write each frame in two pieces, cut inside a multi-byte character",
    "drop-done                   drop the stream's end ([DONE], message_stop, Ollama's done line)",
    "error:status=CODE           the provider's error instead of the stream (,retry_after=S)",
    "error-in-stream:after=N     the provider's error event after frame N, then the end",
    "tool-call-as-text:family=F  tool calls as text; F: hermes (default), mistral, llama-json",
])
class SaveAs(str, Enum):
    har = "har"
    vcr = "vcr"


class MatchMode(str, Enum):
    strict = "strict"
    loose = "loose"
    sequence = "sequence"
    closest = "closest"


@app.command(epilog=FAULT_GRAMMAR)
def serve(
    paths: List[str] = typer.Argument(..., metavar="PATH", help="Recordings or folders (recursive) to serve."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on; 0 takes a free one."),
    speed: str = typer.Option("1", "--speed", metavar="FLOAT|max",
                              help="Recorded pace divided by this; max sends as fast as the socket takes."),
    rate: Optional[float] = typer.Option(None, "--rate", metavar="CHUNKS_PER_S",
                                         help="A synthetic pace for recordings without times."),
    fault: List[str] = typer.Option([], "--fault", metavar="SPEC",
                                    help=FAULT_HELP, autocompletion=_complete_fault),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for after=random."),
    match_mode: MatchMode = typer.Option(MatchMode.strict, "--match",
                                         help="How a request finds its recording (each mode: below)."),
    cors: bool = typer.Option(False, "--cors", help="Allow browsers from any origin (chat UIs)."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Serve the readable recordings when some are not."),
    fmt: Optional[str] = typer.Option(None, "--format", metavar="NAME", help=FORMAT_HELP,
                                       autocompletion=_complete_format),
    max_size: Optional[str] = typer.Option(None, "--max-size", metavar="SIZE", help=MAX_SIZE_HELP),
    upstream: Optional[str] = typer.Option(None, "--upstream", metavar="URL",
                                           help="Record on miss: a request nothing matches is forwarded here, "
                                                "recorded, and served from then on."),
    record_to: Optional[str] = typer.Option(None, "--record-to", metavar="DIR",
                                            help="Where --upstream recordings go (default: the first PATH, if a folder)."),
    save_as: Optional[SaveAs] = typer.Option(None, "--save-as",
                                             help="--upstream recordings as har files (default) or one vcr cassette."),
) -> None:
    """Replay recordings as a live provider endpoint, chunk for chunk, at the recorded pace.

    OpenAI, Anthropic, Gemini, Ollama (and every recorded) paths; faults on demand. With --upstream,
    what nothing matches is fetched once and recorded. Streams only
    when the request asks (each provider's rule). A miss is a 404 in the provider's error shape
    saying what differs. GET /llmtrace/requests lists the requests, POST /llmtrace/reset empties
    the list and rewinds sequences. Prints the base URL first; SIGTERM stops it.

    --match strict (default): canonical requests equal (provider defaults count as absent, developer = system, tools by name and schema).

    --match loose: the conversation equal (roles, text, tool calls and results); parameters and tools may differ.

    --match sequence: each endpoint's recorded exchanges in order, one per request, whatever was asked.

    --match closest: the recorded exchange with the fewest differences, whatever they are.
    """
    from llmtrace.commands import serve as cmd

    _finish(_limited(max_size, lambda: cmd.run(paths, host=host, port=port, speed=speed, rate=rate, fault=fault,
                                                seed=seed, match_mode=match_mode.value, cors=cors, skip_bad=skip_bad,
                                                fmt=fmt, upstream=upstream, record_to=record_to,
                                                save_as=save_as.value if save_as else None)), "serve")


@app.command()
def record(
    upstream: str = typer.Option(..., "--upstream", metavar="URL",
                                 help="The provider to forward to, e.g. https://api.openai.com."),
    listen: str = typer.Option("127.0.0.1:8001", "--listen", metavar="HOST:PORT",
                               help="Address to listen on; port 0 takes a free one."),
    out: str = typer.Option("recordings", "--out", "-o", metavar="DIR", help="Folder for the recordings."),
    save_as: SaveAs = typer.Option(SaveAs.har, "--save-as",
                                   help="har: one HAR file per exchange; vcr: one VCR.py cassette per run."),
    no_mask: bool = typer.Option(False, "--no-mask", help="Write credentials as sent (masked by default)."),
    max_size: Optional[str] = typer.Option(None, "--max-size", metavar="SIZE",
                                           help="Largest decoded (gunzipped) response body to save, e.g. 200M "
                                                "(default 1G); a bigger one is saved truncated, with _error."),
) -> None:
    """Record a provider's traffic through a proxy, keeping every chunk and when it arrived.

    HTTP, websocket sessions (realtime APIs) and gRPC (xAI). Point the client's base URL at the
    proxy; prints the proxy's URL first."""
    from llmtrace.commands import record as cmd

    _finish(_limited(max_size, lambda: cmd.run(upstream, listen=listen, out=out, save_as=save_as.value,
                                               mask=not no_mask)), "record")


def _limited(max_size: Optional[str], action, storage_options: Optional[List[str]] = None):
    """``action`` with ``--max-size`` (and ``--storage-option``) applied first; a bad size or
    option is a usage error (exit 2)."""

    def run():
        from llmtrace import limits

        limits.set_max_size(None if max_size is None else limits.parse_size(max_size))
        if storage_options:
            from llmtrace.distributed import set_storage_options

            set_storage_options(storage_options)
        return action()

    return run


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
    except MemoryError:  # reading is guarded (llmtrace.limits); this is what comes after it
        from llmtrace.limits import out_of_memory

        warn(f"{source}: {out_of_memory(ran_out=True)}")
        code = 2
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


def _app_for(args: List[str]) -> typer.Typer:
    """The app, holding only the command named first on the command line when there is one:
    typer builds every registered command's parameters before it parses anything (a sixth of a
    small command's start-up), and a named command's run, help and errors involve no other.
    The whole app for anything else (``--help``, ``--version``, an unknown name, completion)."""
    if not args or f"_{app.info.name.upper()}_COMPLETE" in os.environ:
        return app
    named = [info for info in app.registered_commands
             if (info.name or info.callback.__name__.replace("_", "-")) == args[0]]
    if len(named) != 1:
        return app
    import copy

    only = copy.copy(app)
    only.registered_commands = named
    return only


def main() -> None:
    # A short-lived process that builds large acyclic trees (parsed JSON, chunks): the cycle
    # collector would only rescan them. Memory is returned when the process exits.
    gc.disable()
    # llmtrace uses no pydantic plugins: looking them up imports and scans package metadata.
    from llmtrace._startup import disable_pydantic_plugins

    disable_pydantic_plugins()
    try:
        _app_for(sys.argv[1:])(prog_name="llmtrace")
    except KeyboardInterrupt:
        sys.exit(130)
