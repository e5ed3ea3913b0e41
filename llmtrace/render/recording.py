"""``llmtrace show`` as rich renderables: per exchange a header, the request, the response,
the token timeline, usage and anomalies; usage totals when a file holds several exchanges.

Recorded text only ever reaches the terminal through ``safe_text`` (never as markup), which
masks credentials and escapes control characters. Long recorded text — content, reasoning, tool
arguments, error text, opaque bodies — is cut at ``BODY_CHARS`` characters with a note saying
how much is left out; ``--all`` shows everything (rendered line by line, linear in its length)."""

from __future__ import annotations

from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.padding import Padding
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from llmtrace.view import provider_json
from llmtrace.view import request_stream
from llmtrace.anomalies import runs
from llmtrace.dialects import OPAQUE
from llmtrace.model import Anomaly, Exchange, Message, Usage
from llmtrace.output import dumps, masked, readable_json
from llmtrace.render.layout import OneLine, Wrapped, grid
from llmtrace.render.safe import more, safe_text
from llmtrace.render.timeline import TimelineView, chunk_notes

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
USAGE_FIELDS = (("input", "input_tokens"), ("output", "output_tokens"), ("total", "total_tokens"),
                ("cached", "cached_tokens"), ("reasoning", "reasoning_tokens"))
# Request parameters worth a line of their own; the others are only named.
PARAMS = ("temperature", "top_p", "top_k", "max_tokens", "max_completion_tokens", "max_output_tokens",
          "maxOutputTokens", "num_predict", "n", "stop", "seed", "tool_choice", "parallel_tool_calls",
          "response_format", "stream_options", "reasoning_effort", "reasoning", "thinking", "thinking_config",
          "thinkingConfig", "format", "raw", "options", "response_mime_type", "responseMimeType")
NOT_REPORTED = "—"
PREVIEW_CHARS = 300
VALUE_CHARS = 300
DESCRIBE_CHARS = 80
# How much of one long text (content, reasoning, arguments, error text) is shown without --all.
BODY_CHARS = 20_000
# How many names (tools, parameters) or keys of an opaque body are listed without --all.
NAMES_SHOWN = 100
# Requests with more messages show the first and the last ones (and always the last user message).
MESSAGES_FIRST = 2
MESSAGES_LAST = 8


def make_console() -> Console:
    """The console ``show`` prints to: stdout, no markup or highlighting of its own (rich
    honours NO_COLOR and the terminal width, COLUMNS when piped)."""
    return Console(highlight=False, markup=False, emoji=False)


def section(title: str) -> Padding:
    """A section heading: a blank line, then a rule titled on the left."""
    return Padding(Rule(Text(title, style="bold"), align="left", style="dim"), (1, 0, 0, 0))


def compact(value: Any, limit: int = VALUE_CHARS) -> Text:
    """A JSON value on one line, cut at ``limit`` characters."""
    raw = value if isinstance(value, str) else dumps(value).decode()
    if len(raw) > limit:
        return safe_text(raw, limit=limit).append(f"… ({len(raw)} characters)", style="dim")
    return safe_text(raw)


def body(text: str, style: str | None = None, everything: bool = False) -> Wrapped:
    """A long recorded text, cut at ``BODY_CHARS`` characters with a note of what is left out
    unless ``everything`` is asked for."""
    limit = None if everything else BODY_CHARS
    shown = safe_text(text, style=style, limit=limit)
    if limit is not None and len(text) > limit:
        shown.append(f"\n… {more(len(text) - limit)} (--all shows everything)", style="dim italic")
    return Wrapped(shown)


def names(items: list, everything: bool = False) -> Text:
    """Recorded names, comma-separated: the first ``NAMES_SHOWN`` unless ``everything``."""
    shown = items if everything or len(items) <= NAMES_SHOWN else items[:NAMES_SHOWN]
    text = Text(", ").join(safe_text(str(n), limit=VALUE_CHARS) for n in shown)
    if len(shown) < len(items):
        text.append(f", … {len(items) - len(shown):,} more", style="dim")
    return text


