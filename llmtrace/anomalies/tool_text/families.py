"""The families of tool-call markup a model can leave in its text, as data: for each, its id (the
finding's ``details.family``), what it looks like, which parser module reads it, and the
server-side switch that would have turned it into a structured call.

Every server fact carries its source in a comment. Sources, read in November 2026:
- [vllm]   vllm-project/vllm ``vllm/tool_parsers/__init__.py`` and
           ``vllm/frontend/processing/tool_parsers/__init__.py`` (the ``_TOOL_PARSERS_TO_REGISTER``
           tables: the name given to ``--tool-call-parser``) and the parser modules they name.
- [sglang] sgl-project/sglang ``python/sglang/srt/function_call/function_call_parser.py``
           (``ToolCallParserEnum``: the name given to ``--tool-call-parser``) and its detectors.
- [llama.cpp] ggml-org/llama.cpp ``common/chat.h`` (``COMMON_CHAT_FORMAT_*`` and their display
           names, chosen from the model's own Jinja template when the server runs with
           ``--jinja``) and ``common/parsers/*.cpp`` (formats with their own parser file).
- [ollama] ollama/ollama ``model/parsers/parsers.go`` (``ParserForName``) and the parser files of
           ``model/parsers/``: Ollama picks the built-in parser from the model's Modelfile.
A server is listed only where one of these sources names a parser for the markup.

Markups that several model families share (``<tool_calls>[…]``, GLM's ``<arg_key>``, a bare JSON
list) are told apart by the model name the request asked for (``MODEL_HINTS``).
"""

from __future__ import annotations

from typing import NamedTuple


class Family(NamedTuple):
    id: str
    marker: str  # what the markup looks like (Markdown, for README's table)
    style: str  # the parser module that reads it
    servers: tuple[tuple[str, str], ...]  # (server, switch that parses it)


def _llama_cpp(name: str) -> str:
    return f"--jinja (template detected as {name})"


