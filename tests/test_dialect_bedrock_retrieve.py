"""Bedrock Knowledge Bases RetrieveAndGenerateStream: the openinference cassette, read against
its raw events."""

from __future__ import annotations

from pathlib import Path

from llmtrace.anomalies import detect
from llmtrace.view import provider_json
from llmtrace.dialects import FoldContext
from llmtrace.dialects.bedrock_retrieve import fold
from llmtrace.loader import load

CASSETTE = Path(__file__).parent / "data" / "bedrock" / "openinference" / "test_retrieve_and_generate_stream.yaml"


def test_the_answer_and_its_citations():
    [exchange] = load(str(CASSETTE)).exchanges
    chunks = exchange.response.chunks
    assert exchange.dialect == "bedrock-retrieve"
    assert exchange.normalized_request.model == "anthropic.claude-3-haiku-20240307-v1:0"
    assert [m.content for m in exchange.normalized_request.messages] == ["What is Telos?"]
    text = "".join(c["output"]["text"] for c in chunks if "output" in c)
    assert exchange.result.choices[0].content == text and text.startswith("\nTelos is")
    body = provider_json(exchange)
    assert body["output"]["text"] == text and len(body["citations"]) == sum("citation" in c for c in chunks) == 3
    assert exchange.result.complete and exchange.result.choices[0].finish_reason is None
    assert {a.code for a in detect(exchange)} == {"usage-missing"}


def test_a_guardrail_and_a_cut_stream():
    chunks = [{"output": {"text": "Hel"}}, {"output": {"text": "lo"}}, {"guardrail": {"action": "INTERVENED"}}]
    result = fold(chunks, FoldContext(dialect="bedrock-retrieve"))
    assert result.response == {"output": {"text": "Hello"}, "citations": [], "guardrailAction": "INTERVENED"}
    cut = fold(chunks[:2] + [{":cut-off": "the last frame is cut"}], FoldContext(dialect="bedrock-retrieve"))
    assert not cut.complete
