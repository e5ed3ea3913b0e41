"""Recognition of tool calls written as text: one catalogue example per family (anomalies.md §1),
the precision rules, and the answers that must not be taken for calls."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmtrace.anomalies.tool_text import FAMILIES, Match, body_span, find_tool_calls

TOKYO = [{"name": "get_weather", "arguments": {"city": "Tokyo"}}]
BRAVE = [{"name": "brave_search", "arguments": {"query": "weather in Tokyo"}}]
TOOLS = ("get_weather", "get_time")

# (family, text) — the Tokyo example of each family, as the catalogue writes it.
FAMILY_EXAMPLES = [
    ("llama-json", '{"name": "get_weather", "parameters": {"city": "Tokyo"}}'),
    ("llama-json", '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Tokyo"}}'),
    ("llama-json", '{"type": "function", "name": "get_weather", "parameters": {"city": "Tokyo"}}'),
    ("llama-builtin", '<|python_tag|>brave_search.call(query="weather in Tokyo")'),
    ("function-tag", '<function=get_weather>{"city": "Tokyo"}</function>'),
    ("pythonic", '[get_weather(city="Tokyo")]'),
    ("llama4", '<|python_start|>[get_weather(city="Tokyo")]<|python_end|>'),
    ("olmo3", '<function_calls>get_weather(city="Tokyo")</function_calls>'),
    ("lfm2", '<|tool_call_start|>[get_weather(city="Tokyo")]<|tool_call_end|>'),
    ("hermes", '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Tokyo"}}\n</tool_call>'),
    ("qwen3-coder-xml", "<tool_call>\n<function=get_weather>\n<parameter=city>\nTokyo\n</parameter>\n</function>\n"
                        "</tool_call>"),
    ("seed-oss", "<seed:tool_call><function=get_weather><parameter=city>Tokyo</parameter></function>"
                        "</seed:tool_call>"),
    ("mistral", '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Tokyo"}}]'),
    ("mistral", '[TOOL_CALLS]get_weather[ARGS]{"city": "Tokyo"}'),
    ("generic-json", '[{"name": "get_weather", "arguments": {"city": "Tokyo"}}]'),  # Mistral, token stripped
    ("granite", '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Tokyo"}}]'),
    ("granite-20b-fc", '<function_call> {"name": "get_weather", "arguments": {"city": "Tokyo"}}'),
    ("internlm", '<|action_start|><|plugin|>{"name": "get_weather", "parameters": {"city": "Tokyo"}}<|action_end|>'),
    ("jamba", '<tool_calls>[{"name": "get_weather", "arguments": {"city": "Tokyo"}}]</tool_calls>'),
    ("minimax-m2", '<minimax:tool_call>\n<invoke name="get_weather">\n<parameter name="city">Tokyo</parameter>\n'
                   '</invoke>\n</minimax:tool_call>'),
    ("deepseek", '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n'
                 '{"city": "Tokyo"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>'),
    ("deepseek-v3.1", '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Tokyo"}'
                 '<｜tool▁call▁end｜><｜tool▁calls▁end｜>'),
    ("deepseek-v3.2", '<｜DSML｜function_calls>\n<｜DSML｜invoke name="get_weather">\n<｜DSML｜parameter name="city" '
                 'string="true">Tokyo</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜function_calls>'),
    ("kimi-k2", '<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>'
                '{"city": "Tokyo"}<|tool_call_end|><|tool_calls_section_end|>'),
    ("glm", "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Tokyo</arg_value></tool_call>"),
    ("harmony", '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Tokyo"}'
                '<|call|>'),
    ("functools", 'functools[{"name": "get_weather", "arguments": {"city": "Tokyo"}}]'),
    ("functionary", '>>>get_weather\n{"city": "Tokyo"}'),
    ("generic-json", '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Tokyo"}}]}'),
    ("generic-json", '{"tool_call": {"name": "get_weather", "arguments": {"city": "Tokyo"}}}'),
    ("nemotron", '<TOOLCALL>[{"name": "get_weather", "arguments": {"city": "Tokyo"}}]</TOOLCALL>'),
    ("cohere", '<|START_ACTION|>[{"tool_name": "get_weather", "parameters": {"city": "Tokyo"}}]<|END_ACTION|>'),
    ("apertus", '<|tools_prefix|>[{"get_weather": {"city": "Tokyo"}}]<|tools_suffix|>'),
    ("gemma4", '<|tool_call>call:get_weather{city:<|"|>Tokyo<|"|>}<tool_call|>'),
    ("functiongemma", "<start_function_call>call:get_weather{city:<escape>Tokyo<escape>}<end_function_call>"),
]


@pytest.mark.parametrize("family,text", FAMILY_EXAMPLES)
def test_each_family_is_recognised_with_its_call(family, text):
    calls = BRAVE if family == "llama-builtin" else TOKYO
    assert find_tool_calls(text, TOOLS) == [Match(family, calls, (0, len(text)))]


def test_the_catalogue_families_are_covered():
    # Every family has an example here or in test_tool_text_families.py (which checks the union).
    assert {family for family, _ in FAMILY_EXAMPLES} <= set(FAMILIES)
    assert len(FAMILIES) >= 40


def test_harmony_with_its_tokens_stripped():
    text = 'analysisThe user wants the weather.assistantcommentary to=functions.get_weather json{"city": "Tokyo"}'
    [match] = find_tool_calls(text)
    assert match.family == "harmony" and match.calls == TOKYO
    assert text[match.span[0]:match.span[1]].startswith("assistantcommentary to=functions.get_weather")


def test_llama_json_several_calls_joined_by_semicolons():
    text = ('<|python_tag|>{"name": "get_weather", "parameters": {"city": "Tokyo"}}; '
            '{"name": "get_time", "parameters": {"city": "Paris"}}')
    [match] = find_tool_calls(text)
    assert match.family == "llama-json"
    assert [c["name"] for c in match.calls] == ["get_weather", "get_time"]
    assert match.span == (0, len(text))


def test_python_tag_followed_by_code_is_a_code_interpreter_call():
    text = "<|python_tag|>import math\nprint(math.sqrt(2))<|eom_id|>"
    [match] = find_tool_calls(text)
    assert match.family == "llama-builtin"
    assert match.calls == [{"name": "code_interpreter", "arguments": {"code": "import math\nprint(math.sqrt(2))"}}]
    assert match.span == (0, len(text))


def test_markup_after_prose_is_found_where_it_is():
    prose = "Let me look that up for you.\n"
    markup = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Tokyo"}}\n</tool_call>'
    [match] = find_tool_calls(prose + markup)
    assert match == Match("hermes", TOKYO, (len(prose), len(prose) + len(markup)))


def test_consecutive_blocks_of_one_family_are_one_match():
    block = '<tool_call>{"name": "%s", "arguments": {}}</tool_call>'
    text = block % "get_weather" + "\n" + block % "get_time"
    [match] = find_tool_calls(text)
    assert [c["name"] for c in match.calls] == ["get_weather", "get_time"]
    assert match.span == (0, len(text))


@pytest.mark.parametrize("text,family,calls", [
    # Cut off mid-arguments: still markup, the name is read when it can be.
    ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Tok', "hermes",
     [{"name": "get_weather", "arguments": None}]),
    ("<tool_call>", "hermes", []),  # a marker left alone next to structured calls (Granite on WatsonX)
    ("[TOOL_CALLS]", "mistral", []),
    ('<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": ', "harmony",
     [{"name": "get_weather", "arguments": None}]),
])
def test_distinctive_markers_count_even_when_the_call_is_broken(text, family, calls):
    [match] = find_tool_calls(text)
    assert (match.family, match.calls) == (family, calls)


def test_markup_inside_a_code_fence_around_the_whole_message_is_read():
    text = '```json\n{"name": "get_weather", "parameters": {"city": "Tokyo"}}\n```'
    [match] = find_tool_calls(text)
    assert match.family == "llama-json"
    start, end = body_span(text)
    assert match.span == (start, end) and text[start] == "{" and text[end - 1] == "}"


@pytest.mark.parametrize("text", [
    # Answers, not calls.
    '{"name": "John", "age": 30}',
    '[{"name": "Alice", "age": 31}, {"name": "Bob", "age": 27}]',
    '{"product_name": "Laptop", "price": 999.99}',
    "[1, 2, 3]",
    "[]",
    # Prose about tools.
    "You can use the get_weather tool to find out the weather in Tokyo.",
    "I called get_weather(city=\"Tokyo\") and it said it is sunny.",
    "Hermes-style models wrap calls in `<tool_call>` tags and Mistral uses `[TOOL_CALLS]`.",
    # Code samples inside longer prose.
    'Qwen writes a call like this:\n\n```\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Tokyo"}}\n'
    '</tool_call>\n```\n\nThe server turns it into a structured call.',
    'For example: {"name": "get_weather", "parameters": {"city": "Tokyo"}} is what Llama emits.',
    "In Python:\n\n```python\n>>> print('hi')\nhi\n```",
    ">>> 1 + 1\n2",
    # A citation marker that looks like a special token.
    "Llama 4 Maverick has 128 experts <|6ce39f79-6cf6-4eee-9d6a-f449d79fa02b|>.",
])
def test_ordinary_answers_are_not_tool_calls(text):
    assert find_tool_calls(text, TOOLS) == []


def test_shape_only_matches_need_support():
    # A pythonic list calls only declared tools; a bare object needs arguments/parameters/type.
    assert find_tool_calls('[get_weather(city="Tokyo")]') == []
    assert find_tool_calls('[get_weather(city="Tokyo")]', ["get_weather"])[0].family == "pythonic"
    assert find_tool_calls('{"name": "get_weather"}') == []
    assert find_tool_calls('{"name": "get_weather"}', ["get_weather"])[0].calls == [
        {"name": "get_weather", "arguments": {}}]
    assert find_tool_calls('{"name": "Grace", "parameters": 12}') == []


def test_json_mode_skips_shape_only_checks_but_not_markers():
    shaped = '{"type": "function", "name": "get_weather", "parameters": {"city": "Tokyo"}}'
    assert find_tool_calls(shaped, TOOLS, json_mode=True) == []
    marked = '<tool_call>{"name": "get_weather", "arguments": {"city": "Tokyo"}}</tool_call>'
    assert find_tool_calls(marked, TOOLS, json_mode=True)[0].family == "hermes"


def test_arguments_sent_as_a_json_string_are_read():
    text = '{"type": "function", "function": {"name": "get_weather", "arguments": "{\\"city\\": \\"Tokyo\\"}"}}'
    assert find_tool_calls(text)[0].calls == TOKYO


_PROSE = st.text(alphabet=st.characters(blacklist_characters="<[{>`|｜", blacklist_categories=("Cs",)),
                 max_size=200)
_PIECES = st.sampled_from(["<tool_call>", "</tool_call>", "[TOOL_CALLS]", "<|python_tag|>", "{", "}", "[", "]",
                           '"name": "get_weather"', '"arguments": {}', "```", "`", "\n", ";", "to=functions.",
                           "functools[", ">>>f\n", "<function=f>", "call:f{", "(x=1)", "<｜tool▁calls▁begin｜>"])


@given(_PROSE)
def test_prose_without_markup_characters_never_matches(text):
    assert find_tool_calls(text.replace("to=functions.", "").replace("functools", ""), TOOLS) == []


@given(st.lists(st.one_of(_PIECES, _PROSE), max_size=12).map("".join), st.booleans())
def test_matches_are_ordered_disjoint_spans_inside_the_text(text, json_mode):
    matches = find_tool_calls(text, TOOLS, json_mode)
    previous_end = 0
    for match in matches:
        start, end = match.span
        assert previous_end <= start < end <= len(text)
        assert match.family in FAMILIES
        assert all(set(call) == {"name", "arguments"} for call in match.calls)
        previous_end = end


def test_an_empty_code_fence_is_no_call():
    # Found by hypothesis: a fence whose info string looks like a marker and whose body is empty.
    assert find_tool_calls("```>>>f\n```") == []
    assert find_tool_calls("~~~json\n~~~") == []


# --- where the scan for markers starts ---------------------------------------------------------

from llmtrace.anomalies.tool_text import detect as _detect  # noqa: E402

_ANGLE_PIECES = sorted(_detect._ANGLED) + ["<", "<|", "<\uff5c", "<t", "<fun", "a", " ", "\n", "x<", "<<"]


@given(st.lists(st.sampled_from(_ANGLE_PIECES), max_size=12).map("".join), st.integers(0, 5), st.integers(0, 5))
def test_angled_literals_are_found_where_a_find_per_literal_finds_them(text, lo, cut):
    """The first place of each literal that starts with "<", read at each "<", is what
    ``str.find`` per literal gives (within the same bounds)."""
    end = max(lo, len(text) - cut)
    angle = text.find("<", lo, end)
    found = sorted(_detect._first_at_angles(text, angle, end)) if angle != -1 else []
    every = [literal for literals in _detect._AT_ANGLE.values() for literal in literals]
    assert found == sorted((pos, literal) for literal in every if (pos := text.find(literal, lo, end)) != -1)
