"""mitmproxy flow files, read without mitmproxy. The files in tests/data/mitmproxy were written
by mitmdump 11 in front of a local server (make_flows.py there says how); the decoder was
checked against mitmproxy's own tnetstring reader on them (identical values)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmtrace.containers.mitmproxy import load as load_tnetstring
from llmtrace.errors import ShapeError, UnreadableInput
from llmtrace.loader import load

DATA = Path(__file__).parent / "data" / "mitmproxy"


def encode(value) -> bytes:
    """A tnetstring encoder (tests only)."""
    if value is None:
        return b"0:~"
    if isinstance(value, bool):
        data, kind = (b"true" if value else b"false"), b"!"
    elif isinstance(value, int):
        data, kind = str(value).encode(), b"#"
    elif isinstance(value, float):
        data, kind = repr(value).encode(), b"^"
    elif isinstance(value, bytes):
        data, kind = value, b","
    elif isinstance(value, str):
        data, kind = value.encode(), b";"
    elif isinstance(value, list):
        data, kind = b"".join(encode(v) for v in value), b"]"
    else:
        data, kind = b"".join(encode(k) + encode(v) for k, v in value.items()), b"}"
    return b"%d:%s%s" % (len(data), data, kind)


def decode(data: bytes):
    value, end = load_tnetstring(memoryview(data), 0, "flow 0")
    assert end == len(data)
    return value


def test_streamed_openai_chat_and_anthropic_json():
    recording = load(str(DATA / "openai-chat-and-anthropic.mitm"))
    assert recording.container == "mitmproxy"
    chat, message = recording.exchanges
    assert chat.dialect == "openai-chat" and chat.response.streaming and chat.response.done_marker
    assert chat.result.choices[0].content.startswith("Why did the scarecrow")
    assert chat.request.method == "POST" and chat.request.endpoint == "/v1/chat/completions"
    assert chat.request.headers["authorization"] == "Bearer ***"  # masked at read time
    assert chat.fidelity == "chunks"
    timings = chat.response.timings
    assert timings["started"] > 1.7e9 and 0 <= timings["wait"] < 5 and timings["receive"] > 0.1  # 20 ms per event
    assert message.dialect == "anthropic-messages" and message.result.choices[0].content == "Hello! How can I help you today?"


def test_a_body_mitmproxy_streamed_through_is_kept_as_nothing():
    [flow] = load(str(DATA / "openai-chat-streamed-body.mitm")).exchanges
    assert flow.response.status == 200 and flow.response.body is None and flow.result is None


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.binary(max_size=20)
                    | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20))
def test_decoder_round_trips_every_value(value):
    assert decode(encode(value)) == value


def test_empty_containers_and_types():
    assert decode(encode({"a": [], "b": {}, "c": [[], {}]})) == {"a": [], "b": {}, "c": [[], {}]}


@pytest.mark.parametrize("data, message", [
    (b"5:abc,", "cut off inside a tnetstring"),
    (b"x:abc,", "not a tnetstring"),
    (b"3:abc?", "unknown tnetstring type"),
    (b"4:1:a,}", "overrun its length"),
    (b"3:1.x^", "float is not a number"),
])
def test_broken_tnetstrings_say_where(data, message):
    with pytest.raises(ShapeError, match=message):
        decode(data)


def test_deep_nesting_is_refused_not_a_recursion_error():
    data = b"0:]"
    for _ in range(2000):
        data = b"%d:%s]" % (len(data), data)
    with pytest.raises(ShapeError, match="nested more than"):
        decode(data)


def test_a_cut_flow_file_is_unreadable_with_the_place(tmp_path):
    data = (DATA / "openai-chat-and-anthropic.mitm").read_bytes()
    target = tmp_path / "cut.mitm"
    target.write_bytes(data[: len(data) - 100])
    with pytest.raises(UnreadableInput, match=r"cut off inside a tnetstring, flow 1"):
        load(str(target))
