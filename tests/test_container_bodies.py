"""Decoding recorded HTTP bodies and splitting them into chunk payloads (containers/bodies.py)."""

from __future__ import annotations

import base64
import gzip
import zlib

import orjson
import pytest
from hypothesis import given, strategies as st

from llmtrace.containers import bodies
from llmtrace.containers.bodies import Payloads, decode, kind_of, split
from llmtrace.errors import ShapeError

CHUNKS = [{"id": "c1", "choices": [{"index": 0, "delta": {"content": "Hi"}}]},
          {"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
SSE = "".join(f"data: {orjson.dumps(c).decode()}\n\n" for c in CHUNKS) + "data: [DONE]\n\n"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10)
chunk_lists = st.lists(st.dictionaries(st.text(max_size=5), json_values, min_size=1, max_size=3), min_size=1,
                       max_size=8)


# --- decode ------------------------------------------------------------------------------------


def test_text_passes_through():
    assert decode("data: x", "here") == "data: x"
    assert decode(None, "here") is None


def test_gzip_is_recognized_by_its_magic_whatever_the_headers():
    raw = gzip.compress(SSE.encode())
    assert decode(raw, "here") == SSE
    assert decode(raw, "here", encoding="identity") == SSE


def test_base64_wrapped_over_lines_and_base64_of_gzip():
    text = base64.encodebytes(gzip.compress(b'{"a": 1}')).decode()
    assert "\n" in text
    assert decode(text, "here", base64=True) == '{"a": 1}'


def test_deflate_zlib_and_raw():
    assert decode(zlib.compress(b"{}"), "here", encoding="deflate") == "{}"
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert decode(raw.compress(b"{}") + raw.flush(), "here", encoding="Deflate") == "{}"


@pytest.mark.parametrize("value, kwargs, message", [
    ("not base64!", {"base64": True}, "bad base64 body"),
    ("QUJ", {"base64": True}, "bad base64 body"),
    (b"\x1f\x8b\x08\x00broken", {}, "broken gzip data"),
    (gzip.compress(b"x" * 100, mtime=0)[:-12], {}, "broken gzip data"),
    (b"\x8b\x00\xff\xfe", {"encoding": "br"}, "br-compressed"),
    (b"\x00\x01", {"encoding": "deflate"}, "broken deflate data"),
    (42, {}, "body should be text or bytes"),
])
def test_bad_bodies_say_where(value, kwargs, message):
    with pytest.raises(ShapeError) as info:
        decode(value, "interaction 2, response body", **kwargs)
    assert message in info.value.what and info.value.where == "interaction 2, response body"


def test_binary_that_is_not_text_becomes_a_note():
    assert decode(b"\x89PNG\r\n\x1a\n\xff\xfe", "here") == "<10 bytes of binary data>"


# --- split -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, kind", [
    ("", "empty"), (" \n\t", "empty"), ('  {"a": 1}', "json"), ("[1]", "json"), (SSE, "sse"),
    (": keep-alive\n\ndata: {}\n\n", "sse"), ("event: message_start\ndata: {}\n\n", "sse"),
    ("id: 7\n", "text"), ("interactions:\n- request: {}", "text"), ("<html>", "text"),
])
def test_kind_of_text_and_bytes(text, kind):
    assert kind_of(text) == kind
    assert kind_of(text.encode()) == kind


def test_sse_body():
    got = split(SSE, "")
    assert got == Payloads(True, CHUNKS, None, True, None)


def test_json_array_is_a_stream_and_an_object_a_body():
    assert split(orjson.dumps(CHUNKS).decode(), "") == Payloads(True, CHUNKS)
    assert split('{"object": "list", "data": []}', "") == Payloads(False, [], {"object": "list", "data": []})
    assert split("[1, 2]", "") == Payloads(False, [], [1, 2])  # not chunks: a plain value


