"""The AWS event-stream framing (Bedrock): prelude, headers of every type, payload, both CRC32s
checked; frames as chunks; bodies holding frames inside cassettes and HAR files; the raw file."""

from __future__ import annotations

import base64
import gzip
import json
import struct
import uuid
import zlib
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from llmtrace.containers import aws_eventstream as es
from llmtrace.containers import bodies
from llmtrace.errors import UnreadableInput
from llmtrace.loader import load

DATA = Path(__file__).parent / "data" / "bedrock"


def frame(headers: bytes, payload: bytes) -> bytes:
    """One frame built by hand (independently of ``es.encode_frame``)."""
    total = 16 + len(headers) + len(payload)
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def string_header(name: str, value: str) -> bytes:
    raw = value.encode()
    return bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(raw)) + raw


def event(kind: str, payload: dict) -> bytes:
    headers = (string_header(":event-type", kind) + string_header(":content-type", "application/json")
               + string_header(":message-type", "event"))
    return frame(headers, json.dumps(payload).encode())


CONVERSE = [
    ("messageStart", {"role": "assistant"}),
    ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hello"}}),
    ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " world"}}),
    ("contentBlockStop", {"contentBlockIndex": 0}),
    ("messageStop", {"stopReason": "end_turn"}),
    ("metadata", {"usage": {"inputTokens": 5, "outputTokens": 2, "totalTokens": 7}, "metrics": {"latencyMs": 120}}),
]


def converse_bytes(events=CONVERSE) -> bytes:
    return b"".join(event(kind, payload) for kind, payload in events)


def offsets(data: bytes) -> list[int]:
    out, offset = [], 0
    while offset < len(data):
        out.append(offset)
        offset += struct.unpack_from(">I", data, offset)[0]
    return out


# --- framing ----------------------------------------------------------------------------------


def test_frames_read_as_sdk_shaped_chunks():
    stream = es.read(converse_bytes())
    assert stream.cut_off is None and stream.frames == 6
    assert stream.chunks == [{kind: payload} for kind, payload in CONVERSE]


def test_every_header_value_type():
    the_uuid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    block = (b"\x01t\x00" + b"\x01f\x01" + b"\x01b\x02\xff" + b"\x01s\x03" + struct.pack(">h", -300)
             + b"\x01i\x04" + struct.pack(">i", 70000) + b"\x01l\x05" + struct.pack(">q", 2**40)
             + b"\x01y\x06" + struct.pack(">H", 3) + b"\x00\x01\x02" + b"\x01S\x07" + struct.pack(">H", 2) + b"hi"
             + b"\x01T\x08" + struct.pack(">q", 1700000000000) + b"\x01U\x09" + the_uuid.bytes)
    assert es.parse_headers(block) == {"t": True, "f": False, "b": -1, "s": -300, "i": 70000, "l": 2**40,
                                       "y": base64.b64encode(b"\x00\x01\x02").decode(), "S": "hi",
                                       "T": 1700000000000, "U": str(the_uuid)}
    # The encoder writes the same block back.
    encoded = es.encode_headers({"t": True, "f": False, "b": ("int8", -1), "s": ("int16", -300), "i": 70000,
                                 "l": 2**40, "y": b"\x00\x01\x02", "S": "hi", "T": ("timestamp", 1700000000000),
                                 "U": the_uuid})
    assert encoded == block


@pytest.mark.parametrize("block, what", [
    (b"\x05:name", "header name cut off"),
    (b"\x01a\x07\x00\x09abc", "value cut off"),
    (b"\x01a\x0c", "unknown value type 12"),
    (b"\x01a\x04\x00", "malformed"),
])
def test_malformed_headers(block, what):
    with pytest.raises(ValueError, match=what):
        es.parse_headers(block)


def test_bad_message_crc_is_one_marker_and_reading_goes_on():
    data = bytearray(converse_bytes())
    starts = offsets(bytes(data))
    k = 2
    data[starts[k] + 20] ^= 0x01  # a payload byte of frame 2: its message CRC no longer matches
    stream = es.read(bytes(data))
    bad = [c for c in stream.chunks if es.BAD_FRAME in c]
    assert len(bad) == 1 and bad[0][es.BAD_FRAME]["offset"] == starts[k]
    assert "message CRC32 does not match" in bad[0][es.BAD_FRAME]["reason"]
    assert not bad[0][es.BAD_FRAME].get("fatal")
    kept = [c for c in stream.chunks if es.BAD_FRAME not in c]
    assert kept == [{kind: payload} for n, (kind, payload) in enumerate(CONVERSE) if n != k]
    assert stream.cut_off is None