TABLE: tuple[Family, ...] = (
    Family("llama-json", '`{"name": …, "parameters": {…}}`, optional `<|python_tag|>`, `;`-joined', "json_tags", (
        ("vllm", "--tool-call-parser llama3_json"),  # [vllm] llama3_json / llama4_json → llama_tool_parser
        ("sglang", "--tool-call-parser llama3"),  # [sglang] llama3 → Llama32Detector
        ("llama.cpp", _llama_cpp("Llama 3.x")),  # [llama.cpp] COMMON_CHAT_FORMAT_LLAMA_3_X
    )),
    Family("llama-builtin", "`<|python_tag|>brave_search.call(query=…)`, `<|python_tag|>` + code", "pythonic", (
        ("llama.cpp", _llama_cpp("Llama 3.x with builtin tools")),  # [llama.cpp] LLAMA_3_X_WITH_BUILTIN_TOOLS
    )),
    Family("function-tag", "`<function=NAME>{…}</function>` (Llama 3.1 custom tools, Functionary v3.1)", "json_tags", (
        ("llama.cpp", _llama_cpp("Functionary v3.1 Llama 3.1")),  # [llama.cpp] FUNCTIONARY_V3_1_LLAMA_3_1
    )),
    Family("pythonic", '`[get_weather(city="Tokyo")]` (the whole message)', "pythonic", (
        ("vllm", "--tool-call-parser pythonic"),  # [vllm] pythonic → pythonic_tool_parser
        ("sglang", "--tool-call-parser pythonic"),  # [sglang] pythonic → PythonicDetector
    )),
    Family("llama4", "`<|python_start|>[f(…)]<|python_end|>`", "pythonic", (
        ("vllm", "--tool-call-parser llama4_pythonic"),  # [vllm] llama4_pythonic
    )),
    Family("olmo3", "`<function_calls>f(a=1)\\ng(b=2)</function_calls>`", "pythonic", (
        ("vllm", "--tool-call-parser olmo3"),  # [vllm] olmo3 → Olmo3PythonicToolParser
        ("ollama", "built-in parser for Olmo 3"),  # [ollama] ParserForName("olmo3")
    )),
    Family("lfm2", "`<|tool_call_start|>[f(…)]<|tool_call_end|>` (pythonic or a JSON list)", "pythonic", (
        ("vllm", "--tool-call-parser lfm2"),  # [vllm] lfm2 (pythonic bodies; its docstring)
        ("sglang", "--tool-call-parser lfm2"),  # [sglang] lfm2 → Lfm2Detector
        ("llama.cpp", _llama_cpp("LFM2 with JSON tools")),  # [llama.cpp] LFM2_WITH_JSON_TOOLS, parsers/lfm2.cpp
        ("ollama", "built-in parser for LFM2"),  # [ollama] ParserForName("lfm2")
    )),
    Family("hermes", '`<tool_call>{"name": …, "arguments": …}</tool_call>` (Hermes, Qwen 2.5–3)', "json_tags", (
        ("vllm", "--tool-call-parser hermes"),  # [vllm] hermes → Hermes2ProToolParser
        ("sglang", "--tool-call-parser qwen25"),  # [sglang] qwen25 / hermes
        ("llama.cpp", _llama_cpp("Hermes 2 Pro")),  # [llama.cpp] COMMON_CHAT_FORMAT_HERMES_2_PRO
        ("ollama", "built-in parser for Qwen 3"),  # [ollama] ParserForName("qwen3")
    )),
    Family("granite4", "Hermes' `<tool_call>{…}</tool_call>` from a Granite 4 model", "json_tags", (
        ("vllm", "--tool-call-parser granite4"),  # [vllm] granite4 → Granite4ToolParser (tested with Hermes' tags)
    )),
    Family("ernie45", "Hermes' `<tool_call>{…}</tool_call>` from an ERNIE 4.5 model (after `</think>`)", "json_tags", (
        ("vllm", "--tool-call-parser ernie45"),  # [vllm] ernie45 → Ernie45ToolParser
    )),
    Family("qwen3vl", "Hermes' `<tool_call>{…}</tool_call>` from a Qwen3-VL model", "json_tags", (
        ("ollama", "built-in parser for Qwen3-VL"),  # [ollama] model/parsers/qwen3vl.go (Qwen3VLParser)
    )),
    Family("longcat", "`<longcat_tool_call>{…}</longcat_tool_call>`", "json_tags", (
        ("vllm", "--tool-call-parser longcat"),  # [vllm] longcat → LongcatFlashToolParser (hermes with its tags)
        ("ollama", "built-in parser for LongCat-Flash"),  # [ollama] model/parsers/longcatflash.go
    )),
    Family("qwen3-coder-xml", "`<tool_call><function=NAME><parameter=K>V</parameter></function></tool_call>`",
           "xml_tags", (
               ("vllm", "--tool-call-parser qwen3_coder"),  # [vllm] qwen3_coder / qwen3_xml
               ("sglang", "--tool-call-parser qwen3_coder"),  # [sglang] qwen3_coder (also step3p5)
               ("llama.cpp", _llama_cpp("Qwen3 Coder")),  # [llama.cpp] COMMON_CHAT_FORMAT_QWEN3_CODER_XML
               ("ollama", "built-in parser for Qwen3-Coder"),  # [ollama] ParserForName("qwen3-coder")
           )),
    Family("step3p5", "Qwen3-Coder's `<tool_call><function=NAME><parameter=K>` from a Step 3.5 model", "xml_tags", (
        ("vllm", "--tool-call-parser step3p5"),  # [vllm] step3p5 → Step3p5ToolParser
        ("sglang", "--tool-call-parser step3p5"),  # [sglang] step3p5 → Qwen3CoderDetector
    )),
    Family("nemotron3", "Qwen3-Coder's `<tool_call><function=NAME><parameter=K>` from a Nemotron 3 model", "xml_tags", (
        ("ollama", "built-in parser for Nemotron 3 Nano"),  # [ollama] nemotron3nano.go delegates to Qwen3CoderParser
    )),
    Family("qwen35", "Qwen3-Coder's `<tool_call><function=NAME><parameter=K>` from a Qwen 3.5 model", "xml_tags", (
        ("ollama", "built-in parser for Qwen 3.5"),  # [ollama] ParserForName("qwen3.5") (qwen35.go)
    )),
    Family("mimo", "Qwen3-Coder's `<tool_call><function=NAME><parameter=K>` from a MiMo model (a parameter may come first)",
           "xml_tags", (
               ("vllm", "--tool-call-parser mimo"),  # [vllm] mimo → Qwen3EngineToolParser (vllm/tool_parsers/__init__.py)
           )),
    Family("seed-oss", "`<seed:tool_call><function=NAME><parameter=K>V</parameter></function></seed:tool_call>`",
           "xml_tags", (
               ("vllm", "--tool-call-parser seed_oss"),  # [vllm] seed_oss
               ("llama.cpp", _llama_cpp("Seed-OSS")),  # [llama.cpp] COMMON_CHAT_FORMAT_SEED_OSS
           )),
    Family("mistral", "`[TOOL_CALLS][{…}]`, v11+: `[TOOL_CALLS]NAME[ARGS]{…}`", "json_tags", (
        ("vllm", "--tool-call-parser mistral"),  # [vllm] mistral
        ("sglang", "--tool-call-parser mistral"),  # [sglang] mistral → MistralDetector
        ("llama.cpp", _llama_cpp("Mistral Nemo / Magistral")),  # [llama.cpp] MISTRAL_NEMO, MAGISTRAL
        ("ollama", "built-in parser for Ministral"),  # [ollama] ParserForName("ministral")
    )),
    Family("generic-json", '`[{"name": …, "arguments": …}]` (the whole message), `{"tool_calls": […]}`', "json_tags", (
        ("vllm", "--tool-call-parser xlam"),  # [vllm] xlam: a JSON list of {name, arguments}, bare or fenced
    )),
    Family("xlam", '`[{"name": …, "arguments": …}]` from an xLAM model, bare or in a ```` ```json ```` fence', "json_tags", (
        ("vllm", "--tool-call-parser xlam"),  # [vllm] xlam → xLAMToolParser
    )),
    Family("granite", "`<|tool_call|>[{…}]` (Granite 3.0), `<tool_call> [{…}]` with no closing tag (3.1)", "json_tags", (
        # [vllm] tests/tool_parsers/test_granite_tool_parser.py: test_granite_string_prefix_format
        ("vllm", "--tool-call-parser granite"),  # [vllm] granite
        ("llama.cpp", _llama_cpp("Granite")),  # [llama.cpp] COMMON_CHAT_FORMAT_GRANITE
    )),
    Family("granite-20b-fc", "`<function_call> {…}`", "json_tags", (
        ("vllm", "--tool-call-parser granite-20b-fc"),  # [vllm] granite-20b-fc
    )),
    Family("internlm", "`<|action_start|><|plugin|>{…}<|action_end|>`", "json_tags", (
        ("vllm", "--tool-call-parser internlm"),  # [vllm] internlm → Internlm2ToolParser
        ("sglang", "--tool-call-parser interns1"),  # [sglang] interns1 → InternlmDetector
    )),
    Family("jamba", "`<tool_calls>[{…}]</tool_calls>` (Jamba, and any model not named below)", "json_tags", (
        ("vllm", "--tool-call-parser jamba"),  # [vllm] jamba
    )),
    Family("apriel", "`<tool_calls>[{…}]</tool_calls>` from an Apriel model", "json_tags", (
        ("llama.cpp", _llama_cpp("Apriel 1.5")),  # [llama.cpp] COMMON_CHAT_FORMAT_APRIEL_1_5 (its parser's comment)
    )),
    Family("hunyuan", "`<tool_calls>[{…}]</tool_calls>` from a Hunyuan (A13B) model", "json_tags", (
        ("vllm", "--tool-call-parser hunyuan_a13b"),  # [vllm] hunyuan_a13b
    )),
    Family("hunyuan-v3", "`<tool_calls><tool_call>NAME<tool_sep><arg_key>K</arg_key><arg_value>V</arg_value>…`",
           "arg_pairs", (
               ("vllm", "--tool-call-parser hy_v3"),  # [vllm] hy_v3 → HYV3ToolParser
               ("sglang", "--tool-call-parser hunyuan"),  # [sglang] hunyuan → HunyuanDetector (HYV3 format)
           )),
    Family("minimax-m2", '`<minimax:tool_call><invoke name="…"><parameter name="…">`', "xml_tags", (
        ("vllm", "--tool-call-parser minimax_m2"),  # [vllm] minimax_m2
        ("sglang", "--tool-call-parser minimax-m2"),  # [sglang] minimax-m2
        ("llama.cpp", _llama_cpp("MiniMax-M2")),  # [llama.cpp] COMMON_CHAT_FORMAT_MINIMAX_M2
        ("ollama", "built-in parser for MiniMax-M2"),  # [ollama] model/parsers/minimaxm2.go
    )),
    Family("minimax-m3", '`]<]minimax[>[<tool_call>]<]minimax[>[<invoke name="…">…` (every tag namespaced)',
           "xml_tags", (
               ("vllm", "--tool-call-parser minimax_m3"),  # [vllm] minimax_m3 (tool_call_start_token)
               ("sglang", "--tool-call-parser minimax-m3"),  # [sglang] minimax-m3 → MinimaxM3Detector
               ("llama.cpp", _llama_cpp("MiniMax-M3")),  # [llama.cpp] common/parsers/minimax-m3.cpp
           )),
    Family("deepseek", "`<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME` + a ```` ```json ```` fence (V3, R1)",
           "special_tokens", (
               ("vllm", "--tool-call-parser deepseek_v3"),  # [vllm] deepseek_v3
               ("sglang", "--tool-call-parser deepseekv3"),  # [sglang] deepseekv3
               ("llama.cpp", _llama_cpp("DeepSeek R1")),  # [llama.cpp] COMMON_CHAT_FORMAT_DEEPSEEK_R1
           )),
    Family("cogito", "DeepSeek V3's `<｜tool▁calls▁begin｜>…function<｜tool▁sep｜>NAME` + a ```` ```json ```` fence from a Cogito model",
           "special_tokens", (
               ("ollama", "built-in parser for Cogito"),  # [ollama] model/parsers/cogito.go (CogitoParser)
           )),
    Family("deepseek-v3.1", "`<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{…}`", "special_tokens", (
        ("vllm", "--tool-call-parser deepseek_v31"),  # [vllm] deepseek_v31
        ("sglang", "--tool-call-parser deepseekv31"),  # [sglang] deepseekv31
        ("llama.cpp", _llama_cpp("DeepSeek V3.1")),  # [llama.cpp] COMMON_CHAT_FORMAT_DEEPSEEK_V3_1
        ("ollama", "built-in parser for DeepSeek V3.1"),  # [ollama] ParserForName("deepseek3")
    )),
    Family("deepseek-v3.2", '`<｜DSML｜function_calls><｜DSML｜invoke name="…">` (parameters or JSON; also without '
                            "`｜DSML｜`)", "xml_tags", (
                                ("vllm", "--tool-call-parser deepseek_v32"),  # [vllm] deepseek_v32
                                ("sglang", "--tool-call-parser deepseekv32"),  # [sglang] deepseekv32 (4 variants)
                            )),
    Family("deepseek-v4", '`<｜DSML｜tool_calls><｜DSML｜invoke name="…"><｜DSML｜parameter name="…" string="…">`',
           "xml_tags", (
               ("vllm", "--tool-call-parser deepseek_v4"),  # [vllm] deepseek_v4 → DeepSeekV4ToolParser (its test)
               ("sglang", "--tool-call-parser deepseekv4"),  # [sglang] deepseekv4 → DeepSeekV4Detector
           )),
    Family("multi-format", '`<tool_calls><invoke name="…">`, `<tool_call>to=functions.NAME json {…}`, `<tool_call>f(a=1)`',
           "xml_tags", (
               # [sglang] test/registered/function_call/test_multi_format_detector.py: MultiFormatDetector,
               # one dialect per chat_template_kwargs tool_format (minimax, dsv32, gptoss, python)
               ("sglang", "--tool-call-parser multi_format"),
           )),
    Family("kimi-k2", "`<|tool_calls_section_begin|><|tool_call_begin|>functions.NAME:0"
                      "<|tool_call_argument_begin|>{…}`", "special_tokens", (
               ("vllm", "--tool-call-parser kimi_k2"),  # [vllm] kimi_k2
               ("sglang", "--tool-call-parser kimi_k2"),  # [sglang] kimi_k2
               ("llama.cpp", _llama_cpp("Kimi K2")),  # [llama.cpp] COMMON_CHAT_FORMAT_KIMI_K2
           )),
    Family("kimi-k3", '`<|open|>tools<|sep|><|open|>call tool="NAME"<|sep|><|open|>argument key="K" type="…"<|sep|>…`',
           "xml_tags", (
               ("vllm", "--tool-call-parser kimi_k3"),  # [vllm] kimi_k3 → KimiK3ToolParser (XTML)
               ("sglang", "--tool-call-parser kimi_k3"),  # [sglang] kimi_k3
               ("llama.cpp", _llama_cpp("Kimi K3")),  # [llama.cpp] common/parsers/kimi-k3.cpp
           )),
    Family("glm", "`<tool_call>NAME<arg_key>K</arg_key><arg_value>V</arg_value></tool_call>` (GLM 4.5–4.7)",
           "arg_pairs", (
               ("vllm", "--tool-call-parser glm45"),  # [vllm] glm45 and glm47 → the same Glm47MoeModelToolParser
               ("sglang", "--tool-call-parser glm45 (glm47 for GLM-4.7)"),  # [sglang] glm45/glm → Glm4Moe, glm47
               ("llama.cpp", _llama_cpp("GLM 4.5")),  # [llama.cpp] COMMON_CHAT_FORMAT_GLM_4_5
               ("ollama", "built-in parser for GLM-4.7"),  # [ollama] ParserForName("glm-4.7")
           )),
    Family("ling", "GLM's `<tool_call>NAME<arg_key>…` from a Ling (Bailing) model", "arg_pairs", (
        ("sglang", "--tool-call-parser ling3"),  # [sglang] ling3 → Ling3Detector (a Glm4MoeDetector)
        ("ollama", "built-in parser for Bailing (Ling)"),  # [ollama] model/parsers/bailing.go (BailingParser)
    )),
    Family("laguna", "GLM's `<tool_call>NAME\\n<arg_key>…` from a Laguna (Poolside) model, or `<user>` for "
           "`<tool_call>`", "arg_pairs", (
        ("vllm", "--tool-call-parser poolside_v1"),  # [vllm] poolside_v1 (a GLM-4 style parser)
        ("sglang", "--tool-call-parser poolside_v1"),  # [sglang] poolside_v1
        ("ollama", "built-in parser for Laguna"),  # [ollama] model/parsers/laguna.go; <user>: laguna_test.go
    )),
    Family("harmony", "`<|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{…}<|call|>` (gpt-oss)",
           "special_tokens", (
               ("vllm", "--tool-call-parser openai"),  # [vllm] openai → GptOssToolParser
               ("sglang", "--tool-call-parser gpt-oss"),  # [sglang] gpt-oss
               ("llama.cpp", _llama_cpp("GPT-OSS")),  # [llama.cpp] COMMON_CHAT_FORMAT_GPT_OSS
               ("ollama", "built-in parser for gpt-oss (harmony)"),  # [ollama] ParserForName("harmony")
           )),
    # Source of the format: a response-template parser's test fixture (Harmony channel header, XML
    # parameters `<rfl:parameter name="…">`, values kept as text). None of the registries read names
    # a parser for it, so no switch is given.
    Family("beam", '`to=NAME<|channel|>analysis <|constrain|>xml<|message|><rfl:parameter name="K">V</rfl:parameter>`',
           "xml_tags", ()),
    Family("functools", '`functools[{"name": …, "arguments": …}]` (Phi-4-mini, FireFunction v2)', "json_tags", (
        ("vllm", "--tool-call-parser phi4_mini_json"),  # [vllm] phi4_mini_json
        ("llama.cpp", _llama_cpp("FireFunction v2")),  # [llama.cpp] COMMON_CHAT_FORMAT_FIREFUNCTION_V2
    )),
    Family("functionary", "`>>>NAME\\n{…}` (Functionary v3.2)", "json_tags", (
        ("llama.cpp", _llama_cpp("Functionary v3.2")),  # [llama.cpp] FUNCTIONARY_V3_2, parsers/functionary-v3-2.cpp
    )),
    Family("nemotron", "`<TOOLCALL>[{…}]</TOOLCALL>`", "json_tags", (
        # [vllm] tests/tool_parsers/test_nemotron_nano_v2_tool_parser.py: get_tool_parser("nemotron_nano_v2")
        ("vllm", "--tool-call-parser nemotron_nano_v2"),
        ("llama.cpp", _llama_cpp("Nemotron V2")),  # [llama.cpp] COMMON_CHAT_FORMAT_NEMOTRON_V2
    )),
    Family("cohere", '`<|START_ACTION|>[{"tool_name": …, "parameters": …}]<|END_ACTION|>` (Command R7B, A)',
           "json_tags", (
               ("vllm", "--tool-call-parser cohere_command3 (cohere_command4 for newer Command models)"),
               # [vllm] cohere_command3 and cohere_command4 → cohere_command_tool_parser
               ("sglang", "--tool-call-parser cohere_command4"),  # [sglang] cohere_command4
               ("llama.cpp", _llama_cpp("Command R7B")),  # [llama.cpp] COMMON_CHAT_FORMAT_COMMAND_R7B
               ("ollama", "built-in parser for Command A"),  # [ollama] model/parsers/cohere.go
           )),
    Family("command-r-plus", '``Action: ```json [{"tool_name": …, "parameters": …}] ``` ``', "json_tags", (
        ("ollama", "built-in parser for Command R"),  # [ollama] model/parsers/commandr.go ("Action:" + ```json)
    )),
    Family("apertus", '`<|tools_prefix|>[{"NAME": {…}}]<|tools_suffix|>`', "json_tags", (
        ("vllm", "--tool-call-parser apertus"),  # [vllm] apertus
        ("sglang", "--tool-call-parser apertus2509"),  # [sglang] apertus2509
        ("llama.cpp", _llama_cpp("Apertus")),  # [llama.cpp] COMMON_CHAT_FORMAT_APERTUS
        ("ollama", "built-in parser for Apertus"),  # [ollama] model/parsers/apertus15.go
    )),
    Family("gemma4", '`<|tool_call>call:NAME{city:<|"|>Tokyo<|"|>}<tool_call|>`', "gemma", (
        ("vllm", "--tool-call-parser gemma4"),  # [vllm] gemma4
        ("sglang", "--tool-call-parser gemma4"),  # [sglang] gemma4
        ("llama.cpp", _llama_cpp("Gemma 4")),  # [llama.cpp] common/parsers/gemma4.cpp
        ("ollama", "built-in parser for Gemma 4"),  # [ollama] model/parsers/gemma4.go
    )),
    Family("functiongemma", "`<start_function_call>call:NAME{city:<escape>Tokyo<escape>}<end_function_call>`",
           "gemma", (
        ("vllm", "--tool-call-parser functiongemma"),  # [vllm] functiongemma
        ("llama.cpp", _llama_cpp("FunctionGemma")),  # [llama.cpp] COMMON_CHAT_FORMAT_FUNCTION_GEMMA
        ("ollama", "built-in parser for FunctionGemma"),  # [ollama] ParserForName("functiongemma")
    )),
    Family("gigachat3", '`<|function_call|>{"name": …, "arguments": {…}}`, `function call<|role_sep|>\\n{…}`',
           "json_tags", (
               ("vllm", "--tool-call-parser gigachat3"),  # [vllm] gigachat3 (REGEX_FUNCTION_CALL)
               ("sglang", "--tool-call-parser gigachat3"),  # [sglang] gigachat3
               ("llama.cpp", _llama_cpp("GigaChat V3")),  # [llama.cpp] common/parsers/gigachat-v3.cpp
           )),
    Family("gigachat", '`<｜GCML｜tool_calls><｜GCML｜invoke name="…"><｜GCML｜parameter name="…" string="…">` '
                       "(GigaChat 3.5)", "xml_tags", (
                           ("sglang", "--tool-call-parser gigachat35"),  # [sglang] gigachat35 → GigaChat35Detector
                       )),
    Family("minicpm5", '`<function name="NAME"><param name="K">V</param></function>`', "xml_tags", (
        ("vllm", "--tool-call-parser minicpm5"),  # [vllm] minicpm5 → MiniCPM5XMLToolParser
        ("sglang", "--tool-call-parser minicpm5"),  # [sglang] minicpm5
        ("llama.cpp", _llama_cpp("MiniCPM5")),  # [llama.cpp] common/parsers/minicpm5.cpp
        ("ollama", "built-in parser for MiniCPM5"),  # [ollama] model/parsers/minicpm5.go
    )),
    Family("step3", '`<｜tool_calls_begin｜><｜tool_call_begin｜>function<｜tool_sep｜><steptml:invoke name="…">`',
           "xml_tags", (
               ("vllm", "--tool-call-parser step3"),  # [vllm] step3 → Step3ToolParser
               ("sglang", "--tool-call-parser step3"),  # [sglang] step3
           )),
    Family("muse-glimmer", '`<atem:function_calls><atem:invoke name="…"><atem:parameter name="…">`', "xml_tags", (
        ("vllm", "--tool-call-parser muse_glimmer"),  # [vllm] muse_glimmer (its docstring's usage line)
        ("sglang", "--tool-call-parser muse"),  # [sglang] muse → MuseGlimmerDetector
        ("llama.cpp", _llama_cpp("Muse Glimmer")),  # [llama.cpp] common/parsers/muse-glimmer.cpp
        ("ollama", "built-in parser for MuseGlimmer"),  # [ollama] model/parsers/glimmer.go
    )),
    Family("dots", '`<dots_function_call><invoke name="…"><parameter name="…">…` (or a JSON object)', "xml_tags", (
        ("vllm", "--tool-call-parser dots"),  # [vllm] dots → DotsToolParser
        ("sglang", "--tool-call-parser dots"),  # [sglang] dots → DotsToolDetector
    )),
    Family("solar-open2", "`<|tool_call:start|>NAME\\n<|tool_arg:start|>K<|tool_arg:value|>V<|tool_arg:end|><|tool_call:end|>`",
           "arg_pairs", (
               # [vllm] vllm/tool_parsers/solar_open2_tool_parser.py; tests/tool_parsers/test_solar_open2_tool_parser.py
               ("vllm", "--tool-call-parser solar_open2"),
           )),
)