def preview(text: str) -> Text:
    """The start of a message on one line (whitespace runs collapsed), ellipsis at the edge."""
    flat = " ".join(masked(text, PREVIEW_CHARS).split())
    if not flat:
        return Text("(empty)", style="dim")
    out = safe_text(flat)
    out.no_wrap = True
    out.overflow = "ellipsis"
    return out


class RecordingView:
    """One recording file: each selected exchange, then usage totals when there are several."""

    def __init__(self, recording, items: list, all_chunks: bool = False):
        self.recording = recording
        self.items = items
        self.all_chunks = all_chunks

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        total = len(self.recording.exchanges)
        for item in self.items:
            yield ExchangeView(self.recording.source, item, total, self.all_chunks)
        if len(self.items) > 1:
            yield section(f"totals over {len(self.items)} exchanges")
            yield UsageView([i.exchange.result.usage if i.exchange.result else None for i in self.items],
                            [i.observed for i in self.items])


class ExchangeView:
    """One exchange; ``all_chunks`` (``--all``) shows every chunk and every long text whole."""

    def __init__(self, source: str, item, total: int, all_chunks: bool = False):
        self.source = source
        self.item = item
        self.total = total
        self.all_chunks = all_chunks

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        item = self.item
        ex: Exchange = item.exchange
        yield Rule(style="bold")
        yield self._header(ex)
        nr = ex.normalized_request
        if nr.messages or nr.tools or nr.params or ex.result is not None:
            yield section("request")
            yield RequestView(ex, self.all_chunks)
        yield section("response")
        yield ResponseView(ex, self.all_chunks)
        if ex.result is not None:
            yield section("token timeline")
            yield TimelineView(item.summary, item.observed, ex.response.streaming, self.all_chunks,
                               chunk_notes(ex.result))
            yield section("usage")
            yield UsageView([ex.result.usage], [item.observed])
        yield section("anomalies")
        yield AnomaliesView(item.anomalies)

    def _header(self, ex: Exchange) -> Table:
        req, resp, result = ex.request, ex.response, ex.result
        table = grid()
        suffix = Text(f"  (exchange {ex.index} of {self.total})", style="dim") if self.total > 1 else None
        table.add_row("file", OneLine(safe_text(self.source), suffix))
        table.add_row("format", Text(f"{ex.container} · {ex.dialect}{_inner_provider(ex)}"))
        table.add_row("host", safe_text(req.host, limit=VALUE_CHARS) if req.host else Text(NOT_REPORTED))
        endpoint = Text()
        if req.method:
            endpoint.append_text(safe_text(req.method, limit=VALUE_CHARS)).append(" ")
        endpoint.append_text(body(req.endpoint, everything=self.all_chunks).text if req.endpoint
                             else Text(NOT_REPORTED))
        table.add_row("endpoint", endpoint)
        if req.url and not req.url.endswith(f"{req.host}{req.endpoint}"):
            table.add_row("url", body(req.url, everything=self.all_chunks))
        table.add_row("model", self._models(ex))
        table.add_row("stream", self._stream(ex))
        kept = _kept(ex)
        if kept is not None:
            table.add_row("kept", kept)
        if result is not None and result.observations.audio_bytes:
            table.add_row("audio", Text(f"{result.observations.audio_bytes:,} bytes streamed, not shown; the content "
                                        "below is what the audio said (its transcript)"))
        if resp.cut_off:
            table.add_row("recording", Text("cut off: ", style="red").append_text(
                safe_text(resp.cut_off, style="red", limit=BODY_CHARS)))
        status = Text("not recorded" if resp.status is None else str(resp.status))
        if ex.failed:
            status.stylize("bold red")
            status.append(" · recorded error", style="bold red")
        table.add_row("status", status)
        if ex.failed:
            table.add_row("error", body(_error_line(ex), style="red", everything=self.all_chunks))
        elif result is not None and not result.complete:
            table.add_row("finish", Text("none: the stream ends without a finish", style="red"))
        return table

    @staticmethod
    def _models(ex: Exchange) -> Text:
        requested = ex.normalized_request.model or ex.request.model
        served = ex.result.model if ex.result else None
        text = Text("requested ", style="dim").append_text(safe_text(requested, limit=VALUE_CHARS) if requested
                                                           else Text(NOT_REPORTED))
        text.append(" · served ", style="dim")
        if served is None:
            text.append(NOT_REPORTED)
        elif served == requested:
            text.append("the same")
        else:
            text.append_text(safe_text(served, style="yellow", limit=VALUE_CHARS))
        return text

    @staticmethod
    def _stream(ex: Exchange) -> Text:
        resp = ex.response
        if not resp.streaming:
            text = Text("no (one response body)" if resp.body is not None else "no")
            if request_stream(ex):
                text.append(", though the request asked for a stream", style="dim")
            return text
        text = Text(f"yes, {len(resp.chunks)} chunk{'s' if len(resp.chunks) != 1 else ''}")
        if resp.done_marker:
            text.append(", ended by [DONE]")
        return text


