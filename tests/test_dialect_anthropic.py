"""The Anthropic Messages dialect: message_start … message_stop events folded into one message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import corpus, left_out
from llmtrace.cli import app
from llmtrace.dialects import FoldContext, anthropic_messages as anthropic
from llmtrace.loader import load

RAW_SSE = corpus("raw-sse")


def ctx() -> FoldContext:
    return FoldContext(dialect="anthropic-messages")


def anthropic_recordings() -> list[Path]:
    return [p for p in RAW_SSE if json.loads(p.read_text())["request"]["url"].endswith("/v1/messages")]


def events_of(path: Path) -> list[dict]:
    """The events' JSON payloads, read from the raw SSE lines without llmtrace."""
    lines = json.loads(path.read_text())["response"]["body"]
    return [json.loads(line[6:]) for line in lines if line.startswith("data: ") and line != "data: [DONE]"]


def joined(events: list[dict], delta_type: str, key: str) -> str:
    return "".join(e["delta"][key] for e in events
                   if e["type"] == "content_block_delta" and e["delta"]["type"] == delta_type)


def start(message_usage: dict | None = None) -> dict:
    return {"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": message_usage or {"input_tokens": 25, "output_tokens": 1}}}


def block_start(index: int, block: dict) -> dict:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, kind: str, **fields) -> dict:
    return {"type": "content_block_delta", "index": index, "delta": {"type": kind, **fields}}


def stop_events(reason: str = "end_turn", usage: dict | None = None) -> list[dict]:
    return [{"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None},
             "usage": usage or {"output_tokens": 15}},
            {"type": "message_stop"}]


# -- the corpus -------------------------------------------------------------------------------


def test_corpus_has_an_anthropic_stream():
    assert anthropic_recordings()


@pytest.mark.parametrize("path", anthropic_recordings(), ids=lambda p: p.name)
def test_corpus_stream(path: Path):
    events = events_of(path)
    ex = load(str(path)).exchanges[0]
    assert ex.dialect == "anthropic-messages"
    result = ex.result
    assert result.complete
    [message] = result.choices
    assert message.content == joined(events, "text_delta", "text")
    assert message.reasoning == joined(events, "thinking_delta", "thinking")
    assert (message.finish_reason, message.stop, message.role) == ("end_turn", "stop", "assistant")
    final = next(e for e in events if e["type"] == "message_delta")["usage"]
    assert result.usage.input_tokens == final["input_tokens"]  # the running total replaces message_start's
    assert result.usage.output_tokens == final["output_tokens"]
    assert result.usage.total_tokens is None and result.usage.cached_tokens is None
    response = result.response
    assert list(response) == ["id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"]
    assert response["id"] == events[0]["message"]["id"] and response["type"] == "message"
    assert [b["type"] for b in response["content"]] == ["thinking", "text"]
    assert response["usage"] == final
    assert result.timeline.chunks == len(events)
    assert "".join(d.text for d in result.timeline.deltas if d.kind == "content") == message.content


@pytest.mark.parametrize("path", anthropic_recordings(), ids=lambda p: p.name)
def test_corpus_stream_truncated(path: Path):
    events = events_of(path)
    # Without message_stop the message_delta's stop_reason still finishes it.
    assert anthropic.fold(events[:-1], ctx()).complete
    cut = next(n for n, e in enumerate(events) if e["type"] == "message_delta")
    for end in (cut, cut - 5, 3):
        result = anthropic.fold(events[:end], ctx())
        assert not result.complete
        [message] = result.choices
        assert message.finish_reason is None and message.stop is None
        assert (message.content or "") == joined(events[:end], "text_delta", "text")
        assert result.usage.input_tokens == events[0]["message"]["usage"]["input_tokens"]


def test_reassemble_cli_end_to_end():
    path = anthropic_recordings()[0]
    run = CliRunner().invoke(app, ["reassemble", str(path)])
    assert run.exit_code == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["type"] == "message" and out["role"] == "assistant"
    assert out["content"][1] == {"type": "text", "text": "1, 2, 3, 4, 5"}
    assert out["stop_reason"] == "end_turn" and out["stop_sequence"] is None
    normalized = json.loads(CliRunner().invoke(app, ["reassemble", "--normalized", str(path)]).stdout)
    assert normalized["dialect"] == "anthropic-messages"
    assert normalized["usage"] == {"input_tokens": 79, "output_tokens": 64, "total_tokens": None,
                                   "cached_tokens": None, "reasoning_tokens": None}