FAMILIES: tuple[str, ...] = tuple(family.id for family in TABLE)
_BY_ID = {family.id: family for family in TABLE}

# Markup shared by several model families: (family read from the markup, words of the model name,
# family it becomes). The model name is the one the request asked for.
MODEL_HINTS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("jamba", ("apriel",), "apriel"),  # [llama.cpp] Apriel 1.5 writes <tool_calls>[…]</tool_calls>
    ("jamba", ("hunyuan", "hy-a13b"), "hunyuan"),  # [vllm] hunyuan_a13b reads <tool_calls>[…]</tool_calls>
    ("glm", ("laguna", "poolside"), "laguna"),  # [vllm] poolside_v1 is a GLM-4 <arg_key> parser
    # [ollama] model/parsers/laguna_test.go: Laguna's parser also reads Hermes' <tool_call>{…} and a bare call object
    ("hermes", ("laguna", "poolside"), "laguna"),
    ("llama-json", ("laguna", "poolside"), "laguna"),
    ("glm", ("ling-", "ling3", "bailing"), "ling"),  # [sglang] ling3, [ollama] bailing.go read GLM's markup
    ("generic-json", ("xlam",), "xlam"),  # [vllm] xlam reads a bare JSON list
    ("deepseek", ("cogito",), "cogito"),  # [ollama] cogito.go reads DeepSeek V3's markup
    ("pythonic", ("llama-4", "llama4"), "llama4"),  # [vllm] llama4_pythonic reads bare lists
    ("hermes", ("granite-4", "granite4"), "granite4"),  # [vllm] granite4 reads Hermes' <tool_call>
    ("hermes", ("qwen3-vl", "qwen3vl"), "qwen3vl"),  # [ollama] qwen3vl.go reads Hermes' <tool_call>
    ("hermes", ("ernie-4.5", "ernie4.5", "ernie-45"), "ernie45"),  # [vllm] ernie45 reads Hermes' <tool_call>
    ("qwen3-coder-xml", ("step-3.5", "step3.5", "step3p5"), "step3p5"),  # [vllm]/[sglang] step3p5
    ("qwen3-coder-xml", ("nemotron-3", "nemotron3"), "nemotron3"),  # [ollama] nemotron3nano.go
    ("qwen3-coder-xml", ("qwen3.5", "qwen3_5", "qwen35"), "qwen35"),  # [ollama] qwen35.go
    ("qwen3-coder-xml", ("mimo",), "mimo"),  # [vllm] mimo; tests/tool_parsers/test_mimov2_flash_tool_parser.py
)