def _error_line(ex: Exchange) -> str:
    resp = ex.response
    if resp.error_message:
        return resp.error_message
    return dumps(resp.error).decode() if resp.error is not None else f"HTTP status {resp.status}"


class RequestView:
    def __init__(self, exchange: Exchange, everything: bool = False):
        self.exchange = exchange
        self.everything = everything

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        req = self.exchange.normalized_request
        table = grid()
        table.add_row("messages", self._messages(req.messages) if req.messages else Text(NOT_REPORTED))
        table.add_row("tools", names(req.tools, self.everything) if req.tools else Text(NOT_REPORTED))
        table.add_row("params", self._params(req.params))
        yield table

    def _messages(self, messages: list) -> Table:
        last_user = max((i for i, m in enumerate(messages) if m.role in ("user", "prompt")), default=None)
        n = len(messages)
        shown = set(range(n))
        if n > MESSAGES_FIRST + MESSAGES_LAST + 1:
            shown = set(range(MESSAGES_FIRST)) | set(range(n - MESSAGES_LAST, n)) | {last_user}
        table = grid(key_style="cyan", padding=1)
        hidden = 0
        for i, message in enumerate(messages):
            if i not in shown:
                hidden += 1
                continue
            if hidden:
                table.add_row(Text("…"), Text(f"{hidden} more messages", style="dim italic"))
                hidden = 0
            cell = (body(message.content, everything=self.everything) if i == last_user and message.content
                    else preview(message.content))
            table.add_row(safe_text(message.role, limit=VALUE_CHARS), cell)
        return table

    def _params(self, params: dict) -> Table | Text:
        shown = [k for k in PARAMS if k in params and params[k] is not None]
        others = [k for k in params if k not in shown and k != "stream"]
        if not shown and not others:
            return Text(NOT_REPORTED)
        table = grid(key_style="dim", padding=1)
        for key in shown:
            table.add_row(Text(key), compact(params[key]))
        if others:
            table.add_row(Text("others"), names(others, self.everything))
        return table


class ResponseView:
    def __init__(self, exchange: Exchange, everything: bool = False):
        self.exchange = exchange
        self.everything = everything

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        ex = self.exchange
        if ex.failed:
            yield Text("a recorded error, no generation (see the header)", style="red")
            if ex.response.error is not None and ex.response.error_message:
                yield Padding(compact(ex.response.error, limit=1000), (0, 0, 0, 2))
            return
        if ex.result is None:
            what = "not an LLM generation" if ex.dialect == OPAQUE else "no reassembly for this dialect"
            yield Text(f"{ex.dialect}: {what}", style="dim")
            yield Padding(describe(provider_json(ex), self.everything), (0, 0, 0, 2))
            return
        if not ex.result.choices:
            yield Text("no choices", style="dim")
        for message in ex.result.choices:
            yield ChoiceView(message, self.everything)


