"""The tool-call-in-text finding says which server parser is missing: ``details.parsers`` and a
short hint in the message, on copies of real recordings made to carry the markup."""

from __future__ import annotations

import orjson

from conftest import CORPUS
from llmtrace.anomalies import detect
from llmtrace.loader import load

TEXT = "llama-stack/openai-chat-stream/8a174c150228.json"  # gpt-4o: "The capital of France is Paris."


def _with_content(tmp_path, content: str, model: str | None = None, tools: list[str] = ()):
    path = CORPUS / TEXT
    doc = orjson.loads(path.read_bytes())
    deltas = [item["__data__"]["choices"][0]["delta"] for item in doc["response"]["body"]
              if item["__data__"].get("choices")]
    texts = [d for d in deltas if d.get("content")]
    texts[0]["content"] = content
    for d in texts[1:]:
        d["content"] = ""
    if model:
        doc["request"]["body"]["model"] = model
    if tools:
        doc["request"]["body"]["tools"] = [{"type": "function", "function": {"name": n}} for n in tools]
    out = tmp_path / path.name
    out.write_bytes(orjson.dumps(doc))
    exchange = load(str(out)).exchanges[0]
    return [a for a in detect(exchange) if a.code == "tool-call-in-text"]


def test_the_finding_names_the_server_switches_and_hints_at_vllms(tmp_path):
    [found] = _with_content(tmp_path, '<|tool_call>call:get_weather{city:<|"|>Tokyo<|"|>}<tool_call|>')
    assert found.details["family"] == "gemma4"
    assert found.details["parsers"][0] == {"server": "vllm", "switch": "--tool-call-parser gemma4"}
    assert {p["server"] for p in found.details["parsers"]} == {"vllm", "sglang", "llama.cpp", "ollama"}
    assert found.message.endswith("vLLM would parse it with --tool-call-parser gemma4 --enable-auto-tool-choice")


def test_a_family_only_llama_cpp_parses_hints_at_llama_cpp(tmp_path):
    [found] = _with_content(tmp_path, '>>>get_weather\n{"city": "Tokyo"}')
    assert found.details["parsers"] == [{"server": "llama.cpp",
                                         "switch": "--jinja (template detected as Functionary v3.2)"}]
    assert "llama.cpp would parse it with --jinja" in found.message


def test_the_requested_model_tells_shared_markup_apart(tmp_path):
    markup = '<tool_calls>[{"name": "get_weather", "arguments": {"city": "Tokyo"}}]</tool_calls>'
    [found] = _with_content(tmp_path, markup, model="ServiceNow-AI/Apriel-1.5-15b-Thinker")
    assert found.details["family"] == "apriel"
    assert found.details["parsers"] == [{"server": "llama.cpp", "switch": "--jinja (template detected as Apriel 1.5)"}]


def test_json_after_prose_naming_a_declared_tool_is_an_error(tmp_path):
    content = ('I apologize for the error. Here is the revised tool call:\n\n'
               '{"name": "get_boiling_point", "parameters": {"liquid_name": "polyjuice", "celsius": true}}')
    [found] = _with_content(tmp_path, content, tools=["get_boiling_point"])
    assert found.severity == "error" and found.details["family"] == "llama-json"
    assert found.details["calls"] == [{"name": "get_boiling_point",
                                       "arguments": {"liquid_name": "polyjuice", "celsius": True}}]
    assert content[found.span[0]:found.span[1]].startswith('{"name": "get_boiling_point"')


def test_command_r_actions_on_a_raw_prompt_are_info(tmp_path):
    # A real recording (langchain-cohere's multi-hop agent): Command R called with raw_prompting
    # answers "Plan: …\nAction: ```json [{"tool_name": …, "parameters": …}]```" — text is the channel.
    from pathlib import Path

    path = Path(__file__).parent / "data" / "tool_text" / "langchain-cohere" / "multihop_agent.yaml"
    found = [a for exchange in load(str(path)).exchanges for a in detect(exchange) if a.code == "tool-call-in-text"]
    assert [a.details["calls"] for a in found] == [
        [{"name": "internet_search", "arguments": {"query": "company founded as Sound of Music"}}],
        [{"name": "internet_search", "arguments": {"query": "year Best Buy added to S&P 500"}}]]
    assert all(a.severity == "info" and a.details["family"] == "command-r-plus" for a in found)
    assert found[0].details["parsers"] == [{"server": "ollama", "switch": "built-in parser for Command R"}]
