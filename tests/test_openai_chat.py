"""Fold rules of llmtrace.dialects.openai_chat on small hand-made chunk lists."""

from __future__ import annotations

import pytest

from llmtrace.dialects import FoldContext
from llmtrace.dialects.openai_chat import fold, fold_body, sniff
from llmtrace.errors import ShapeError


def chunk(*choices: dict, **top) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-x",
            "choices": list(choices), **top}


def choice(index: int = 0, finish: str | None = None, **delta) -> dict:
    return {"index": index, "delta": delta, "finish_reason": finish}


def call(index: int | None = None, id: str | None = None, name: str | None = None, arguments=None) -> dict:
    out: dict = {"function": {}}
    if index is not None:
        out["index"] = index
    if id is not None:
        out["id"] = id
        out["type"] = "function"
    if name is not None:
        out["function"]["name"] = name
    if arguments is not None:
        out["function"]["arguments"] = arguments
    return out


def run(chunks: list):
    return fold(chunks, FoldContext(dialect="openai-chat"))


def test_sniff():
    assert sniff(chunk(choice(content="x"))) == "openai-chat"
    assert sniff({"choices": [{"index": 0, "delta": {}}]}) == "openai-chat"
    assert sniff({"choices": [{"index": 0, "text": "x"}]}) is None


def test_plain_stream():
    result = run([chunk(choice(role="assistant", content="")), chunk(choice(content="Hel")),
                  chunk(choice(content="lo")), chunk(choice(finish="stop"))])
    (message,) = result.choices
    assert (message.role, message.content, message.finish_reason, message.stop) == (
        "assistant", "Hello", "stop", "stop")
    assert message.tool_calls == [] and message.reasoning is None and message.refusal is None
    assert result.complete and result.model == "gpt-x"
    assert [(d.chunk, d.kind, d.text) for d in result.timeline.deltas] == [(1, "content", "Hel"), (2, "content", "lo")]
    assert result.response["choices"] == [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                           "message": {"role": "assistant", "content": "Hello", "refusal": None}}]
    assert result.observations.finish_chunks == {0: 3}


def test_choices_interleaved_and_out_of_order():
    result = run([
        chunk(choice(2, role="assistant", content="C")),
        chunk(choice(0, role="assistant", content="A")),
        chunk(choice(1, content="B"), choice(2, content="c")),
        chunk(choice(0, content="a"), choice(1, content="b")),
        chunk(choice(1, finish="length"), choice(0, finish="stop")),
        chunk(choice(2, finish="stop")),
    ])
    assert [(m.index, m.content, m.finish_reason) for m in result.choices] == [
        (0, "Aa", "stop"), (1, "Bb", "length"), (2, "Cc", "stop")]
    assert [c["index"] for c in result.response["choices"]] == [0, 1, 2]
    assert result.choices[1].role == "assistant"  # none arrived: the API has no other value
    assert result.observations.finish_chunks == {1: 4, 0: 4, 2: 5}
    assert result.complete


def test_one_unfinished_choice_makes_the_stream_incomplete():
    result = run([chunk(choice(0, content="a"), choice(1, content="b")), chunk(choice(0, finish="stop"))])
    assert not result.complete
    assert [m.finish_reason for m in result.choices] == ["stop", None]


def test_stream_without_finish_is_incomplete():
    result = run([chunk(choice(role="assistant", content="Hal")), chunk(choice(content="f"))])
    assert not result.complete
    assert result.choices[0].content == "Half"
    assert result.choices[0].finish_reason is None and result.choices[0].stop is None
    assert result.response["choices"][0]["finish_reason"] is None


def test_empty_stream_is_incomplete():
    result = run([])
    assert not result.complete and result.choices == []