# -- every documented event ---------------------------------------------------------------------


def full_stream() -> list[dict]:
    return [
        start({"input_tokens": 25, "output_tokens": 1, "cache_read_input_tokens": 5,
               "cache_creation_input_tokens": None}),
        {"type": "ping"},
        block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, "thinking_delta", thinking="Let me "),
        delta(0, "thinking_delta", thinking="look."),
        delta(0, "signature_delta", signature="EqQBCgIYAh+/="),
        {"type": "content_block_stop", "index": 0},
        block_start(1, {"type": "redacted_thinking", "data": "EmwKAhgB"}),
        {"type": "content_block_stop", "index": 1},
        block_start(2, {"type": "text", "text": ""}),
        delta(2, "text_delta", text="Checking "),
        delta(2, "citations_delta", citation={"type": "char_location", "cited_text": "x"}),
        delta(2, "text_delta", text="the weather."),
        {"type": "content_block_stop", "index": 2},
        block_start(3, {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}),
        delta(3, "input_json_delta", partial_json=""),
        delta(3, "input_json_delta", partial_json='{"location": "San'),
        delta(3, "input_json_delta", partial_json=' Francisco, CA"}'),
        {"type": "content_block_stop", "index": 3},
        *stop_events("tool_use", {"output_tokens": 89}),
    ]


def test_every_block_and_delta_kind():
    result = anthropic.fold(full_stream(), ctx())
    assert result.complete
    content = result.response["content"]
    assert content == [
        {"type": "thinking", "thinking": "Let me look.", "signature": "EqQBCgIYAh+/="},
        {"type": "redacted_thinking", "data": "EmwKAhgB"},
        {"type": "text", "text": "Checking the weather.", "citations": [{"type": "char_location", "cited_text": "x"}]},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"location": "San Francisco, CA"}},
    ]
    [message] = result.choices
    assert message.content == "Checking the weather."
    assert message.reasoning == "Let me look."
    [call] = message.tool_calls
    assert (call.id, call.name, call.arguments) == ("toolu_1", "get_weather", '{"location": "San Francisco, CA"}')
    assert call.parsed_arguments == {"location": "San Francisco, CA"}
    assert (message.finish_reason, message.stop) == ("tool_use", "tool_calls")
    # Usage merged per field: message_start's input and cache read kept, output replaced.
    assert result.response["usage"] == {"input_tokens": 25, "output_tokens": 89, "cache_read_input_tokens": 5,
                                        "cache_creation_input_tokens": None}
    assert result.usage.model_dump() == {"input_tokens": 25, "output_tokens": 89, "total_tokens": None,
                                         "cached_tokens": 5, "reasoning_tokens": None}
    assert result.observations.tool_events[0].id == "toolu_1"
    assert result.observations.finish_chunks == {0: len(full_stream()) - 2}
    assert [d.kind for d in result.timeline.deltas] == ["reasoning", "reasoning", "content", "content",
                                                        "tool", "tool"]


def test_tool_input_raw_string_is_kept_and_empty_is_an_empty_object():
    events = [start(),
              block_start(0, {"type": "tool_use", "id": "a", "name": "f", "input": {}}),
              delta(0, "input_json_delta", partial_json='{"x": '),
              block_start(1, {"type": "tool_use", "id": "b", "name": "g", "input": {}}),
              delta(1, "input_json_delta", partial_json=""),
              *stop_events("max_tokens")]
    result = anthropic.fold(events, ctx())
    first, second = result.response["content"]
    assert first["input"] == '{"x": ' and second["input"] == {}
    calls = result.choices[0].tool_calls
    assert [(c.arguments, c.parsed_arguments) for c in calls] == [('{"x": ', None), ("", {})]
    assert result.choices[0].stop == "length"


def test_a_skipped_block_index_does_not_crash():
    events = [start(), delta(2, "text_delta", text="late"), delta(0, "thinking_delta", thinking="hm"),
              delta(5, "input_json_delta", partial_json="{}"), *stop_events()]
    result = anthropic.fold(events, ctx())
    assert [b["type"] for b in result.response["content"]] == ["thinking", "text", "tool_use"]
    assert result.choices[0].content == "late" and result.choices[0].reasoning == "hm"


def test_error_event_is_observed_and_the_stream_incomplete():
    error = {"type": "overloaded_error", "message": "Overloaded"}
    events = [start(), block_start(0, {"type": "text", "text": ""}), delta(0, "text_delta", text="Hel"),
              {"type": "error", "error": error}]
    result = anthropic.fold(events, ctx())
    assert result.observations.stream_errors == [(3, error)]
    assert not result.complete and result.choices[0].content == "Hel"


