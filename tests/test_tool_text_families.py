"""Every family of tool-call markup (families.py), each from its format as the serving stacks'
parsers read it: a call it must find with the calls the server would return, and look-alikes it
must leave alone. Also the family table as data, the model hints, JSON after prose, and markers
cut off at the end of a text."""

from __future__ import annotations

import importlib

import pytest

from llmtrace.anomalies.tool_text import FAMILIES, MARKER_LITERALS, Match, find_tool_calls, hint, parsers
from llmtrace.anomalies.tool_text.families import MODEL_HINTS, TABLE
from test_tool_text import FAMILY_EXAMPLES

TOOLS = ("get_weather", "get_time")
TOKYO = [{"name": "get_weather", "arguments": {"city": "Tokyo"}}]
TOKYO_3 = [{"name": "get_weather", "arguments": {"city": "Tokyo", "days": 3}}]

# (family, text, calls): written from each format's description in its parser (see families.py).
EXAMPLES = [
    ("gigachat3", '<|function_call|>{"name": "get_weather", "arguments": {"city": "Tokyo", "days": 3}}', TOKYO_3),
    ("gigachat3", 'function call<|role_sep|>\n{"name": "get_weather", "arguments": {"city": "Tokyo"}}</s>', TOKYO),
    ("gigachat", '<｜GCML｜tool_calls><｜GCML｜invoke name="get_weather"><｜GCML｜parameter name="city">Tokyo'
                 '</｜GCML｜parameter><｜GCML｜parameter name="days" string="false">3</｜GCML｜parameter>'
                 "</｜GCML｜invoke></｜GCML｜tool_calls>", TOKYO_3),
    ("minicpm5", '<function name="get_weather"><param name="city">Tokyo</param><param name="days">3</param></function>',
     TOKYO_3),
    ("minicpm5", "<function name='get_weather'><param name='city'><![CDATA[Tokyo]]></param></function>", TOKYO),
    ("kimi-k3", '<|open|>tools<|sep|><|open|>call tool="get_weather" index="1"<|sep|><|open|>argument key="city" '
                'type="string"<|sep|>Tokyo<|close|>argument<|sep|><|open|>argument key="days" type="integer"<|sep|>3'
                "<|close|>argument<|sep|><|close|>call<|sep|><|close|>tools<|sep|>", TOKYO_3),
    ("step3", "<｜tool_calls_begin｜><｜tool_call_begin｜>function<｜tool_sep｜><steptml:invoke name=\"get_weather\">"
              '<steptml:parameter name="city">Tokyo</steptml:parameter><steptml:parameter name="days">3'
              "</steptml:parameter></steptml:invoke><｜tool_call_end｜><｜tool_calls_end｜>", TOKYO_3),
    ("muse-glimmer", '<atem:function_calls>\n<atem:invoke name="get_weather">\n<atem:parameter name="city">Tokyo'
                     '</atem:parameter>\n<atem:parameter name="days">3</atem:parameter>\n</atem:invoke>\n'
                     "</atem:function_calls>", TOKYO_3),
    ("dots", '<dots_function_call>\n<invoke name="get_weather">\n<parameter name="city">Tokyo</parameter>\n'
             "</invoke>\n</dots_function_call>", TOKYO),
    ("dots", '<dots_function_call>{"name": "get_weather", "arguments": {"city": "Tokyo"}}</dots_function_call>',
     TOKYO),
    ("longcat", '<longcat_tool_call>{"name": "get_weather", "arguments": {"city": "Tokyo"}}</longcat_tool_call>',
     TOKYO),
    ("beam", '<|start|>assistant to=get_weather<|channel|>analysis <|constrain|>xml<|message|>'
             '<rfl:parameter name="city">Tokyo</rfl:parameter><|call|>', TOKYO),
    ("deepseek-v3.2", '<｜DSML｜function_calls>\n<｜DSML｜invoke name="get_weather">\n<｜DSML｜parameter name="city" '
                      'string="true">Tokyo</｜DSML｜parameter>\n<｜DSML｜parameter name="days" string="false">3'
                      "</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜function_calls>", TOKYO_3),
    ("deepseek-v3.2", '<｜DSML｜function_calls>\n<｜DSML｜invoke name="get_weather">\n{"city": "Tokyo"}\n'
                      "</｜DSML｜invoke>\n</｜DSML｜function_calls>", TOKYO),
    ("deepseek-v3.2", '<function_calls>\n<invoke name="get_weather">\n<parameter name="city" string="true">Tokyo'
                      "</parameter>\n</invoke>\n</function_calls>", TOKYO),
    ("deepseek-v3.2", '<function_calls><invoke name="get_weather">{"city": "Tokyo"}</invoke></function_calls>', TOKYO),
    ("deepseek-v3.2", '<｜DSML｜function_calls><｜DSML｜invoke name="get_weather"><｜DSML｜parameter name="city" '
                      'string="true">Tokyo</parameter></｜DSML｜invoke></｜DSML｜function_calls>', TOKYO),  # mixed tags
    ("multi-format", '<tool_calls><invoke name="get_weather"><parameter name="city">Tokyo</parameter></invoke>'
                     "</tool_calls>", TOKYO),
    ("multi-format", '<tool_call>assistant to=functions.get_weather json\n{"city": "Tokyo"}\n</tool_call>', TOKYO),
    ("multi-format", '<tool_call>get_weather(city="Tokyo")</tool_call>', TOKYO),
    ("deepseek-v4", '<｜DSML｜tool_calls>\n<｜DSML｜invoke name="get_weather">\n<｜DSML｜parameter name="city" '
                    'string="true">Tokyo</｜DSML｜parameter>\n<｜DSML｜parameter name="days" string="false">3'
                    "</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>", TOKYO_3),
    ("gemma4", '<|tool_call>:call:get_weather{city:<|"|>Tokyo<|"|>}<tool_call|>', TOKYO),
    ("mistral", '[TOOL_CALLS]get_weather{"city": "Tokyo"}', TOKYO),  # [ARGS] decoded away
    ("minicpm5", '<function\u0120name="get_weather"><param\u0120name="city">Tokyo</param></function>', TOKYO),
    ("lfm2", '<|tool_call_start|>[{"name": "get_weather", "arguments": {"city": "Tokyo"}}]<|tool_call_end|>', TOKYO),
    ("olmo3", '<function_calls>get_weather(city="Tokyo")\nget_time(city="Paris")</function_calls>',
     TOKYO + [{"name": "get_time", "arguments": {"city": "Paris"}}]),
    ("gemma4", '<|tool_call>call:get_weather{city:<|"|>Tokyo<|"|>,days:3}<tool_call|>', TOKYO_3),
    ("gemma4", '<|tool_call>call:get_weather{place:{city:<|"|>Tokyo<|"|>},tags:[<|"|>a<|"|>,true]}<tool_call|>',
     [{"name": "get_weather", "arguments": {"place": {"city": "Tokyo"}, "tags": ["a", True]}}]),
    ("functiongemma", "<start_function_call>call:get_weather{city:<escape>Tokyo<escape>,days:3}<end_function_call>",
     TOKYO_3),
    ("minimax-m3", "]<]minimax[>[<tool_call>\n]<]minimax[>[<invoke name=\"get_weather\">\n]<]minimax[>[<city>Tokyo"
                   "]<]minimax[>[</city>\n]<]minimax[>[<days>3]<]minimax[>[</days>\n]<]minimax[>[</invoke>\n"
                   "]<]minimax[>[</tool_call>", TOKYO_3),
    ("minimax-m3", ']<]minimax[>[<tool_call>]<]minimax[>[<invoke name="get_weather">]<]minimax[>[<place>'
                   "]<]minimax[>[<city>Tokyo]<]minimax[>[</city>]<]minimax[>[</place>]<]minimax[>[</invoke>"
                   "]<]minimax[>[</tool_call>", [{"name": "get_weather", "arguments": {"place": {"city": "Tokyo"}}}]),
    ("hunyuan-v3", "<tool_calls>\n<tool_call>get_weather<tool_sep>\n<arg_key>city</arg_key>\n<arg_value>Tokyo"
                   "</arg_value>\n<arg_key>days</arg_key>\n<arg_value>3</arg_value>\n</tool_call>\n</tool_calls>",
     TOKYO_3),
    ("glm", "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Tokyo</arg_value>\n</tool_call>", TOKYO),
    ("command-r-plus", 'Action: ```json\n[{"tool_name": "get_weather", "parameters": {"city": "Tokyo"}}]\n```', TOKYO),
    ("command-r-plus", 'Action: ```json\n[{"tool_name": "directly-answer", "parameters": {}}, '
                       '{"tool_name": "get_weather", "parameters": {"city": "Tokyo"}}]\n```', TOKYO),
    ("mistral", '[TOOL_CALLS]get_weather[ARGS]{"city": "Tokyo"}[TOOL_CALLS]get_time[ARGS]{"city": "Paris"}',
     TOKYO + [{"name": "get_time", "arguments": {"city": "Paris"}}]),
    ("mistral", '[TOOL_CALLS]get_weather[CALL_ID]a1b2c3d4e[ARGS]{"city": "Tokyo"}', TOKYO),
    ("kimi-k2", "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>"
                '{"city": "Tokyo"}<|tool_call_end|><|tool_call_begin|>functions.get_time:1'
                '<|tool_call_argument_begin|>{"city": "Paris"}<|tool_call_end|><|tool_calls_section_end|>',
     TOKYO + [{"name": "get_time", "arguments": {"city": "Paris"}}]),
    ("harmony", '<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>'
                '{"city": "Tokyo"}<|call|>', TOKYO),
    ("hermes", '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Tokyo"}}\n</tool_call>\n<tool_call>\n'
               '{"name": "get_time", "arguments": {"city": "Paris"}}\n</tool_call>',
     TOKYO + [{"name": "get_time", "arguments": {"city": "Paris"}}]),
    ("qwen3-coder-xml", "<function=get_weather>\n<parameter=city>\nTokyo\n</parameter>\n<parameter=days>\n3\n"
                        "</parameter>\n</function>", TOKYO_3),
    ("function-tag", '<function=get_weather>{"city": "Tokyo"}</function><function=get_time>{"city": "Paris"}'
                     "</function>", TOKYO + [{"name": "get_time", "arguments": {"city": "Paris"}}]),
    ("deepseek", "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
                 '{"city": "Tokyo"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>', TOKYO),
    ("deepseek-v3.1", '<|tool▁calls▁begin|><|tool▁call▁begin|>get_weather<|tool▁sep|>{"city": "Tokyo"}'
                      "<|tool▁call▁end|><|tool▁calls▁end|>", TOKYO),  # a tokenizer that gives "|"
    ("functionary", '>>>get_weather\n{"city": "Tokyo"}\n>>>get_time\n{"city": "Paris"}',
     TOKYO + [{"name": "get_time", "arguments": {"city": "Paris"}}]),
    ("jamba", '<tool_calls>[{"name": "get_weather", "arguments": {"city": "Tokyo"}}]</tool_calls>', TOKYO),
    ("solar-open2", "<|tool_call:start|>get_weather\n<|tool_arg:start|>city<|tool_arg:value|>Tokyo<|tool_arg:end|>\n"
                    "<|tool_arg:start|>days<|tool_arg:value|>3<|tool_arg:end|>\n<|tool_call:end|>", TOKYO_3),
]


