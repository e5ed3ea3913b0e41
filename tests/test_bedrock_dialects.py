"""The Bedrock dialects on hand-built streams: ConverseStream events and bodies, the
InvokeModelWithResponseStream inner providers, broken frames, errors and unknown events."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from llmtrace.anomalies import detect
from llmtrace.cli import app
from llmtrace.containers import aws_eventstream as es
from llmtrace.dialects import FoldContext
from llmtrace.dialects import bedrock_converse as converse
from llmtrace.dialects import bedrock_invoke as invoke
from llmtrace.dialects import detect as detect_dialect
from llmtrace.loader import load


def converse_ctx() -> FoldContext:
    return FoldContext(dialect="bedrock-converse")


def invoke_ctx() -> FoldContext:
    return FoldContext(dialect="bedrock-invoke")


TOOL_STREAM = [
    {"messageStart": {"role": "assistant"}},
    {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Think"}}}},
    {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "ing."}}}},
    {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}}},
    {"contentBlockStop": {"contentBlockIndex": 0}},
    {"contentBlockDelta": {"contentBlockIndex": 1, "delta": {"text": "Let me look."}}},
    {"contentBlockStart": {"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "t1", "name": "get_weather"}}}},
    {"contentBlockDelta": {"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{\"city\": "}}}},
    {"contentBlockDelta": {"contentBlockIndex": 2, "delta": {"toolUse": {"input": "\"Paris\"}"}}}},
    {"contentBlockStop": {"contentBlockIndex": 2}},
    {"messageStop": {"stopReason": "tool_use"}},
    {"metadata": {"usage": {"inputTokens": 10, "outputTokens": 20, "totalTokens": 30, "cacheReadInputTokens": 4},
                  "metrics": {"latencyMs": 1500}, "p": "abc"}},
]


def test_converse_stream_folds_text_reasoning_and_tool_calls():
    result = converse.fold(TOOL_STREAM, converse_ctx())
    (message,) = result.choices
    assert message.content == "Let me look." and message.reasoning == "Thinking."
    (call,) = message.tool_calls
    assert (call.id, call.name, call.arguments, call.parsed_arguments) == \
        ("t1", "get_weather", '{"city": "Paris"}', {"city": "Paris"})
    assert (message.finish_reason, message.stop) == ("tool_use", "tool_calls")
    assert result.usage.model_dump() == {"input_tokens": 10, "output_tokens": 20, "total_tokens": 30,
                                         "cached_tokens": 4, "reasoning_tokens": None}
    assert result.complete and result.timeline.durations == {"total_duration": 1.5}
    assert result.response == {
        "output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "Thinking.", "signature": "sig"}}},
            {"text": "Let me look."},
            {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris"}}}]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 10, "outputTokens": 20, "totalTokens": 30, "cacheReadInputTokens": 4},
        "metrics": {"latencyMs": 1500},
    }
    assert [(d.chunk, d.kind) for d in result.timeline.deltas] == \
        [(1, "reasoning"), (2, "reasoning"), (5, "content"), (7, "tool"), (8, "tool")]
    assert result.observations.finish_chunks == {0: 10}


def test_detection_by_chunk_shape():
    assert detect_dialect(TOOL_STREAM) == "bedrock-converse"
    assert detect_dialect([invoke.chunk_of({"outputText": "x"})]) == "bedrock-invoke"
    assert detect_dialect([{"output": {"message": {"role": "assistant", "content": []}}, "stopReason": "end_turn"}]) \
        == "bedrock-converse"


@pytest.mark.parametrize("reason, stop", [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
                                          ("tool_use", "tool_calls"), ("guardrail_intervened", "content_filter"),
                                          ("content_filtered", "content_filter"), ("something_new", None)])
def test_stop_reasons(reason, stop):
    result = converse.fold([{"messageStop": {"stopReason": reason}}], converse_ctx())
    assert (result.choices[0].finish_reason, result.choices[0].stop) == (reason, stop)


def test_invalid_tool_input_is_kept_raw():
    chunks = [{"contentBlockStart": {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "t", "name": "f"}}}},
              {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"toolUse": {"input": "{\"a\": 1"}}}},
              {"messageStop": {"stopReason": "tool_use"}}]
    result = converse.fold(chunks, converse_ctx())
    assert result.choices[0].tool_calls[0].parsed_arguments is None
    assert result.response["output"]["message"]["content"][0]["toolUse"]["input"] == "{\"a\": 1"


def test_errors_unknown_events_and_markers():
    chunks = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Hi"}}},
        {"somethingNew": {"x": 1}},
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"image": {"format": "png"}}}},
        {"modelStreamErrorException": {"message": "the model broke", "originalStatusCode": 500}},
    ]
    result = converse.fold(chunks, converse_ctx())
    assert result.choices[0].content == "Hi" and not result.complete
    assert result.observations.stream_errors == [(4, {"message": "the model broke", "originalStatusCode": 500,
                                                      "type": "modelStreamErrorException"})]
    assert result.response["output"]["message"]["content"] == [{"text": "Hi", "image": [{"format": "png"}]}]
    assert result.response["somethingNew"] == {"x": 1}
    fatal = converse.fold([*TOOL_STREAM, {es.BAD_FRAME: {"offset": 9, "fatal": True, "reason": "x"}}], converse_ctx())
    assert not fatal.complete
    skipped = converse.fold([{es.BAD_FRAME: {"offset": 0, "reason": "x"}}, *TOOL_STREAM], converse_ctx())
    assert skipped.complete
    assert not converse.fold([*TOOL_STREAM, {es.CUT_OFF: {"offset": 3, "reason": "x"}}], converse_ctx()).complete


def test_converse_body():
    body = {"output": {"message": {"role": "assistant", "content": [
        {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "s"}}},
        {"text": "Answer "},
        {"citationsContent": {"content": [{"text": "cited."}], "citations": [{"title": "doc"}]}},
        {"toolUse": {"toolUseId": "t", "name": "f", "input": {"k": [1, 2]}}}]}},
        "stopReason": "tool_use", "usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3,
                                            "cacheReadInputTokenCount": 0}, "metrics": {"latencyMs": 5}}
    result = converse.fold_body(body, converse_ctx())
    message = result.choices[0]
    assert (message.content, message.reasoning) == ("Answer cited.", "hmm")
    assert message.tool_calls[0].arguments == '{"k":[1,2]}' and message.tool_calls[0].parsed_arguments == {"k": [1, 2]}
    assert result.response is body and result.usage.cached_tokens == 0 and result.complete


# --- InvokeModelWithResponseStream -------------------------------------------------------------------

METRICS = {"amazon-bedrock-invocationMetrics": {"inputTokenCount": 7, "outputTokenCount": 3,
                                                "invocationLatency": 900, "firstByteLatency": 100}}


def wrapped(events: list[dict]) -> list[dict]:
    return [invoke.chunk_of(e) for e in events]


def test_invoke_anthropic_reuses_the_messages_fold():
    events = [
        {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
                                              "content": [], "usage": {"input_tokens": 7, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "tu", "name": "f",
                                                                      "input": {}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": " 1}"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}},
        {"type": "message_stop", **METRICS},
    ]
    result = invoke.fold(wrapped(events), invoke_ctx())
    assert result.choices[0].tool_calls[0].parsed_arguments == {"a": 1}
    assert result.response["content"] == [{"type": "tool_use", "id": "tu", "name": "f", "input": {"a": 1}}]
    assert (result.usage.input_tokens, result.usage.output_tokens) == (7, 3) and result.model == "claude"
    assert result.timeline.durations == {"total_duration": 0.9, "first_byte": 0.1}


def test_invoke_anthropic_text_then_tool_is_no_index_gap():
    events = [
        {"type": "message_start", "message": {"id": "m", "role": "assistant", "model": "claude", "content": []}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Checking."}},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "t", "name": "f",
                                                                      "input": {}}},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}},
        {"type": "message_stop", **METRICS},
    ]
    result = invoke.fold(wrapped(events), invoke_ctx())
    assert [e.index for e in result.observations.tool_events] == [0]


@pytest.mark.parametrize("provider, events, text, finish, stop, response", [
    ("amazon-titan",
     [{"outputText": "Hel", "index": 0, "inputTextTokenCount": 4.0},
      {"outputText": "lo", "index": 0, "totalOutputTextTokenCount": 2, "completionReason": "LENGTH", **METRICS}],
     "Hello", "LENGTH", "length",
     {"inputTextTokenCount": 4, "results": [{"tokenCount": 2, "outputText": "Hello", "completionReason": "LENGTH"}]}),
    ("meta-llama",
     [{"generation": "Hi", "prompt_token_count": 7, "generation_token_count": 1, "stop_reason": None},
      {"generation": "!", "prompt_token_count": None, "generation_token_count": 3, "stop_reason": "stop", **METRICS}],
     "Hi!", "stop", "stop",
     {"generation": "Hi!", "prompt_token_count": 7, "generation_token_count": 3, "stop_reason": "stop"}),
    ("cohere",
     [{"text": "Bon", "is_finished": False}, {"text": "jour", "is_finished": False},
      {"is_finished": True, "finish_reason": "MAX_TOKENS", **METRICS}],
     "Bonjour", "MAX_TOKENS", "length",
     {"id": None, "generations": [{"id": None, "text": "Bonjour", "finish_reason": "MAX_TOKENS"}]}),
    ("anthropic-completions",
     [{"completion": " A", "stop_reason": None, "stop": None},
      {"completion": "", "stop_reason": "stop_sequence", "stop": "\n\nHuman:", **METRICS}],
     " A", "stop_sequence", "stop",
     {"type": "completion", "completion": " A", "stop_reason": "stop_sequence", "stop": "\n\nHuman:"}),
    ("mistral",
     [{"outputs": [{"text": "Ciao", "stop_reason": None}]},
      {"outputs": [{"text": "!", "stop_reason": "stop"}], **METRICS}],
     "Ciao!", "stop", "stop", {"outputs": [{"text": "Ciao!", "stop_reason": "stop"}]}),
    ("amazon-nova",
     [{"messageStart": {"role": "assistant"}},
      {"contentBlockDelta": {"delta": {"text": "Ola"}, "contentBlockIndex": 0}},
      {"contentBlockStop": {"contentBlockIndex": 0}},
      {"messageStop": {"stopReason": "end_turn"}},
      {"metadata": {"usage": {"inputTokens": 7, "outputTokens": 3}}, **METRICS}],
     "Ola", "end_turn", "stop",
     {"output": {"message": {"role": "assistant", "content": [{"text": "Ola"}]}}, "stopReason": "end_turn",
      "usage": {"inputTokens": 7, "outputTokens": 3}, "metrics": None}),
    ("openai",
     [{"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant",
                                                                                      "content": "Yo"}}]},
      {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
       **METRICS}],
     "Yo", "stop", "stop", None),
])
def test_invoke_inner_providers(provider, events, text, finish, stop, response):
    chunks = wrapped(events)
    assert invoke.inner_provider(chunks) == provider
    result = invoke.fold(chunks, invoke_ctx())
    (message,) = result.choices
    assert (message.content, message.finish_reason, message.stop) == (text, finish, stop)
    assert (result.usage.input_tokens, result.usage.output_tokens) == (7 if provider != "amazon-titan" else 4,
                                                                       3 if provider != "amazon-titan" else 2)
    assert result.complete
    if response is not None:
        assert result.response == response
    assert [d.chunk for d in result.timeline.deltas] == [i for i, e in enumerate(events)
                                                         if any(d.chunk == i for d in result.timeline.deltas)]


def test_invoke_unknown_provider_and_errors_never_crash():
    chunks = [invoke.chunk_of({"whatever": 1}), {"throttlingException": {"message": "slow"}},
              {es.BAD_FRAME: {"offset": 4, "reason": "r"}}]
    result = invoke.fold(chunks, invoke_ctx())
    assert invoke.inner_provider(chunks) is None
    assert not result.complete and result.observations.stream_errors == [(1, {"message": "slow",
                                                                              "type": "throttlingException"})]


def test_bad_chunk_bytes_are_named():
    from llmtrace.errors import ShapeError

    with pytest.raises(ShapeError, match="chunk 1") as info:
        invoke.fold([invoke.chunk_of({"outputText": "a"}), {"chunk": {"bytes": "not base64!"}}], invoke_ctx())
    assert "not base64" in info.value.what


# --- end to end: files, checks, exit codes --------------------------------------------------------------


def write(tmp_path, chunks, name="stream.bin"):
    path = tmp_path / name
    path.write_bytes(es.encode(chunks))
    return path


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_bad_crc_frame_is_one_error_and_the_rest_reads(tmp_path):
    raw = bytearray(es.encode(TOOL_STREAM))
    # The sixth frame (the text delta): flip its last byte, its message CRC.
    offset = 0
    for _ in range(5):
        offset += int.from_bytes(raw[offset:offset + 4], "big")
    end = offset + int.from_bytes(raw[offset:offset + 4], "big")
    raw[end - 1] ^= 0xFF
    path = tmp_path / "bad.bin"
    path.write_bytes(bytes(raw))
    recording = load(str(path))
    (ex,) = recording.exchanges
    found = detect(ex)
    bad = [a for a in found if a.code == "bad-frame"]
    assert len(bad) == 1 and bad[0].severity == "error" and bad[0].details["offset"] == offset
    assert bad[0].chunks == [5] and f"byte {offset}" in bad[0].message
    assert ex.result.choices[0].content is None and ex.result.choices[0].tool_calls[0].name == "get_weather"
    assert ex.result.complete and "no-finish" not in [a.code for a in found]
    result = run("check", str(path))
    assert result.exit_code == 1 and "bad-frame" in result.stdout


def test_broken_prelude_is_bad_frame_and_no_finish(tmp_path):
    raw = bytearray(es.encode(TOOL_STREAM))
    offset = int.from_bytes(raw[0:4], "big")
    raw[offset + 8] ^= 0x01  # the second frame's prelude CRC
    path = tmp_path / "broken.bin"
    path.write_bytes(bytes(raw))
    (ex,) = load(str(path)).exchanges
    codes = [a.code for a in detect(ex)]
    assert codes.count("bad-frame") == 1 and "no-finish" in codes
    assert ex.response.cut_off.startswith(f"byte {offset}")


def test_cut_final_frame_is_no_finish(tmp_path):
    path = tmp_path / "cut.bin"
    path.write_bytes(es.encode(TOOL_STREAM)[:-7])
    (ex,) = load(str(path)).exchanges
    codes = [a.code for a in detect(ex)]
    assert "no-finish" in codes and "bad-frame" not in codes
    result = run("reassemble", str(path))
    assert result.exit_code == 0 and "without a finish" in result.stderr
    assert json.loads(result.stdout)["stopReason"] == "tool_use"  # what arrived is still shown


def test_exception_in_stream_is_an_error_in_stream(tmp_path):
    path = write(tmp_path, [*TOOL_STREAM[:6], {"modelStreamErrorException": {"message": "boom"}}])
    (ex,) = load(str(path)).exchanges
    found = {a.code: a for a in detect(ex)}
    assert "error-in-stream" in found and "boom" in found["error-in-stream"].message
    assert "no-finish" in found


def test_unknown_event_types_are_kept_and_shown(tmp_path):
    path = write(tmp_path, [TOOL_STREAM[0], {"brandNewEvent": {"what": "?"}}, *TOOL_STREAM[5:]])
    (ex,) = load(str(path)).exchanges
    assert ex.response.chunks[1] == {"brandNewEvent": {"what": "?"}}
    assert json.loads(run("reassemble", str(path)).stdout)["brandNewEvent"] == {"what": "?"}
    result = run("show", "--all", str(path))
    assert result.exit_code == 0 and "bedrock-converse" in result.stdout
    assert "Let me look." in result.stdout


def test_reassemble_normalized_of_a_raw_stream(tmp_path):
    path = write(tmp_path, TOOL_STREAM)
    out = json.loads(run("reassemble", "--normalized", str(path)).stdout)
    assert out["container"] == "aws-eventstream" and out["dialect"] == "bedrock-converse"
    assert out["choices"][0]["tool_calls"][0]["parsed_arguments"] == {"city": "Paris"}
    assert out["usage"]["total_tokens"] == 30


# --- property: re-framing ---------------------------------------------------------------------------

pieces = st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=15)


def stream_of(text_parts: list[str], tool_parts: list[str]) -> list[dict]:
    chunks = [{"messageStart": {"role": "assistant"}}]
    chunks += [{"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": t}, "p": "ab"}} for t in text_parts]
    start = {"toolUse": {"toolUseId": "t", "name": "f"}}
    chunks.append({"contentBlockStart": {"contentBlockIndex": 1, "start": start}})
    chunks += [{"contentBlockDelta": {"contentBlockIndex": 1, "delta": {"toolUse": {"input": t}}}} for t in tool_parts]
    chunks += [{"messageStop": {"stopReason": "tool_use"}},
               {"metadata": {"usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3}}}]
    return chunks


def json_parts(value: dict, data) -> list[str]:
    raw = json.dumps(value)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(raw) - 1)), max_size=5)))
    return [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)]) if raw[a:b]]


@settings(max_examples=40)
@given(pieces, st.dictionaries(st.text(min_size=1, max_size=5), st.integers(), max_size=3), st.data())
def test_reframing_reads_back_to_the_same_result(tmp_path_factory, text_parts, arguments, data):
    chunks = stream_of(text_parts, json_parts(arguments, data))
    direct = converse.fold(chunks, converse_ctx())
    path = tmp_path_factory.mktemp("frames") / "s.bin"
    raw = b"".join(converse.encode(c) for c in chunks)
    path.write_bytes(raw)
    (ex,) = load(str(path)).exchanges
    assert ex.result.choices == direct.choices and ex.result.usage == direct.usage
    assert ex.result.response == direct.response
    assert direct.choices[0].content == "".join(text_parts)
    assert direct.choices[0].tool_calls[0].parsed_arguments == arguments
    # A bad message CRC in frame k: one bad-frame finding at its offset; the other frames intact.
    starts, offset = [], 0
    while offset < len(raw):
        starts.append(offset)
        offset += int.from_bytes(raw[offset:offset + 4], "big")
    k = data.draw(st.integers(0, len(chunks) - 1))
    end = starts[k + 1] if k + 1 < len(starts) else len(raw)
    broken = bytearray(raw)
    broken[end - 2] ^= 0x10
    path.write_bytes(bytes(broken))
    (ex,) = load(str(path)).exchanges
    bad = [a for a in detect(ex) if a.code == "bad-frame"]
    assert len(bad) == 1 and bad[0].details["offset"] == starts[k] and bad[0].chunks == [k]
    expected = converse.fold([c for n, c in enumerate(chunks) if n != k], converse_ctx())
    assert ex.result.choices[0].content == expected.choices[0].content
    assert ex.result.choices[0].tool_calls == expected.choices[0].tool_calls
    # Cut inside the final frame: no finish.
    path.write_bytes(raw[:-3])
    (ex,) = load(str(path)).exchanges
    assert not ex.result.complete and "no-finish" in [a.code for a in detect(ex)]
