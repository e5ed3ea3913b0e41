"""The models' ``__init__`` skips pydantic when every value is one its validation keeps as it is
(``llmtrace.model._Model``): the result must be exactly pydantic's, and anything pydantic would
convert or reject must still go to pydantic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from llmtrace import model
from llmtrace.model import (Anomaly, Delta, Exchange, Message, NormalizedRequest, Observations, Recording, Request,
                            RequestMessage, Response, Result, Timeline, ToolCall, ToolEvent, Usage)

SEED = Path(__file__).parent / "data" / "corpus" / "seed" / "000_a2136f253c2c20b7.json"
MODELS = [c for c in vars(model).values() if isinstance(c, type) and issubclass(c, model._Model) and c is not model._Model]


def _samples() -> list[tuple[type, dict]]:
    call = ToolCall(id="call_1", name="f", arguments='{"a": 1}', parsed_arguments={"a": 1})
    message = Message(index=0, content="hi", tool_calls=[call], finish_reason="stop", stop="stop")
    timeline = Timeline(chunks=2, deltas=[Delta(0, 0, "content", "hi")], times=[1.5, None], timing="har",
                        durations={"total": 0.5})
    observations = Observations(chunk_ids=["a", "b"], finish_chunks={0: 1}, tool_events=[ToolEvent(0, 0, 0, "c", "f")],
                                stream_errors=[(1, {"e": 1})], unread=[(2, "choices")], skipped=["truncated"])
    result = Result(response={"id": "x"}, model="m", choices=[message], usage=Usage(input_tokens=3, output_tokens=2**70),
                    complete=False, timeline=timeline, observations=observations)
    request = Request(method="POST", url="https://x/v1", body={"stream": True}, headers={"a": "b"}, leaks=[("h", "k")])
    response = Response(status=200, streaming=True, chunks=[{"c": 1}], chunk_times=[1.0], cut_off=None,
                        timings={"started": 1.5, "nan": float("nan")}, chunk_timing="chunk-times")
    normalized = NormalizedRequest(model="m", messages=[RequestMessage(role="user", content="q")], tools=["f"],
                                   params={"t": 0.5}, json_mode=True)
    exchange = Exchange(index=1, container="har", dialect="openai-chat", request=request, response=response,
                        normalized_request=normalized, result=result)
    return [
        (ToolCall, {"id": "call_1", "name": None, "arguments": "", "parsed_arguments": [1, "x"], "server": True}),
        (Message, {"index": 2, "role": None, "content": "\ud800 lone surrogate", "tool_calls": [call], "stop": None}),
        (Usage, {"input_tokens": 10, "total_tokens": None}),
        (Timeline, {"chunks": 2, "deltas": [Delta(0, 0, "content", "hi")], "timing": "none", "durations": {}}),
        (Observations, {"finish_chunks": {0: 1, 3: 2}, "unread": [(2, "x")], "audio_bytes": 5}),
        (Result, {"response": [1], "choices": [message], "usage": Usage(), "timeline": timeline}),
        (Request, {"url": "u", "headers": {"authorization": "***"}, "body": b"raw"}),
        (Response, {"status": None, "error": {"message": "x"}, "error_message": "x", "timings": None}),
        (RequestMessage, {"role": "user", "content": ""}),
        (NormalizedRequest, {"messages": [RequestMessage(role="user", content="q")], "raw_text": True}),
        (Exchange, {"container": "sse", "dialect": "opaque", "request": request, "response": response, "result": None}),
        (Recording, {"source": "<bytes>", "container": "har", "exchanges": [exchange]}),
        (Anomaly, {"code": "truncated", "severity": "warning", "message": "m", "chunks": [1, 2], "span": (0, 3),
                   "details": {"k": [1]}}),
        (Anomaly, {"code": "c", "severity": "info", "message": "m", "choice": None}),
    ]


def test_every_model_skips_pydantic_for_values_it_keeps():
    """A field type the checks do not know would send every model of that class to pydantic:
    still right, but the read path would build validators again."""
    assert MODELS and all(model._field_checks(cls) for cls in MODELS)
    assert {cls for cls, _ in _samples()} == set(MODELS)


@pytest.fixture(autouse=True)
def _none_made_yet(monkeypatch):
    """As in a new process: no model made yet without pydantic (other tests made thousands)."""
    monkeypatch.setattr(model, "_made", 0)


def _fresh(cls: type) -> type:
    """A subclass of ``cls`` whose validator is not built yet (another test may have built
    ``cls``'s): its models are made without pydantic."""
    return type(cls.__name__, (cls,), {"__module__": cls.__module__})


@pytest.mark.parametrize("cls, data", _samples(), ids=lambda v: v.__name__ if isinstance(v, type) else "")
def test_same_model_as_pydantic_validation(cls, data):
    cls = _fresh(cls)
    made = cls(**data)
    assert not cls.__pydantic_complete__  # made without pydantic
    validated = cls.model_validate(data)
    assert type(made) is cls
    assert list(made.__dict__) == list(validated.__dict__) == list(cls.model_fields)
    assert repr(made) == repr(validated)  # nan != nan: compared as text
    assert made.model_fields_set == validated.model_fields_set == set(data)
    assert made.__pydantic_extra__ is validated.__pydantic_extra__ is None
    assert made.__pydantic_private__ is validated.__pydantic_private__ is None
    assert repr(made.model_dump()) == repr(validated.model_dump())
    for name, value in data.items():  # lists and dicts are new ones, as pydantic makes them
        if type(value) in (list, dict) and model._field_checks(cls)[name][0] is not None:
            assert getattr(made, name) is not value and getattr(made, name) == value


def test_many_models_have_pydantic_build_the_validators(monkeypatch):
    monkeypatch.setattr(model, "_MADE_BEFORE_BUILDING", 3)
    cls = _fresh(Usage)
    made = [cls(input_tokens=n) for n in range(3)]
    assert not cls.__pydantic_complete__
    made += [cls(input_tokens=n) for n in range(3, 6)]
    assert cls.__pydantic_complete__ and all(c.__pydantic_complete__ for c in MODELS)
    assert made == [cls.model_validate({"input_tokens": n}) for n in range(6)]


@pytest.mark.parametrize("cls, data", _samples(), ids=lambda v: v.__name__ if isinstance(v, type) else "")
def test_once_built_a_model_is_what_its_validator_makes(cls, data, monkeypatch):
    """With the validators built, ``Model(...)`` is the validator's model of the keywords, made
    without a Python ``__init__``: the same fields, fields set and dump as pydantic's
    ``model_validate``; bad values still raise pydantic's error."""
    model._build_validators()
    monkeypatch.setattr(model._Model, "__init__", lambda self, **data: pytest.fail("__init__ called"))
    made = cls(**data)
    validated = cls.model_validate(data)
    assert type(made) is cls and repr(made) == repr(validated)
    assert made.model_fields_set == validated.model_fields_set == set(data)
    assert repr(made.model_dump()) == repr(validated.model_dump())
    with pytest.raises(ValidationError):
        cls(**data, not_a_field=1)


@pytest.mark.parametrize("cls, data, expected", [
    (Usage, {"input_tokens": "5"}, ("input_tokens", 5)),
    (Usage, {"input_tokens": 5.0}, ("input_tokens", 5)),
    (Message, {"index": True}, ("index", 1)),
    (Response, {"timings": {"total": 1}}, ("timings", {"total": 1.0})),
    (Timeline, {"durations": {"total": 2}}, ("durations", {"total": 2.0})),
    (Anomaly, {"code": "c", "severity": "info", "message": "m", "span": [0, 3]}, ("span", (0, 3))),
    (Observations, {"unread": [[2, "x"]]}, ("unread", [(2, "x")])),
    (Exchange, {"container": "c", "dialect": "d", "request": {"url": "u"}, "response": {}},
     ("request", Request(url="u"))),
])
def test_values_to_convert_go_to_pydantic(cls, data, expected):
    assert model._unconverted(cls, model._field_checks(cls), data) is None
    name, value = expected
    made = cls(**data)
    assert getattr(made, name) == value and type(getattr(made, name)) is type(value)


@pytest.mark.parametrize("cls, data", [
    (Request, {"url": 5}),
    (Request, {"nonsense": 1}),
    (RequestMessage, {"role": "user"}),
    (Message, {"stop": "finished"}),
    (Anomaly, {"code": "c", "severity": "fatal", "message": "m"}),
    (Result, {"usage": {"input_tokens": "many"}}),
])
def test_invalid_values_raise_pydantics_error(cls, data):
    with pytest.raises(ValidationError):
        cls(**data)


def test_public_models_are_pydantic_models():
    import llmtrace

    for name in ("Recording", "Exchange", "Request", "Response", "Message", "ToolCall", "Usage", "Anomaly"):
        cls = getattr(llmtrace, name)
        assert issubclass(cls, BaseModel) and cls.model_json_schema()["title"] == name


def test_reassemble_builds_no_pydantic_validator():
    """``reassemble`` of a recording reads it without pydantic building a validator or a
    serializer (built on first use, they cost more than the rest of a small file's read)."""
    code = (f"import sys; from llmtrace import model; from llmtrace.commands import reassemble; "
            f"reassemble.run({str(SEED)!r}); "
            f"print([c.__name__ for c in vars(model).values() if isinstance(c, type) "
            f"and issubclass(c, model._Model) and c.__pydantic_complete__], file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("{") and out.stderr.strip() == "[]"


def test_a_subclass_that_adds_validation_is_validated_by_pydantic():
    from typing import Annotated

    from pydantic import ConfigDict, Field, field_validator

    class Shouting(Message):
        @field_validator("content")
        @classmethod
        def _upper(cls, value):
            return value.upper() if value else value

    class Positive(Usage):
        input_tokens: Annotated[int, Field(gt=0)] | None = None

    class Strict(Usage):
        model_config = ConfigDict(extra="forbid", defer_build=True, strict=True)

    class Aliased(Request):
        url: str | None = Field(default=None, alias="href")

    assert Shouting(content="hi").content == "HI"
    with pytest.raises(ValidationError):
        Positive(input_tokens=0)
    with pytest.raises(ValidationError):
        Strict(input_tokens=5.0)
    assert Aliased(href="u").url == "u"
    for cls in (Shouting, Positive, Strict, Aliased):
        assert model._field_checks(cls) == {}


def test_a_plain_subclass_keeps_the_fast_path():
    class Tagged(ToolCall):
        tag: str = ""

    made = Tagged(name="f", tag="t")
    assert model._field_checks(Tagged) and made == Tagged.model_validate({"name": "f", "tag": "t"})
