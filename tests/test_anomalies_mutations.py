"""Each anomaly on a real recording made to carry the fault: a copy of a corpus file is changed
in tmp_path (a chunk dropped, arguments cut, a delta duplicated, the model changed, …) and
loaded with ``llmtrace.loader.load``."""

from __future__ import annotations

import copy
from typing import Callable

import orjson
import pytest

from conftest import CORPUS, SEED
from llmtrace.anomalies import detect
from llmtrace.loader import load
from llmtrace.model import Anomaly, Exchange

TEXT = "llama-stack/openai-chat-stream/8a174c150228.json"  # gpt-4o: "The capital of France is Paris."
# chunks: 0 role, 1-7 content, 8 finish "stop", 9 usage (include_usage was asked)
TOOLS = "llama-stack/openai-chat-stream/6a6343d8e4a2.json"  # gpt-4o: two get_weather calls
# chunks: 0 role, 1-8 call 0 (id, then arguments), 9-16 call 1, 17 finish "tool_calls", 18 usage
AZURE = "llama-stack/openai-chat-stream/e53d830a3cb0.json"  # leading prompt_filter_results chunk
GPT_OSS = "llama-stack/openai-chat-stream/17f2fac8a9f4.json"  # 1 reasoning, 2 content, 3 finish
GEMINI = "llama-stack/gemini-stream/1d7c46e73c5f.json"  # 3 chunks, finish_reason STOP on the last
OLLAMA_CHAT = "llama-stack/ollama-chat-stream/21d5046ec062.json"  # NDJSON lines, done on the last
OLLAMA_GENERATE = "llama-stack/ollama-generate-stream/1d93ca05dc26.json"
ANTHROPIC = "llama-stack/raw-sse/557ab35eb5de.json"  # raw SSE lines (Anthropic messages from Ollama)
COMPLETION = "llama-stack/openai-completion/0c9b7d6db97d.json"  # non-streamed text completion
CHAT_BODY = "llama-stack/openai-chat/cd47130c81b9.json"  # non-streamed chat completion

MARKUP = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Tokyo"}}\n</tool_call>'
TOKYO = [{"name": "get_weather", "arguments": {"city": "Tokyo"}}]


def mutated(tmp_path, relative: str, change: Callable[[dict], None]) -> Exchange:
    path = CORPUS / relative
    doc = orjson.loads(path.read_bytes())
    change(doc)
    out = tmp_path / path.name
    out.write_bytes(orjson.dumps(doc))
    return load(str(out)).exchanges[0]


def chunks(doc: dict) -> list[dict]:
    """The chunk payloads of a Llama Stack recording (unwrapped from ``__data__``)."""
    return [item["__data__"] for item in doc["response"]["body"]]


def body(doc: dict) -> dict:
    return doc["response"]["body"]["__data__"]


def found(exchange: Exchange, code: str) -> list[Anomaly]:
    return [a for a in detect(exchange) if a.code == code]


def delta(doc: dict, i: int) -> dict:
    return chunks(doc)[i]["choices"][0]["delta"]


def sse_replace(doc: dict, old: str, new: str) -> None:
    lines = doc["response"]["body"]
    for n, line in enumerate(lines):
        if old in line:
            lines[n] = line.replace(old, new, 1)
            return
    raise AssertionError(f"{old!r} not in the recording")


# --- tool-call-in-text, across dialects ----------------------------------------------------------


def test_tool_call_in_text_is_an_error_when_tools_were_declared(tmp_path):
    def declare(doc):
        doc["request"]["body"]["tools"] = [{"type": "function", "function": {"name": "get_weather"}}]

    [a] = found(mutated(tmp_path, "seed/" + SEED.name, declare), "tool-call-in-text")
    assert a.severity == "error" and a.details["calls"] == TOKYO


def test_tool_call_in_text_beside_structured_calls_is_a_warning(tmp_path):
    def add_text(doc):
        delta(doc, 0)["content"] = MARKUP

    [a] = found(mutated(tmp_path, TOOLS, add_text), "tool-call-in-text")
    assert a.severity == "warning" and a.chunks == [0] and a.details["family"] == "hermes"


