"""HAR 1.2 (containers/har.py): Polly.JS recordings, base64 content, timings, Chrome's per-event
times, websocket entries, malformed entries."""

from __future__ import annotations

import base64
import json

import pytest

from conftest import DATA
from llmtrace.containers.har import parse_time
from llmtrace.errors import UnreadableInput
from llmtrace.loader import load

CASSETTES = DATA / "cassettes" / "mirascope"
EXAMPLES = DATA.parent.parent / "examples" / "containers"


@pytest.mark.parametrize("name, dialect", [
    ("anthropic--parses-stream-with-nested-schema-json.har", "anthropic-messages"),
    ("anthropic--parses-stream-with-nested-schema-tool.har", "anthropic-messages"),
    ("mirascope_google--streams-from-underlying-provider.har", "gemini"),
])
def test_polly_recordings(name, dialect):
    recording = load(str(CASSETTES / name))
    (ex,) = recording.exchanges
    assert recording.container == "har" and ex.dialect == dialect
    assert ex.response.streaming and ex.response.status == 200 and ex.result.complete
    assert ex.request.method == "POST" and isinstance(ex.request.body, dict)


def test_timings_go_to_the_response_and_chunk_times_are_never_invented():
    (ex,) = load(str(CASSETTES / "anthropic--parses-stream-with-nested-schema-json.har")).exchanges
    assert ex.response.chunk_times is None
    assert ex.response.timings == {"started": parse_time("2026-01-31T00:32:54.108Z"), "send": 0.0, "wait": 1.071,
                                   "receive": 0.0, "total": 1.071}
    assert ex.result.timeline.times is None and ex.result.timeline.timing == "none"


def test_gemini_url_carries_the_model_and_crlf_sse_is_read():
    (ex,) = load(str(CASSETTES / "mirascope_google--streams-from-underlying-provider.har")).exchanges
    assert ex.request.model == "gemini-2.0-flash" and ex.request.host == "localhost:3000"
    assert ex.result.choices[0].content == "4242\n"
    assert ex.request.headers["x-goog-api-key"] == "***"


def test_base64_content_reads_like_text():
    (b64,) = load(str(EXAMPLES / "har/openai-chat-base64.har")).exchanges
    (text,) = load(str(EXAMPLES / "sse/openai-chat.sse")).exchanges
    assert b64.response.chunks == text.response.chunks and b64.response.done_marker
    assert b64.result.choices == text.result.choices


def _har(tmp_path, entries, name="x.har"):
    path = tmp_path / name
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"},
                                        "entries": entries}}))
    return path


def _entry(**response) -> dict:
    base = {"startedDateTime": "2026-01-07T04:09:12.412+01:00", "time": 900,
            "timings": {"blocked": -1, "send": 1, "wait": 600, "receive": 299},
            "request": {"method": "POST", "url": "https://api.openai.com/v1/chat/completions?api_key=s3cret",
                        "headers": [{"name": "Authorization", "value": "Bearer s3cret"}],
                        "postData": {"mimeType": "application/json", "text": '{"model": "gpt-4o-mini", "stream": true}'}},
            "response": {"status": 200, "headers": [], "content": {"mimeType": "text/event-stream"}}}
    base["response"].update(response)
    return base


def test_chrome_event_source_messages_carry_real_chunk_times(tmp_path):
    events = [line[6:] for line in (EXAMPLES / "sse/openai-chat.sse").read_text().splitlines() if line.startswith("data: ")]
    entry = _entry()
    entry["_eventSourceMessages"] = [{"time": 1767758952.5 + n / 10, "eventName": "message", "eventId": "", "data": d}
                                     for n, d in enumerate(events)]
    (ex,) = load(str(_har(tmp_path, [entry]))).exchanges
    assert ex.response.done_marker and len(ex.response.chunks) == len(events) - 1
    assert ex.response.chunk_times == [1767758952.5 + n / 10 for n in range(len(events) - 1)]
    assert ex.result.timeline.timing == "har" and ex.result.timeline.times == ex.response.chunk_times
    assert ex.response.timings["started"] == parse_time("2026-01-07T03:09:12.412Z")
    assert ex.request.url.endswith("?api_key=***") and ex.request.headers == {"Authorization": "Bearer ***"}


def test_websocket_entries_are_opaque(tmp_path):
    entry = _entry(status=101)
    entry["request"] = {"method": "GET", "url": "wss://generativelanguage.googleapis.com/ws/google.ai."
                        "generativelanguage.v1beta.GenerativeService.BidiGenerateContent", "headers": []}
    entry["_webSocketMessages"] = [{"type": "send", "time": 1.5, "opcode": 1, "data": '{"setup": {}}'}]
    (ex,) = load(str(_har(tmp_path, [entry]))).exchanges
    assert ex.dialect == "opaque" and ex.result is None and ex.response.body[0]["type"] == "send"


def test_error_entry_and_aborted_entry(tmp_path):
    error = _entry(status=401, content={"mimeType": "application/json",
                                        "text": '{"error": {"message": "Incorrect API key provided"}}'})
    aborted = _entry(status=0, content={"size": 0, "mimeType": "x-unknown"})
    first, second = load(str(_har(tmp_path, [error, aborted]))).exchanges
    assert first.failed and first.response.error_message == "Incorrect API key provided"
    assert second.response.status is None and not second.response.streaming


@pytest.mark.parametrize("change, message", [
    (lambda e: e["response"]["content"].update(encoding="base64", text="%%%"), "bad base64 body"),
    (lambda e: e["response"]["content"].update(encoding="base64",
                                               text=base64.b64encode(b"\x1f\x8b\x08broken").decode()),
     "broken gzip data"),
    (lambda e: e["response"]["content"].update(text="data: {}\n\ndata: {oops\n\ndata: {}\n\n"),
     "SSE data is not JSON (unexpected character"),
    (lambda e: e.__setitem__("startedDateTime", "yesterday"), "startedDateTime is not an ISO 8601 time"),
    (lambda e: e["request"].__setitem__("headers", 5), "headers should be an object or a list"),
    (lambda e: e.__setitem__("_eventSourceMessages", [{"time": 1, "data": 5}]), "event data should be a string"),
])
def test_malformed_entries_name_the_place(tmp_path, change, message):
    entry = _entry()
    change(entry)
    with pytest.raises(UnreadableInput) as info:
        load(str(_har(tmp_path, [_entry(), entry])))  # the second entry is the bad one
    assert message in info.value.line() and ", entry 1" in info.value.line()


@pytest.mark.parametrize("text, expected", [
    ("2026-01-31T00:32:54.108Z", 1769819574.108),
    ("2026-01-31T01:32:54.108123456+01:00", 1769819574.108123),
    ("2026-01-31T00:32:54Z", 1769819574.0),
    ("2026-01-31T00:32:54", None),  # no zone: not a point in time
    ("nonsense", None),
])
def test_parse_time(text, expected):
    assert parse_time(text) == (pytest.approx(expected) if expected else None)
