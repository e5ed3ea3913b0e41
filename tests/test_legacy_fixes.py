"""Misreadings found on held-out public cassettes: a Bedrock invoke stream a guardrail ended,
Bedrock and Vertex model ids taken for other models, OpenRouter's image output dropped."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from llmtrace.anomalies import detect
from llmtrace.anomalies.metadata import is_minor_version, model_name
from llmtrace.cli import app
from llmtrace.dialects import FoldContext, bedrock_invoke, openai_chat
from llmtrace.loader import load

DATA = Path(__file__).parent / "data" / "legacy"
GUARDRAIL = DATA / "openllmetry" / "test_guardrail_invoke_stream.yaml"
MIRASCOPE = DATA / "mirascope"


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def codes(exchange) -> list[str]:
    return [a.code for a in detect(exchange)]


# --- a guardrail that ended a Bedrock invoke stream ------------------------------------------------


def _inner_events(path: Path) -> list[dict]:
    """The provider events of an event-stream body, read with the standard library alone: frames
    of prelude (total length, headers length, CRC), headers, payload, CRC."""
    (interaction,) = yaml.load(path.read_bytes(), Loader=yaml.SafeLoader)["interactions"]
    raw = interaction["response"]["body"]["string"]
    events, at = [], 0
    while at < len(raw):
        total, headers = int.from_bytes(raw[at:at + 4], "big"), int.from_bytes(raw[at + 4:at + 8], "big")
        payload = raw[at + 12 + headers:at + total - 4]
        events.append(json.loads(base64.b64decode(json.loads(payload)["bytes"])))
        at += total
    return events


def test_the_real_blocked_stream_is_finished_by_the_guardrail():
    (event,) = _inner_events(GUARDRAIL)
    assert event[bedrock_invoke.GUARDRAIL] == "INTERVENED" and "completionReason" not in event
    exchange = load(str(GUARDRAIL)).exchanges[0]
    (message,) = exchange.result.choices
    assert message.content == event["outputText"] == "Input blocked"
    assert (message.finish_reason, message.stop) == ("INTERVENED", "content_filter") and exchange.result.complete
    assert codes(exchange) == ["content-filter"]  # no false no-finish
    assert exchange.result.observations.finish_chunks == {0: 0}
    reassembled = orjson.loads(run("reassemble", str(GUARDRAIL)).stdout)
    assert reassembled == {"inputTextTokenCount": 6, "results": [{"tokenCount": 3, "outputText": "Input blocked",
                                                                  "completionReason": None}],
                           "amazon-bedrock-guardrailAction": "INTERVENED"}
    assert run("reassemble", str(GUARDRAIL)).exit_code == 0


def test_a_titan_request_is_normalized_as_its_input_text():
    (interaction,) = yaml.load(GUARDRAIL.read_bytes(), Loader=yaml.SafeLoader)["interactions"]
    sent = json.loads(interaction["request"]["body"])
    request = load(str(GUARDRAIL)).exchanges[0].normalized_request
    assert [(m.role, m.content) for m in request.messages] == [("user", sent["inputText"])]
    assert request.params == sent["textGenerationConfig"]


def _titan(text, **more):
    return bedrock_invoke.chunk_of({"outputText": text, "index": 0, **more})


def test_a_guardrail_that_masked_text_leaves_the_models_finish():
    masked = {bedrock_invoke.GUARDRAIL: "INTERVENED"}
    chunks = [_titan("Account ", inputTextTokenCount=4, **masked),
              _titan("{ACCOUNT}", totalOutputTextTokenCount=3, completionReason="FINISH", **masked)]
    result = bedrock_invoke.fold(chunks, FoldContext(dialect="bedrock-invoke"))
    assert (result.choices[0].finish_reason, result.choices[0].stop) == ("FINISH", "stop") and result.complete
    assert result.observations.filter_results == [{"guardrail": {"filtered": True, "action": "INTERVENED"}}]
    assert result.response[bedrock_invoke.GUARDRAIL] == "INTERVENED"


def test_a_cut_stream_with_a_guardrail_is_still_unfinished():
    # INTERVENED on every chunk (text masked) and the stream cut before its last event: nothing
    # says it ended, so it did not.
    masked = {bedrock_invoke.GUARDRAIL: "INTERVENED"}
    result = bedrock_invoke.fold([_titan("Once ", **masked), _titan("upon", **masked)],
                                 FoldContext(dialect="bedrock-invoke"))
    assert result.choices[0].finish_reason is None and not result.complete
    blocked_then_cut = [_titan("Input blocked", totalOutputTextTokenCount=3, **masked),
                        {":cut-off": {"offset": 90, "reason": "cut"}}]
    cut = bedrock_invoke.fold(blocked_then_cut, FoldContext(dialect="bedrock-invoke"))
    assert cut.choices[0].stop == "content_filter" and not cut.complete  # a broken frame is never complete


def test_a_guardrail_on_other_providers_last_event():
    metrics = {bedrock_invoke.METRICS: {"inputTokenCount": 5, "outputTokenCount": 2}}
    chunks = [bedrock_invoke.chunk_of({"generation": "Sorry", "prompt_token_count": 5, "stop_reason": None}),
              bedrock_invoke.chunk_of({"generation": "", "stop_reason": None, bedrock_invoke.GUARDRAIL: "INTERVENED",
                                       **metrics})]
    result = bedrock_invoke.fold(chunks, FoldContext(dialect="bedrock-invoke"))
    assert result.choices[0].stop == "content_filter" and result.complete
    assert result.response["generation"] == "Sorry" and result.response[bedrock_invoke.GUARDRAIL] == "INTERVENED"


# --- model ids that only address the model differently ----------------------------------------------


@pytest.mark.parametrize("requested, served", [
    ("us.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5-20251001"),
    ("eu.anthropic.claude-3-7-sonnet-20250219-v1:0", "claude-3-7-sonnet-20250219"),
    ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5-20250929"),
    ("anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet-20241022"),
    ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/apac.anthropic.claude-3-haiku-20240307-v1:0",
     "claude-3-haiku-20240307"),
    ("openai.gpt-oss-20b-1:0", "gpt-oss-20b"),
    ("claude-haiku-4-5@20251001", "claude-haiku-4-5-20251001"),
    ("publishers/anthropic/models/claude-3-5-sonnet@20240620", "claude-3-5-sonnet-20240620"),
])
def test_the_same_model_named_by_bedrock_or_vertex(requested, served):
    assert model_name(requested) == model_name(served)


@pytest.mark.parametrize("requested, served", [
    ("us.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-sonnet-4-5-20250929"),
    ("anthropic.claude-v2", "claude-v2:1"),  # Claude 2 and 2.1: the v-number is the model there
    ("anthropic.claude-v2:1", "claude"),
    ("claude-haiku-4-5@20251001", "claude-haiku-4-5-20250101"),
    ("gpt-4.1", "gpt-4"),
    ("mistral-large-v1", "mistral-large"),  # no Bedrock provider prefix: -v1 is part of the name
    ("gemini-1.5-pro@001", "gemini-1.5-pro-001"),
])
def test_other_models_stay_other_models(requested, served):
    assert model_name(requested) != model_name(served)


def test_the_real_bedrock_and_vertex_streams_have_no_mismatch():
    for name in ("anthropic-bedrock-stream.yaml", "anthropic-vertex-stream.yaml"):
        recording = load(str(MIRASCOPE / name))
        generations = [x for x in recording.exchanges if x.result is not None and x.result.model]
        assert len(generations) == 1, name
        (exchange,) = generations
        requested = exchange.normalized_request.model or exchange.request.model
        assert requested in ("us.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5@20251001")
        assert exchange.result.model == "claude-haiku-4-5-20251001"
        assert "model-mismatch" not in codes(exchange)
        exchange.result.model = "claude-sonnet-4-5-20250929"  # another model served: still flagged
        (found,) = [a for a in detect(exchange) if a.code == "model-mismatch"]
        assert found.severity == "warning"


def test_legacy_claude_aliases_are_the_versions_they_named():
    assert is_minor_version("claude-2.1", "claude-2") and is_minor_version("claude-instant-1.2", "claude-instant-1")
    assert not is_minor_version("claude-3.5", "claude-3") and not is_minor_version("claude-21", "claude-2")
    exchange = load(str(DATA / "openllmetry-js" / "anthropic-completions-streaming.har")).exchanges[0]
    (found,) = [a for a in detect(exchange) if a.code == "model-mismatch"]
    assert found.severity == "info" and "the version the alias named" in found.message


# --- OpenRouter image output -------------------------------------------------------------------------


def _chunk(delta: dict, finish: str | None = None) -> dict:
    return {"id": "gen-1", "provider": "Google", "model": "google/gemini-2.5-flash-image-preview",
            "object": "chat.completion.chunk", "created": 1764489310,
            "choices": [{"index": 0, "delta": {"role": "assistant", **delta}, "finish_reason": finish,
                         "native_finish_reason": "STOP" if finish else None, "logprobs": None}]}


# A 1x1 PNG (OpenRouter sends the whole generated image this way).
PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAAB"
       "JRU5ErkJggg==")


def _image(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


def test_images_are_kept_in_the_reassembled_message_in_order():
    chunks = [_chunk({"content": "Here you go: "}), _chunk({"content": "", "images": [_image(PNG)]}),
              _chunk({"content": "", "images": [_image(PNG + "#2"), _image(PNG + "#3")]}),
              _chunk({"content": ""}, "stop")]
    result = openai_chat.fold(chunks, FoldContext(dialect="openai-chat"))
    message = result.response["choices"][0]["message"]
    assert message["content"] == "Here you go: "
    assert message["images"] == [_image(PNG), _image(PNG + "#2"), _image(PNG + "#3")]
    assert result.choices[0].content == "Here you go: "  # an image is no text
    assert all("base64" not in d.text for d in result.timeline.deltas)
    plain = openai_chat.fold([_chunk({"content": "Hi"}, "stop")], FoldContext(dialect="openai-chat"))
    assert "images" not in plain.response["choices"][0]["message"]


def test_images_in_a_recording_are_never_printed_by_show(tmp_path):
    path = tmp_path / "image.sse"
    chunks = [_chunk({"content": "A cat: "}), _chunk({"content": "", "images": [_image(PNG)]}),
              _chunk({"content": ""}, "stop")]
    path.write_bytes(b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n")
    reassembled = orjson.loads(run("reassemble", str(path)).stdout)
    assert reassembled["choices"][0]["message"]["images"] == [_image(PNG)]
    shown = run("show", str(path))
    assert shown.exit_code == 0 and "A cat:" in shown.stdout and "base64" not in shown.stdout
    bad = tmp_path / "bad.sse"
    bad.write_bytes(b"data: " + orjson.dumps(_chunk({"content": "", "images": {"url": PNG}})) + b"\n\n")
    # A chunk of the wrong shape is left out and named (issue 23), never printed.
    result = run("check", "--json", str(bad))
    (found,) = orjson.loads(result.stdout)["anomalies"]
    assert (found["code"], found["chunks"]) == ("unread-chunk", [0]) and "images should be an array" in found["message"]
    assert "base64" not in result.stdout