def test_tool_call_in_text_evidence_maps_the_span_to_its_chunks(tmp_path):
    def split(doc):  # the markup arrives over chunks 3-5, after prose in chunks 1-2
        pieces = ["Let me check. ", "\n", MARKUP[:20], MARKUP[20:50], MARKUP[50:], " ", "Done."]
        for i, piece in enumerate(pieces, start=1):
            delta(doc, i)["content"] = piece

    exchange = mutated(tmp_path, TEXT, split)
    [a] = found(exchange, "tool-call-in-text")
    assert a.chunks == [3, 4, 5]
    assert exchange.result.choices[0].content[a.span[0]:a.span[1]] == MARKUP


def test_tool_call_in_reasoning_text(tmp_path):
    harmony = '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Tokyo"}<|call|>'

    def reason(doc):
        delta(doc, 1)["reasoning"] = harmony

    [a] = found(mutated(tmp_path, GPT_OSS, reason), "tool-call-in-text")
    assert a.details["field"] == "reasoning" and a.details["family"] == "harmony"
    assert a.details["calls"] == TOKYO and a.chunks == [1]


def test_tool_call_in_gemini_text(tmp_path):
    def write(doc):
        doc["response"]["body"][0]["candidates"][0]["content"]["parts"][0]["text"] = MARKUP + "\n"

    [a] = found(mutated(tmp_path, GEMINI, write), "tool-call-in-text")
    assert a.severity == "warning" and a.chunks == [0] and a.details["calls"] == TOKYO


def test_tool_call_in_ollama_chat_text(tmp_path):
    def write(doc):
        chunks(doc)[0]["message"]["content"] = "[TOOL_CALLS]get_weather[ARGS]"
        chunks(doc)[1]["message"]["content"] = '{"city": "Tokyo"}'

    exchange = mutated(tmp_path, OLLAMA_CHAT, write)
    [a] = found(exchange, "tool-call-in-text")
    assert a.details["family"] == "mistral" and a.details["calls"] == TOKYO and a.chunks == [0, 1]


def test_tool_call_in_anthropic_text(tmp_path):
    def write(doc):
        sse_replace(doc, '"text_delta","text":"', '"text_delta","text":"<|python_tag|>{\\"name\\": \\"get_weather\\", '
                    '\\"parameters\\": {\\"city\\": \\"Tokyo\\"}}<|eom_id|>')

    [a] = found(mutated(tmp_path, ANTHROPIC, write), "tool-call-in-text")
    assert a.details["family"] == "llama-json" and a.details["calls"] == TOKYO


def test_tool_call_in_a_text_completion_is_info(tmp_path):
    def write(doc):
        body(doc)["choices"][0]["text"] = 'functools[{"name": "get_weather", "arguments": {"city": "Tokyo"}}]'

    [a] = found(mutated(tmp_path, COMPLETION, write), "tool-call-in-text")
    assert a.severity == "info" and a.chunks is None and a.details["family"] == "functools"


def test_json_with_a_name_key_is_an_answer_even_without_json_mode(tmp_path):
    def no_json_mode(doc):
        del doc["request"]["body"]["extra_body"]

    exchange = mutated(tmp_path, "llama-stack/openai-completion/bb6280bd79b8.json", no_json_mode)
    assert not exchange.normalized_request.json_mode
    assert found(exchange, "tool-call-in-text") == []


def test_shape_only_json_is_skipped_under_response_format(tmp_path):
    def json_mode(doc):
        doc["request"]["body"]["response_format"] = {"type": "json_object"}

    assert found(mutated(tmp_path, "seed/" + SEED.name, json_mode), "tool-call-in-text") == []


# --- text checks ---------------------------------------------------------------------------------


def test_reasoning_left_in_reasoning_with_empty_content(tmp_path):
    def drop_content(doc):
        delta(doc, 2)["content"] = None

    [a] = found(mutated(tmp_path, GPT_OSS, drop_content), "reasoning-in-content")
    assert "answer is left in the reasoning" in a.message


def test_harmony_analysis_in_content(tmp_path):
    def leak(doc):
        delta(doc, 2)["content"] = "analysisThe user asks where humans live.assistantfinalHumans live on Earth."

    [a] = found(mutated(tmp_path, GPT_OSS, leak), "reasoning-in-content")
    assert a.details["marker"] == "analysis…assistantfinal" and a.chunks == [2]


