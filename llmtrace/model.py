"""The typed model of a recording: exchanges, their request and response, and what a
dialect folds a response into (messages, usage, timeline).

Per-chunk data is kept light on purpose: raw chunks are the parsed JSON values themselves
(never validated or copied one by one) and timeline deltas are plain tuples.
"""

# No ``from __future__ import annotations`` here: pydantic would then evaluate every annotation
# from its string when building the models, which costs ~2 ms of every command's start-up.

from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, SkipValidation, model_serializer

Severity = Literal["error", "warning", "info"]
STOPS = ("stop", "length", "tool_calls", "content_filter", "error")


# Default factories are plain Python functions, never ``list``, ``dict`` or a model class:
# pydantic inspects each factory's signature when it builds a model, and inspecting a builtin
# starts Python's tokenizer (~3 ms of every command's start-up).
def _list() -> list:
    return []


def _dict() -> dict:
    return {}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Request(_Model):
    """What was sent, as recorded."""

    method: str | None = None
    url: str | None = None
    host: str | None = None
    endpoint: str | None = None
    model: str | None = None
    body: SkipValidation[Any] = None
    headers: dict[str, Any] = Field(default_factory=_dict)
    # Live-looking credentials the recorded headers, URL and endpoint held before they were
    # masked (``llmtrace.secrets.Leak``: place, kind, mask; never the secret), for the
    # ``unmasked-secret`` check. Not part of any output.
    leaks: SkipValidation[list] = Field(default_factory=_list, exclude=True)


class Response(_Model):
    """What came back, as recorded: raw chunk payloads in arrival order when streamed,
    the body when not, or the recorded error."""

    status: int | None = None
    streaming: bool = False
    chunks: SkipValidation[list[Any]] = Field(default_factory=_list)
    body: SkipValidation[Any] = None
    error: SkipValidation[Any] = None
    error_message: str | None = None
    # The stream's own end marker arrived (SSE ``data: [DONE]``).
    done_marker: bool = False
    # Per-chunk arrival times (epoch seconds) a container recorded, e.g. HAR; else None.
    chunk_times: SkipValidation[list[float | None] | None] = None
    # Where and why the recording itself breaks off inside the stream (its last SSE event or
    # NDJSON line stops mid-JSON): the chunks before it are kept. None when intact.
    cut_off: str | None = None
    # The exchange's own timing, when the container recorded it but not per-chunk times (HAR
    # ``startedDateTime`` and ``timings``): "started" (epoch seconds) and the phases in seconds
    # ("blocked", "dns", "connect", "ssl", "send", "wait", "receive", "total"); phases the
    # recording marks as not applicable (-1) are left out.
    timings: dict[str, float] | None = None
    # Where ``chunk_times`` came from when not the default "har": "chunk-times" for the reads
    # ``llmtrace record`` kept (``containers.chunk_reads``). Not part of any output.
    chunk_timing: str | None = Field(default=None, exclude=True)


class RequestMessage(_Model):
    role: str
    content: str


class NormalizedRequest(_Model):
    """The request in provider-neutral terms (contracts.md)."""

    model: str | None = None
    messages: list[RequestMessage] = Field(default_factory=_list)
    tools: list[str] = Field(default_factory=_list)
    params: dict[str, Any] = Field(default_factory=_dict)
    # What the request asked of the output; used by checks, not part of the JSON contract.
    json_mode: bool = Field(default=False, exclude=True)
    raw_text: bool = Field(default=False, exclude=True)


class ToolCall(_Model):
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    parsed_arguments: Any = None
    # A call of a provider-defined (hosted) tool — web search, code interpreter, an MCP server's
    # tool — rather than of a function the request declared: listed with ``"server": true``; the key
    # is left out of a client call's JSON.
    server: bool = False

    @model_serializer(mode="wrap")
    def _without_client_flag(self, handler):
        out = handler(self)
        if not self.server:
            out.pop("server", None)
        return out


class Message(_Model):
    """One choice of the reassembled response, provider-neutral."""

    index: int = 0
    role: str | None = "assistant"
    content: str | None = None
    reasoning: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=_list)
    finish_reason: str | None = None
    stop: Literal["stop", "length", "tool_calls", "content_filter", "error"] | None = None


