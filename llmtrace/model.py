"""The typed model of a recording: exchanges, their request and response, and what a
dialect folds a response into (messages, usage, timeline).

Per-chunk data is kept light on purpose: raw chunks are the parsed JSON values themselves
(never validated or copied one by one) and timeline deltas are plain tuples.
"""

# No ``from __future__ import annotations`` here: pydantic would then evaluate every annotation
# from its string when building the models, which costs ~2 ms of every command's start-up.

import types
from typing import Any, Callable, Literal, NamedTuple, Union, get_args, get_origin

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


class _Made(type(BaseModel)):  # pydantic's model metaclass
    def __call__(cls, /, **data: Any) -> Any:
        """``Model(...)``: once pydantic's validator of a plain model (``_field_checks``) is
        built (``_Model.__init__`` says when), the model is what that validator makes of
        ``data``: what ``__init__`` would make, without a Python ``__init__`` call and without
        validating into an instance made first (a third of the cost of making a model)."""
        validate = _VALIDATE.get(cls)
        if validate is not None:
            return validate(data)
        if cls.__pydantic_complete__:
            fields = _FIELDS.get(cls)
            if fields is None:
                fields = _FIELDS[cls] = _field_checks(cls)
            if fields:
                validate = _VALIDATE[cls] = cls.__pydantic_validator__.validate_python
                return validate(data)
        return super().__call__(**data)


# The plain model classes whose validator is built: its ``validate_python``, looked up once.
_VALIDATE: dict[type, Callable[[dict], Any]] = {}


class _Model(BaseModel, metaclass=_Made):
    # Validators and serializers are built on first use, not when this module is imported
    # (about 20 M instructions for all of them, 3% of a small ``reassemble``): the read path
    # builds its models from values the fields hold as they are, without pydantic (``__init__``).
    model_config = ConfigDict(extra="forbid", defer_build=True)

    def __init__(self, /, **data: Any) -> None:
        """pydantic's validating ``__init__``, without running pydantic when every value is one
        its validation would keep as it is (a ``str`` for a ``str | None`` field, a model for a
        model field, a list of such items, copied as pydantic copies it). Anything else — a value
        to convert (``"5"`` for an int), a wrong type, an unknown or missing field — goes to
        pydantic: same values, same ``ValidationError``. Once a class's validator is built (a
        fallback, a dump, ``_MADE_BEFORE_BUILDING`` models made without it), pydantic's
        validation (compiled, faster per model) makes every model of it."""
        cls = type(self)
        fields = _FIELDS.get(cls)
        if fields is None:
            fields = _FIELDS[cls] = _field_checks(cls)
        if fields:
            if cls.__pydantic_complete__:
                # What ``BaseModel.__init__`` runs, one call shorter (its check on what a model
                # validator returns is moot: these classes have none).
                cls.__pydantic_validator__.validate_python(data, self_instance=self)
                return
            values = _unconverted(cls, fields, data)
            if values is not None:
                object.__setattr__(self, "__dict__", values)
                object.__setattr__(self, "__pydantic_fields_set__", set(data))
                object.__setattr__(self, "__pydantic_extra__", None)
                object.__setattr__(self, "__pydantic_private__", None)
                return
        super().__init__(**data)

    # Still pydantic's own ``__init__`` to pydantic: a model nested in data it validates (a dict
    # for an ``Exchange``'s ``request``) is validated by pydantic-core directly, as before.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]


_UNSURE = object()  # a value pydantic might convert or reject
_NONE = type(None)


def _unconverted(cls: type, fields: dict, data: dict) -> dict | None:
    """The field values (defaults filled in, in field order) pydantic's validation of ``data``
    would give ``cls`` (its ``_field_checks``), when it would convert nothing; else None."""
    global _made
    _made += 1
    if _made > _MADE_BEFORE_BUILDING:
        _build_validators()
        return None
    if not data.keys() <= fields.keys():
        return None
    values = {}
    for name, (kept, check, factory, default) in fields.items():
        if name in data:
            value = data[name]
            if kept is None or type(value) in kept:
                values[name] = value
                continue
            if check is None:
                return None
            value = check(value)
            if value is _UNSURE:
                return None
        elif factory is not None:
            value = factory()
        elif default is _UNSURE:  # a required field left out
            return None
        else:
            value = default
        values[name] = value
    return values