def test_leaked_control_token(tmp_path):
    def leak(doc):
        delta(doc, 7)["content"] = ".<|eot_id|>"

    exchange = mutated(tmp_path, TEXT, leak)
    [a] = found(exchange, "leaked-control-tokens")
    assert a.details["tokens"] == ["<|eot_id|>"] and a.chunks == [7]
    assert exchange.result.choices[0].content[a.span[0]:a.span[1]] == "<|eot_id|>"


def test_duplicated_content_resent_whole(tmp_path):
    def resend(doc):
        again = copy.deepcopy(doc["response"]["body"][7])
        again["__data__"]["choices"][0]["delta"]["content"] = "The capital of France is Paris."
        doc["response"]["body"].insert(8, again)

    [a] = found(mutated(tmp_path, TEXT, resend), "duplicated-content")
    assert a.chunks == [8] and a.span == (31, 62)


def test_duplicated_content_two_copies(tmp_path):
    def twice(doc):
        message = body(doc)["choices"][0]["message"]
        message["content"] = "Hello. How can I assist you today? " * 2

    [a] = found(mutated(tmp_path, CHAT_BODY, twice), "duplicated-content")
    assert a.span == (35, 70) and a.chunks is None


def test_empty_response(tmp_path):
    def empty(doc):
        for i in range(1, 8):
            delta(doc, i)["content"] = ""

    [a] = found(mutated(tmp_path, TEXT, empty), "empty-response")
    assert a.severity == "warning" and a.choice == 0


def test_refusal_text(tmp_path):
    def refuse(doc):
        for i in range(1, 8):
            delta(doc, i)["content"] = None
        delta(doc, 1)["refusal"] = "I can't help with that."

    exchange = mutated(tmp_path, TEXT, refuse)
    [a] = found(exchange, "refusal")
    assert a.severity == "info" and a.chunks == [1]
    assert found(exchange, "empty-response") == []


def test_anthropic_refusal_stop_is_a_refusal_not_a_content_filter(tmp_path):
    def refuse(doc):
        sse_replace(doc, '"stop_reason":"end_turn"', '"stop_reason":"refusal"')

    exchange = mutated(tmp_path, ANTHROPIC, refuse)
    [a] = found(exchange, "refusal")
    assert a.details == {"finish_reason": "refusal"}
    assert found(exchange, "content-filter") == []


# --- how the stream ended -----------------------------------------------------------------------


def test_no_finish_when_the_finish_chunk_is_dropped(tmp_path):
    def drop_finish(doc):
        del doc["response"]["body"][8:]

    exchange = mutated(tmp_path, TEXT, drop_finish)
    [a] = found(exchange, "no-finish")
    assert a.severity == "error" and a.choice == 0 and a.chunks == [7]


@pytest.mark.parametrize("relative,change", [
    (OLLAMA_CHAT, lambda doc: doc["response"]["body"].pop()),
    (GEMINI, lambda doc: doc["response"]["body"][-1]["candidates"][0].pop("finish_reason")),
    (ANTHROPIC, lambda doc: doc["response"]["body"].__delitem__(slice(-7, None))),
])
def test_no_finish_in_other_dialects(tmp_path, relative, change):
    exchange = mutated(tmp_path, relative, change)
    assert [a.severity for a in found(exchange, "no-finish")] == ["error"]


@pytest.mark.parametrize("reason", ["", "eos"])
def test_nonstandard_finish(tmp_path, reason):
    def flip(doc):
        chunks(doc)[8]["choices"][0]["finish_reason"] = reason

    [a] = found(mutated(tmp_path, TEXT, flip), "nonstandard-finish")
    assert a.details == {"finish_reason": reason} and a.chunks == [8]


def test_ollama_done_reason_outside_its_set(tmp_path):
    def flip(doc):
        chunks(doc)[-1]["done_reason"] = "exploded"

    assert len(found(mutated(tmp_path, OLLAMA_GENERATE, flip), "nonstandard-finish")) == 1


def test_truncated_plain_text_is_a_warning():
    [a] = found(load(str(CORPUS / AZURE)).exchanges[0], "truncated")
    assert a.severity == "warning" and a.details["finish_reason"] == "length"