@pytest.mark.parametrize("family,text,calls", EXAMPLES, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(EXAMPLES)])
def test_each_family_is_read_as_its_server_parser_would(family, text, calls):
    assert find_tool_calls(text, TOOLS) == [Match(family, calls, (0, len(text)))]


@pytest.mark.parametrize("family,text,calls", EXAMPLES, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(EXAMPLES)])
def test_each_family_after_prose_is_found_where_it_is(family, text, calls):
    if family == "command-r-plus":  # "Action:" opens its line
        prose = "I will look it up.\n"
    else:
        prose = "I will look it up. "
    [match] = find_tool_calls(prose + text, TOOLS)
    assert (match.family, match.calls) == (family, calls)
    assert match.span == (len(prose), len(prose) + len(text))


@pytest.mark.parametrize("family,text,calls", EXAMPLES, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(EXAMPLES)])
def test_each_family_in_a_code_block_in_longer_prose_is_an_example(family, text, calls):
    example = f"The model writes its call like this:\n\n```\n{text}\n```\n\nThe server turns it into a tool call."
    assert find_tool_calls(example, TOOLS) == []


@pytest.mark.parametrize("family,text,calls", EXAMPLES, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(EXAMPLES)])
def test_each_family_in_inline_code_is_an_example(family, text, calls):
    if "`" in text or "\n" in text:
        pytest.skip("inline code holds one line without backticks")
    assert find_tool_calls(f"Some models answer with `{text}` instead of a tool call.", TOOLS) == []


