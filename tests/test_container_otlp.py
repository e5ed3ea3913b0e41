"""OpenTelemetry GenAI spans as OTLP JSON: one exchange per generation span (the files in
tests/data/otlp are written from the OTLP JSON encoding and the GenAI conventions; see their
README)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from llmtrace.anomalies import detect, skipped_codes
from llmtrace.view import provider_json
from llmtrace.errors import UnreadableInput
from llmtrace.loader import load

DATA = Path(__file__).parent / "data" / "otlp"


def test_a_tool_round_is_two_generations_and_the_other_spans_are_not_exchanges():
    recording = load(str(DATA / "genai-chat-tool-round.json"))
    assert recording.container == "otlp"
    call, answer = recording.exchanges
    assert [ex.dialect for ex in recording.exchanges] == ["otel-genai", "otel-genai"]
    assert call.request.model == "gpt-4o-mini" and call.request.host == "api.openai.com:443"
    assert [m.role for m in call.normalized_request.messages] == ["system", "user"]
    assert call.normalized_request.tools == ["get_weather"]
    assert call.normalized_request.params == {"temperature": 0.2, "max_tokens": 200}
    [tool] = call.result.choices[0].tool_calls
    assert (tool.name, tool.parsed_arguments, tool.id) == ("get_weather", {"city": "Tokyo"}, "call_VSPygqKTWdrhaFErNvMV18Yl")
    assert call.result.choices[0].stop == "tool_calls"
    assert answer.result.choices[0].content == "It's rainy in Tokyo, about 57°F."
    assert answer.result.usage.input_tokens == 121 and answer.result.model == "gpt-4o-mini-2024-07-18"
    assert "[tool result] rainy, 57°F" in answer.normalized_request.messages[-1].content


def test_fidelity_is_what_a_span_keeps():
    call, _ = load(str(DATA / "genai-chat-tool-round.json")).exchanges
    assert call.fidelity == "ttft-only"  # it knows its time to first chunk, and no chunks
    assert call.result.timeline.durations == {"time_to_first_chunk": 0.412}
    assert "mixed-ids" in skipped_codes(call) and "tool-call-in-text" not in skipped_codes(call)
    legacy = load(str(DATA / "openllmetry-legacy.json")).exchanges[0]
    assert legacy.fidelity == "final-text"


def test_a_span_without_captured_content_skips_the_text_checks():
    quiet, failed = load(str(DATA / "genai-no-content.json")).exchanges
    assert quiet.result.choices[0].content is None and quiet.result.choices[0].finish_reason == "end_turn"
    assert quiet.result.usage.cached_tokens == 1024
    skipped = skipped_codes(quiet)
    assert {"empty-response", "tool-call-in-text"} <= set(skipped)
    assert "empty-response" not in [a.code for a in detect(quiet)]
    assert failed.failed and failed.response.error_message == "Error code: 529 - overloaded"
    assert failed.fidelity is None and [a.code for a in detect(failed)] == ["error-response"]


def test_legacy_flattened_attributes():
    [ex] = load(str(DATA / "openllmetry-legacy.json")).exchanges
    assert [m.content for m in ex.normalized_request.messages] == ["Answer briefly.", "Tell me a joke about OpenTelemetry"]
    assert ex.result.choices[0].content.startswith("Why did the trace")
    assert ex.result.usage.model_dump() == {"input_tokens": 24, "output_tokens": 16, "total_tokens": 40,
                                            "cached_tokens": None, "reasoning_tokens": None}
    body = provider_json(ex)
    assert body["gen_ai.completion.0.content"] == ex.result.choices[0].content
    assert body["span"]["name"] == "openai.chat"


def test_broken_attribute_values_name_the_span(tmp_path):
    doc = orjson.loads((DATA / "openllmetry-legacy.json").read_bytes())
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"].append(
        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "lots"}})
    target = tmp_path / "broken.json"
    target.write_bytes(orjson.dumps(doc))
    with pytest.raises(UnreadableInput, match=r"intValue should be an integer.*spans\[0\]"):
        load(str(target))


def test_json_lines_of_exports_read_as_one(tmp_path):
    """The collector's file exporter writes one export per line."""
    lines = [orjson.dumps(orjson.loads((DATA / name).read_bytes())) for name in
             ("genai-chat-tool-round.json", "openllmetry-legacy.json")]
    target = tmp_path / "traces.jsonl"
    target.write_bytes(b"\n".join(lines) + b"\n")
    recording = load(str(target))
    assert recording.container == "otlp" and len(recording.exchanges) == 3
    assert recording.exchanges[2].result.choices[0].content.startswith("Why did the trace")
    target.write_bytes(lines[0] + b"\n" + b'{"chunk": 1}\n')
    with pytest.raises(UnreadableInput, match="line is not otlp like the first, line 2"):
        load(str(target))


def test_other_json_lines_are_untouched():
    ndjson = Path(__file__).resolve().parent.parent / "examples" / "containers" / "ndjson" / "ollama-chat.ndjson"
    assert load(str(ndjson)).container == "ndjson"
