"""OpenAI Responses API streams (dialects/openai_responses.py): the real cassettes, the openai
SDK's accumulator as reference, rebuilding without a final event, and every event kind."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings, strategies as st
from openai import omit
from openai._models import construct_type
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent

from conftest import DATA, left_out
from llmtrace import dialects
from llmtrace.dialects import FoldContext, openai_responses
from llmtrace.errors import ShapeError
from llmtrace.loader import load

CASSETTES = DATA / "cassettes"
EXAMPLES = DATA.parent.parent / "examples" / "containers"
PHASE = CASSETTES / "pydantic-ai/test_openai_responses--test_openai_responses_phase_streamed_on_part_start.yaml"
MIRASCOPE = CASSETTES / "mirascope/cassettes--test_versioned_context_call_stream_method.yaml"
CTX = FoldContext(dialect="openai-responses")


def _streams() -> list:
    return [ex for path in (PHASE, MIRASCOPE) for ex in load(str(path)).exchanges if ex.dialect == "openai-responses"]


STREAMS = _streams()
IDS = [f"{ex.request.model}-{n}" for n, ex in enumerate(STREAMS)]


def _fold(chunks):
    return openai_responses.fold(chunks, CTX)


def _plain(output: list) -> list:
    """Output items without their encrypted reasoning (re-encrypted on every copy the API sends)."""
    return [{k: v for k, v in item.items() if k != "encrypted_content"} for item in output]


def _sdk_final(chunks):
    state = ResponseStreamState(input_tools=omit, text_format=omit)
    final = None
    for chunk in chunks:
        for event in state.handle_event(construct_type(type_=ResponseStreamEvent, value=chunk)):
            if event.type == "response.completed":
                final = event.response
    return final


@pytest.mark.parametrize("ex", STREAMS, ids=IDS)
def test_matches_the_openai_sdk(ex):
    result = ex.result
    sdk = _sdk_final(ex.response.chunks)
    msg = result.choices[0]
    assert result.complete and msg.content == sdk.output_text
    calls = [(o.call_id, o.name, o.arguments) for o in sdk.output if o.type == "function_call"]
    assert [(c.id, c.name, c.arguments) for c in msg.tool_calls] == calls
    assert result.response["id"] == sdk.id and result.response["status"] == "completed"
    assert result.usage.output_tokens == sdk.usage.output_tokens
    assert result.usage.reasoning_tokens == sdk.usage.output_tokens_details.reasoning_tokens


@pytest.mark.parametrize("ex", STREAMS, ids=IDS)
def test_reassembled_output_is_the_final_events_response(ex):
    final = ex.response.chunks[-1]
    assert final["type"] == "response.completed"
    assert ex.result.response is final["response"]
    assert ex.result.observations.finish_chunks == {0: len(ex.response.chunks) - 1}


@pytest.mark.parametrize("ex", STREAMS, ids=IDS)
def test_timeline_deltas_join_into_the_message(ex):
    deltas = ex.result.timeline.deltas
    msg = ex.result.choices[0]
    assert "".join(d.text for d in deltas if d.kind == "content") == msg.content
    assert "".join(d.text for d in deltas if d.kind == "tool") == "".join(c.arguments for c in msg.tool_calls)
    assert ex.result.timeline.chunks == len(ex.response.chunks)


def test_tool_call_and_usage_of_the_phase_stream():
    ex = STREAMS[0]
    msg = ex.result.choices[0]
    assert msg.content == "I’ll check the capital lookup tool for “PotatoLand.”"
    (call,) = msg.tool_calls
    assert (call.id, call.name, call.parsed_arguments) == ("call_LabG58Uhrq9kZvR52BYKjToD", "get_capital",
                                                           {"country": "PotatoLand"})
    assert msg.finish_reason == "completed" and msg.stop == "tool_calls" and msg.reasoning is None
    assert ex.result.usage.model_dump() == {"input_tokens": 63, "output_tokens": 69, "total_tokens": 132,
                                            "cached_tokens": 0, "reasoning_tokens": 26}
    assert ex.result.observations.tool_events[0].id == "call_LabG58Uhrq9kZvR52BYKjToD"
    assert ex.normalized_request.tools == ["get_capital"]


@pytest.mark.parametrize("ex", STREAMS, ids=IDS)
def test_rebuilt_without_the_final_event(ex):
    chunks = ex.response.chunks[:-1]
    result = _fold(chunks)
    assert not result.complete and result.choices[0].finish_reason is None
    assert _plain(result.response["output"]) == _plain(ex.result.response["output"])  # the output_item.done copies
    assert result.response["status"] == "in_progress"
    # Without the done copies too, the items are rebuilt from the deltas.
    from_deltas = _fold([c for c in chunks if c["type"] != "response.output_item.done"])
    assert from_deltas.choices[0].model_dump(exclude={"finish_reason", "stop"}) == \
        ex.result.choices[0].model_dump(exclude={"finish_reason", "stop"})


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_rechunking_text_deltas_keeps_the_message(data):
    ex = STREAMS[1]
    chunks = []
    for chunk in ex.response.chunks:
        if chunk["type"] in ("response.output_text.delta", "response.function_call_arguments.delta") \
                and len(chunk["delta"]) > 1:
            cut = data.draw(st.integers(1, len(chunk["delta"]) - 1))
            chunks += [{**chunk, "delta": chunk["delta"][:cut]}, {**chunk, "delta": chunk["delta"][cut:]}]
        else:
            chunks.append(chunk)
    without_done = [c for c in chunks if c["type"] not in ("response.output_item.done", "response.completed")]
    assert _fold(without_done).choices[0].content == ex.result.choices[0].content


def test_completed_without_output_takes_the_finished_items():
    chunks = copy.deepcopy(STREAMS[0].response.chunks)
    chunks[-1]["response"]["output"] = None
    result = _fold(chunks)
    assert result.response["output"] == [c["item"] for c in chunks if c["type"] == "response.output_item.done"]
    assert _plain(result.response["output"]) == _plain(STREAMS[0].result.response["output"])
    assert result.choices == STREAMS[0].result.choices


def _variant(change) -> list:
    chunks = copy.deepcopy(STREAMS[1].response.chunks)
    change(chunks)
    return chunks


def test_incomplete_is_complete_with_a_length_stop():
    def change(chunks):
        chunks[-1]["type"] = "response.incomplete"
        chunks[-1]["response"].update(status="incomplete", incomplete_details={"reason": "max_output_tokens"})
    result = _fold(_variant(change))
    msg = result.choices[0]
    assert result.complete and msg.finish_reason == "max_output_tokens" and msg.stop == "length"


def test_failed_stops_with_error_and_reports_it():
    error = {"code": "server_error", "message": "The model failed to generate a response."}

    def change(chunks):
        chunks[-1]["type"] = "response.failed"
        chunks[-1]["response"].update(status="failed", error=error)
    result = _fold(_variant(change))
    assert result.complete and result.choices[0].stop == "error" and result.choices[0].finish_reason == "failed"
    assert result.observations.stream_errors == [(len(STREAMS[1].response.chunks) - 1, error)]


def test_error_event_without_a_final_event():
    error = {"type": "error", "code": "rate_limit_exceeded", "message": "Slow down", "param": None,
             "sequence_number": 9}
    chunks = STREAMS[1].response.chunks[:9] + [error]
    result = _fold(chunks)
    assert not result.complete and result.observations.stream_errors == [(9, error)]


def test_refusal_and_reasoning_summary_deltas():
    def change(chunks):
        for chunk in chunks:
            if chunk["type"] == "response.output_text.delta":
                chunk["type"] = "response.refusal.delta"
            elif chunk["type"] == "response.content_part.added":
                chunk["part"] = {"type": "refusal", "refusal": ""}
        chunks[2:2] = [
            {"type": "response.output_item.added", "output_index": 0, "sequence_number": 2,
             "item": {"id": "rs_1", "type": "reasoning", "summary": []}},
            {"type": "response.reasoning_summary_part.added", "item_id": "rs_1", "output_index": 0,
             "summary_index": 0, "part": {"type": "summary_text", "text": ""}},
            {"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "output_index": 0,
             "summary_index": 0, "delta": "**Thinking** about "},
            {"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "output_index": 0,
             "summary_index": 0, "delta": "books"},
        ]
        for chunk in chunks[6:]:
            if "output_index" in chunk:
                chunk["output_index"] += 1
        chunks[:] = [c for c in chunks if c["type"] not in ("response.output_item.done", "response.completed")]
    result = _fold(_variant(change))
    msg = result.choices[0]
    assert msg.refusal == STREAMS[1].result.choices[0].content and msg.content is None
    assert msg.reasoning == "**Thinking** about books"
    assert result.response["output"][0]["summary"] == [{"type": "summary_text", "text": "**Thinking** about books"}]
    assert result.response["output"][1]["content"][0]["refusal"] == msg.refusal
    kinds = {d.kind for d in result.timeline.deltas}
    assert kinds == {"refusal", "reasoning"}


def test_non_streamed_bodies():
    first, second = load(str(CASSETTES / "pydantic-ai/test_openai_prompt_cache--test_openai_responses_prompt_cache_e2e.yaml")).exchanges
    assert not first.response.streaming and first.result.complete
    assert first.result.choices[0].content == "OK" and second.result.usage.cached_tokens == 4012
    assert second.result.response is second.response.body


def test_sniff():
    assert dialects.sniff({"type": "response.output_text.delta", "delta": "x", "sequence_number": 3}) == "openai-responses"
    assert dialects.sniff({"object": "response", "output": [], "status": "queued"}) == "openai-responses"
    # Realtime API websocket events share the names but carry an event_id.
    assert openai_responses.sniff({"type": "response.created", "event_id": "event_1", "response": {}}) is None
    assert openai_responses.sniff({"type": "message_start"}) is None


def test_wrong_types_name_the_chunk(tmp_path):
    with pytest.raises(ShapeError) as info:
        _fold(_variant(lambda c: c[10].__setitem__("delta", 7)))
    assert info.value.where == "chunk 10" and "delta should be a string" in info.value.what
    with pytest.raises(ShapeError) as info:
        _fold(_variant(lambda c: c[10].__setitem__("output_index", "0")))
    assert info.value.where == "chunk 10"
    path = tmp_path / "bad.sse"
    path.write_text((EXAMPLES / "sse/openai-responses.sse").read_text().replace('"output_index":0', '"output_index":[]', 1))
    assert [what for _, what in left_out(path)] == ["output_index should be an integer"]  # kept (issue 23)


def test_a_final_response_with_an_empty_output_keeps_the_streamed_items():
    """OpenAI Live's delegated responses end with ``output: []`` after their items streamed: the
    items are the output (an empty output after nothing streamed stays empty)."""
    from llmtrace.dialects import FoldContext, openai_responses

    item = {"id": "msg_1", "type": "message", "role": "assistant", "status": "in_progress", "content": []}
    events = [
        {"type": "response.created", "response": {"id": "r1", "object": "response", "status": "in_progress", "output": []}},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.content_part.added", "output_index": 0, "content_index": 0, "item_id": "msg_1",
         "part": {"type": "output_text", "text": "", "annotations": []}},
        {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "item_id": "msg_1", "delta": "Hi"},
        {"type": "response.completed", "response": {"id": "r1", "object": "response", "status": "completed",
                                                     "output": []}},
    ]
    result = openai_responses.fold(events, FoldContext(dialect="openai-responses"))
    assert result.choices[0].content == "Hi" and result.complete
    assert result.response["output"][0]["content"][0]["text"] == "Hi"
    empty = openai_responses.fold([events[0], events[-1]], FoldContext(dialect="openai-responses"))
    assert empty.response["output"] == [] and empty.choices[0].content is None


def test_a_custom_tool_call_is_a_tool_call_with_free_text_arguments(tmp_path):
    """GPT-5 custom (freeform, grammar) tools: the call's ``input`` streams as
    ``response.custom_tool_call_input.delta``; it is a tool call the client runs, its arguments
    free text by design — not invalid JSON, not an empty response."""
    import json

    from llmtrace.anomalies import detect
    from llmtrace.loader import load

    item = {"id": "ctc_1", "type": "custom_tool_call", "status": "in_progress", "call_id": "call_1",
            "name": "execute_sql", "input": ""}
    events = [
        {"type": "response.created", "response": {"id": "r1", "object": "response", "status": "in_progress",
                                                  "model": "gpt-5", "output": []}},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.custom_tool_call_input.delta", "output_index": 0, "item_id": "ctc_1", "delta": "SELECT *"},
        {"type": "response.custom_tool_call_input.delta", "output_index": 0, "item_id": "ctc_1",
         "delta": " FROM users LIMIT 5;"},
        {"type": "response.completed", "response": {"id": "r1", "object": "response", "status": "completed",
                                                     "model": "gpt-5", "output": [
                                                         {**item, "status": "completed",
                                                          "input": "SELECT * FROM users LIMIT 5;"}],
                                                     "usage": {"input_tokens": 3, "output_tokens": 9,
                                                               "total_tokens": 12}}},
    ]
    path = tmp_path / "custom.sse"
    path.write_text("".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events))
    exchange = load(str(path)).exchanges[0]
    [message] = exchange.result.choices
    [call] = message.tool_calls
    assert (call.id, call.name, call.arguments) == ("call_1", "execute_sql", "SELECT * FROM users LIMIT 5;")
    assert message.stop == "tool_calls" and message.content is None
    codes = [a.code for a in detect(exchange)]
    assert "invalid-tool-arguments" not in codes and "empty-response" not in codes, codes
    # A function call with the same text is still judged as JSON arguments.
    broken = [{**e, "item": {**item, "type": "function_call", "arguments": ""}} if e["type"] == "response.output_item.added"
              else e for e in events[:2]] + [
        {"type": "response.completed", "response": {"id": "r1", "object": "response", "status": "completed",
                                                     "output": [{"type": "function_call", "call_id": "call_1",
                                                                 "name": "execute_sql", "arguments": "SELECT 1"}]}}]
    path.write_text("".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in broken))
    assert "invalid-tool-arguments" in [a.code for a in detect(load(str(path)).exchanges[0])]