def test_parallel_tool_calls_by_index():
    result = run([
        chunk(choice(role="assistant", tool_calls=[call(0, "call_a", "get_weather", "")])),
        chunk(choice(tool_calls=[call(1, "call_b", "get_time", "")])),
        chunk(choice(tool_calls=[call(0, arguments='{"city": '), call(1, arguments='{"tz"')])),
        chunk(choice(tool_calls=[call(1, arguments=': "UTC"}')])),
        chunk(choice(tool_calls=[call(0, arguments='"Paris"}')])),
        chunk(choice(finish="tool_calls")),
    ])
    (message,) = result.choices
    assert [(c.id, c.name, c.arguments, c.parsed_arguments) for c in message.tool_calls] == [
        ("call_a", "get_weather", '{"city": "Paris"}', {"city": "Paris"}),
        ("call_b", "get_time", '{"tz": "UTC"}', {"tz": "UTC"}),
    ]
    assert message.stop == "tool_calls" and message.content is None
    assert result.response["choices"][0]["message"]["tool_calls"] == [
        {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": '{"tz": "UTC"}'}},
    ]
    assert [(d.chunk, d.text) for d in result.timeline.deltas if d.kind == "tool"] == [
        (2, '{"city": '), (2, '{"tz"'), (3, ': "UTC"}'), (4, '"Paris"}')]


def test_parsed_arguments_keep_integers_beyond_64_bits_exact():
    # orjson alone would read them as floats (found by hypothesis on the Anthropic fold).
    result = run([
        chunk(choice(tool_calls=[call(0, "call_a", "lookup", '{"id": 18446744073709551616, ')])),
        chunk(choice(tool_calls=[call(0, arguments='"n": -9223372036854775809, "small": 7}')])),
        chunk(choice(finish="tool_calls")),
    ])
    parsed = result.choices[0].tool_calls[0].parsed_arguments
    assert parsed == {"id": 18446744073709551616, "n": -9223372036854775809, "small": 7}
    assert all(type(v) is int for v in parsed.values())


def test_tool_calls_without_index_new_id_starts_a_new_call():
    result = run([
        chunk(choice(tool_calls=[call(None, "a", "lookup", '{"q": ')])),
        chunk(choice(tool_calls=[call(None, arguments='"x"}')])),
        chunk(choice(tool_calls=[call(None, "b", "lookup", '{"q": "y"}')])),
        chunk(choice(finish="tool_calls")),
    ])
    assert [(c.id, c.name, c.arguments) for c in result.choices[0].tool_calls] == [
        ("a", "lookup", '{"q": "x"}'), ("b", "lookup", '{"q": "y"}')]


def test_tool_calls_without_index_or_id_new_name_starts_a_new_call():
    result = run([
        chunk(choice(tool_calls=[call(None, name="get_weather", arguments='{"city": "Paris"}')])),
        chunk(choice(tool_calls=[call(None, name="get_time", arguments="{}")])),
        chunk(choice(tool_calls=[call(None, name="get_time", arguments="")])),
        chunk(choice(finish="tool_calls")),
    ])
    assert [(c.id, c.name, c.arguments) for c in result.choices[0].tool_calls] == [
        (None, "get_weather", '{"city": "Paris"}'), (None, "get_time", "{}")]


def test_new_id_on_a_reused_index_starts_a_new_call():
    result = run([
        chunk(choice(tool_calls=[call(0, "a", "f", "{}")])),
        chunk(choice(tool_calls=[call(0, "b", "g", "{}")])),
        chunk(choice(finish="tool_calls")),
    ])
    assert [(c.id, c.name) for c in result.choices[0].tool_calls] == [("a", "f"), ("b", "g")]


def test_name_repeated_on_every_delta_is_kept_once():
    result = run([
        chunk(choice(tool_calls=[call(0, "a", "get_weather", '{"city"')])),
        chunk(choice(tool_calls=[call(0, "a", "get_weather", ': "Oslo"}')])),
        chunk(choice(finish="tool_calls")),
    ])
    (tool,) = result.choices[0].tool_calls
    assert (tool.id, tool.name, tool.arguments) == ("a", "get_weather", '{"city": "Oslo"}')


def test_name_sent_in_fragments_is_joined():
    result = run([chunk(choice(tool_calls=[call(0, "a", "get_", "")])),
                  chunk(choice(tool_calls=[call(0, name="weather", arguments="{}")]))])
    assert result.choices[0].tool_calls[0].name == "get_weather"


def test_arguments_sent_as_an_object_are_serialized_once():
    result = run([chunk(choice(tool_calls=[call(0, "a", "f", {"city": "Paris", "days": [1, 2]})])),
                  chunk(choice(finish="tool_calls"))])
    (tool,) = result.choices[0].tool_calls
    assert tool.arguments == '{"city":"Paris","days":[1,2]}'
    assert tool.parsed_arguments == {"city": "Paris", "days": [1, 2]}


def test_invalid_argument_json_is_kept_raw():
    result = run([chunk(choice(tool_calls=[call(0, "a", "f", '{"city": "Par')])), chunk(choice(finish="length"))])
    (tool,) = result.choices[0].tool_calls
    assert tool.arguments == '{"city": "Par'
    assert tool.parsed_arguments is None
    assert result.response["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == '{"city": "Par'


def test_empty_arguments_are_a_call_without_arguments():
    result = run([chunk(choice(tool_calls=[call(0, "a", "now", "")]))])
    assert result.choices[0].tool_calls[0].parsed_arguments == {}


def test_legacy_function_call():
    result = run([chunk(choice(function_call={"name": "f", "arguments": '{"x"'})),
                  chunk(choice(function_call={"name": "f", "arguments": ": 1}"})),
                  chunk(choice(finish="function_call"))])
    (tool,) = result.choices[0].tool_calls
    assert (tool.name, tool.arguments, tool.parsed_arguments) == ("f", '{"x": 1}', {"x": 1})
    assert result.choices[0].stop == "tool_calls"
    assert result.response["choices"][0]["message"]["function_call"] == {"name": "f", "arguments": '{"x": 1}'}


def test_refusal():
    result = run([chunk(choice(role="assistant", refusal="I can't ")), chunk(choice(refusal="help.")),
                  chunk(choice(finish="stop"))])
    (message,) = result.choices
    assert (message.refusal, message.content) == ("I can't help.", None)
    assert result.response["choices"][0]["message"]["refusal"] == "I can't help."
    assert {d.kind for d in result.timeline.deltas} == {"refusal"}


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning", "thinking"])
def test_reasoning_fields(field):
    result = run([chunk(choice(**{field: "Let me "})), chunk(choice(**{field: "think."})),
                  chunk(choice(content="42")), chunk(choice(finish="stop"))])
    (message,) = result.choices
    assert (message.reasoning, message.content) == ("Let me think.", "42")
    provider = result.response["choices"][0]["message"]
    assert provider[field] == "Let me think."
    assert [d.kind for d in result.timeline.deltas] == ["reasoning", "reasoning", "content"]


def test_reasoning_details_merged_by_index():
    result = run([
        chunk(choice(reasoning_details=[{"index": 0, "type": "reasoning.text", "text": "Step "}])),
        chunk(choice(reasoning_details=[{"index": 0, "text": "one."}])),
        chunk(choice(content="done", finish="stop")),
    ])
    assert result.choices[0].reasoning == "Step one."
    assert result.response["choices"][0]["message"]["reasoning_details"] == [
        {"index": 0, "type": "reasoning.text", "text": "Step one."}]


def test_logprobs_concatenated():
    def lp(token):
        return {"token": token, "logprob": -0.1, "bytes": None, "top_logprobs": []}

    result = run([
        {**chunk(choice(content="Hi")), "choices": [{**choice(content="Hi"), "logprobs": {"content": [lp("Hi")]}}]},
        {**chunk(), "choices": [{**choice(content="!"), "logprobs": {"content": [lp("!")], "refusal": None}}]},
        chunk(choice(finish="stop")),
    ])
    assert result.response["choices"][0]["logprobs"] == {"content": [lp("Hi"), lp("!")]}  # null refusal: absent


def test_no_logprobs_is_null():
    result = run([chunk(choice(content="x", finish="stop"))])
    assert result.response["choices"][0]["logprobs"] is None


def test_usage_only_final_chunk():
    usage = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12,
             "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 1}}
    result = run([chunk(choice(content="ok")), chunk(choice(finish="stop")), chunk(usage=usage)])
    assert result.complete and result.choices[0].content == "ok"
    assert result.response["usage"] == usage
    assert result.usage.model_dump() == {"input_tokens": 10, "output_tokens": 2, "total_tokens": 12,
                                         "cached_tokens": 4, "reasoning_tokens": 1}


def test_usage_last_non_null_and_never_summed():
    first = {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
    last = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    result = run([chunk(choice(content="a"), usage=first), chunk(choice(content="b"), usage=last),
                  chunk(choice(finish="stop"), usage=None)])
    assert result.response["usage"] == last
    assert (result.usage.output_tokens, result.usage.total_tokens) == (3, 8)


def test_no_usage_is_unreported():
    result = run([chunk(choice(content="a", finish="stop"))])
    assert result.response["usage"] is None
    assert set(result.usage.model_dump().values()) == {None}


def test_together_cached_tokens_at_top_level():
    result = run([chunk(choice(finish="stop"), usage={"prompt_tokens": 1, "completion_tokens": 1,
                                                      "total_tokens": 2, "cached_tokens": 0})])
    assert result.usage.cached_tokens == 0


def test_azure_filter_chunk():
    filters = [{"prompt_index": 0, "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}}}]
    result = run([
        {"id": "", "object": "", "created": 0, "model": "", "choices": [], "prompt_filter_results": filters},
        chunk(choice(role="assistant", content="Hi"), created=0, model="gpt-4o-2024-11-20"),
        chunk({**choice(finish="stop"), "content_filter_results": {}}, created=0),
    ])
    response = result.response
    assert response["prompt_filter_results"] == filters
    assert (response["object"], response["id"], response["model"]) == (
        "chat.completion", "chatcmpl-1", "gpt-4o-2024-11-20")
    assert result.model == "gpt-4o-2024-11-20"
    assert response["created"] == 0
    assert "content_filter_results" not in response["choices"][0]
    assert result.choices[0].content == "Hi" and result.complete


def test_no_filter_results_no_key():
    assert "prompt_filter_results" not in run([chunk(choice(content="x", finish="stop"))]).response


def test_top_level_fields_first_non_empty():
    result = run([chunk(choice(content="a"), id="", model="", system_fingerprint=None),
                  chunk(choice(content="b"), id="x", model="m1", system_fingerprint="fp_1", service_tier="default"),
                  chunk(choice(finish="stop"), id="y", model="m2", system_fingerprint="fp_2")])
    response = result.response
    assert (response["id"], response["model"], response["system_fingerprint"], response["service_tier"]) == (
        "x", "m1", "fp_1", "default")
    assert result.observations.chunk_ids == ["x", "y"]


def test_explicit_nulls_are_absent_keys():
    def nulls(delta: dict) -> dict:
        return {"role": None, "content": None, "refusal": None, "function_call": None, "tool_calls": None,
                "reasoning_content": None, **delta}

    with_nulls = [
        {**chunk(), "choices": [{"index": 0, "delta": nulls({"role": "assistant", "tool_calls": [
            {"index": 0, "id": "a", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
            "finish_reason": None, "logprobs": None}], "usage": None, "system_fingerprint": None},
        {**chunk(), "choices": [{"index": 0, "delta": nulls({"tool_calls": [
            {"index": 0, "id": None, "type": None, "function": {"name": None, "arguments": "{}"}}]}),
            "finish_reason": None, "logprobs": None, "stop_reason": None}], "usage": None},
        {**chunk(), "choices": [{"index": 0, "delta": nulls({}), "finish_reason": "tool_calls",
                                 "logprobs": None}], "usage": None},
    ]
    without = [
        chunk(choice(role="assistant", tool_calls=[call(0, "a", "f", "")])),
        chunk(choice(tool_calls=[call(0, arguments="{}")])),
        chunk(choice(finish="tool_calls")),
    ]
    a, b = run(with_nulls), run(without)
    assert a.choices == b.choices
    assert a.response == b.response
    assert a.choices[0].tool_calls[0].model_dump() == {"id": "a", "name": "f", "arguments": "{}",
                                                        "parsed_arguments": {}}


def test_role_first_non_empty_never_concatenated():
    result = run([chunk(choice(role="", content="a")), chunk(choice(role="assistant", content="b")),
                  chunk(choice(role="assistant", content="c", finish="stop"))])
    assert result.choices[0].role == "assistant"
    assert result.response["choices"][0]["message"]["role"] == "assistant"


def test_token_id_goes_to_the_timeline():
    result = run([chunk({**choice(content="Hel", token_id=9906), "text": "Hel", "seed": None}),
                  chunk({**choice(content="lo", token_id=385), "text": "lo", "seed": None}),
                  chunk({**choice(content="", finish="stop", token_id=128009), "text": "", "seed": 42})])
    assert [(d.chunk, d.text, d.token_id) for d in result.timeline.deltas] == [(0, "Hel", 9906), (1, "lo", 385)]
    provider = result.response["choices"][0]
    assert "token_id" not in provider["message"]
    assert "text" not in provider and "seed" not in provider
    assert result.choices[0].content == "Hello"


def test_choice_extras_last_non_null():
    # vLLM's stop_reason, also when the recorder dropped the other null keys.
    result = run([chunk({"index": 0, "delta": {"content": "x"}, "stop_reason": None}),
                  chunk({"index": 0, "delta": {}, "finish_reason": "stop", "stop_reason": 128008}),
                  chunk({"index": 0, "delta": {}, "stop_reason": None})])
    assert result.response["choices"][0]["stop_reason"] == 128008


def test_finish_reason_last_non_null():
    # LiteLLM (WatsonX) sends one more chunk after the finish, finish_reason null, usage set.
    result = run([chunk(choice(content="x")), chunk(choice(finish="stop")),
                  chunk(choice(finish=None), usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2})])
    assert result.choices[0].finish_reason == "stop" and result.complete
    assert result.usage.total_tokens == 2


@pytest.mark.parametrize(("reason", "stop"), [("stop", "stop"), ("length", "length"), ("tool_calls", "tool_calls"),
                                              ("content_filter", "content_filter"), ("eos", None)])
def test_stop_of_finish_reason(reason, stop):
    message = run([chunk(choice(content="x", finish=reason))]).choices[0]
    assert (message.finish_reason, message.stop) == (reason, stop)


def test_content_as_parts():
    result = run([chunk(choice(content=[{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])),
                  chunk(choice(content="c", finish="stop"))])
    assert result.choices[0].content == "abc"


def test_duplicated_content_is_kept_as_sent():
    result = run([chunk(choice(content="Hello")), chunk(choice(content=" world")),
                  chunk(choice(content="Hello world", finish="stop"))])
    assert result.choices[0].content == "Hello worldHello world"


def test_stream_error_observed():
    result = run([chunk(choice(content="x")), {"error": {"message": "overloaded"}}])
    assert result.observations.stream_errors == [(1, {"message": "overloaded"})]
    assert not result.complete


def test_fold_body_non_streamed():
    body = {"id": "x", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi", "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}
    result = fold_body(body, FoldContext(dialect="openai-chat"))
    assert result.response is body
    (message,) = result.choices
    assert (message.content, message.tool_calls[0].parsed_arguments, message.stop) == ("hi", {"a": 1}, "tool_calls")
    assert result.usage.total_tokens == 3


def _wrong(position: int, mutate) -> list:
    # The first chunk has no top-level strings, so the second one's are taken (and checked).
    chunks = [{"choices": [choice(role="assistant", content="a")]},
              chunk(choice(content="b", tool_calls=[call(0, "t", "f", "{}")]))]
    mutate(chunks[position])
    return chunks


def _set(path: tuple, value):
    def mutate(target: dict) -> None:
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


@pytest.mark.parametrize("path,value,what", [
    (("choices",), {"index": 0}, "choices should be an array"),
    (("choices", 0), "x", "choice should be an object"),
    (("choices", 0, "index"), "0", "choice index should be an integer"),
    (("choices", 0, "delta"), ["a"], "delta should be an object"),
    (("choices", 0, "delta", "content"), 5, "content should be a string"),
    (("choices", 0, "delta", "role"), 5, "role should be a string"),
    (("choices", 0, "delta", "refusal"), 5, "refusal should be a string"),
    (("choices", 0, "delta", "reasoning_content"), {}, "reasoning_content should be a string"),
    (("choices", 0, "delta", "tool_calls"), {"index": 0}, "tool_calls should be an array"),
    (("choices", 0, "delta", "tool_calls", 0), "call", "tool call should be an object"),
    (("choices", 0, "delta", "tool_calls", 0, "index"), "0", "tool call index should be an integer"),
    (("choices", 0, "delta", "tool_calls", 0, "id"), 7, "tool call id should be a string"),
    (("choices", 0, "delta", "tool_calls", 0, "function"), "f", "function should be an object"),
    (("choices", 0, "delta", "tool_calls", 0, "function", "name"), ["f"], "function name should be a string"),
    (("choices", 0, "finish_reason"), 1, "finish_reason should be a string"),
    (("choices", 0, "logprobs"), [], "logprobs should be an object"),
    (("model",), 3, "model should be a string"),
    (("id",), 3, "id should be a string"),
    (("usage",), [1], "usage should be an object"),
    (("prompt_filter_results",), {"a": 1}, "prompt_filter_results should be an array"),
])
def test_wrong_types_name_the_chunk(path, value, what):
    with pytest.raises(ShapeError) as caught:
        run(_wrong(1, _set(path, value)))
    assert (caught.value.what, caught.value.where) == (what, "chunk 1")


def test_chunk_that_is_not_an_object():
    with pytest.raises(ShapeError) as caught:
        run([chunk(choice(content="a")), chunk(), "data: [DONE]"])
    assert (caught.value.what, caught.value.where) == ("chunk should be an object", "chunk 2")


def test_body_with_wrong_types_names_the_body():
    with pytest.raises(ShapeError) as caught:
        fold_body({"choices": "x"}, FoldContext(dialect="openai-chat"))
    assert caught.value.where == "response body"
