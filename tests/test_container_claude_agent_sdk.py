"""Claude Agent SDK transcripts (the Claude Code CLI's stream-json protocol as pydantic/logfire's
SDK test harness records it): one exchange per turn, from the user message sent to the
``result`` received, read as one unstreamed Anthropic message. The files in
tests/data/claude_agent_sdk are logfire's (see SOURCE); what each turn said, its tool calls and
its usage are checked against the raw messages read here directly."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from llmtrace.anomalies import detect
from llmtrace.cli import app
from llmtrace.errors import UnreadableInput
from llmtrace.loader import load
from llmtrace.view import provider_json

DATA = Path(__file__).parent / "data" / "claude_agent_sdk"
FILES = sorted(DATA.glob("*.json"))


def _messages(path: Path) -> list[dict]:
    return [item["message"] for item in json.loads(path.read_text())["messages"]]


def _expected(path: Path) -> list[dict]:
    """Each turn as the raw messages tell it: the question, the text and tool names of the
    top-level assistant messages, and the usage the result reported."""
    turns: list[dict] = []
    for m in _messages(path):
        if m["type"] == "user" and isinstance(m["message"]["content"], str):
            turns.append({"question": m["message"]["content"], "text": "", "tools": [], "usage": None, "error": False})
        elif m["type"] == "assistant" and m.get("parent_tool_use_id") is None:
            for block in m["message"]["content"]:
                if block["type"] == "text":
                    turns[-1]["text"] += block["text"]
                elif block["type"] == "tool_use":
                    turns[-1]["tools"].append(block["name"])
        elif m["type"] == "result":
            turns[-1]["usage"] = m["usage"]
            turns[-1]["error"] = m["is_error"]
    return turns


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_real_transcript_matches_its_raw_messages(path):
    recording = load(str(path))
    assert recording.container == "claude-agent-sdk"
    expected = _expected(path)
    assert len(recording.exchanges) == len(expected) == 1
    for exchange, turn in zip(recording.exchanges, expected):
        assert exchange.dialect == "anthropic-messages"
        assert [m.content for m in exchange.normalized_request.messages] == [turn["question"]]
        if turn["error"]:
            assert exchange.failed and exchange.fidelity is None
            continue
        assert exchange.fidelity == "final-text" and not exchange.response.streaming
        message = exchange.result.choices[0]
        assert message.content == turn["text"] != ""
        assert [c.name for c in message.tool_calls] == turn["tools"]
        assert provider_json(exchange)["usage"] == turn["usage"]
        assert exchange.result.usage.input_tokens == turn["usage"]["input_tokens"]
        assert exchange.result.usage.output_tokens == turn["usage"]["output_tokens"]
        assert [a.code for a in detect(exchange, recording)] == []


def test_tool_use_turn_keeps_blocks_in_order_and_the_tool_result_in_the_turn():
    path = DATA / "tool_use_conversation.json"
    (exchange,) = load(str(path)).exchanges  # the tool_result echoed back opens no turn of its own
    body = provider_json(exchange)
    assert [b["type"] for b in body["content"]] == ["thinking", "tool_use", "text"]
    assert body["model"] == exchange.request.model == "claude-sonnet-4-6"
    assert body["stop_reason"] == "end_turn" and exchange.result.choices[0].stop == "stop"
    (call,) = exchange.result.choices[0].tool_calls
    assert call.id == "toolu_01MRdgcFhYNo1LHvRQKvKckg"
    assert call.parsed_arguments == {"command": "ls", "description": "List files in current directory"}
    assert exchange.result.choices[0].reasoning == "Let me list the files in the current directory."
    assert exchange.request.body == {"model": "claude-sonnet-4-6",
                                     "messages": [{"role": "user", "content": "List files in the current directory"}]}


def test_is_error_result_is_a_recorded_error():
    (exchange,) = load(str(DATA / "error_result.json")).exchanges
    assert exchange.failed and exchange.dialect == "anthropic-messages"
    assert exchange.response.error_message == "the agent's turn ended in error (success): 4"
    assert [a.code for a in detect(exchange, load(str(DATA / "error_result.json")))] == ["error-response"]


def _two_questions(tmp_path: Path) -> Path:
    """basic_conversation.json asked twice in one session (a second user message after the
    first result): the shape of a multi-turn ClaudeSDKClient session."""
    doc = json.loads((DATA / "basic_conversation.json").read_text())
    again = json.loads(json.dumps(doc["messages"][2:]))
    again[0]["message"]["message"]["content"] = "And 3+3?"
    again[1]["message"]["message"]["content"][0]["text"] = "3 + 3 = 6."
    again[2]["message"]["result"] = "3 + 3 = 6."
    again[2]["message"]["usage"] = {"input_tokens": 30, "output_tokens": 9}
    doc["messages"] += again
    path = tmp_path / "two.json"
    path.write_text(json.dumps(doc))
    return path


def test_one_exchange_per_user_question(tmp_path):
    path = _two_questions(tmp_path)
    first, second = load(str(path)).exchanges
    assert [m.content for m in first.normalized_request.messages] == ["What is 2+2?"]
    assert [m.content for m in second.normalized_request.messages] == ["And 3+3?"]
    assert first.result.choices[0].content == "2 + 2 = 4."
    assert second.result.choices[0].content == "3 + 3 = 6."
    assert second.result.usage.input_tokens == 30 and second.result.usage.output_tokens == 9


def test_turn_without_result_is_kept_and_cut_off(tmp_path):
    doc = json.loads((DATA / "basic_conversation.json").read_text())
    doc["messages"] = doc["messages"][:-1]  # the recording ends before the result
    path = tmp_path / "cut.json"
    path.write_text(json.dumps(doc))
    (exchange,) = load(str(path)).exchanges
    assert exchange.result.choices[0].content == "2 + 2 = 4."
    assert exchange.response.cut_off == "the recording ends before the turn's result"
    assert exchange.result.usage.input_tokens == 12  # from the last assistant message


def test_cli_scan_show_reassemble_check():
    runner = CliRunner()
    scan = runner.invoke(app, ["scan", str(DATA)])
    assert scan.exit_code == 0, scan.output
    assert "claude-agent-sdk" in scan.stdout and "not a recording" not in scan.output
    show = runner.invoke(app, ["show", str(DATA / "tool_use_conversation.json")])
    assert show.exit_code == 0 and "claude-agent-sdk · anthropic-messages" in show.stdout
    assert "Bash" in show.stdout and "toolu_01MRdgcFhYNo1LHvRQKvKckg" in show.stdout
    reassembled = runner.invoke(app, ["reassemble", str(DATA / "basic_conversation.json")])
    assert reassembled.exit_code == 0
    body = orjson.loads(reassembled.stdout)
    assert body["content"] == [{"type": "text", "text": "2 + 2 = 4."}]
    assert body["usage"] == {"input_tokens": 12, "output_tokens": 8}
    clean = runner.invoke(app, ["check", str(DATA / "basic_conversation.json"), str(DATA / "tool_use_conversation.json")])
    assert clean.exit_code == 0, clean.output
    failed = runner.invoke(app, ["check", str(DATA / "error_result.json")])
    assert failed.exit_code == 1 and "error-response" in failed.stdout


@pytest.mark.parametrize("doc", [
    {"messages": [{"direction": "send", "message": {"type": "hello"}}]},  # a type the protocol has not
    {"messages": [{"direction": "sent", "message": {"type": "user", "message": {"role": "user", "content": "hi"}}}]},
    {"messages": [{"role": "user", "content": "hi"}]},  # an Anthropic request body
    {"messages": [{"direction": "send", "message": {"type": "control_request", "request_id": "r"}}]},  # no turn at all
])
def test_other_shapes_are_not_this_container(tmp_path, doc):
    path = tmp_path / "x.json"
    path.write_text(json.dumps(doc))
    try:
        recording = load(str(path))
    except UnreadableInput:
        return
    assert recording.container != "claude-agent-sdk"


def test_not_a_recording_when_nothing_else_reads_it(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"metadata": {}, "messages": [{"direction": "send", "message": {"type": "hello"}}]}))
    with pytest.raises(UnreadableInput) as info:
        load(str(path))
    assert info.value.not_recording


@pytest.mark.parametrize("mutate, where", [
    (lambda m: m[3]["message"]["message"].update(content=7), "messages[3].message.message"),
    (lambda m: m[2]["message"].update(message="What is 2+2?"), "messages[2].message"),
])
def test_malformed_transcript_is_exit_2_naming_the_place(tmp_path, mutate, where):
    doc = json.loads((DATA / "basic_conversation.json").read_text())
    mutate(doc["messages"])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    for command in ("show", "reassemble", "check"):
        run = CliRunner().invoke(app, [command, str(path)])
        assert run.exit_code == 2, (command, run.output)
        assert run.stdout == "" and "Traceback" not in run.output
        assert str(path) in run.stderr and where in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_cut_off_file_is_exit_2(tmp_path):
    path = tmp_path / "cut.json"
    path.write_bytes((DATA / "tool_use_conversation.json").read_bytes()[:5000])
    run = CliRunner().invoke(app, ["show", str(path)])
    assert run.exit_code == 2 and run.stdout == "" and "cut off mid-JSON" in run.stderr
    assert "Traceback" not in run.output
