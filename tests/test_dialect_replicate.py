"""Replicate prediction streams (text SSE) and prediction objects; the SSE text-event rule of
the bodies splitter that makes them readable."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from llmtrace.cli import app
from llmtrace.containers import bodies as splitter
from llmtrace.dialects import FoldContext, detect, replicate
from llmtrace.errors import ShapeError
from llmtrace.loader import load
from raw_reading import NEWFORMATS, bodies, sse

CASSETTE = next((NEWFORMATS / "C-openllmetry").glob("*.yaml"))


def test_the_real_stream_reads_as_an_independent_reading_says():
    recording = load(str(CASSETTE))
    url, text = bodies(CASSETTE)[1]
    events = sse(text)
    expected = "".join(data for name, data in events if name == "output")
    exchange = recording.exchanges[1]
    assert exchange.dialect == "replicate"
    message = exchange.result.choices[0]
    assert message.content == expected
    assert expected.startswith("Sure, here's a joke about OpenTelemetry:\n\nWhy did")
    assert message.finish_reason == "done" and message.stop == "stop" and exchange.result.complete
    assert exchange.result.response["status"] == "succeeded"
    assert exchange.result.response["output"] == [data for name, data in events if name == "output"]
    assert recording.exchanges[0].dialect == "opaque"  # the prediction that is only "starting"


def test_cli_reassemble_and_check():
    run = CliRunner().invoke(app, ["reassemble", "--index", "1", "--normalized", str(CASSETTE)])
    assert run.exit_code == 0, run.output
    normalized = orjson.loads(run.stdout)
    assert normalized["dialect"] == "replicate" and normalized["choices"][0]["content"].endswith("assist you with?")
    run = CliRunner().invoke(app, ["check", "--json", str(CASSETTE)])
    line = orjson.loads(run.stdout.splitlines()[0])
    assert line["error"] is None and "no-finish" not in [a["code"] for a in line["anomalies"]]


def _split(text: str):
    return splitter.sse_payloads(splitter.text_lines(text))


def test_text_events_keep_blank_multiline_and_json_looking_data():
    text = (": hi\n\nevent: output\ndata: \n\nevent: output\ndata:  \n\nevent: output\ndata: 42\n\n"
            "event: output\ndata: a\ndata: \ndata: b\n\nevent: logs\ndata: loading\n\n"
            "event: done\ndata: {}\n\n:408: 408 Request Timeout\n\n")
    chunks, done, cut = _split(text)
    assert chunks == [{"event": "output", "data": ""}, {"event": "output", "data": " "},
                      {"event": "output", "data": "42"}, {"event": "output", "data": "a\n\nb"},
                      {"event": "logs", "data": "loading"}, {"event": "done", "data": "{}"}]
    assert not done and cut is None
    result = replicate.fold(chunks, FoldContext(dialect="replicate"))
    assert result.choices[0].content == " 42a\n\nb" and result.response["logs"] == "loading"


def test_broken_json_streams_are_still_reported():
    with pytest.raises(ShapeError):
        _split("event: message_start\ndata: {\"a\": 1}\n\nevent: delta\ndata: oops\n\nevent: x\ndata: {}\n\n")
    with pytest.raises(ShapeError):
        _split("data: {}\n\ndata: oops\n\ndata: {}\n\n")
    chunks, _, cut = _split('event: a\ndata: {"x": 1}\n\nevent: b\ndata: {"x": ')
    assert chunks == [{"x": 1}] and cut is not None
    # JSON events keep their old reading: the first named event decides, objects mean JSON.
    assert _split("event: a\ndata: {\"x\": 1}\n\n") == ([{"x": 1}], False, None)


def test_error_canceled_unknown_and_cut_streams():
    events = [{"event": "output", "data": "Hi"}, {"event": "error", "data": '{"detail": "boom"}'},
              {"event": "done", "data": '{"reason": "error"}'}]
    result = replicate.fold(events, FoldContext(dialect="replicate"))
    assert result.choices[0].stop == "error" and result.response["status"] == "failed"
    assert result.observations.stream_errors == [(1, {"detail": "boom"})]
    result = replicate.fold([{"event": "output", "data": "Hi"}, {"event": "done", "data": '{"reason": "canceled"}'}],
                            FoldContext(dialect="replicate"))
    assert result.choices[0].finish_reason == "canceled" and result.choices[0].stop is None
    cut = replicate.fold([{"event": "output", "data": "Hi"}, {"event": "metrics", "data": "x"}],
                         FoldContext(dialect="replicate"))
    assert not cut.complete and cut.choices[0].content == "Hi" and cut.response["status"] == "processing"
    assert cut.response["unknown_events"] == [{"event": "metrics", "data": "x"}]


def test_a_prediction_object_with_output_is_a_generation():
    body = {"id": "p1", "version": "v", "status": "succeeded", "urls": {}, "output": ["Hel", "lo"],
            "metrics": {"input_token_count": 5, "output_token_count": 2}}
    assert detect([body]) == "replicate"
    result = replicate.fold_body(body, FoldContext(dialect="replicate"))
    assert result.choices[0].content == "Hello" and result.usage.input_tokens == 5 and result.complete


@settings(max_examples=40)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
                        min_size=1, max_size=6), min_size=1, max_size=10), st.data())
def test_rechunking_output_never_changes_the_message(pieces, data):
    # Known limit: a stream whose first non-blank piece starts like a JSON object or array is
    # read as a JSON stream (see bodies._plain_text); such first pieces are left out here.
    if pieces[0].lstrip()[:1] in ("{", "[") or not "".join(pieces).strip():
        pieces = ["x", *pieces]
    text = "".join(pieces)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=5)))
    again = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)]) if text[a:b]]

    def fold(parts):
        sse_text = "".join(f"event: output\ndata: {p}\n\n" for p in parts) + "event: done\ndata: {}\n\n"
        chunks, _, _ = _split(sse_text)
        return replicate.fold(chunks, FoldContext(dialect="replicate")).choices

    assert fold(pieces) == fold(again)