def test_broken_prelude_ends_the_stream():
    data = bytearray(converse_bytes())
    starts = offsets(bytes(data))
    data[starts[3] + 9] ^= 0xFF  # the prelude CRC of frame 3
    stream = es.read(bytes(data))
    assert stream.chunks[:3] == [{kind: payload} for kind, payload in CONVERSE[:3]]
    marker = stream.chunks[3][es.BAD_FRAME]
    assert marker["fatal"] and marker["offset"] == starts[3] and "prelude CRC32" in marker["reason"]
    assert len(stream.chunks) == 4 and f"byte {starts[3]}" in stream.cut_off


def test_impossible_lengths_end_the_stream():
    prelude = struct.pack(">II", 8, 0)  # shorter than a frame can be, with a valid CRC
    data = converse_bytes(CONVERSE[:1]) + prelude + struct.pack(">I", zlib.crc32(prelude)) + b"\0" * 8
    stream = es.read(data)
    assert stream.chunks[-1][es.BAD_FRAME]["fatal"]
    assert "impossible lengths" in stream.chunks[-1][es.BAD_FRAME]["reason"]


@pytest.mark.parametrize("cut", [1, 5, 13, 30])
def test_cut_final_frame(cut):
    data = converse_bytes()
    stream = es.read(data[:-cut])
    assert stream.chunks[:-1] == [{kind: payload} for kind, payload in CONVERSE[:-1]]
    assert es.CUT_OFF in stream.chunks[-1] and "cut off" in stream.cut_off


def test_exception_and_error_messages():
    exception = frame(string_header(":exception-type", "throttlingException")
                      + string_header(":content-type", "application/json")
                      + string_header(":message-type", "exception"), b'{"message":"slow down"}')
    error = frame(string_header(":error-code", "InternalFailure") + string_header(":error-message", "boom")
                  + string_header(":message-type", "error"), b"")
    stream = es.read(converse_bytes(CONVERSE[:2]) + exception + error)
    assert stream.chunks[2:] == [{"throttlingException": {"message": "slow down"}},
                                 {"error": {"code": "InternalFailure", "message": "boom"}}]
    assert es.read(es.encode(stream.chunks)).chunks == stream.chunks


def test_payloads_that_are_not_json_are_kept():
    headers = string_header(":event-type", "blob") + string_header(":message-type", "event")
    stream = es.read(frame(headers, b"plain text") + frame(headers, b"\xff\xfe") + frame(headers, b""))
    assert stream.chunks == [{"blob": "plain text"}, {"blob": {"base64": "//4="}}, {"blob": {}}]


chunk_values = st.dictionaries(st.text(min_size=1, max_size=8),
                               st.one_of(st.integers(-10**6, 10**6), st.text(max_size=30), st.booleans(), st.none()),
                               max_size=4)
chunk_lists = st.lists(st.tuples(st.sampled_from(["messageStart", "contentBlockDelta", "metadata", "somethingNew",
                                                  "chunk"]), chunk_values), min_size=1, max_size=12)


@settings(max_examples=60)
@given(chunk_lists, st.data())
def test_reframing_property(items, data):
    chunks = [{kind: value} for kind, value in items]
    raw = es.encode(chunks)
    assert es.is_event_stream(raw)
    assert es.read(raw).chunks == chunks
    # A bad CRC in frame k: exactly one marker at its offset, every other frame intact.
    k = data.draw(st.integers(0, len(chunks) - 1))
    starts = offsets(raw)
    broken = bytearray(raw)
    broken[starts[k] + (starts[k + 1] if k + 1 < len(starts) else len(raw)) - starts[k] - 1] ^= 0x55  # message CRC
    read = es.read(bytes(broken)).chunks
    assert [c for c in read if es.BAD_FRAME in c] == [{es.BAD_FRAME: read[k][es.BAD_FRAME]}]
    assert read[k][es.BAD_FRAME]["offset"] == starts[k]
    assert [c for c in read if es.BAD_FRAME not in c] == chunks[:k] + chunks[k + 1:]
    # Cut inside the final frame: a cut-off marker after the intact frames.
    cut = data.draw(st.integers(1, len(raw) - starts[-1] - 1))
    cut_read = es.read(raw[:-cut])
    assert cut_read.chunks[:-1] == chunks[:-1] and es.CUT_OFF in cut_read.chunks[-1]