@pytest.mark.parametrize("reason, stop", [("end_turn", "stop"), ("stop_sequence", "stop"),
                                          ("max_tokens", "length"), ("tool_use", "tool_calls"),
                                          ("refusal", "content_filter"), ("pause_turn", None)])
def test_stop_mapping(reason, stop):
    message = anthropic.fold([start(), *stop_events(reason)], ctx()).choices[0]
    assert (message.finish_reason, message.stop) == (reason, stop)


def test_stop_sequence_is_kept():
    events = [start(), {"type": "message_delta", "delta": {"stop_reason": "stop_sequence", "stop_sequence": "END"},
                        "usage": {"output_tokens": 3}}]
    result = anthropic.fold(events, ctx())
    assert result.complete and result.response["stop_sequence"] == "END"


def test_non_streaming_message_body(tmp_path):
    body = {"id": "msg_2", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [{"type": "text", "text": "Sure."},
                        {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": [1, 2]}}],
            "stop_reason": "tool_use", "stop_sequence": None,
            "usage": {"input_tokens": 7, "output_tokens": 9, "cache_read_input_tokens": 0}}
    doc = {"request": {"url": "https://api.anthropic.com/v1/messages", "method": "POST",
                       "body": {"model": "claude-x", "max_tokens": 10, "messages": []}},
           "response": {"status": 200, "body": body, "is_streaming": False}}
    path = tmp_path / "message.json"
    path.write_text(json.dumps(doc))
    ex = load(str(path)).exchanges[0]
    assert ex.dialect == "anthropic-messages"
    assert ex.result.response == body and ex.result.complete
    [message] = ex.result.choices
    assert message.content == "Sure." and message.tool_calls[0].arguments == '{"a":[1,2]}'
    assert ex.result.usage.cached_tokens == 0 and ex.result.model == "claude-x"


# -- wrong types ------------------------------------------------------------------------------


@pytest.mark.parametrize("old, new, what", [
    ('\\"text\\":\\"2\\"', '\\"text\\":2', "text should be a string"),
    ('\\"index\\":1,\\"delta\\":{\\"type\\":\\"text_delta\\",\\"text\\":\\"2\\"',
     '\\"index\\":\\"1\\",\\"delta\\":{\\"type\\":\\"text_delta\\",\\"text\\":\\"2\\"',
     "block index should be an integer"),
])
def test_wrong_types_are_unreadable(tmp_path, old, new, what):
    source = anthropic_recordings()[0]
    text = source.read_text()
    assert text.count(old) == 1
    n = next(i for i, e in enumerate(events_of(source)) if e.get("delta", {}).get("text") == "2")
    path = tmp_path / "mutated.json"
    path.write_text(text.replace(old, new))
    assert left_out(path) == [(n, what)]  # the exchange is kept, the chunk left out (issue 23)


# -- property: how text and tool input were chunked never changes the result -----------------------

pieces = st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=10)
json_values = st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=4)


@settings(max_examples=60, deadline=None)
@given(text=pieces, thinking=pieces, args=json_values, cuts=st.lists(st.integers(0, 200), max_size=6))
def test_rechunking_never_changes_the_message(text, thinking, args, cuts):
    raw = json.dumps(args)
    bounds = sorted({min(c, len(raw)) for c in cuts} | {0, len(raw)})
    fragments = [raw[a:b] for a, b in zip(bounds, bounds[1:])]

    def stream(texts: list[str], thoughts: list[str], json_parts: list[str]) -> list[dict]:
        return [start(), block_start(0, {"type": "thinking", "thinking": ""}),
                *[delta(0, "thinking_delta", thinking=t) for t in thoughts],
                block_start(1, {"type": "text", "text": ""}), *[delta(1, "text_delta", text=t) for t in texts],
                block_start(2, {"type": "tool_use", "id": "t", "name": "f", "input": {}}),
                *[delta(2, "input_json_delta", partial_json=p) for p in json_parts],
                *stop_events("tool_use")]

    whole = anthropic.fold(stream(["".join(text)], ["".join(thinking)], [raw]), ctx())
    split = anthropic.fold(stream(text, thinking, fragments), ctx())
    assert split.choices == whole.choices
    assert split.response == whole.response
    assert split.choices[0].tool_calls[0].parsed_arguments == args
