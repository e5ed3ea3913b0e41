"""The tool-call-in-text finding says which server parser is missing: ``details.parsers`` and a
short hint in the message, on copies of real recordings made to carry the markup."""

from __future__ import annotations

import orjson
import pytest

from conftest import CORPUS
from llmtrace.anomalies import detect
from llmtrace.loader import load

TEXT = "llama-stack/openai-chat-stream/8a174c150228.json"  # gpt-4o: "The capital of France is Paris."


def _with_content(tmp_path, content: str, model: str | None = None, tools: list[str] = (),
                  reasoning: str | None = None, call: str | None = None):
    """The recording with ``content`` as its answer; ``reasoning`` before it and a structured
    ``call`` (a tool name) after it when given."""
    path = CORPUS / TEXT
    doc = orjson.loads(path.read_bytes())
    deltas = [item["__data__"]["choices"][0]["delta"] for item in doc["response"]["body"]
              if item["__data__"].get("choices")]
    texts = [d for d in deltas if d.get("content")]
    texts[0]["content"] = content
    for d in texts[1:]:
        d["content"] = ""
    if reasoning is not None:
        texts[0]["reasoning_content"] = reasoning
    if call is not None:
        texts[-1]["tool_calls"] = [{"index": 0, "id": "call_1", "type": "function",
                                    "function": {"name": call, "arguments": "{}"}}]
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


# --- reasoning (anomalies.md §1, issue 23 rule 12) -------------------------------------------------

HERMES = '<tool_call>{"name": "get_weather", "arguments": {"city": "Tokyo"}}</tool_call>'


def test_a_call_in_reasoning_is_a_call_when_the_choice_has_no_structured_call(tmp_path):
    [found] = _with_content(tmp_path, "Let me check.", reasoning="I should look it up. " + HERMES)
    assert found.details["field"] == "reasoning" and found.details["family"] == "hermes"


def test_reasoning_is_not_read_when_the_choice_has_a_structured_call(tmp_path):
    # The model called its tool and, thinking, wrote out the markup it was about to use.
    assert _with_content(tmp_path, "Let me check.", reasoning="I will call it: " + HERMES, call="get_weather") == []


@pytest.mark.parametrize("reasoning", [
    f"The call format is {HERMES} and I must not write it as text.",
    f"Hermes models wrap calls, e.g. {HERMES}, in tags.",
    f"For example: {HERMES}",
    f"The user quoted `{HERMES}` in the question.",
])
def test_markup_quoted_or_explained_in_reasoning_is_no_call(tmp_path, reasoning):
    assert _with_content(tmp_path, "Here is how it works.", reasoning=reasoning) == []


def test_shared_markup_lists_the_other_families_in_also(tmp_path):
    [found] = _with_content(tmp_path, '<tool_calls>[{"name": "get_weather", "arguments": {}}]</tool_calls>')
    assert found.details["family"] == "jamba" and found.details["also"] == ["apriel", "hunyuan"]
    [found] = _with_content(tmp_path, HERMES, model="Qwen/Qwen3-VL-8B-Instruct")
    assert found.details["family"] == "qwen3vl" and "hermes" in found.details["also"]
    assert found.details["parsers"] == [{"server": "ollama", "switch": "built-in parser for Qwen3-VL"}]
    [found] = _with_content(tmp_path, '[TOOL_CALLS]get_weather[ARGS]{"city": "Tokyo"}')
    assert found.details["also"] == ["xlam"]


def test_the_hint_names_a_switch_for_every_family_that_has_one():
    from llmtrace.anomalies.tool_text import hint, parsers
    from llmtrace.anomalies.tool_text.families import TABLE

    for family in TABLE:
        if family.servers:
            assert family.servers[0][1] in hint(family.id), family.id
            assert parsers(family.id)[0]["switch"] == family.servers[0][1]
        else:
            assert hint(family.id) is None


def test_markup_explained_in_reasoning_left_in_the_content_is_no_call(tmp_path):
    # Seed-OSS in vLLM's tests: "<seed:think>… The format is <seed:tool_call>…</seed:think>" then the call.
    think = f"<think>The format is {HERMES}. Let me answer instead.</think>"
    assert _with_content(tmp_path, think + "It is sunny in Tokyo.") == []
    [found] = _with_content(tmp_path, think + HERMES)
    assert found.span[0] == len(think)
