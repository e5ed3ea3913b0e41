"""Bedrock Agents Runtime (issue 23, rule 4): InvokeAgent / InvokeInlineAgent event streams whose
chunks hold plain text, with traces; RetrieveAndGenerateStream by its endpoint. Real cassettes from
openinference (tests/data/bedrock_agent/openinference) and streams written here in the API's shapes."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import llmtrace
from conftest import DATA
from llmtrace import dialects
from llmtrace.anomalies import detect
from llmtrace.containers import aws_eventstream
from llmtrace.dialects import bedrock_agent

AGENT = DATA / "bedrock_agent"
REAL = AGENT / "openinference"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmtrace", *args], capture_output=True, text=True, timeout=60)


def test_real_invoke_agent_without_traces_reads_the_plain_text_chunk():
    (ex,) = llmtrace.load(str(REAL / "test_agent_call_without_traces.yaml")).exchanges
    assert ex.dialect == "bedrock-agent"
    assert ex.result.choices[0].content == "Sorry, I don't have enough information to answer that."
    assert ex.result.complete
    assert {a.code for a in detect(ex) if a.severity != "info"} == set()


def test_real_inline_agent_with_traces():
    (ex,) = llmtrace.load(str(REAL / "test_invoke_inline_agent.yaml")).exchanges
    assert ex.dialect == "bedrock-agent"
    (message,) = ex.result.choices
    assert message.content == "The President of the United States in 2001 was George W. Bush."
    assert message.reasoning.startswith("To answer this question")
    assert (message.finish_reason, message.stop) == ("FINISH", "stop")
    assert (ex.result.usage.input_tokens, ex.result.usage.output_tokens) == (255, 136)
    assert ex.result.model == "anthropic.claude-3-5-sonnet-20240620-v1:0"
    assert {a.code for a in detect(ex) if a.severity != "info"} == set()
    response = llmtrace.reassemble(ex)
    assert response["completion"] == message.content
    assert [list(t["trace"]["orchestrationTrace"]) for t in response["trace"]] == \
        [["modelInvocationInput"], ["modelInvocationOutput"], ["rationale"], ["observation"]]


def test_action_group_calls_knowledge_base_and_usage():
    ex = llmtrace.load(str(AGENT / "invoke-agent.json")).exchanges[0]
    (message,) = ex.result.choices
    assert message.content == "The sum of 10 and 20 is 30."
    (call,) = message.tool_calls
    assert (call.id, call.name, call.parsed_arguments, call.server) == \
        ("t-0", "add_two_numbers", {"number_1": "10", "number_2": "20"}, True)
    assert (ex.result.usage.input_tokens, ex.result.usage.output_tokens) == (1122 + 1315, 171 + 60)
    assert message.finish_reason == "FINISH" and ex.result.complete
    response = llmtrace.reassemble(ex)
    assert set(response) == {"completion", "trace", "citations"} and len(response["trace"]) == 9
    assert detect(ex) == []


def test_return_control_is_a_client_tool_call():
    ex = llmtrace.load(str(AGENT / "invoke-agent.json")).exchanges[1]
    (call,) = ex.result.choices[0].tool_calls
    assert (call.id, call.name, call.parsed_arguments, call.server) == ("inv-1", "get_weather", {"city": "Paris"}, False)
    assert "returnControl" in llmtrace.reassemble(ex)
    assert "empty-response" not in {a.code for a in detect(ex)}


def test_failure_trace_and_exception_are_errors_in_the_stream():
    ex = llmtrace.load(str(AGENT / "invoke-agent.json")).exchanges[2]
    errors = [a for a in detect(ex) if a.code == "error-in-stream"]
    assert [a.chunks for a in errors] == [[1], [2]]
    assert "Lambda function timed out" in errors[0].message


def test_error_exchange_takes_the_dialect_from_the_endpoint():
    ex = llmtrace.load(str(AGENT / "invoke-agent.json")).exchanges[3]
    assert ex.dialect == "bedrock-agent" and ex.failed
    assert bedrock_agent.dialect_of_path("/agents/SESSION1") == "bedrock-agent"
    assert dialects.module_for("bedrock-retrieve").dialect_of_path("/retrieveAndGenerateStream") == "bedrock-retrieve"
    assert bedrock_agent.dialect_of_path("/agents/A/agentAliases/B/sessions/C/text") == "bedrock-agent"
    assert bedrock_agent.dialect_of_path("/model/x/invoke") is None


def test_invoke_model_chunks_are_still_bedrock_invoke():
    from llmtrace.dialects import bedrock_invoke

    chunk = bedrock_invoke.chunk_of({"type": "message_start", "message": {"id": "m"}})
    assert dialects.sniff(chunk) == "bedrock-invoke"
    text = {"chunk": {"bytes": base64.b64encode(b"plain answer").decode()}}
    assert dialects.sniff(text) == "bedrock-agent"


def test_reassemble_cli_prints_completion_and_trace():
    out = _cli("reassemble", str(REAL / "test_invoke_inline_agent.yaml"))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert set(doc) == {"completion", "trace"}


def test_encoded_stream_folds_the_same():
    ex = llmtrace.load(str(AGENT / "invoke-agent.json")).exchanges[0]
    wire = b"".join(bedrock_agent.encode(c) for c in ex.response.chunks)
    stream = aws_eventstream.read(wire)
    assert stream.chunks == ex.response.chunks
    again = bedrock_agent.fold(stream.chunks, dialects.FoldContext(dialect="bedrock-agent"))
    assert again.choices == ex.result.choices and again.response == ex.result.response
