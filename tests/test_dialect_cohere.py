"""Cohere v2 (SSE) and v1 (NDJSON chat and generate): the real recordings against an independent
reading of their events, reassembly in Cohere's own shapes, edge cases, re-chunking."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from llmtrace.cli import app
from llmtrace.dialects import FoldContext, cohere, detect
from llmtrace.loader import load
from raw_reading import NEWFORMATS, bodies, ndjson, sse

FILES = sorted(p for d in NEWFORMATS.glob("B-*") for p in d.iterdir() if p.name not in ("LICENSE", "SOURCE"))


def _expected_v2(text: str) -> dict:
    events = [json.loads(data) for _, data in sse(text) if data != "[DONE]"]
    content = [e["delta"]["message"]["content"].get("text", "") for e in events if e["type"] == "content-delta"]
    plan = [e["delta"]["message"]["tool_plan"] for e in events if e["type"] == "tool-plan-delta"]
    names = [e["delta"]["message"]["tool_calls"]["function"]["name"] for e in events if e["type"] == "tool-call-start"]
    end = [e for e in events if e["type"] == "message-end"][-1]["delta"]
    tokens = end.get("usage", {}).get("tokens", {})
    return {"content": "".join(content) if content else None, "reasoning": "".join(plan) or None, "tools": names,
            "finish": end["finish_reason"], "input": tokens.get("input_tokens"), "output": tokens.get("output_tokens")}


def _expected_v1(text: str) -> dict:
    events = ndjson(text)
    content = [e["text"] for e in events if e["event_type"] == "text-generation"]
    end = [e for e in events if e["event_type"] == "stream-end"][-1]
    meta = end["response"]["meta"]
    tokens = meta.get("tokens") or meta["billed_units"]
    return {"content": "".join(content), "reasoning": None, "tools": [], "finish": end["finish_reason"],
            "input": tokens["input_tokens"], "output": tokens["output_tokens"]}


def _seen(exchange) -> dict:
    message = exchange.result.choices[0]
    usage = exchange.result.usage
    return {"content": message.content, "reasoning": message.reasoning, "tools": [c.name for c in message.tool_calls],
            "finish": message.finish_reason, "input": usage.input_tokens, "output": usage.output_tokens}


def test_every_cohere_recording_reads_as_an_independent_reading_says():
    checked = 0
    for path in FILES:
        recording = load(str(path))
        for exchange, (url, text) in zip(recording.exchanges, bodies(path), strict=True):
            if "/v2/chat" in url:
                assert exchange.dialect == "cohere-v2", path.name
                assert _seen(exchange) == _expected_v2(text), path.name
            elif "/v1/chat" in url or "/v1/generate" in url:
                assert exchange.dialect == "cohere-v1", path.name
                assert _seen(exchange) == _expected_v1(text), path.name
            else:
                continue
            checked += 1
    assert checked == 12


def test_v2_tool_calls_reassemble_into_a_v2_chat_response():
    path = next(p for p in FILES if "tool_calls_and_streaming" in p.name)
    run = CliRunner().invoke(app, ["reassemble", str(path)])
    assert run.exit_code == 0, run.output
    body = orjson.loads(run.stdout)
    assert body["finish_reason"] == "TOOL_CALL"
    assert body["message"]["tool_plan"] == "I will search for the current time and weather in Tokyo."
    assert [c["function"]["name"] for c in body["message"]["tool_calls"]] == ["get_time", "get_weather"]
    assert json.loads(body["message"]["tool_calls"][0]["function"]["arguments"]) == {"location": "Tokyo"}
    assert body["usage"]["billed_units"] == {"input_tokens": 62, "output_tokens": 28}
    run = CliRunner().invoke(app, ["reassemble", "--normalized", str(path)])
    normalized = orjson.loads(run.stdout)
    assert normalized["dialect"] == "cohere-v2"
    call = normalized["choices"][0]["tool_calls"][0]
    assert call["id"] == "get_time_dg5wwc00d8v5" and call["parsed_arguments"] == {"location": "Tokyo"}
    assert normalized["choices"][0]["stop"] == "tool_calls"


def test_v2_error_finish_is_an_error_in_the_stream():
    path = next(p for p in FILES if "sql_agent" in p.name)
    run = CliRunner().invoke(app, ["check", "--json", str(path)])
    codes = [a["code"] for a in orjson.loads(run.stdout.splitlines()[0])["anomalies"]]
    assert "error-in-stream" in codes and "no-finish" not in codes
    exchange = load(str(path)).exchanges[0]
    assert exchange.result.choices[0].stop == "error"
    assert exchange.result.response["error_type"] == "INVALID_TOOL_GENERATION"


def test_v1_reassembles_into_the_stream_end_response_and_generate_reads_too():
    path = next(p for p in FILES if "Generate" in p.name)
    exchange = load(str(path)).exchanges[0]
    assert exchange.dialect == "cohere-v1"
    assert exchange.result.response["generations"][0]["finish_reason"] == "COMPLETE"
    assert exchange.result.choices[0].content == exchange.result.response["generations"][0]["text"]
    path = next(p for p in FILES if "with-stream" in p.name)
    exchange = load(str(path)).exchanges[0]
    assert exchange.result.response["search_queries"][0]["text"] == "Isaac Newton birth year"
    assert exchange.result.choices[0].content == exchange.result.response["text"]
    messages = [(m.role, m.content) for m in exchange.normalized_request.messages]
    assert messages[0][0] == "USER" and messages[-1] == ("user", "What year was he born?")


def _v2_stream(texts: list[str], end: bool = True) -> list[dict]:
    events = [{"id": "m1", "type": "message-start", "delta": {"message": {"role": "assistant", "content": []}}},
              {"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}]
    events += [{"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": t}}}} for t in texts]
    if end:
        usage = {"billed_units": {"input_tokens": 3, "output_tokens": 4}}
        events += [{"type": "content-end", "index": 0},
                   {"type": "message-end", "delta": {"finish_reason": "MAX_TOKENS", "usage": usage}}]
    return events


def test_unknown_event_is_kept_and_a_cut_stream_has_no_finish():
    events = _v2_stream(["Hel", "lo"])
    events.insert(3, {"type": "brand-new-event", "delta": {"x": 1}})
    result = cohere.fold(events, FoldContext(dialect="cohere-v2"))
    assert result.choices[0].content == "Hello" and result.complete
    assert result.choices[0].stop == "length" and result.usage.input_tokens == 3
    assert result.response["unknown_events"] == [{"type": "brand-new-event", "delta": {"x": 1}}]
    cut = cohere.fold(_v2_stream(["Hel", "lo"], end=False), FoldContext(dialect="cohere-v2"))
    assert not cut.complete and cut.choices[0].finish_reason is None and cut.choices[0].content == "Hello"
    v1 = [{"is_finished": False, "event_type": "stream-start", "generation_id": "g"},
          {"is_finished": False, "event_type": "text-generation", "text": "Hi"},
          {"is_finished": False, "event_type": "something-else", "x": 2}]
    assert detect(v1) == "cohere-v1"
    result = cohere.fold(v1, FoldContext(dialect="cohere-v1"))
    assert not result.complete and result.choices[0].content == "Hi"
    assert result.response["unknown_events"] == [v1[2]]


def test_cut_sse_file_is_shown_with_no_finish(tmp_path):
    path = next(p for p in FILES if "v2_chat_legacy_with_streaming" in p.name)
    text = bodies(path)[0][1]
    cut = text[: text.index("event: content-end")]
    out = tmp_path / "cut.sse"
    out.write_text(cut)
    run = CliRunner().invoke(app, ["check", "--json", str(out)])
    line = orjson.loads(run.stdout.splitlines()[0])
    assert line["error"] is None and "no-finish" in [a["code"] for a in line["anomalies"]]


@settings(max_examples=40)
@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=12), st.data())
def test_rechunking_text_deltas_never_changes_the_reassembled_message(pieces, data):
    text = "".join(pieces)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=6)))
    rechunked = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)]) if text[a:b]]
    one = cohere.fold(_v2_stream(pieces), FoldContext(dialect="cohere-v2"))
    two = cohere.fold(_v2_stream(rechunked), FoldContext(dialect="cohere-v2"))
    assert one.response == two.response and one.choices == two.choices


@pytest.mark.parametrize("body,dialect", [
    ({"id": "x", "finish_reason": "COMPLETE", "message": {"role": "assistant", "content": [{"type": "text",
                                                                                           "text": "Hi"}]},
      "usage": {"tokens": {"input_tokens": 1, "output_tokens": 2}}}, "cohere-v2"),
    ({"text": "Hi", "generation_id": "g", "finish_reason": "COMPLETE", "meta": {"billed_units": {"input_tokens": 1,
                                                                                                 "output_tokens": 2}}},
     "cohere-v1"),
])
def test_unstreamed_bodies(body, dialect):
    assert detect([body]) == dialect
    result = cohere.fold_body(body, FoldContext(dialect=dialect))
    assert result.choices[0].content == "Hi" and result.usage.output_tokens == 2 and result.complete
    assert result.response == body