def test_every_family_has_an_example():
    assert {f for f, _, _ in EXAMPLES} | {f for f, _ in FAMILY_EXAMPLES} | {specific for _, _, specific in
                                                                               MODEL_HINTS} == set(FAMILIES)


# --- look-alikes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    # Prose that names tags, special tokens or functions.
    "Hermes-style models wrap calls in <tool_call> tags and Mistral uses [TOOL_CALLS] before the JSON.",
    'Qwen puts "<tool_call>" around each call; GLM adds <arg_key> pairs.',
    "Use <|python_tag|> then the code you want Llama to run.",
    "The Action: field of the form is required.",
    "Action: check the weather before you leave.",
    "Kimi K3 writes <|open|>response<|sep|> before its answer.",
    "MiniCPM5 emits a <function name=...> element; see the docs.",
    "I would call get_weather(city='Tokyo') if I could.",
    "In Python:\n\n>>> get_weather(city='Tokyo')\n'sunny'",
    ">>> 1 + 1\n2",
    # HTML and comparisons.
    "<table><tr><td>a < b</td></tr></table>",
    "x <|y|> z and a <= b",
    # JSON answers that mention a name.
    '{"name": "Tokyo", "population": 37400068}',
    '[{"name": "get_weather", "description": "Get the weather"}]',
    # A tool's definition, not a call of it.
    '{"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}',
    'My tools:\n{"name": "get_weather", "parameters": {"type": "object", "properties": {}}}',
])
def test_look_alikes_are_not_calls(text):
    assert find_tool_calls(text, TOOLS) == []


