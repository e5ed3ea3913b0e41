"""llmtrace.compare: paths, word diffs, and comparing normalized documents."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmtrace.compare import (
    ADDED,
    CHANGED,
    REMOVED,
    compare,
    compare_recordings,
    field,
    format_path,
    ignored,
    matches,
    pair_exchanges,
    parse_path,
    section,
    value_diff,
    word_diff,
    words,
)

# --- paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path, tokens", [
    ("request.model", ["request", "model"]),
    ("request.messages[2].content", ["request", "messages", 2, "content"]),
    ("choices[*].tool_calls[1].parsed_arguments.city", ["choices", None, "tool_calls", 1, "parsed_arguments", "city"]),
    ('choices[0].tool_calls[0].parsed_arguments["two words"]["a.b"]',
     ["choices", 0, "tool_calls", 0, "parsed_arguments", "two words", "a.b"]),
    ("exchanges[3]", ["exchanges", 3]),
    ("usage.output-tokens", ["usage", "output-tokens"]),
])
def test_paths_parse_and_format_back(path, tokens):
    assert parse_path(path) == tokens
    assert format_path(tokens) == path


@pytest.mark.parametrize("bad", ["", ".model", "request..model", "request.", "request[x]", "a b", "request.[0]",
                                 "choices[-1]", 'x["unterminated]'])
def test_bad_paths_are_refused(bad):
    with pytest.raises(ValueError):
        parse_path(bad)


def test_a_pattern_matches_its_path_and_everything_under_it():
    pattern = parse_path("choices[*].tool_calls")
    assert matches(pattern, parse_path("choices[0].tool_calls"))
    assert matches(pattern, parse_path("choices[3].tool_calls[1].parsed_arguments.city"))
    assert not matches(pattern, parse_path("choices[0].content"))
    assert not matches(pattern, parse_path("choices"))
    # Whole tokens only: a shorter key is not a prefix of a longer one.
    assert not matches(parse_path("request.param"), parse_path("request.params.temperature"))
    # [*] is any index, never a key.
    assert not matches(parse_path("request[*]"), parse_path("request.model"))
    assert ignored("usage.output_tokens", [parse_path("usage")])
    assert not ignored("usage.output_tokens", [parse_path("usage.input_tokens")])


def test_section_and_field():
    assert section("exchanges[2].choices[0].tool_calls[1].name") == "choices"
    assert field("exchanges[2].choices[0].tool_calls[1].name") == "tool_calls"
    assert (section("anomalies"), field("anomalies")) == ("anomalies", None)
    assert (section("exchanges[3]"), field("exchanges[3]")) == ("exchanges", None)
    assert field("request.params.temperature") == "params"


# --- word diff ---------------------------------------------------------------------------------

# Arbitrary text, and text made of a few repeated words (where diffs have real choices to make).
TEXT = st.one_of(st.text(max_size=40),
                 st.lists(st.sampled_from(["the", "cat", "sat", " ", "  ", "\n", ".", ",", "é", "[red]"]),
                          max_size=30).map("".join))


def _side(segments, keep):
    return "".join(text for op, text in segments if op in ("=", keep))


@given(TEXT)
def test_a_text_diffed_with_itself_has_no_change(text):
    assert all(op == "=" for op, _ in word_diff(text, text))


@given(TEXT, TEXT)
def test_each_side_of_a_word_diff_gives_its_text_back(a, b):
    segments = word_diff(a, b)
    assert _side(segments, "+") == b
    assert _side(segments, "-") == a
    assert all(text for _, text in segments)
    assert all(x[0] != y[0] for x, y in zip(segments, segments[1:]))  # adjacent runs merged


@given(TEXT)
def test_words_join_back(text):
    assert "".join(words(text)) == text


def test_word_diff_marks_whole_words():
    assert word_diff("What is the weather in Tokyo?", "What is the weather like in Paris?") == [
        ("=", "What is the weather "), ("+", "like "), ("=", "in "), ("-", "Tokyo"), ("+", "Paris"), ("=", "?")]


def test_a_rewrite_reads_as_one_removal_and_one_addition():
    segments = word_diff("I'm not able to provide real-time weather", "I'd be happy to help you with the weather")
    assert segments == [("=", "I'"), ("-", "m not able to provide real-time"),
                        ("+", "d be happy to help you with the"), ("=", " weather")]


# --- documents ---------------------------------------------------------------------------------


def doc(**changes) -> dict:
    base = {
        "request": {"model": "m", "endpoint": "/v1/chat/completions",
                    "messages": [{"role": "user", "content": "weather in Tokyo?"}],
                    "tools": {"get_weather": {"name": "get_weather", "parameters": {"type": "object"}}},
                    "params": {"temperature": 0.2, "stream": True}},
        "choices": [{"index": 0, "role": "assistant", "content": "Sunny.", "reasoning": None, "refusal": None,
                     "tool_calls": [{"id": "call_1", "name": "get_weather", "arguments": '{"city": "Tokyo"}',
                                     "parsed_arguments": {"city": "Tokyo"}}],
                     "finish_reason": "stop", "stop": "stop"}],
        "usage": {"input_tokens": 10, "output_tokens": 20, "total_tokens": 30, "cached_tokens": None,
                  "reasoning_tokens": None},
        "anomalies": [],
        "response": {"model": "m-2024", "status": 200, "error": None, "chunks": 12, "timing": "none",
                     "ttft_s": None, "id": "abc", "created": 1},
    }
    out = copy.deepcopy(base)
    for path, value in changes.items():
        target = out
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[int(key) if key.isdigit() else key]
        target[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = value
    return out


def diffs(a, b, strict=False):
    return [(d.path, d.change, d.a, d.b, d.counts) for d in compare(a, b, strict)]


def test_equal_documents_have_no_difference():
    assert diffs(doc(), doc()) == []
    assert diffs(doc(), doc(), strict=True) == []


@pytest.mark.parametrize("changes, expected", [
    ({"request__model": "n"}, [("request.model", CHANGED, "m", "n")]),
    ({"request__params__temperature": 0.7}, [("request.params.temperature", CHANGED, 0.2, 0.7)]),
    ({"request__params__seed": 1}, [("request.params.seed", ADDED, None, 1)]),
    ({"request__messages__0__content": "weather in Paris?"},
     [("request.messages[0].content", CHANGED, "weather in Tokyo?", "weather in Paris?")]),
    ({"choices__0__content": "Rainy."}, [("choices[0].content", CHANGED, "Sunny.", "Rainy.")]),
    ({"choices__0__reasoning": "hmm"}, [("choices[0].reasoning", ADDED, None, "hmm")]),
    ({"choices__0__tool_calls__0__parsed_arguments": {"city": "Paris"}},
     [("choices[0].tool_calls[0].parsed_arguments.city", CHANGED, "Tokyo", "Paris")]),
    ({"usage__output_tokens": 40}, [("usage.output_tokens", CHANGED, 20, 40)]),
    ({"usage__cached_tokens": 5}, [("usage.cached_tokens", ADDED, None, 5)]),
])
def test_one_change_gives_one_difference(changes, expected):
    assert [d[:4] for d in diffs(doc(), doc(**changes))] == expected
    assert [d[:4] for d in diffs(doc(**changes), doc())] == [
        (p, {ADDED: REMOVED, REMOVED: ADDED}.get(c, c), b, a) for p, c, a, b in expected]


def test_true_is_not_one_but_one_is_one_point_zero():
    assert diffs(doc(request__params__temperature=1), doc(request__params__temperature=1.0)) == []
    assert diffs(doc(request__params__stream=True), doc(request__params__stream=1))[0][:2] == \
        ("request.params.stream", CHANGED)


def test_tools_are_compared_by_name_with_their_definitions():
    tools = {"get_weather": {"name": "get_weather", "parameters": {"type": "object"}},
             "get_time": {"name": "get_time"}}
    assert diffs(doc(), doc(request__tools=tools)) == [
        ("request.tools", ADDED, None, {"name": "get_time"}, True)]
    changed = {"get_weather": {"name": "get_weather", "parameters": {"type": "string"}}}
    assert diffs(doc(), doc(request__tools=changed)) == [
        ("request.tools", CHANGED, doc()["request"]["tools"]["get_weather"], changed["get_weather"], True)]
    # Declaration order does not matter.
    assert diffs(doc(request__tools=tools), doc(request__tools=dict(reversed(tools.items())))) == []


def test_messages_and_tool_calls_added_or_removed_are_whole_values():
    more = doc()["request"]["messages"] + [{"role": "assistant", "content": "ok"}]
    assert diffs(doc(), doc(request__messages=more)) == [
        ("request.messages[1]", ADDED, None, {"role": "assistant", "content": "ok"}, True)]
    call = doc()["choices"][0]["tool_calls"][0]
    assert diffs(doc(), doc(choices__0__tool_calls=[])) == [("choices[0].tool_calls[0]", REMOVED, call, None, True)]
    assert diffs(doc(choices=[]), doc())[0][:2] == ("choices[0]", ADDED)


def test_meaning_not_bytes_unless_strict():
    # Arguments spaced or ordered differently: the same call.
    spaced = doc(choices__0__tool_calls__0__arguments='{ "city":"Tokyo" }')
    assert diffs(doc(), spaced) == []
    assert [d[0] for d in diffs(doc(), spaced, strict=True)] == ["choices[0].tool_calls[0].arguments"]
    # Tool call ids change with every recording.
    assert diffs(doc(), doc(choices__0__tool_calls__0__id="call_2")) == []
    assert [d[0] for d in diffs(doc(), doc(choices__0__tool_calls__0__id="call_2"), strict=True)] == \
        ["choices[0].tool_calls[0].id"]
    # An empty text is no text.
    assert diffs(doc(choices__0__content=None), doc(choices__0__content="")) == []
    assert diffs(doc(choices__0__content=None), doc(choices__0__content=""), strict=True)
    # Finish reasons by their meaning.
    gemini = doc(choices__0__finish_reason="STOP")
    assert diffs(doc(), gemini) == []
    assert diffs(doc(), gemini, strict=True) == [("choices[0].finish_reason", CHANGED, "stop", "STOP", True)]
    length = doc(choices__0__finish_reason="length", choices__0__stop="length")
    assert diffs(doc(), length) == [("choices[0].finish_reason", CHANGED, "stop", "length", True)]
    odd = doc(choices__0__finish_reason="", choices__0__stop=None)
    assert diffs(doc(), odd) == [("choices[0].finish_reason", CHANGED, "stop", "", True)]


def test_arguments_that_are_not_json_compare_as_sent():
    broken = doc(choices__0__tool_calls__0__arguments='{"city": "Tok', choices__0__tool_calls__0__parsed_arguments=None)
    assert diffs(doc(), broken) == [
        ("choices[0].tool_calls[0].arguments", CHANGED, '{"city": "Tokyo"}', '{"city": "Tok', True)]


def test_response_fields_count_only_when_strict_and_volatile_ones_only_show_then():
    other = doc(response__chunks=30, response__id="xyz", response__created=2, response__ttft_s=0.5)
    assert diffs(doc(), other) == [("response.chunks", CHANGED, 12, 30, False),
                                   ("response.ttft_s", ADDED, None, 0.5, False)]
    assert diffs(doc(), other, strict=True) == [
        ("response.chunks", CHANGED, 12, 30, True), ("response.ttft_s", ADDED, None, 0.5, True),
        ("response.id", CHANGED, "abc", "xyz", True), ("response.created", CHANGED, 1, 2, True)]


def anomaly(code, severity, choice=0, message="m"):
    return {"code": code, "severity": severity, "message": message, "exchange": 0, "choice": choice,
            "chunks": None, "span": None, "details": {}}


def test_anomalies_that_appear_or_disappear():
    a = doc(anomalies=[anomaly("truncated", "warning"), anomaly("malformed-url", "info", None)])
    b = doc(anomalies=[anomaly("truncated", "warning", message="other words, other chunks"),
                       anomaly("no-finish", "error")])
    assert diffs(a, b) == [("anomalies", REMOVED, anomaly("malformed-url", "info", None), None, False),
                           ("anomalies", ADDED, None, anomaly("no-finish", "error"), True)]
    # Counted as a multiset: a second occurrence is a new anomaly.
    twice = doc(anomalies=[anomaly("truncated", "warning")] * 2)
    assert diffs(doc(anomalies=[anomaly("truncated", "warning")]), twice) == [
        ("anomalies", ADDED, None, anomaly("truncated", "warning"), True)]


def test_value_diff_paths_are_relative():
    assert [(d.path, d.change) for d in value_diff({"p": {"x": 1}}, {"p": {"x": 2, "y": 3}})] == [
        ("p.x", CHANGED), ("p.y", ADDED)]
    assert [(d.path, d.a, d.b) for d in value_diff(1, 2)] == [("", 1, 2)]


# --- several exchanges -------------------------------------------------------------------------


def test_pairing_by_position_and_by_request():
    a = [doc(request__model="x"), doc(request__model="y")]
    b = [doc(request__model="y"), doc(request__model="z"), doc(request__model="x")]
    assert pair_exchanges(a, b) == [(0, 0), (1, 1), (None, 2)]
    assert pair_exchanges(a, b, by_request=True) == [(0, 2), (1, 0), (None, 1)]
    assert pair_exchanges(b, a, by_request=True) == [(0, 1), (2, 0), (1, None)]
    # Equal requests pair in file order.
    same = [doc(choices__0__content="one"), doc(choices__0__content="two")]
    assert pair_exchanges(same, same, by_request=True) == [(0, 0), (1, 1)]


def test_paths_get_an_exchange_prefix_only_when_a_file_has_several():
    one = compare_recordings([doc()], [doc(usage__output_tokens=21)])
    assert [d.path for p in one for d in p.differences] == ["usage.output_tokens"]
    a = [doc(), doc(request__model="y")]
    b = [doc(request__model="y", usage__output_tokens=21), doc(), doc(request__model="z")]
    pairs = compare_recordings(a, b, by_request=True)
    assert [(p.a, p.b, [(d.path, d.change) for d in p.differences]) for p in pairs] == [
        (0, 1, []),
        (1, 0, [("exchanges[1].usage.output_tokens", CHANGED)]),
        (None, 2, [("exchanges[2]", ADDED)]),
    ]
    assert pairs[2].differences[0].b == b[2]


def test_ignore_drops_a_path_and_what_is_under_it_with_or_without_the_exchange_prefix():
    a, b = doc(), doc(usage__output_tokens=40, usage__total_tokens=50, request__params__temperature=0.9)

    def paths(ignore, several=False):
        pairs = compare_recordings([a] * (2 if several else 1), [b] * (2 if several else 1), ignore=ignore)
        return [d.path for p in pairs for d in p.differences]

    assert paths([]) == ["request.params.temperature", "usage.output_tokens", "usage.total_tokens"]
    assert paths(["usage"]) == ["request.params.temperature"]
    assert paths(["usage.output_tokens", "request.params"]) == ["usage.total_tokens"]
    assert paths(["usage"], several=True) == ["exchanges[0].request.params.temperature",
                                              "exchanges[1].request.params.temperature"]
    assert paths(["exchanges[1]", "usage"], several=True) == ["exchanges[0].request.params.temperature"]
    assert paths(["exchanges[*].request"], several=True) == [
        "exchanges[0].usage.output_tokens", "exchanges[0].usage.total_tokens",
        "exchanges[1].usage.output_tokens", "exchanges[1].usage.total_tokens"]
    with pytest.raises(ValueError):
        paths(["usage..x"])