def describe(data: Any, everything: bool = False) -> Table | Text:
    """What an opaque body holds: per key, a short value, the size of a list or of an object
    (the first ``NAMES_SHOWN`` keys unless ``everything``)."""
    if data is None:
        return Text("no body recorded", style="dim")
    if isinstance(data, list):
        return Text(f"an array of {len(data)} item{'s' if len(data) != 1 else ''}")
    if not isinstance(data, dict):
        return compact(data, limit=DESCRIBE_CHARS)
    table = grid(key_style="dim", padding=1)
    for i, (key, value) in enumerate(data.items()):
        if i == NAMES_SHOWN and not everything:
            rest = len(data) - NAMES_SHOWN
            table.add_row(Text("…"), Text(f"{rest:,} more keys (--all shows everything)", style="dim italic"))
            break
        if isinstance(value, list):
            shown = Text(f"{len(value)} item{'s' if len(value) != 1 else ''}", style="dim")
        elif isinstance(value, dict):
            shown = Text(f"an object with {len(value)} key{'s' if len(value) != 1 else ''}", style="dim")
        else:
            shown = compact(value, limit=DESCRIBE_CHARS)
        table.add_row(safe_text(str(key), limit=VALUE_CHARS), shown)
    return table


class ChoiceView:
    def __init__(self, message: Message, everything: bool = False):
        self.message = message
        self.everything = everything

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        m = self.message
        head = Text(f"choice {m.index}", style="bold").append(" · finish ", style="dim")
        if m.finish_reason is None:
            head.append("none", style="red")
        else:
            head.append_text(safe_text(m.finish_reason, limit=VALUE_CHARS))
            if m.stop and m.stop != m.finish_reason:
                head.append(f" ({m.stop})", style="dim")
        yield head
        everything = self.everything
        parts: list = []
        if m.reasoning:
            parts += [Text("reasoning", style="dim italic"),
                      Padding(body(m.reasoning, style="dim", everything=everything), (0, 0, 0, 2))]
        if m.content:
            parts.append(body(m.content, everything=everything))
        elif not m.tool_calls and not m.refusal:
            parts.append(Text("(no content)", style="dim"))
        for call in m.tool_calls:
            parts += tool_call(call, everything)
        if m.refusal:
            refusal = body(m.refusal, style="yellow", everything=everything)
            parts.append(Wrapped(Text("refusal: ", style="yellow").append_text(refusal.text)))
        yield Padding(Group(*parts), (0, 0, 0, 2))


def tool_call(call, everything: bool = False) -> list:
    """A tool call: its name ("server tool call" for a hosted tool's), its id, and its arguments
    pretty-printed (raw when not JSON; on one line when nested too deep to indent)."""
    head = Text("server tool call " if getattr(call, "server", False) else "tool call ", style="cyan").append_text(safe_text(call.name or "(no name)", style="bold cyan",
                                                                  limit=VALUE_CHARS))
    if call.id:
        head.append("  id ", style="dim").append_text(safe_text(call.id, style="dim", limit=VALUE_CHARS))
    if not call.arguments.strip():
        args = Text("(no arguments)", style="dim")
    elif call.parsed_arguments is None:
        args = body(call.arguments, everything=everything)
        args.text.append("  (not valid JSON)", style="red")
    else:
        args = body(readable_json(call.parsed_arguments).decode(), everything=everything)
    return [head, Padding(args, (0, 0, 0, 2))]