def test_sniffing():
    assert es.is_event_stream(converse_bytes())
    assert not es.is_event_stream(b'{"a": 1}' * 4)
    assert not es.is_event_stream(b"\0" * 32)
    assert not es.is_event_stream(converse_bytes()[:15])


# --- the raw file -------------------------------------------------------------------------------


def test_raw_file_is_its_own_container(tmp_path):
    path = tmp_path / "converse.bin"
    path.write_bytes(converse_bytes())
    recording = load(str(path))
    assert recording.container == "aws-eventstream"
    (ex,) = recording.exchanges
    assert ex.dialect == "bedrock-converse" and ex.result.choices[0].content == "Hello world"


def test_raw_file_with_nothing_readable_is_unreadable(tmp_path):
    data = bytearray(converse_bytes(CONVERSE[:1]))
    data[-1] ^= 1
    path = tmp_path / "broken.bin"
    path.write_bytes(bytes(data))
    with pytest.raises(UnreadableInput, match="not a readable AWS event stream"):
        load(str(path))


# --- bodies inside other containers ----------------------------------------------------------------


@pytest.mark.parametrize("how", ["bytes", "gzip", "base64", "hex"])
def test_bodies_holding_frames_are_split(how):
    raw = converse_bytes()
    if how == "bytes":
        text = bodies.decode(raw, "here")
    elif how == "gzip":
        text = bodies.decode(gzip.compress(raw), "here")
    elif how == "base64":
        text = bodies.decode(base64.b64encode(raw).decode(), "here", base64=True)
    else:
        text = bodies.decode(raw.hex(), "here")
    payloads = bodies.split(text, "here")
    assert payloads.streaming and payloads.chunks == [{kind: payload} for kind, payload in CONVERSE]


def test_other_binary_bodies_are_still_notes():
    assert bodies.decode(b"\x89PNG\r\n\x1a\n\xff\xfe", "here") == "<10 bytes of binary data>"
    assert bodies.split("00ff", "here").body == "00ff"  # short hex text is text


def test_vcr_cassette_with_binary_body(tmp_path):
    doc = {"interactions": [{"request": {"method": "POST", "uri": "https://bedrock-runtime.us-east-1.amazonaws.com"
                                         "/model/m/converse-stream", "body": None, "headers": {}},
                             "response": {"status": {"code": 200}, "headers": {},
                                          "body": {"string": converse_bytes()}}}]}
    path = tmp_path / "cassette.yaml"
    path.write_text(yaml.safe_dump(doc))
    (ex,) = load(str(path)).exchanges
    assert ex.dialect == "bedrock-converse" and ex.result.choices[0].content == "Hello world"


def test_real_streams_re_encode_byte_for_byte():
    """Reading every real stream and writing it back gives the recorded bytes: the reader and
    the encoder agree with AWS on every header and CRC."""
    count = 0
    for path in sorted(DATA.glob("*/*.yaml*")):
        raw = path.read_bytes()
        doc = yaml.safe_load(gzip.decompress(raw) if path.suffix == ".gz" else raw)
        responses = [i["response"] for i in doc["interactions"]] if "interactions" in doc else doc["responses"]
        for response in responses:
            body = response["body"]["string"]
            if es.is_event_stream(body):
                stream = es.read(body)
                assert stream.cut_off is None and not any(es.BAD_FRAME in c for c in stream.chunks)
                assert es.encode(stream.chunks) == body, path.name
                count += 1
    assert count == 10


@settings(max_examples=150)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6), st.integers(0, 40),
       st.sampled_from(["bin", "yaml"]))
def test_damaged_streams_never_crash(tmp_path_factory, flips, cut, how):
    """Flipped bytes anywhere (preludes, headers, payloads, CRCs) and cut tails: the reader keeps
    what holds and marks the rest; a file is read or unreadable with a reason, never a crash."""
    data = bytearray(converse_bytes())
    for where, value in flips:
        data[where % len(data)] = value
    data = bytes(data[:len(data) - cut])
    stream = es.read(data)
    assert all(isinstance(c, dict) and len(c) == 1 for c in stream.chunks)
    path = tmp_path_factory.mktemp("damaged") / f"s.{how}"
    if how == "bin":
        path.write_bytes(data)
    else:
        interaction = {"request": {"method": "POST", "uri": "https://x/converse-stream"},
                       "response": {"status": {"code": 200}, "body": {"string": data}}}
        path.write_text(yaml.safe_dump({"interactions": [interaction]}))
    try:
        recording = load(str(path))
    except UnreadableInput as exc:
        assert str(exc)
        return
    from llmtrace.anomalies import detect_recording

    detect_recording(recording)
