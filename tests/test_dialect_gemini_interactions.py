"""The Gemini Interactions dialect: interaction.start … interaction.complete events (and the step
vocabulary) folded into one interaction object."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import corpus, left_out
from llmtrace.cli import app
from llmtrace.dialects import FoldContext, gemini_interactions as interactions
from llmtrace.loader import load

OTHER = {p.name: p for p in corpus("other")}
BODY = OTHER["e12c581332b4.json"]
ERROR = OTHER["0750f75691e1.json"]


def ctx() -> FoldContext:
    return FoldContext(dialect="gemini-interactions")


def streams() -> list[Path]:
    return [p for p in corpus("raw-sse") if json.loads(p.read_text())["request"]["url"].endswith("/interactions")]


def events_of(path: Path) -> list[dict]:
    """The events' JSON payloads, read from the raw SSE lines without llmtrace."""
    lines = json.loads(path.read_text())["response"]["body"]
    return [json.loads(line[6:]) for line in lines if line.startswith("data: ") and line != "data: [DONE]"]


def texts(events: list[dict]) -> str:
    return "".join(e["delta"]["text"] for e in events
                   if e["event_type"] == "content.delta" and e["delta"]["type"] == "text")


def event(kind: str, **fields) -> dict:
    return {**fields, "event_type": kind}


# -- the corpus -------------------------------------------------------------------------------


def test_corpus_has_interactions_streams():
    assert len(streams()) >= 2


@pytest.mark.parametrize("path", streams(), ids=lambda p: p.name)
def test_corpus_stream(path: Path):
    events = events_of(path)
    final = events[-1]["interaction"]
    ex = load(str(path)).exchanges[0]
    assert ex.dialect == "gemini-interactions"
    assert ex.response.done_marker
    result = ex.result
    assert result.complete
    [message] = result.choices
    assert message.content == texts(events)
    assert message.reasoning is None and message.tool_calls == []
    assert (message.finish_reason, message.stop, message.role) == ("completed", "stop", "assistant")
    assert result.usage.input_tokens == final["usage"]["total_input_tokens"]
    assert result.usage.output_tokens == final["usage"]["total_output_tokens"]
    assert result.usage.total_tokens == final["usage"]["total_tokens"]
    assert result.usage.cached_tokens == 0 and result.usage.reasoning_tokens == 0
    response = result.response
    assert response["id"] == events[0]["interaction"]["id"] == final["id"]
    assert response["status"] == "completed" and response["usage"] == final["usage"]
    assert response["created"] == final["created"] and response["object"] == "interaction"
    signature = next(e["delta"]["signature"] for e in events if e.get("delta", {}).get("type") == "thought_signature")
    assert response["outputs"] == [{"type": "thought", "signature": signature},
                                   {"type": "text", "text": texts(events)}]
    assert list(response)[:3] == ["id", "status", "outputs"]
    assert result.model == "gemini-2.5-flash-lite"


@pytest.mark.parametrize("path", streams(), ids=lambda p: p.name)
def test_corpus_stream_truncated(path: Path):
    events = events_of(path)
    for end in (len(events) - 1, len(events) - 3):  # without the final event; mid-text
        result = interactions.fold(events[:end], ctx())
        assert not result.complete
        [message] = result.choices
        assert message.finish_reason is None and message.stop is None
        assert (message.content or "") == texts(events[:end])
        assert result.response["status"] == "in_progress"
        assert result.usage.total_tokens is None


def test_non_streaming_interaction_body():
    body = json.loads(BODY.read_text())["response"]["body"]
    ex = load(str(BODY)).exchanges[0]
    assert ex.dialect == "gemini-interactions" and not ex.response.streaming
    result = ex.result
    assert result.response == body and result.complete
    [message] = result.choices
    assert message.content is None
    [call] = message.tool_calls
    assert (call.id, call.name, call.arguments, call.parsed_arguments) == \
        ("o5slgqcy", "get_weather", '{"location":"Paris"}', {"location": "Paris"})
    assert (message.finish_reason, message.stop) == ("requires_action", "tool_calls")
    assert result.usage.input_tokens == 58 and result.usage.output_tokens == 15


