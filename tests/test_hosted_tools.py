"""Server-side (hosted) tool calls (issue 23, contracts.md "Names added in turn 3"): listed in the
normalized ``tool_calls`` with ``"server": true``, the provider JSON unchanged; never
``empty-response``; ignored by ``unknown-tool``; compared by ``diff``; marked by ``show`` and
``report``. The streams are written here in the shapes the APIs send (tests/data/hosted_tools/SOURCE.md)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import llmtrace
from conftest import DATA
from llmtrace.anomalies import detect

HOSTED = DATA / "hosted_tools"

RESPONSES = {
    "responses-apply-patch.sse": "apply_patch",
    "responses-local-shell.sse": "local_shell",
    "responses-shell.sse": "shell",
    "responses-image-generation.sse": "image_generation",
    "responses-mcp-approval-request.sse": "mcp:deepwiki.ask_question",
    "responses-tool-search.sse": "tool_search",
    "responses-computer.sse": "computer",
    "responses-code-interpreter.sse": "code_interpreter",
}


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmtrace", *args], capture_output=True, text=True, timeout=60)


def _events(path) -> list[dict]:
    return [json.loads(line[6:]) for line in path.read_text().splitlines() if line.startswith("data: ")]


@pytest.mark.parametrize("name, tool", sorted(RESPONSES.items()))
def test_responses_hosted_item_is_a_server_call_not_an_empty_response(name, tool):
    recording = llmtrace.load(str(HOSTED / name))
    (ex,) = recording.exchanges
    assert "empty-response" not in {a.code for a in detect(ex)}
    (message,) = ex.result.choices
    (call,) = message.tool_calls
    assert (call.name, call.server) == (tool, True)
    assert message.finish_reason == "completed" and message.stop == "stop"  # as sent: no client call to run
    # The provider JSON is the response of response.completed, unchanged.
    assert llmtrace.reassemble(ex) == _events(HOSTED / name)[-1]["response"]


def test_normalized_json_marks_server_calls_only():
    out = _cli("reassemble", "--normalized", str(HOSTED / "responses-code-interpreter.sse"))
    (call,) = json.loads(out.stdout)["choices"][0]["tool_calls"]
    assert call["server"] is True and call["name"] == "code_interpreter"
    assert json.loads(call["arguments"]) == {"code": "print(1)", "container_id": "cntr_1"}
    client = llmtrace.reassemble(llmtrace.load(str(DATA / "recorders" / "aiohttp-istr.yaml")), normalized=True)
    assert client[0]["choices"][0]["tool_calls"] == []


def test_anthropic_turn_of_only_server_tool_use_and_result():
    (ex,) = llmtrace.load(str(HOSTED / "anthropic-server-tool-only.sse")).exchanges
    assert "empty-response" not in {a.code for a in detect(ex)}
    (call,) = ex.result.choices[0].tool_calls
    assert (call.id, call.name, call.parsed_arguments, call.server) == \
        ("srvtoolu_1", "web_search", {"query": "weather Paris"}, True)
    # The reassembled message keeps both blocks as sent.
    assert [b["type"] for b in llmtrace.reassemble(ex)["content"]] == ["server_tool_use", "web_search_tool_result"]


def test_unknown_tool_ignores_server_calls(tmp_path):
    """The request declared a function; the hosted web search is not a call to an undeclared tool."""
    request = {"model": "claude-sonnet-4-5", "max_tokens": 100, "stream": True,
               "messages": [{"role": "user", "content": "Weather?"}],
               "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}]}
    body = (HOSTED / "anthropic-server-tool-only.sse").read_text()
    cassette = {"interactions": [{"request": {"method": "POST", "uri": "https://api.anthropic.com/v1/messages",
                                              "headers": {}, "body": json.dumps(request)},
                                  "response": {"status": {"code": 200, "message": "OK"}, "headers": {},
                                               "body": {"string": body}}}]}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cassette))
    (ex,) = llmtrace.load(str(path)).exchanges
    assert ex.normalized_request.tools == ["get_weather"]
    assert "unknown-tool" not in {a.code for a in detect(ex)}
    # The same call as a client tool_use block is an unknown tool.
    path.write_text(json.dumps(cassette).replace("server_tool_use", "tool_use"))
    assert "unknown-tool" in {a.code for a in detect(llmtrace.load(str(path)).exchanges[0])}


def test_diff_compares_server_calls(tmp_path):
    a = llmtrace.load(str(HOSTED / "responses-code-interpreter.sse"))
    path = tmp_path / "b.sse"
    path.write_text((HOSTED / "responses-code-interpreter.sse").read_text().replace("print(1)", "print(2)"))
    paths = {d.path for d in llmtrace.diff(a, llmtrace.load(str(path)))}
    assert "choices[0].tool_calls[0].parsed_arguments.code" in paths
    other = llmtrace.load(str(HOSTED / "responses-shell.sse"))
    assert "choices[0].tool_calls[0].name" in {d.path for d in llmtrace.diff(a, other)}


def test_show_and_report_mark_server_calls(tmp_path):
    out = _cli("show", str(HOSTED / "responses-code-interpreter.sse"))
    assert out.returncode == 0 and "server tool call code_interpreter" in out.stdout
    client = _cli("show", str(DATA / "false_alarms" / "openrouter-no-finish.sse"))
    assert "server tool call" not in client.stdout
    page = tmp_path / "r.html"
    out = _cli("report", str(HOSTED / "responses-code-interpreter.sse"), "-o", str(page))
    assert out.returncode == 0, out.stderr
    assert "server tool call</span> <b>code_interpreter</b>" in page.read_text()