def _field_checks(cls: type) -> dict:
    """Per field of ``cls``: the exact types of the values pydantic keeps as they are (None: any
    value), else a function giving the value as validated or ``_UNSURE`` (None: no other value
    is kept); its default factory or its default (``_UNSURE`` for a required field). Empty when
    pydantic would do more than check types (a validator, a constraint, an alias, other settings:
    a subclass may add them), when a field's type or default is one these checks do not know, or
    when the model has more than fields to set (private attributes, a post-init hook): pydantic
    then does it all."""
    decorators = cls.__pydantic_decorators__
    if (cls.__private_attributes__ or cls.__pydantic_post_init__ or cls.model_config != _Model.model_config
            or decorators.validators or decorators.field_validators or decorators.root_validators
            or decorators.model_validators):
        return {}
    fields = {}
    for name, info in cls.model_fields.items():
        if info.alias is not None or info.validation_alias is not None or info.validate_default:
            return {}
        if any(isinstance(m, SkipValidation) for m in info.metadata):
            kept, check = None, None
        elif info.metadata:  # constraints (gt, max_length, strict, ...)
            return {}
        else:
            known = _value_check(info.annotation)
            if known is None:
                return {}
            kept, check = known
        factory = info.default_factory
        if factory is not None and getattr(getattr(factory, "__code__", None), "co_argcount", 1):
            return {}  # a factory of the data validated so far, or not a plain function
        default = _UNSURE if info.is_required() else info.default
        # A default pydantic would copy for each model (a list, a dict) is not shared here.
        if factory is None and type(default) not in (_NONE, bool, int, float, str) and default is not _UNSURE:
            return {}
        fields[name] = (kept, check, factory, default)
    return fields


_FIELDS: dict[type, dict] = {}
# A run that makes more models than this (a scan of many files, a recording of many exchanges)
# has pydantic build every validator (about 24 M instructions, once) and make the rest: a model
# made here takes 1.3-1.8x the time of pydantic's compiled validation, so a long run is better off
# with them; a small file (a dozen models) never builds them.
_MADE_BEFORE_BUILDING = 256
_made = 0  # models made without pydantic in this process


def _build_validators() -> None:
    """Every model class's validator, in the order they are defined: the models a model's
    fields hold are built first, and reused (each built once)."""
    for value in list(globals().values()):
        if isinstance(value, type) and issubclass(value, _Model) and value is not _Model:
            value.model_rebuild()


def _value_check(annotation: Any) -> tuple[frozenset | None, Callable[[Any], Any] | None] | None:
    """For a field's type: the exact types of values pydantic keeps as they are (None: every
    value), and a function giving any other value as validated (lists and dicts new, as pydantic
    makes them) or ``_UNSURE`` (None: no such function). None for a type not known here."""
    if annotation is Any:
        return None, None
    kept = _kept_types(annotation)
    if kept is not None:
        return kept, None
    origin, args = get_origin(annotation), get_args(annotation)
    optional = origin in (Union, types.UnionType) and len(args) == 2 and _NONE in args
    if optional:
        annotation = args[0] if args[1] is _NONE else args[1]
        origin, args = get_origin(annotation), get_args(annotation)
    if origin is list and len(args) == 1:
        item = _kept(args[0])
        if item is None:
            return None
        check = lambda value: list(value) if type(value) is list and all(map(item, value)) else _UNSURE  # noqa: E731
    elif origin is dict and len(args) == 2:
        key, item = _kept(args[0]), _kept(args[1])
        if key is None or item is None:
            return None
        check = lambda value: (  # noqa: E731
            dict(value) if type(value) is dict and all(map(key, value)) and all(map(item, value.values())) else _UNSURE)
    else:
        kept = _kept(annotation)
        if kept is None:
            return None
        check = lambda value: value if kept(value) else _UNSURE  # noqa: E731
    return (frozenset((_NONE,)) if optional else frozenset()), check


def _kept_types(annotation: Any) -> frozenset | None:
    """The exact types pydantic keeps every value of as it is, for a field's type made of
    ``str``, ``int``, ``float``, ``bool``, these models and None; None for any other type.
    Exact types only: a ``bool`` for an ``int``, an ``int`` for a ``float``, a ``str`` subclass
    are converted."""
    if annotation in (str, int, float, bool, _NONE) or (isinstance(annotation, type) and issubclass(annotation, _Model)):
        return frozenset((annotation,))
    if get_origin(annotation) in (Union, types.UnionType):
        parts = [_kept_types(arg) for arg in get_args(annotation)]
        if any(part is None for part in parts):
            return None
        return frozenset().union(*parts)
    return None


def _kept(annotation: Any) -> Callable[[Any], bool] | None:
    """For a type: whether pydantic's validation keeps a value as it is (or as an equal
    immutable one: a tuple, a literal); None for a type not known here."""
    if annotation is Any:
        return lambda value: True
    kept = _kept_types(annotation)
    if kept is not None:
        return lambda value: type(value) in kept
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType) and len(args) == 2 and _NONE in args:
        inner = _kept(args[0] if args[1] is _NONE else args[1])
        return None if inner is None else (lambda value: value is None or inner(value))
    if origin is Literal and all(type(arg) is str for arg in args):
        allowed = frozenset(args)
        return lambda value: type(value) is str and value in allowed
    if origin is tuple and args and Ellipsis not in args:
        items = [_kept(arg) for arg in args]
        if None in items:
            return None
        return lambda value: type(value) is tuple and len(value) == len(items) and all(
            check(item) for check, item in zip(items, value))
    return None


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