# Markup that more than one family's parser reads, as groups. The family reported is the one whose
# markers are most specific (or the model's, by MODEL_HINTS); the others of its group go to
# ``details.also``.
SHARED: tuple[tuple[str, ...], ...] = (
    ("jamba", "apriel", "hunyuan"),  # [llama.cpp] Apriel 1.5; [vllm] hunyuan_a13b
    ("glm", "laguna", "ling"),  # [vllm] poolside_v1, [sglang] ling3, [ollama] bailing.go read GLM-4's markup
    ("generic-json", "xlam"),  # [vllm] xlam reads a bare JSON list
    # [vllm] tests/tool_parsers/test_xlam_tool_parser.py: xlam also reads <tool_call>[…]</tool_call> and
    # [TOOL_CALLS][…]; granite4 (tests/tool_parsers/test_hermes_tool_parser.py), ernie45 and Ollama's
    # Qwen3-VL parser read Hermes' <tool_call>{…}; so does Ollama's Laguna parser (laguna_test.go)
    ("hermes", "xlam", "granite4", "ernie45", "qwen3vl", "laguna"),
    ("mistral", "xlam"),
    # [sglang] step3p5 → Qwen3CoderDetector; [ollama] nemotron3nano.go and qwen35.go read Qwen3-Coder XML
    ("qwen3-coder-xml", "step3p5", "nemotron3", "qwen35", "mimo"),
    ("deepseek", "cogito"),  # [ollama] cogito.go reads DeepSeek V3's markup
    ("pythonic", "llama4"),  # [vllm] tests/tool_parsers/test_llama4_pythonic_tool_parser.py: bare lists too
)
# A family's own markup is that of the first group naming it (xLAM's own is the bare JSON list).
_SHARED: dict[str, tuple[str, ...]] = {}
for _group in SHARED:
    for _family in _group:
        _SHARED.setdefault(_family, tuple(f for f in _group if f != _family))
