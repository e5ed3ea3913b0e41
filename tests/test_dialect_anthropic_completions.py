"""Anthropic's legacy Text Completions (``/v1/complete``): the real streamed and unstreamed
recordings read as an independent reading of their raw events says, the Bedrock Claude v2 fold
shares the fold, edge cases never crash, and ``serve`` replays the stream as the API sends it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import orjson
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from llmtrace import dialects
from llmtrace.anomalies import detect
from llmtrace.cli import app
from llmtrace.containers import bodies
from llmtrace.dialects import FoldContext, anthropic_completions, bedrock_invoke
from llmtrace.loader import load
from llmtrace.server.app import Background, Options, Server
from raw_reading import bodies as raw_bodies
from raw_reading import sse

DATA = Path(__file__).parent / "data" / "legacy"
STREAMED = DATA / "openllmetry-js" / "anthropic-completions-streaming.har"
UNSTREAMED = DATA / "openllmetry" / "test_anthropic_completion.yaml"


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def ctx() -> FoldContext:
    return FoldContext(dialect="anthropic-completions")


def event(text: str, reason: str | None = None, stop: str | None = None) -> dict:
    return {"type": "completion", "id": "compl_1", "completion": text, "stop_reason": reason, "model": "claude-2.1",
            "stop": stop, "log_id": "compl_1"}


def test_the_real_stream_reads_as_its_raw_events_say():
    ((url, text),) = raw_bodies(STREAMED)
    events = [(name, json.loads(data)) for name, data in sse(text)]
    completions = [data for name, data in events if name == "completion"]
    assert url.endswith("/v1/complete") and len(events) == 110 and len(completions) == 109
    assert [name for name, _ in events].count("ping") == 1
    exchange = load(str(STREAMED)).exchanges[0]
    assert exchange.dialect == "anthropic-completions" and exchange.fidelity == "chunks"
    (message,) = exchange.result.choices
    expected = "".join(e["completion"] for e in completions)
    assert message.content == expected and expected.startswith(" Here's a silly attempt")
    assert (message.finish_reason, message.stop) == (completions[-1]["stop_reason"], "stop")
    assert message.finish_reason == "stop_sequence"
    assert exchange.result.model == "claude-2.1" and exchange.result.complete
    assert exchange.result.usage.input_tokens is None and exchange.result.usage.output_tokens is None
    assert exchange.result.observations.finish_chunks == {0: 109}
    # reassemble: the unstreamed completion object, the last event's fields with the whole text
    reassembled = orjson.loads(run("reassemble", str(STREAMED)).stdout)
    assert reassembled == {**completions[-1], "completion": expected}
    assert list(reassembled) == ["type", "id", "completion", "stop_reason", "model", "stop", "log_id"]


def test_no_usage_is_skipped_not_failed():
    exchange = load(str(STREAMED)).exchanges[0]
    codes = {a.code for a in detect(exchange)}
    assert "usage-missing" not in codes and "no-finish" not in codes
    assert codes == {"model-mismatch"}  # claude-2 → claude-2.1: info, see test_legacy_fixes
    checked = run("check", "--json", str(STREAMED))
    line = orjson.loads(checked.stdout)
    assert checked.exit_code == 0 and line["skipped"] == ["usage-missing"]
    shown = orjson.loads(run("show", "--json", str(STREAMED)).stdout)
    assert shown["exchanges"][0]["skipped"] == ["usage-missing"]
    assert "not checked: usage-missing" in run("show", str(STREAMED)).stdout


def test_the_unstreamed_body_is_read_and_reassembled_as_sent():
    ((_, text),) = raw_bodies(UNSTREAMED)
    body = json.loads(text)
    exchange = load(str(UNSTREAMED)).exchanges[0]
    assert exchange.dialect == "anthropic-completions" and exchange.fidelity == "final-text"
    (message,) = exchange.result.choices
    assert (message.content, message.finish_reason, message.stop) == (body["completion"], body["stop_reason"], "stop")
    assert orjson.loads(run("reassemble", str(UNSTREAMED)).stdout) == body
    request = exchange.normalized_request
    assert request.model == "claude-instant-1.2" and request.raw_text
    assert [(m.role, m.content) for m in request.messages] == [("prompt", "\n\nHuman:\nHello world\n\n\nAssistant:")]
    assert request.params == {"max_tokens_to_sample": 2048, "top_p": 0.1}
    assert run("check", str(UNSTREAMED)).exit_code == 0


def test_bedrock_claude_v2_shares_the_fold():
    state = bedrock_invoke._state("anthropic-completions", ctx())
    assert isinstance(state, anthropic_completions.CompletionFold)
    metrics = {bedrock_invoke.METRICS: {"inputTokenCount": 7, "outputTokenCount": 2}}
    chunks = [bedrock_invoke.chunk_of({"completion": " A", "stop_reason": None, "stop": None}),
              bedrock_invoke.chunk_of({"completion": "", "stop_reason": "max_tokens", "stop": None, **metrics})]
    result = bedrock_invoke.fold(chunks, FoldContext(dialect="bedrock-invoke"))
    assert result.response == {"type": "completion", "completion": " A", "stop_reason": "max_tokens", "stop": None}
    assert result.choices[0].stop == "length" and result.usage.input_tokens == 7
    assert result.observations.skipped == []  # Bedrock counts the tokens: usage is checked there


def test_max_tokens_cut_streams_errors_and_unknown_events():
    longest = anthropic_completions.fold([event("Hel"), {"type": "ping"}, event("lo", "max_tokens")], ctx())
    assert longest.choices[0].content == "Hello" and longest.choices[0].stop == "length" and longest.complete
    assert longest.observations.finish_chunks == {0: 2}
    cut = anthropic_completions.fold([event("Hel"), event("lo")], ctx())
    assert not cut.complete and cut.choices[0].finish_reason is None and cut.choices[0].content == "Hello"
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    broken = anthropic_completions.fold([event("Hi"), error, {"type": "something_new", "x": 1}], ctx())
    assert broken.observations.stream_errors == [(1, error["error"])] and broken.choices[0].content == "Hi"
    empty = anthropic_completions.fold([], ctx())
    assert empty.choices[0].content is None and not empty.complete


def test_edge_cases_in_a_recording(tmp_path):
    sse_text = "".join(anthropic_completions.encode(e).decode() for e in
                       [event("Hel"), {"type": "ping"}, event("lo")])
    cut = tmp_path / "cut.sse"
    cut.write_text(sse_text)
    codes = {a["code"] for a in orjson.loads(run("check", "--json", str(cut)).stdout)["anomalies"]}
    assert "no-finish" in codes and "usage-missing" not in codes
    bad = tmp_path / "bad.sse"
    bad.write_text(sse_text + anthropic_completions.encode({**event(""), "completion": 5}).decode())
    result = run("check", "--json", str(bad))
    assert result.exit_code == 0 and "Traceback" not in result.stderr
    found = [a for a in orjson.loads(result.stdout)["anomalies"] if a["code"] == "unread-chunk"]
    assert [a["chunks"] for a in found] == [[3]]  # the chunk is left out, the exchange kept (issue 23)


def test_detected_by_shape_first_and_the_url_last():
    assert dialects.detect([event("x")], None, "https://example.com/v1/messages") == "anthropic-completions"
    assert dialects.detect([{"type": "completion", "completion": 3}], None, None) != "anthropic-completions"
    assert dialects.detect([], {"prompt": "\n\nHuman: hi\n\nAssistant:", "model": "claude-2"},
                           "https://api.anthropic.com/v1/complete") == "anthropic-completions"
    assert dialects.detect([], {"prompt": "hi", "model": "m"}, "https://x/v1/completions") == "openai-completions"
    # Both Anthropic stream APIs send pings: a ping first does not decide.
    assert dialects.detect([{"type": "ping"}, event("x")], None, None) == "anthropic-completions"
    assert dialects.detect([{"type": "ping"}, {"type": "message_start", "message": {}}], None, None) \
        == "anthropic-messages"


@given(st.lists(st.text(max_size=8), max_size=12), st.sampled_from(["stop_sequence", "max_tokens", None]))
def test_any_split_folds_to_the_joined_text(pieces, reason):
    events = [event(p) for p in pieces] + ([event("", reason, "\n\nHuman:")] if reason else [])
    result = anthropic_completions.fold(events, ctx())
    assert result.choices[0].content == ("".join(pieces) if events else None)
    assert result.complete == (reason is not None)
    assert result.response["completion"] == "".join(pieces)


def test_the_wire_format_folds_back_to_the_recording():
    exchange = load(str(STREAMED)).exchanges[0]
    wire = b"".join(anthropic_completions.encode(c) for c in exchange.response.chunks).decode()
    assert wire.startswith("event: completion\ndata: {") and "event: ping\n" in wire
    payloads = bodies.split(wire, "")
    assert payloads.streaming and payloads.chunks == exchange.response.chunks
    again = anthropic_completions.fold(payloads.chunks, ctx())
    assert again.choices == exchange.result.choices and again.response == exchange.result.response


def _post(base: str, body: dict) -> tuple[int, str, bytes]:
    with httpx.Client(timeout=30) as client:
        with client.stream("POST", base + "/v1/complete", json=body) as response:
            return response.status_code, response.headers.get("content-type", ""), b"".join(response.iter_raw())


def test_serve_replays_the_stream(tmp_path):
    exchange = load(str(STREAMED)).exchanges[0]
    body = dict(exchange.request.body)
    with Background(Server([load(str(STREAMED))], options=Options(log=lambda _: None, speed=None))) as base:
        status, kind, data = _post(base, body)
    assert status == 200 and kind.startswith("text/event-stream")
    # one frame per recorded event, in the API's framing (``event: completion`` / ``ping``)
    assert data == b"".join(anthropic_completions.encode(c) for c in exchange.response.chunks)
    # A stream kept without its request (a bare SSE file) is served on the API's own path.
    bare = tmp_path / "stream.sse"
    bare.write_bytes(data)
    options = Options(log=lambda _: None, speed=None, mode="sequence")
    with Background(Server([load(str(bare))], options=options)) as base:
        status, _, again = _post(base, body)
    assert status == 200
    capture = tmp_path / "capture.sse"
    capture.write_bytes(again)
    served = load(str(capture)).exchanges[0]
    assert served.dialect == "anthropic-completions" and served.result.choices == exchange.result.choices
