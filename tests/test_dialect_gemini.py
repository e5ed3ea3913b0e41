"""The Gemini dialect: generate_content_stream chunks folded into one GenerateContentResponse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import corpus, left_out
from llmtrace.cli import app
from llmtrace.dialects import FoldContext, gemini
from llmtrace.loader import load

STREAMS = corpus("gemini-stream")
BODIES = corpus("gemini")


def ctx() -> FoldContext:
    return FoldContext(dialect="gemini")


def raw_chunks(path: Path) -> list[dict]:
    """The chunks as the file holds them, read without llmtrace."""
    return json.loads(path.read_text())["response"]["body"]


def parts_of(chunks: list[dict]) -> list[dict]:
    return [part for chunk in chunks for cand in chunk.get("candidates") or []
            for part in (cand.get("content") or {}).get("parts") or []]


def expected_text(chunks: list[dict]) -> str | None:
    texts = [p["text"] for p in parts_of(chunks) if "text" in p and not p.get("thought")]
    return "".join(texts) if texts else None


def text_chunk(text: str, **part) -> dict:
    return {"candidates": [{"content": {"parts": [{"text": text, **part}], "role": "model"}}]}


# -- the corpus -------------------------------------------------------------------------------


def test_corpus_has_both_kinds():
    assert len(STREAMS) >= 10 and len(BODIES) >= 5


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.name)
def test_stream_text_usage_and_calls(path: Path):
    chunks = raw_chunks(path)
    ex = load(str(path)).exchanges[0]
    assert ex.dialect == "gemini"
    result = ex.result
    assert result.complete
    [message] = result.choices
    assert message.content == expected_text(chunks)
    assert message.finish_reason == chunks[-1]["candidates"][0]["finish_reason"] == "STOP"
    # Gemini says STOP for a turn that ends in function calls too: normalized as tool_calls, as
    # every other dialect's turn that ends in calls.
    assert message.stop == ("tool_calls" if message.tool_calls else "stop")
    assert message.role == "assistant"
    usage = chunks[-1]["usage_metadata"]
    assert result.usage.input_tokens == usage["prompt_token_count"]
    assert result.usage.output_tokens == usage["candidates_token_count"]
    assert result.usage.total_tokens == usage["total_token_count"]
    assert result.usage.cached_tokens is None and result.usage.reasoning_tokens is None
    calls = [p["function_call"] for p in parts_of(chunks) if "function_call" in p]
    assert [(c.name, c.parsed_arguments, c.id) for c in message.tool_calls] == \
        [(c["name"], c["args"], None) for c in calls]
    for call, raw in zip(message.tool_calls, calls):
        assert call.arguments == json.dumps(raw["args"], separators=(",", ":"), ensure_ascii=False)
    response = result.response
    assert "sdk_http_response" not in response
    assert response["usage_metadata"] == usage
    assert response["response_id"] == chunks[0]["response_id"]
    [cand] = response["candidates"]
    assert cand["finish_reason"] == "STOP"
    text_parts = [p for p in cand["content"]["parts"] if "text" in p]
    assert len(text_parts) <= 1, "adjacent text parts are merged"
    assert result.timeline.chunks == len(chunks)
    assert "".join(d.text for d in result.timeline.deltas if d.kind == "content") == (message.content or "")


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.name)
def test_truncated_stream_is_incomplete(path: Path):
    chunks = load(str(path)).exchanges[0].response.chunks
    cut = chunks[:-1]
    result = gemini.fold(cut, ctx())
    assert not result.complete
    assert result.usage.output_tokens is None  # the counts came with the final chunk
    if cut:
        [message] = result.choices
        assert message.finish_reason is None and message.stop is None
        assert message.content == expected_text(raw_chunks(path)[:-1])
    else:
        assert result.choices == []


@pytest.mark.parametrize("path", BODIES, ids=lambda p: p.name)
def test_non_streaming_body(path: Path):
    body = json.loads(path.read_text())["response"]["body"]
    result = load(str(path)).exchanges[0].result
    assert result.complete
    assert result.choices[0].content == expected_text([body])
    assert result.usage.total_tokens == body["usage_metadata"]["total_token_count"]
    assert result.response == {k: v for k, v in body.items() if k != "sdk_http_response"}
    assert result.model == body["model_version"]


def test_reassemble_cli_end_to_end():
    path = next(p for p in STREAMS if len(raw_chunks(p)) > 2)
    run = CliRunner().invoke(app, ["reassemble", str(path)])
    assert run.exit_code == 0, run.stderr
    out = json.loads(run.stdout)
    assert set(out) == {"candidates", "create_time", "model_version", "response_id", "usage_metadata"}
    [cand] = out["candidates"]
    assert set(cand) == {"content", "finish_reason"}
    assert cand["content"]["role"] == "model"
    assert cand["content"]["parts"] == [{"text": expected_text(raw_chunks(path))}]
    normalized = json.loads(CliRunner().invoke(app, ["reassemble", "-n", str(path)]).stdout)
    assert normalized["dialect"] == "gemini"
    assert normalized["choices"][0]["stop"] == "stop"


# -- merge rules on small streams ---------------------------------------------------------------


def test_thought_text_is_reasoning_and_signatures_are_kept():
    chunks = [
        text_chunk("Let me ", thought=True),
        text_chunk("think.", thought=True),
        text_chunk("The answer"),
        text_chunk(" is 4.", thought_signature="c2ln/+=="),
        {"candidates": [{"content": {"parts": [{"text": ""}], "role": "model"}, "finish_reason": "STOP"}],
         "usage_metadata": {"prompt_token_count": 3, "candidates_token_count": 5, "thoughts_token_count": 7,
                            "cached_content_token_count": 2, "total_token_count": 15}},
    ]
    result = gemini.fold(chunks, ctx())
    [message] = result.choices
    assert message.reasoning == "Let me think."
    assert message.content == "The answer is 4."
    assert result.response["candidates"][0]["content"]["parts"] == [
        {"text": "Let me think.", "thought": True},
        {"text": "The answer is 4.", "thought_signature": "c2ln/+=="},
    ]
    assert result.usage.model_dump() == {"input_tokens": 3, "output_tokens": 5, "total_tokens": 15,
                                         "cached_tokens": 2, "reasoning_tokens": 7}
    assert [d.kind for d in result.timeline.deltas] == ["reasoning", "reasoning", "content", "content"]


def test_two_signed_parts_are_never_joined():
    chunks = [text_chunk("a", thought_signature="AAA"), text_chunk("b", thought_signature="BBB")]
    parts = gemini.fold(chunks, ctx()).response["candidates"][0]["content"]["parts"]
    assert parts == [{"text": "a", "thought_signature": "AAA"}, {"text": "b", "thought_signature": "BBB"}]


def test_parts_of_other_kinds_split_the_text():
    call = {"function_call": {"name": "f", "args": {"x": 1}}}
    chunks = [text_chunk("one "), text_chunk("two"),
              {"candidates": [{"content": {"parts": [call, call]}}]},
              text_chunk("three")]
    result = gemini.fold(chunks, ctx())
    parts = result.response["candidates"][0]["content"]["parts"]
    assert parts == [{"text": "one two"}, call, call, {"text": "three"}]
    message = result.choices[0]
    assert message.content == "one twothree"
    assert [c.name for c in message.tool_calls] == ["f", "f"], "calls without id are never deduplicated"
    assert not result.complete


def test_calls_with_ids_drop_exact_repeats_only():
    a = {"function_call": {"id": "c1", "name": "f", "args": {"x": 1}}}
    a_changed = {"function_call": {"id": "c1", "name": "f", "args": {"x": 2}}}
    chunks = [{"candidates": [{"content": {"parts": [a]}}]},
              {"candidates": [{"content": {"parts": [a]}}]},
              {"candidates": [{"content": {"parts": [a_changed]}, "finish_reason": "STOP"}]}]
    result = gemini.fold(chunks, ctx())
    assert [c.arguments for c in result.choices[0].tool_calls] == ['{"x":1}', '{"x":2}']
    assert [e.id for e in result.observations.tool_events] == ["c1", "c1", "c1"]


def test_rest_camel_case_is_read_and_kept():
    chunks = [
        {"candidates": [{"content": {"parts": [{"text": "Hi", "thought": True}], "role": "model"}, "index": 0}],
         "modelVersion": "gemini-2.5-flash", "responseId": "r1"},
        {"candidates": [{"content": {"parts": [{"functionCall": {"name": "g", "args": {}}},
                                               {"text": "", "thoughtSignature": "U0lH"}], "role": "model"},
                         "finishReason": "MAX_TOKENS", "index": 0}],
         "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 6, "totalTokenCount": 10,
                           "thoughtsTokenCount": 1}},
    ]
    result = gemini.fold(chunks, ctx())
    out = result.response
    assert list(out) == ["candidates", "modelVersion", "responseId", "usageMetadata"]
    assert out["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert out["candidates"][0]["content"]["parts"][2] == {"text": "", "thoughtSignature": "U0lH"}
    message = result.choices[0]
    assert message.stop == "length" and message.reasoning == "Hi" and message.content == ""
    assert message.tool_calls[0].arguments == "{}"
    assert result.usage.total_tokens == 10 and result.usage.reasoning_tokens == 1
    assert result.model == "gemini-2.5-flash" and result.observations.chunk_ids == ["r1"]


def test_candidates_are_keyed_by_index_and_usage_is_never_summed():
    chunks = [
        {"candidates": [{"index": 1, "content": {"parts": [{"text": "B1"}]}},
                        {"index": 0, "content": {"parts": [{"text": "A1"}]}}],
         "usage_metadata": {"prompt_token_count": 9, "total_token_count": 9}},
        {"candidates": [{"index": 0, "content": {"parts": [{"text": "A2"}]}, "finish_reason": "SAFETY"},
                        {"index": 1, "content": {"parts": [{"text": "B2"}]}, "finish_reason": "STOP"}],
         "usage_metadata": {"prompt_token_count": 8, "candidates_token_count": 4, "total_token_count": 12}},
    ]
    result = gemini.fold(chunks, ctx())
    assert [(m.index, m.content, m.stop) for m in result.choices] == [(0, "A1A2", "content_filter"),
                                                                        (1, "B1B2", "stop")]
    assert result.usage.input_tokens == 8 and result.usage.total_tokens == 12
    assert result.observations.finish_chunks == {0: 1, 1: 1}
    assert result.complete


def test_vertex_streamed_call_arguments_are_joined():
    def call_chunk(call: dict, **extra) -> dict:
        return {"candidates": [{"content": {"parts": [{"functionCall": call, **extra}], "role": "model"}}]}

    chunks = [
        call_chunk({"name": "get_weather", "willContinue": True}),
        call_chunk({"partialArgs": [{"jsonPath": "$.location", "stringValue": "Bos", "willContinue": True}],
                    "willContinue": True}),
        call_chunk({"partialArgs": [{"jsonPath": "$.location", "stringValue": "ton"},
                                    {"jsonPath": "$.days[1]", "numberValue": 3},
                                    {"jsonPath": "$.opts['metric']", "boolValue": True},
                                    {"jsonPath": "$..odd", "stringValue": "x"}],
                    "willContinue": True}),
        call_chunk({}, thoughtSignature="U0c="),
        call_chunk({"name": "next", "args": {}}),
    ]
    chunks[-1]["candidates"][0]["finishReason"] = "STOP"
    result = gemini.fold(chunks, ctx())
    first, second = result.response["candidates"][0]["content"]["parts"]
    assert first == {"functionCall": {"name": "get_weather",
                                      "args": {"location": "Boston", "days": [None, 3], "opts": {"metric": True}},
                                      "partial_args": [{"json_path": "$..odd", "value": "x"}]},
                     "thoughtSignature": "U0c="}
    assert second == {"functionCall": {"name": "next", "args": {}}}
    calls = result.choices[0].tool_calls
    assert [c.name for c in calls] == ["get_weather", "next"]
    assert calls[0].parsed_arguments == {"location": "Boston", "days": [None, 3], "opts": {"metric": True}}
    assert [d.text for d in result.timeline.deltas] == ["Bos", "ton", "x", "{}"]


@pytest.mark.parametrize("reason, stop", [("RECITATION", "content_filter"), ("BLOCKLIST", "content_filter"),
                                          ("PROHIBITED_CONTENT", "content_filter"), ("SPII", "content_filter"),
                                          ("MALFORMED_FUNCTION_CALL", "error"), ("OTHER", None)])
def test_stop_mapping(reason, stop):
    chunks = [{"candidates": [{"content": {"parts": [{"text": "x"}]}, "finish_reason": reason}]}]
    message = gemini.fold(chunks, ctx()).choices[0]
    assert (message.finish_reason, message.stop) == (reason, stop)


def test_blocked_prompt_is_complete_without_candidates():
    chunks = [{"prompt_feedback": {"block_reason": "SAFETY"}, "usage_metadata": {"prompt_token_count": 5}}]
    result = gemini.fold(chunks, ctx())
    assert result.complete and result.choices == []
    assert result.response["prompt_feedback"] == {"block_reason": "SAFETY"}


# -- wrong types ------------------------------------------------------------------------------


@pytest.mark.parametrize("mutate, what, where", [
    (lambda c: c[1]["candidates"][0]["content"].__setitem__("parts", "oops"), "parts should be an array",
     "chunk 1"),
    (lambda c: c[2]["candidates"][0]["content"]["parts"][0].__setitem__("text", 5), "text should be a string",
     "chunk 2"),
    (lambda c: c[0].__setitem__("usage_metadata", [1]), "usage_metadata should be an object", "chunk 0"),
])
def test_wrong_types_are_unreadable(tmp_path, mutate, what, where):
    source = next(p for p in STREAMS if len(raw_chunks(p)) >= 3)
    doc = json.loads(source.read_text())
    mutate(doc["response"]["body"])
    path = tmp_path / "mutated.json"
    path.write_text(json.dumps(doc))
    assert left_out(path) == [(int(where.split()[1]), what)]  # the exchange is kept, the chunk left out


# -- property: how the text was chunked never changes the result ---------------------------------

pieces = st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(thought=pieces, text=pieces)
def test_rechunking_never_changes_the_message(thought, text):
    def stream(thoughts: list[str], texts: list[str]) -> list[dict]:
        chunks = [text_chunk(t, thought=True) for t in thoughts] + [text_chunk(t) for t in texts]
        chunks[-1]["candidates"][0]["finish_reason"] = "STOP"
        chunks[-1]["usage_metadata"] = {"total_token_count": 3}
        return chunks

    whole = gemini.fold(stream(["".join(thought)], ["".join(text)]), ctx())
    split = gemini.fold(stream(thought, text), ctx())
    assert split.choices == whole.choices
    assert split.response == whole.response
    assert split.choices[0].content == "".join(text)


def test_code_execution_stop_mid_stream_and_tool_use_tokens_are_not_anomalies():
    """Gemini's built-in code execution (pydantic-ai's real cassette): ``STOP`` arrives with the
    ``executableCode`` part, then the result and the answer, and a second ``STOP``; the total
    counts ``toolUsePromptTokenCount``, in no field of ours."""
    import json as _json

    import yaml as _yaml

    from llmtrace.anomalies import detect
    from llmtrace.loader import load

    from conftest import DATA

    path = DATA / "cassettes/pydantic-ai/test_google--test_google_model_builtin_code_execution_stream.yaml"
    body = _yaml.safe_load(path.read_text())["interactions"][0]["response"]["body"]["string"]
    chunks = [_json.loads(line[5:]) for line in body.splitlines() if line.startswith("data:")]
    stops = [i for i, c in enumerate(chunks) if c["candidates"][0].get("finishReason")]
    assert len(stops) == 2 and "executableCode" in str(chunks[stops[0]])
    usage = chunks[-1]["usageMetadata"]
    assert usage["totalTokenCount"] == (usage["promptTokenCount"] + usage["candidatesTokenCount"]
                                        + usage.get("thoughtsTokenCount", 0) + usage["toolUsePromptTokenCount"])
    exchange = load(str(path)).exchanges[0]
    assert exchange.result.observations.finish_chunks == {0: stops[1]}
    assert exchange.result.usage.input_tokens == usage["promptTokenCount"]  # as reported
    codes = [a.code for a in detect(exchange)]
    assert "content-after-finish" not in codes and "usage-inconsistent" not in codes, codes
    text = "".join(p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"]
                   if not p.get("thought"))
    assert exchange.result.choices[0].content == text