@pytest.mark.parametrize("literal", MARKER_LITERALS)
def test_a_marker_cut_off_at_the_end_of_the_text_is_nothing(literal):
    for n in range(1, len(literal)):
        assert find_tool_calls("I will look that up for you " + literal[:n], TOOLS) == [], literal[:n]


def test_a_marker_alone_on_its_line_is_still_markup():
    [match] = find_tool_calls("Let me check.\n<tool_call>", TOOLS)
    assert (match.family, match.calls) == ("hermes", [])


def test_json_mode_keeps_markers_and_drops_shapes():
    assert find_tool_calls('<|function_call|>{"name": "get_weather", "arguments": {}}', TOOLS, json_mode=True)
    assert find_tool_calls('[{"name": "get_weather", "arguments": {"city": "Tokyo"}}]', TOOLS, json_mode=True) == []
    assert find_tool_calls('Here it is:\n{"name": "get_weather", "arguments": {"city": "Tokyo"}}', TOOLS,
                           json_mode=True) == []


# --- JSON after prose -----------------------------------------------------------------------------

APOLOGY = "I apologize for the error. Here is the revised tool call:\n\n"
BOILING = '{"name": "get_boiling_point", "parameters": {"liquid_name": "polyjuice", "celsius": true}}'


def test_json_that_ends_the_message_after_prose_is_a_call_of_a_declared_tool():
    [match] = find_tool_calls(APOLOGY + BOILING, ["get_boiling_point"])
    assert match == Match("llama-json", [{"name": "get_boiling_point", "arguments": {
        "liquid_name": "polyjuice", "celsius": True}}], (len(APOLOGY), len(APOLOGY) + len(BOILING)))


def test_json_in_a_closing_fence_after_prose_is_a_call():
    text = f"Calling the tool now.\n\n```json\n{BOILING}\n```\n"
    [match] = find_tool_calls(text, ["get_boiling_point"])
    assert text[match.span[0]:match.span[1]] == BOILING


@pytest.mark.parametrize("text,declared", [
    (APOLOGY + BOILING, []),  # undeclared: the whole message would have to be the call
    (APOLOGY + BOILING, ["get_weather"]),
    (APOLOGY + '{"name": "get_boiling_point", "liquid_name": "polyjuice"}', ["get_boiling_point"]),  # no arguments
    (f"For example:\n\n```json\n{BOILING}\n```\n\nThat is what the model would send.", ["get_boiling_point"]),
    (f"Two objects:\n\n```json\n{BOILING}\n{BOILING}\n```", ["get_boiling_point"]),
    (f"It answered {BOILING} and then stopped.", ["get_boiling_point"]),
])
def test_json_after_prose_needs_a_declared_tool_at_the_very_end(text, declared):
    assert find_tool_calls(text, declared) == []


# --- model hints ----------------------------------------------------------------------------------