class Usage(_Model):
    """Token counts as reported by the provider; None means not reported (never estimated)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None


class Delta(NamedTuple):
    """One piece of text a chunk carried: the unit of the token timeline."""

    chunk: int
    choice: int
    kind: str  # "content" | "reasoning" | "refusal" | "tool"
    text: str
    token_id: int | None = None


class ToolEvent(NamedTuple):
    """A tool-call fragment as it arrived (for index and id checks)."""

    chunk: int
    choice: int
    index: int | None
    id: str | None
    name: str | None


class Timeline(_Model):
    """Per-chunk data. ``times`` holds one arrival time per chunk (epoch seconds, None when
    unknown) when the recording has real times, else None; times are never invented."""

    chunks: int = 0
    deltas: SkipValidation[list[Delta]] = Field(default_factory=_list)
    times: SkipValidation[list[float | None] | None] = None
    timing: Literal["created_at", "har", "chunk-times", "durations", "none"] = "none"
    # Server-reported durations in seconds (Ollama's done line), only those reported non-zero.
    durations: dict[str, float] = Field(default_factory=_dict)


class Observations(_Model):
    """Facts a fold noticed on the way, for the anomaly checks."""

    chunk_ids: list[str] = Field(default_factory=_list)
    finish_chunks: dict[int, int] = Field(default_factory=_dict)
    tool_events: SkipValidation[list[ToolEvent]] = Field(default_factory=_list)
    stream_errors: SkipValidation[list[tuple[int, Any]]] = Field(default_factory=_list)
    filter_results: SkipValidation[list[Any]] = Field(default_factory=_list)
    # Bytes of audio the response streamed (realtime sessions): counted, never kept or printed.
    audio_bytes: int = 0
    # Tool calls (by id) whose arguments are free text by design (custom tools: a grammar, a
    # language), not JSON: not judged as JSON arguments.
    free_text_calls: list[str] = Field(default_factory=_list)
    # Tokens the provider counts in its total but in none of the usage fields (Gemini's
    # ``toolUsePromptTokenCount``): usage stays as reported, the total check allows for them.
    uncounted_tokens: int = 0
    # Anomaly codes the recording holds no data to judge (a span that captured no text): the
    # checks are skipped, not run on nothing.
    skipped: list[str] = Field(default_factory=_list)
    # Choices of a stream that ended as complete streams end (usage, then ``[DONE]``) whose
    # provider sent no finish reason (``finish-missing``).
    finish_missing: list[int] = Field(default_factory=_list)
    # Chunks left out of the fold because a field had a type it cannot read: ``(chunk, what)``
    # (``unread-chunk``); the exchange is kept, read without them.
    unread: list[tuple[int, str]] = Field(default_factory=_list)


class Result(_Model):
    """What a dialect folded an exchange's response into."""

    response: SkipValidation[Any] = None
    model: str | None = None
    choices: list[Message] = Field(default_factory=_list)
    usage: Usage = Field(default_factory=lambda: Usage())
    complete: bool = True
    timeline: Timeline = Field(default_factory=lambda: Timeline())
    observations: Observations = Field(default_factory=lambda: Observations())


class Exchange(_Model):
    index: int = 0
    container: str
    dialect: str
    request: Request
    response: Response
    normalized_request: NormalizedRequest = Field(default_factory=lambda: NormalizedRequest())
    result: Result | None = None

    @property
    def failed(self) -> bool:
        """A recorded error response (exception, or HTTP status >= 400)."""
        return self.response.error is not None or (self.response.status or 0) >= 400

    @property
    def fidelity(self) -> str | None:
        """What the recording kept of the generation (contracts.md): ``chunks+times`` (every
        chunk and when it arrived), ``chunks``, ``ttft-only`` (a first-token time and no chunks),
        ``final-text`` (only the finished output), or None when this is no generation (an
        opaque body, a recorded error)."""
        result = self.result
        if result is None or self.failed:
            return None
        if self.response.streaming and result.timeline.chunks:
            times = result.timeline.times
            return "chunks+times" if times and any(t is not None for t in times) else "chunks"
        if result.timeline.durations.get("time_to_first_chunk"):
            return "ttft-only"
        return "final-text"


class Recording(_Model):
    source: str
    container: str
    exchanges: list[Exchange] = Field(default_factory=_list)


class Anomaly(_Model):
    """A detected fault (contracts.md): stable kebab-case ``code``, ``severity``, a one-line
    ``message``, where (exchange, choice, chunk indices, character span) and ``details``."""

    # Built on first use: a command that runs no check (reassemble) never makes one.
    model_config = ConfigDict(extra="forbid", defer_build=True)

    code: str
    severity: Severity
    message: str
    exchange: int = 0
    choice: int | None = None
    chunks: list[int] | None = None
    span: tuple[int, int] | None = None
    details: dict[str, Any] = Field(default_factory=_dict)