def test_truncated_tool_call_is_an_error(tmp_path):
    def cut(doc):
        del doc["response"]["body"][16]  # the closing '"}' of call 1
        chunks(doc)[16]["choices"][0]["finish_reason"] = "length"

    exchange = mutated(tmp_path, TOOLS, cut)
    [a] = found(exchange, "truncated")
    assert a.severity == "error" and a.details["cut_tool"] == "get_weather" and a.chunks == [16]
    [invalid] = found(exchange, "invalid-tool-arguments")
    assert invalid.details["call"] == 1 and invalid.chunks == [10, 11, 12, 13, 14, 15]


def test_gemini_max_tokens_is_truncated(tmp_path):
    def flip(doc):
        doc["response"]["body"][-1]["candidates"][0]["finish_reason"] = "MAX_TOKENS"

    assert [a.severity for a in found(mutated(tmp_path, GEMINI, flip), "truncated")] == ["warning"]


def test_content_filter_finish(tmp_path):
    def flip(doc):
        chunks(doc)[8]["choices"][0]["finish_reason"] = "content_filter"

    [a] = found(mutated(tmp_path, TEXT, flip), "content-filter")
    assert a.chunks == [8] and a.details["finish_reason"] == "content_filter"


def test_gemini_safety_is_a_content_filter(tmp_path):
    def flip(doc):
        doc["response"]["body"][-1]["candidates"][0]["finish_reason"] = "SAFETY"

    assert len(found(mutated(tmp_path, GEMINI, flip), "content-filter")) == 1


def test_azure_filter_results_that_flag(tmp_path):
    def flag(doc):
        chunks(doc)[0]["prompt_filter_results"][0]["content_filter_results"]["violence"]["filtered"] = True

    assert found(load(str(CORPUS / AZURE)).exchanges[0], "content-filter") == []
    [a] = found(mutated(tmp_path, AZURE, flag), "content-filter")
    assert a.details == {"categories": ["violence"]}


def test_error_chunk_inside_a_stream(tmp_path):
    def error(doc):
        doc["response"]["body"].insert(5, {"error": {"message": "The server is overloaded", "type": "server_error"}})

    [a] = found(mutated(tmp_path, TEXT, error), "error-in-stream")
    assert a.severity == "error" and a.chunks == [5] and "overloaded" in a.message


def test_anthropic_error_event(tmp_path):
    def error(doc):
        doc["response"]["body"][-3:-3] = ["event: error",
                                          'data: {"type":"error","error":{"type":"overloaded_error",'
                                          '"message":"Overloaded"}}', ""]

    [a] = found(mutated(tmp_path, ANTHROPIC, error), "error-in-stream")
    assert "Overloaded" in a.message


def test_content_after_finish(tmp_path):
    def late(doc):
        doc["response"]["body"].insert(9, copy.deepcopy(doc["response"]["body"][7]))

    [a] = found(mutated(tmp_path, TEXT, late), "content-after-finish")
    assert a.chunks == [9] and a.details == {"finish_chunk": 8}


def test_a_usage_chunk_after_the_finish_is_fine():
    # WatsonX through LiteLLM ends with a usage chunk after the finish chunk.
    path = CORPUS / "llama-stack/openai-chat-stream/464964d92e5b.json"
    assert found(load(str(path)).exchanges[0], "content-after-finish") == []


def test_mixed_ids(tmp_path):
    def change_ids(doc):
        for chunk in chunks(doc)[5:]:
            chunk["id"] = "chatcmpl-other"

    [a] = found(mutated(tmp_path, TEXT, change_ids), "mixed-ids")
    assert a.details["ids"] == ["rec-b77abbcdcf76", "chatcmpl-other"]


def test_azure_empty_filter_chunk_id_is_not_mixed():
    assert found(load(str(CORPUS / AZURE)).exchanges[0], "mixed-ids") == []


# --- structured tool calls ------------------------------------------------------------------------


def test_invalid_arguments_from_a_duplicated_delta(tmp_path):
    def duplicate(doc):
        doc["response"]["body"].insert(9, copy.deepcopy(doc["response"]["body"][8]))

    exchange = mutated(tmp_path, TOOLS, duplicate)
    [a] = found(exchange, "invalid-tool-arguments")
    assert a.severity == "error" and a.details["call"] == 0 and a.chunks == [2, 3, 4, 5, 6, 7, 8, 9]
    assert a.details["arguments"].endswith('USA"}SA"}')