@pytest.mark.parametrize("model,family", [
    (None, "jamba"), ("ai21labs/AI21-Jamba-Mini-1.7", "jamba"), ("ServiceNow-AI/Apriel-1.5-15b-Thinker", "apriel"),
    ("tencent/Hunyuan-A13B-Instruct", "hunyuan"),
])
def test_tool_calls_tags_are_told_apart_by_the_model(model, family):
    text = '<tool_calls>[{"name": "get_weather", "arguments": {"city": "Tokyo"}}]</tool_calls>'
    assert find_tool_calls(text, TOOLS, model=model) == [Match(family, TOKYO, (0, len(text)))]


def test_glm_markup_from_laguna_and_json_lists_from_xlam():
    glm = "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Tokyo</arg_value>\n</tool_call>"
    assert find_tool_calls(glm, model="poolside/Laguna-XS-2.1")[0].family == "laguna"
    assert find_tool_calls(glm, model="zai-org/GLM-4.6")[0].family == "glm"
    listed = '[{"name": "get_weather", "arguments": {"city": "Tokyo"}}]'
    assert find_tool_calls(listed, model="Salesforce/xLAM-2-8b-fc-r")[0].family == "xlam"
    assert find_tool_calls(listed)[0].family == "generic-json"


@pytest.mark.parametrize("text", [
    "<user>get_weather\n<arg_key>city</arg_key>\n<arg_value>Tokyo</arg_value>\n</user>",
    'I will look.<user>\n{"name":"get_weather","arguments":{"city":"Tokyo"}}\n</user>',
])
def test_laguna_writes_user_for_tool_call(text):  # [ollama] model/parsers/laguna_test.go
    assert find_tool_calls(text, TOOLS) == [Match("laguna", TOKYO, (text.index("<user>"), len(text)))]


@pytest.mark.parametrize("text", [
    "<user>hello</user>",
    '<user>{"name": "Ada", "role": "admin"}</user>',
    "<user>What is <arg_key> in GLM's template?</user>",
    "`<user>get_weather <arg_key>city</arg_key>` is how Laguna slips.",
])
def test_user_tags_that_hold_no_call_are_not_laguna(text):
    assert find_tool_calls(text, TOOLS) == []


# --- the table as data ----------------------------------------------------------------------------


def test_the_table_is_complete_and_well_formed():
    assert len(FAMILIES) == len(set(FAMILIES)) >= 45
    for family in TABLE:
        importlib.import_module(f"llmtrace.anomalies.tool_text.{family.style}")
        assert family.marker
        for server, switch in family.servers:
            assert server in ("vllm", "sglang", "llama.cpp", "ollama")
            if server in ("vllm", "sglang"):
                assert switch.startswith("--tool-call-parser ")
            elif server == "llama.cpp":
                assert switch.startswith("--jinja")
    assert {specific for _, _, specific in MODEL_HINTS} <= set(FAMILIES)


def test_parsers_and_hint_name_the_switch():
    assert parsers("hermes")[0] == {"server": "vllm", "switch": "--tool-call-parser hermes"}
    assert {"server": "sglang", "switch": "--tool-call-parser qwen25"} in parsers("hermes")
    assert hint("hermes") == "vLLM would parse it with --tool-call-parser hermes --enable-auto-tool-choice"
    assert hint("functionary") == "llama.cpp would parse it with --jinja (template detected as Functionary v3.2)"
    assert hint("command-r-plus") == "Ollama's built-in parser for Command R would parse it"
    assert hint("beam") is None and parsers("beam") == []
    assert parsers("no-such-family") == []


# --- robustness -----------------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PIECES = st.sampled_from([*MARKER_LITERALS, *(text[:n] for _, text, _ in EXAMPLES[::3] for n in (7, 25, 60)),
                           '"name": "get_weather"', '"arguments": {}', "{", "}", "[", "]", "```", "`", "\n", " ",
                           "<|call|>", "<|sep|>", "</tool_call>", "</function>", "<arg_key>", "</arg_value>",
                           '<parameter name="a">', "</parameter>", "]<]minimax[>[", "<|\"|>", "<escape>"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=16).map("".join), st.booleans())
def test_any_mix_of_markup_gives_ordered_disjoint_spans(text, json_mode):
    previous_end = 0
    for match in find_tool_calls(text, TOOLS, json_mode, model="some-model"):
        start, end = match.span
        assert previous_end <= start < end <= len(text)
        assert match.family in FAMILIES
        assert all(set(call) == {"name", "arguments"} for call in match.calls)
        previous_end = end