del _group, _family


def also(family: str) -> list[str]:
    """The other families whose parsers read the markup reported as ``family``."""
    return [other for other in _SHARED.get(family, ()) if other in _BY_ID]


def resolve(family: str, model: str | None) -> str:
    """The family of markup read as ``family``, for a request that asked for ``model``."""
    if model:
        name = model.lower()
        for shared, words, specific in MODEL_HINTS:
            if shared == family and any(word in name for word in words):
                return specific
    return family


def parsers(family: str) -> list[dict[str, str]]:
    """The server switches that would have parsed ``family``: ``[{"server", "switch"}, …]``."""
    known = _BY_ID.get(family)
    return [{"server": server, "switch": switch} for server, switch in known.servers] if known else []


_SERVER_NAMES = {"vllm": "vLLM", "sglang": "SGLang", "llama.cpp": "llama.cpp", "ollama": "Ollama"}


def hint(family: str) -> str | None:
    """One short sentence naming the parser that would have read ``family`` (vLLM's first)."""
    known = _BY_ID.get(family)
    if not known or not known.servers:
        return None
    server, switch = known.servers[0]
    if server == "vllm":
        return f"vLLM would parse it with {switch} --enable-auto-tool-choice"
    if server == "ollama":
        return f"Ollama's {switch[0].lower()}{switch[1:]} would parse it"
    return f"{_SERVER_NAMES[server]} would parse it with {switch}"


def markdown_table() -> str:
    """README's family table (scripts/gen_tool_text_table.py writes it; a test keeps them equal)."""
    rows = ["| family | what it looks like | servers whose parser reads it | the switch |", "|---|---|---|---|"]
    for family in TABLE:
        marker = family.marker.replace("|", "\\|")
        if family.servers:
            names = ", ".join(dict.fromkeys(_SERVER_NAMES[server] for server, _ in family.servers))
            switches = "; ".join(f"{_SERVER_NAMES[server]}: `{switch}`" for server, switch in family.servers)
        else:
            names, switches = "—", "none known"
        rows.append(f"| `{family.id}` | {marker} | {names} | {switches} |")
    return "\n".join(rows) + "\n"