def test_ndjson_body():
    text = "".join(orjson.dumps(c).decode() + "\n" for c in CHUNKS)
    assert split(text, "") == Payloads(True, CHUNKS)


def test_text_and_empty_bodies():
    assert split("Internal Server Error", "") == Payloads(False, [], "Internal Server Error")
    assert split("{not json", "") == Payloads(False, [], "{not json")
    assert split("", "") == Payloads(False, [])
    assert split(None, "") == Payloads(False, [])


def test_sse_crlf_comments_multiline_data_and_empty_events():
    text = (": hello\r\nevent: a\r\nid: 1\r\ndata: {\"x\":\r\ndata:  1}\r\n\r\n"
            "data:\r\n\r\nretry: 10\r\ndata: [DONE]\r\n\r\n")
    assert bodies.sse_payloads(bodies.text_lines(text)) == ([{"x": 1}], True, None)


def test_sse_cut_off_in_the_last_event_keeps_the_rest():
    text = SSE.replace("data: [DONE]\n\n", "") + 'data: {"id": "c1", "cho'
    chunks, done, cut_off = bodies.sse_payloads(bodies.text_lines(text), "entry 0, response body")
    assert chunks == CHUNKS and not done
    assert cut_off.startswith("entry 0, response body, event 2, line 5: SSE data is not JSON")


def test_sse_bad_event_in_the_middle_is_an_error_with_its_line():
    text = "data: {}\n\ndata: oops\n\ndata: {}\n\n"
    with pytest.raises(ShapeError) as info:
        bodies.sse_payloads(bodies.text_lines(text))
    assert info.value.where == "event 1, line 3" and "not JSON" in info.value.what


def test_sse_without_blank_lines_is_one_event_and_unreadable():
    text = "".join(f"data: {orjson.dumps(c).decode()}\n" for c in CHUNKS)
    with pytest.raises(ShapeError) as info:
        bodies.sse_payloads(bodies.text_lines(text))
    assert info.value.where == "event 0, line 1"


def test_ndjson_cut_off_last_line_bad_middle_line_and_nothing_readable():
    lines = [b'{"a": 1}\n', b"\n", b'{"b": 2}\n', b'{"c": ']
    assert bodies.ndjson_payloads(lines) == ([{"a": 1}, {"b": 2}], 'line 4: line is not JSON (unexpected end of data)')
    with pytest.raises(ShapeError) as info:
        bodies.ndjson_payloads([b'{"a": 1}\n', b'{"c": \n', b'{"b": 2}\n'])
    assert info.value.where == "line 2"
    with pytest.raises(ShapeError) as info:
        bodies.ndjson_payloads([b'{"a": 1}\n', b"}\n"])  # not truncated: garbage
    assert info.value.where == "line 2"
    with pytest.raises(ShapeError) as info:
        bodies.ndjson_payloads([b'{"c": '])
    assert info.value.where == "line 1"


@given(chunk_lists)
def test_sse_and_ndjson_round_trip(chunks):
    sse = "".join(f"data: {orjson.dumps(c).decode()}\n\n" for c in chunks)
    assert bodies.sse_payloads(bodies.text_lines(sse))[0] == chunks
    assert bodies.sse_payloads(bodies.byte_lines(sse.replace("\n", "\r\n").encode()))[0] == chunks
    ndjson = b"".join(orjson.dumps(c) + b"\n" for c in chunks)
    assert bodies.ndjson_payloads(ndjson.splitlines(keepends=True)) == (chunks, None)


@given(st.text(alphabet="ab\n\r", max_size=30))
def test_text_lines_is_split_on_newlines(text):
    expected = text.split("\n")
    if expected[-1] == "":
        expected.pop()
    assert list(bodies.text_lines(text)) == expected


def test_byte_lines_names_the_line_that_is_not_utf8():
    with pytest.raises(ShapeError) as info:
        list(bodies.byte_lines(b"data: {}\n\ndata: \xff\n"))
    assert info.value.where == "line 3"