def test_arguments_that_are_json_but_not_an_object(tmp_path):
    def string_arguments(doc):
        for i in range(2, 9):
            delta(doc, i)["tool_calls"][0]["function"]["arguments"] = ""
        delta(doc, 2)["tool_calls"][0]["function"]["arguments"] = '"San Francisco"'

    [a] = found(mutated(tmp_path, TOOLS, string_arguments), "invalid-tool-arguments")
    assert "not an object" in a.message


def test_tool_call_missing_id(tmp_path):
    def drop_id(doc):
        delta(doc, 9)["tool_calls"][0]["id"] = None

    [a] = found(mutated(tmp_path, TOOLS, drop_id), "tool-call-missing-id")
    assert a.details == {"call": 1, "name": "get_weather"}


def test_gemini_calls_have_no_ids_by_design():
    path = CORPUS / "llama-stack/gemini-stream/7b6ae32ba34d.json"
    assert found(load(str(path)).exchanges[0], "tool-call-missing-id") == []


def test_tool_index_skipped(tmp_path):
    def skip(doc):
        for i in range(9, 17):
            delta(doc, i)["tool_calls"][0]["index"] = 2

    [a] = found(mutated(tmp_path, TOOLS, skip), "tool-index-gap")
    assert a.chunks == [9] and a.details["problems"] == ["index 2 where 1 was next"]


def test_tool_index_reused_by_another_call(tmp_path):
    def reuse(doc):  # Ollama's /v1 bug: every parallel call at index 0
        for i in range(9, 17):
            delta(doc, i)["tool_calls"][0]["index"] = 0

    [a] = found(mutated(tmp_path, TOOLS, reuse), "tool-index-gap")
    assert a.chunks == [9] and "reused" in a.details["problems"][0]


def test_unknown_tool(tmp_path):
    def rename(doc):
        doc["request"]["body"]["tools"][0]["function"]["name"] = "get_forecast"

    found_ = found(mutated(tmp_path, TOOLS, rename), "unknown-tool")
    assert [a.details["call"] for a in found_] == [0, 1]
    assert found_[0].details["declared"] == ["get_forecast"]


def test_finish_without_tool_calls(tmp_path):
    def drop_calls(doc):
        del doc["response"]["body"][1:17]

    [a] = found(mutated(tmp_path, TOOLS, drop_calls), "finish-without-tool-calls")
    assert a.chunks == [1] and a.severity == "error"


# --- usage, model, URL ------------------------------------------------------------------------------


def test_usage_missing_is_a_warning_when_asked_for(tmp_path):
    def drop_usage(doc):
        doc["response"]["body"].pop()

    [a] = found(mutated(tmp_path, TEXT, drop_usage), "usage-missing")
    assert a.severity == "warning"


def test_usage_inconsistent(tmp_path):
    def miscount(doc):
        chunks(doc)[9]["usage"]["total_tokens"] = 99

    [a] = found(mutated(tmp_path, TEXT, miscount), "usage-inconsistent")
    assert a.details == {"input_tokens": 14, "output_tokens": 7, "total_tokens": 99}


def test_another_model_is_a_warning(tmp_path):
    def swap(doc):
        for chunk in chunks(doc):
            chunk["model"] = "gpt-4o-mini-2024-07-18"

    [a] = found(mutated(tmp_path, TEXT, swap), "model-mismatch")
    assert a.severity == "warning" and a.details["served"] == "gpt-4o-mini-2024-07-18"


def test_ollama_latest_tag_is_the_same_model(tmp_path):
    def alias(doc):
        doc["request"]["body"]["model"] = "llama3.2-vision:11b"
        for chunk in chunks(doc):
            chunk["model"] = "llama3.2-vision:11b:latest"

    assert found(mutated(tmp_path, OLLAMA_CHAT, alias), "model-mismatch") == []


def test_a_clean_url_is_not_malformed(tmp_path):
    def fix(doc):
        doc["request"]["url"] = "https://api.openai.com/v1/chat/completions"

    assert found(mutated(tmp_path, TEXT, fix), "malformed-url") == []