def test_readme_family_table_is_generated_from_the_table():
    # scripts/gen_tool_text_table.py rewrites it; families.py is where each fact has its source.
    from pathlib import Path

    from llmtrace.anomalies.tool_text.families import markdown_table

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("| family | what it looks like |")
    assert readme[start:readme.index("\n\n", start) + 1] == markdown_table()
    assert all(f"| `{family}` |" in markdown_table() for family in FAMILIES)


# --- variants the servers' own tests accept (tests/data/tool_text/suites), and their look-alikes ---------

CALL = '{"name": "get_weather", "parameters": {"city": "Tokyo"}}'
PY = "[get_weather(city='Tokyo')]"


@pytest.mark.parametrize("text,family", [
    (f"Here is the result: {CALL} Would you like to know more?", "llama-json"),  # after a colon, prose after
    (f"{CALL} I used get_weather for this.", "llama-json"),  # the message starts with the call
    (f"Here's a tool call: {PY}", "pythonic"),  # SGLang's pythonic detector reads lists in prose
    (f"{PY} and [get_time(city='Paris')]", "pythonic"),
    (f"I'll help you with that.\n```json\n[{CALL}]\n```", "generic-json"),  # xLAM: a list in a closing fence
    (f"<think>I'll help.</think>[{CALL}]", "generic-json"),  # after a thinking block
    ('get_weather\n{"city": "Tokyo"}', "functionary"),  # Functionary v3.2's first recipient
    ("<|channel>thought\nLet me look.\n<channel|>call:get_weather{city:<|\"|>Tokyo<|\"|>}", "gemma4"),  # bare call:
    ('<call>get_weather{city:<|"|>Tokyo<|"|>}', "gemma4"),
    ('function<｜tool▁sep｜>get_weather\n```json\n{"city": "Tokyo"}\n```', "deepseek"),  # without begin tokens
    ('<tool_call> [{"name": "get_weather", "arguments": {"city": "Tokyo"}}]', "granite"),  # 3.1: no closing tag
    ('<tool_call>\n<parameter=city>Tokyo</parameter>\n<function=get_weather>\n</function>\n</tool_call>',
     "qwen3-coder-xml"),  # MiMo-V2-Flash: a parameter before its function
])
def test_variants_the_servers_parse_are_found(text, family):
    match = find_tool_calls(text, TOOLS)[0]
    assert match.family == family and match.calls[0]["name"] == "get_weather"


@pytest.mark.parametrize("text", [
    f"For example: {CALL}",  # introduced as an example
    f"The format is: {CALL}",
    f"It answered {CALL} and then stopped.",  # mid-sentence, no colon
    f"For example: {PY}",
    f"Models write calls like this:\n\n```\n{PY}\n```\n\nand the server reads them.",
    "[get_forecast(city='Tokyo')] is not one of my tools.",  # not a declared tool
    'all\nget_weather\n{"city": "Tokyo"}',  # Functionary's "all" addresses the user
    'get_forecast\n{"city": "Tokyo"}',  # not a declared tool
    "The call:get_weather{city} syntax is Gemma's.",  # no string token, not at a line start
    "call:get_weather{city: Tokyo}",  # no Gemma string token
    'Before `function<｜tool▁sep｜>get_weather` comes the begin token.',  # no JSON fence
    "Example: <|tool_call:start|> opens a Solar Open 2 call.",  # prose after the token
])
def test_look_alikes_of_those_variants_are_not_calls(text):
    assert find_tool_calls(text, TOOLS) == []


def test_llama_3_json_calls_count_anywhere_in_the_prose_of_a_llama_3_model():
    # vLLM's llama3_json parser and Ollama's Llama 3.2 template read JSON calls anywhere; for other
    # models a call in mid-prose is only one after a colon or at the start.
    text = f"Let me look that up {CALL} and then answer."
    assert find_tool_calls(text, TOOLS) == []
    [match] = find_tool_calls(text, TOOLS, model="meta-llama/Llama-3.2-3B-Instruct")
    assert match.family == "llama-json" and text[match.span[0]:match.span[1]] == CALL
    listed = f"model outputs some text [{CALL} {CALL}] more"
    assert [c["name"] for c in find_tool_calls(listed, TOOLS, model="llama3.2")[0].calls] == ["get_weather"] * 2
    assert find_tool_calls(f"For example {CALL}", TOOLS, model="llama3.2") == []
    assert find_tool_calls(f"Let me look that up {CALL}", ["get_time"], model="llama3.2") == []  # not declared