def test_non_streaming_body_with_steps():
    body = {"id": "i", "status": "completed", "object": "interaction", "steps": [
        {"type": "user_input", "content": [{"type": "text", "text": "Hi?"}]},
        {"type": "thought", "signature": "c2ln", "summary": [{"type": "text", "text": "Greet."}]},
        {"type": "model_output", "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "!"}]},
    ], "usage": {"totalInputTokens": 2, "totalOutputTokens": 3}}
    result = interactions.fold_body(body, ctx())
    [message] = result.choices
    assert (message.content, message.reasoning, message.finish_reason) == ("Hello!", "Greet.", "completed")
    assert result.response is body and result.complete
    assert (result.usage.input_tokens, result.usage.output_tokens) == (2, 3)


def test_recorded_error_is_not_folded():
    ex = load(str(ERROR)).exchanges[0]
    assert ex.dialect == "gemini-interactions" and ex.failed and ex.result is None
    run = CliRunner().invoke(app, ["reassemble", str(ERROR)])
    assert run.exit_code == 1
    assert json.loads(run.stdout) == {"error": {"message": "Missing key 'type' in input 'tools'.",
                                                "code": "invalid_request"}, "status": 400}


def test_reassemble_cli_end_to_end():
    path = streams()[0]
    run = CliRunner().invoke(app, ["reassemble", str(path)])
    assert run.exit_code == 0, run.stderr
    assert run.stderr == ""
    out = json.loads(run.stdout)
    assert out["object"] == "interaction" and out["status"] == "completed"
    assert [o["type"] for o in out["outputs"]] == ["thought", "text"]
    normalized = json.loads(CliRunner().invoke(app, ["reassemble", "-n", BODY.as_posix()]).stdout)
    assert normalized["dialect"] == "gemini-interactions"
    assert normalized["choices"][0]["tool_calls"][0]["name"] == "get_weather"


# -- what the docs describe beyond the corpus -----------------------------------------------------


def test_step_vocabulary():
    shell = {"id": "v1_x", "status": "in_progress", "object": "interaction", "model": "gemini-3-flash"}
    def summary(text: str) -> dict:
        return {"type": "thought_summary", "content": {"type": "text", "text": text}}

    events = [
        event("interaction.created", interaction=shell),
        event("interaction.status_update", interaction_id="v1_x", status="in_progress"),
        event("step.start", index=0, step={"type": "thought"}),
        event("step.delta", index=0, delta=summary("Need ")),
        event("step.delta", index=0, delta=summary("weather.")),
        event("step.delta", index=0, delta={"type": "thought_signature", "signature": "c2ln"}),
        event("step.stop", index=0),
        event("step.start", index=1, step={"type": "model_output"}),
        event("step.delta", index=1, delta={"type": "text", "text": "Checking"}),
        event("step.delta", index=1, delta={"type": "text", "text": " now."}),
        event("step.stop", index=1),
        event("step.start", index=2, step={"type": "function_call", "id": "c1", "name": "get_weather"}),
        event("step.delta", index=2, delta={"type": "arguments_delta", "partial_arguments": '{"city": '}),
        event("step.delta", index=2, delta={"type": "arguments_delta", "partial_arguments": '"Paris"}'}),
        event("step.stop", index=2),
        event("interaction.completed", interaction={**shell, "status": "requires_action", "steps": [],
                                                   "usage": {"total_input_tokens": 5, "total_output_tokens": 8,
                                                             "total_thought_tokens": 3, "total_tokens": 16}}),
    ]
    result = interactions.fold(events, ctx())
    assert result.complete
    assert result.response["status"] == "requires_action"
    assert result.response["steps"] == [
        {"type": "thought", "summary": [{"type": "text", "text": "Need weather."}], "signature": "c2ln"},
        {"type": "model_output", "content": [{"type": "text", "text": "Checking now."}]},
        {"type": "function_call", "id": "c1", "name": "get_weather", "arguments": {"city": "Paris"}},
    ]
    [message] = result.choices
    assert (message.content, message.reasoning) == ("Checking now.", "Need weather.")
    assert [(c.id, c.arguments) for c in message.tool_calls] == [("c1", '{"city": "Paris"}')]
    assert message.stop == "tool_calls"
    assert result.usage.reasoning_tokens == 3 and result.usage.total_tokens == 16
    assert [d.kind for d in result.timeline.deltas] == ["reasoning", "reasoning", "content", "content",
                                                        "tool", "tool"]
    assert result.observations.tool_events[0].id == "c1"


def test_whole_function_call_delta_and_invalid_arguments():
    events = [
        event("interaction.start", interaction={"id": "i", "status": "in_progress"}),
        event("content.start", index=0, content={"type": "function_call"}),
        event("content.delta", index=0, delta={"type": "function_call", "id": "f1", "name": "f",
                                               "arguments": {"a": 1}}),
        event("step.delta", index=1, delta={"type": "arguments_delta", "partial_arguments": '{"b": '}),
        event("interaction.complete", interaction={"id": "i", "status": "incomplete"}),
    ]
    result = interactions.fold(events, ctx())
    first, second = result.response["steps"]
    assert first == {"type": "function_call", "id": "f1", "name": "f", "arguments": {"a": 1}}
    assert second == {"type": "function_call", "arguments": '{"b": '}
    calls = result.choices[0].tool_calls
    assert [(c.arguments, c.parsed_arguments) for c in calls] == [('{"a":1}', {"a": 1}), ('{"b": ', None)]
    assert result.complete and result.choices[0].stop == "length"


@pytest.mark.parametrize("status, stop", [("completed", "stop"), ("requires_action", "tool_calls"),
                                          ("incomplete", "length"), ("failed", "error"), ("cancelled", None)])
def test_terminal_statuses(status, stop):
    events = [event("interaction.start", interaction={"id": "i", "status": "in_progress"}),
              event("interaction.complete", interaction={"id": "i", "status": status})]
    result = interactions.fold(events, ctx())
    assert result.complete
    assert (result.choices[0].finish_reason, result.choices[0].stop) == (status, stop)


def test_error_event_and_done_without_status_are_incomplete():
    error = {"code": "internal", "message": "boom"}
    events = [event("interaction.start", interaction={"id": "i", "status": "in_progress"}),
              event("content.delta", index=0, delta={"type": "text", "text": "partial"}),
              event("error", error=error)]
    result = interactions.fold(events, FoldContext(dialect="gemini-interactions", extra={"done_marker": True}))
    assert not result.complete
    assert result.observations.stream_errors == [(2, error)]
    assert result.choices[0].content == "partial"


# -- wrong types ------------------------------------------------------------------------------


@pytest.mark.parametrize("old, new, what", [
    ('{\\"text\\":\\"Hi\\"', '{\\"text\\":7', "text should be a string"),
    ('{\\"index\\":1,\\"delta\\":{\\"text\\":\\"Hi\\"', '{\\"index\\":\\"1\\",\\"delta\\":{\\"text\\":\\"Hi\\"',
     "index should be an integer"),
])
def test_wrong_types_are_unreadable(tmp_path, old, new, what):
    source = next(p for p in streams() if old in p.read_text())
    text = source.read_text()
    assert text.count(old) == 1
    n = next(i for i, e in enumerate(events_of(source)) if e.get("delta", {}).get("text") == "Hi")
    path = tmp_path / "mutated.json"
    path.write_text(text.replace(old, new))
    assert left_out(path) == [(n, what)]  # the exchange is kept, the chunk left out (issue 23)


# -- property: how the text was chunked never changes the result ---------------------------------

pieces = st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(text=pieces, summary=pieces)
def test_rechunking_never_changes_the_interaction(text, summary):
    def stream(texts_: list[str], summaries: list[str]) -> list[dict]:
        return [event("interaction.start", interaction={"id": "i", "status": "in_progress"}),
                event("content.start", index=0, content={"type": "thought"}),
                *[event("content.delta", index=0, delta={"type": "thought_summary",
                                                         "content": {"type": "text", "text": s}}) for s in summaries],
                event("content.start", index=1, content={"type": "text"}),
                *[event("content.delta", index=1, delta={"type": "text", "text": t}) for t in texts_],
                event("interaction.complete", interaction={"id": "i", "status": "completed"})]

    whole = interactions.fold(stream(["".join(text)], ["".join(summary)]), ctx())
    split = interactions.fold(stream(text, summary), ctx())
    assert split.choices == whole.choices
    assert split.response == whole.response
    assert (split.choices[0].content, split.choices[0].reasoning) == ("".join(text), "".join(summary))