class UsageView:
    """Reported token counts (summed over exchanges when there are several, "—" where none
    reported a field) beside what the recording shows."""

    def __init__(self, usages: list[Usage | None], observed: list):
        self.usages = usages
        self.observed = observed

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 2))
        table.add_column("")
        for label, _ in USAGE_FIELDS:
            table.add_column(label, justify="right", no_wrap=True)
        row = [Text("reported", style="bold")]
        for _, field in USAGE_FIELDS:
            values = [getattr(u, field) for u in self.usages if u is not None and getattr(u, field) is not None]
            row.append(Text(str(sum(values)) if values else NOT_REPORTED))
        table.add_row(*row)
        yield table
        chunks = sum(o.chunks for o in self.observed)
        content = sum(o.content_chunks for o in self.observed)
        chars = sum(o.characters for o in self.observed)
        yield Text(f"observed: {chunks} chunks, {content} with content, {chars} characters of content")
        if len(self.usages) > 1:
            reporting = sum(1 for u in self.usages if u is not None and u != Usage())
            yield Text(f"{reporting} of {len(self.usages)} exchanges reported usage", style="dim")


class AnomaliesView:
    def __init__(self, anomalies: list[Anomaly]):
        self.anomalies = anomalies

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.anomalies:
            yield Text("none detected", style="green")
            return
        table = grid(key_style="", padding=1)
        for a in self.anomalies:
            line = Text(a.code, style="bold").append("  ").append_text(safe_text(a.message, limit=BODY_CHARS))
            evidence = _evidence(a)
            table.add_row(Text(a.severity, style=SEVERITY_STYLE.get(a.severity, "")),
                          Group(line, evidence) if evidence.plain else line)
        yield table


def _evidence(a: Anomaly) -> Text:
    parts: list[Text] = []
    if a.choice is not None:
        parts.append(Text(f"choice {a.choice}"))
    if a.chunks:
        parts.append(Text(f"chunk{'s' if len(a.chunks) > 1 else ''} {runs(a.chunks)}"))
    if a.span is not None:
        parts.append(Text(f"characters {a.span[0]}–{a.span[1]}"))
    for key, value in a.details.items():
        if key == "parsers" and isinstance(value, list):
            parts.append(safe_text("parsers: " + "; ".join(_parser(p) for p in value)))
            continue
        parts.append(safe_text(f"{key}=").append_text(compact(value, limit=80)))
    evidence = Text(" · ").join(parts)
    evidence.stylize("dim")
    return evidence


SERVERS = {"vllm": "vLLM", "sglang": "SGLang", "llama.cpp": "llama.cpp", "ollama": "Ollama"}


def _parser(entry) -> str:
    """``{"server": "vllm", "switch": "--tool-call-parser hermes"}`` → ``vLLM --tool-call-parser hermes``."""
    if not isinstance(entry, dict):
        return str(entry)
    server = entry.get("server")
    return f"{SERVERS.get(server, server)} {entry.get('switch', '')}".strip()


FIDELITY = {
    "chunks+times": "every chunk and when it arrived",
    "chunks": "every chunk, no times",
    "ttft-only": "the time to first token, no chunks",
    "final-text": "the finished response only, no chunks",
}


def _kept(ex: Exchange) -> Text | None:
    """What the recording kept of the generation (its fidelity), and the checks that need more."""
    from llmtrace.anomalies import skipped_codes

    if ex.fidelity is None:
        return None
    text = Text(FIDELITY[ex.fidelity])
    skipped = skipped_codes(ex)
    if skipped:
        text.append(f" · not checked: {', '.join(skipped)}", style="dim")
    return text


def _inner_provider(ex: Exchange) -> str:
    """`` (anthropic)``: whose events a Bedrock InvokeModel stream carries."""
    if ex.dialect != "bedrock-invoke" or not ex.response.chunks:
        return ""
    from llmtrace.dialects.bedrock_invoke import inner_provider

    provider = inner_provider(ex.response.chunks)
    return f" ({provider})" if provider else ""
