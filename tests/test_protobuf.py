"""The protobuf codec (llmtrace/protobuf.py) with xAI's schema (llmtrace/dialects/xai_schema.py),
against the real protobuf runtime and xai-sdk's compiled messages (dev tools only): the real
cassettes' messages, random messages of the schema, hostile bytes."""

from __future__ import annotations

import base64
import datetime
import importlib.util
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmtrace import load, protobuf, reassemble
from llmtrace.dialects import xai_grpc, xai_schema
from raw_reading import NEWFORMATS

chat_pb2 = pytest.importorskip("xai_sdk.proto.v6.chat_pb2", reason="xai-sdk (a dev tool) is not installed")
json_format = pytest.importorskip("google.protobuf.json_format")

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted((NEWFORMATS / "F-pydantic-ai").glob("*.xai.yaml"))
SCHEMA = xai_grpc.schema()
message_factory = pytest.importorskip("google.protobuf.message_factory")
CLASSES = {name: message_factory.GetMessageClass(chat_pb2.DESCRIPTOR.pool.FindMessageTypeByName(name))
           for name in xai_schema.MESSAGES}
FLOAT_MAX = float.fromhex("0x1.fffffep+127")


def reference_encode(name: str, value: dict) -> bytes:
    return json_format.ParseDict(value, CLASSES[name]()).SerializeToString(deterministic=True)


def reference_decode(name: str, data: bytes):
    """MessageToDict(FromString(data)), or the exception protobuf raised."""
    try:
        return json_format.MessageToDict(CLASSES[name].FromString(data), preserving_proto_field_name=True)
    except Exception as exc:  # noqa: BLE001 - DecodeError, SerializeToJsonError: "protobuf refused"
        return exc


def our_decode(name: str, data: bytes):
    try:
        return protobuf.decode(SCHEMA, name, data)
    except ValueError as exc:
        return exc


def assert_decodes_as_protobuf(name: str, data: bytes) -> None:
    ref, ours = reference_decode(name, data), our_decode(name, data)
    if isinstance(ref, Exception):
        assert isinstance(ours, ValueError), (data.hex(), ref, ours)
        assert " at byte " in str(ours) or ": timestamp out of range" in str(ours), ours
    else:
        assert ours == ref, data.hex()


def cassette_messages():
    """(message name, JSON, raw bytes or None) of every request and chunk in the real cassettes."""
    out = []
    for path in FILES:
        doc = yaml.safe_load(path.read_bytes())
        for item in doc["interactions"]:
            req = item["request_stream"]
            out.append(("xai_api.GetCompletionsRequest", req["json"], req["raw"]))
            stream = item["response_stream"]
            assert len(stream["chunks_json"]) == len(stream["chunks_raw"])
            for chunk, raw in zip(stream["chunks_json"], stream["chunks_raw"]):
                out.append(("xai_api.GetChatCompletionChunk", chunk["chunk"], raw))
    return out


MESSAGES = cassette_messages()


# --- (a) the real cassettes --------------------------------------------------------------------

def test_the_cassettes_hold_what_this_test_expects():
    assert len(FILES) == 2
    assert sum(name.endswith("Chunk") for name, _, _ in MESSAGES) == 46
    assert all(isinstance(raw, bytes) for _, _, raw in MESSAGES)


@pytest.mark.parametrize("i", range(len(MESSAGES)))
def test_each_cassette_message_encodes_as_protobuf_and_decodes_back(i):
    name, value, raw = MESSAGES[i]
    ours = protobuf.encode(SCHEMA, name, value)
    assert ours == reference_encode(name, value)
    assert ours == json_format.ParseDict(value, CLASSES[name]()).SerializeToString()  # no maps here
    assert protobuf.decode(SCHEMA, name, ours) == value
    assert protobuf.decode(SCHEMA, name, raw) == reference_decode(name, raw)
    assert protobuf.encode(SCHEMA, name, protobuf.decode(SCHEMA, name, raw)) == raw


def test_requests_raw_is_the_encoded_json_and_chunks_raw_adds_only_the_cost():
    for name, value, raw in MESSAGES:
        if name.endswith("Request"):
            assert xai_grpc.encode_request(value) == raw
            assert xai_grpc.decode_request(raw) == value
            continue
        decoded = xai_grpc.decode_chunk(raw)
        cost = decoded["usage"].pop("cost_in_usd_ticks")  # newer than the SDK that wrote the JSON
        assert int(cost) > 0
        assert decoded == value
        assert xai_grpc.encode_chunk({"chunk": value}) == xai_grpc.encode_chunk(value) != raw


def test_a_response_encodes_as_protobuf():
    response = {"id": "r1", "model": "grok-4", "created": "2026-01-16T17:05:29.213Z",
                "outputs": [{"index": 0, "finish_reason": "REASON_STOP",
                             "message": {"role": "ROLE_ASSISTANT", "content": "4", "reasoning_content": "",
                                         "tool_calls": [{"id": "c", "type": "TOOL_CALL_TYPE_CLIENT_SIDE_TOOL",
                                                         "function": {"name": "f", "arguments": "{}"}}]}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 1, "cost_in_usd_ticks": "12"},
                "settings": {"max_tokens": 0, "temperature": 0.7, "include": ["INCLUDE_OPTION_INLINE_CITATIONS"]},
                "citations": ["https://example.com"], "system_fingerprint": None}
    data = xai_grpc.encode_response(response)
    assert data == reference_encode("xai_api.GetChatCompletionResponse", response)
    assert xai_grpc.decode_response(data) == reference_decode("xai_api.GetChatCompletionResponse", data)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name[-40:])
def test_the_reassembled_response_and_its_one_chunk_encode_as_protobuf(path):
    body = reassemble(load(str(path)).exchanges[0])
    data = xai_grpc.encode_response(body)
    assert data == reference_encode("xai_api.GetChatCompletionResponse", body)
    assert xai_grpc.decode_response(data) == reference_decode("xai_api.GetChatCompletionResponse", data)
    chunk = xai_grpc.chunk_of_response({**body, "settings": {"max_tokens": 100}})
    assert "settings" not in chunk and all("delta" in out and "message" not in out for out in chunk["outputs"])
    data = xai_grpc.encode_chunk(chunk)
    assert data == reference_encode("xai_api.GetChatCompletionChunk", chunk)
    texts = [out["delta"].get("content") for out in xai_grpc.decode_chunk(data)["outputs"]]
    assert texts == [out["message"].get("content") for out in body["outputs"]]


def test_the_methods_name_their_messages():
    assert xai_schema.METHODS["/xai_api.Chat/GetCompletionChunk"] == (
        "xai_api.GetCompletionsRequest", "xai_api.GetChatCompletionChunk", True)
    assert xai_schema.METHODS["/xai_api.Chat/GetCompletion"] == (
        "xai_api.GetCompletionsRequest", "xai_api.GetChatCompletionResponse", False)
    assert (len(xai_schema.MESSAGES), len(xai_schema.ENUMS)) == (51, 15)


def test_the_schema_module_is_what_the_script_generates_from_the_installed_sdk():
    spec = importlib.util.spec_from_file_location("gen_xai_schema", ROOT / "scripts" / "gen_xai_schema.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    committed = (ROOT / "llmtrace" / "dialects" / "xai_schema.py").read_text(encoding="utf-8")
    assert script.render() == committed, "re-run: python scripts/gen_xai_schema.py --write"


def test_serving_needs_neither_protobuf_nor_the_sdk_and_loads_the_schema_only_when_used():
    code = ("import sys; import llmtrace.dialects.xai_grpc as x\n"
            "assert 'llmtrace.dialects.xai_schema' not in sys.modules\n"
            "data = x.encode_chunk({'id': 'a', 'outputs': [{'delta': {'content': 'hi'}}]})\n"
            "assert x.decode_chunk(data) == {'id': 'a', 'outputs': [{'delta': {'content': 'hi'}}]}\n"
            "bad = [m for m in sys.modules if m.startswith(('google.protobuf', 'xai_sdk', 'grpc'))]\n"
            "assert not bad, bad\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


# --- edge cases, each against protobuf ---------------------------------------------------------

@pytest.mark.parametrize("value", [
    {"temperature": 0.1, "top_p": 0, "n": -1, "seed": 0, "max_tokens": "12", "frequency_penalty": "-0"},
    {"temperature": "1e39", "presence_penalty": "-Infinity", "top_logprobs": 3.0, "logprobs": False, "model": ""},
    {"temperature": "NaN", "max_turns": "1e2", "reasoning_effort": 0, "agent_count": 7, "service_tier": "2"},
    {"include": [0, "INCLUDE_OPTION_INLINE_CITATIONS", 99, -5], "stop": ["", "x"], "user": "ü\U0001f600"},
    {"tools": [{"mcp": {"extra_headers": {"b": "1", "a": "", "ä": "x", "": "e", "ab": "", "\U0001f600": "",
                                           "\uffff": ""}}}, {"code_execution": {}},
               {"function": {"name": "f", "strict": False}, "web_search": None}]},
    {"search_parameters": {"from_date": "2026-01-16T17:05:29.213381359+01:30", "to_date": "0001-01-01T00:00:00Z",
                           "sources": [{"x": {"post_view_count": 0}}, {"rss": {}}]}},
    {"messages": [{"content": [{"file": {"data": "aGVsbG8-_w"}}, {"image_url": {"file_id": ""}}, {"text": ""}],
                   "role": "ROLE_TOOL", "tool_call_id": "", "reasoning_content": ""}]},
    {"toolChoice": {"functionName": "f"}, "maxTokens": 5, "responseFormat": {"formatType": "FORMAT_TYPE_TEXT"}},
    {"tools": [{"collections_search": {"hybrid_retrieval": {"reciprocal_rank_fusion": {
        "k": 0, "embedding_weight": -0.0, "text_weight": 3.4028234663852886e38}}}}]},
])
def test_edge_values_encode_and_decode_as_protobuf(value):
    name = "xai_api.GetCompletionsRequest"
    data = protobuf.encode(SCHEMA, name, value)
    assert data == reference_encode(name, value)
    assert protobuf.decode(SCHEMA, name, data) == reference_decode(name, data)


@pytest.mark.parametrize("hexdata", [
    "3207480148024a0101",  # a repeated enum both unpacked and packed
    "3202080532020800",  # usage twice: merged, the later zero wins (and is then not shown)
    "0805", "0b0c", "fb01fc01",  # a known field with another wire type, a group: skipped as unknown
    "320b08ffffffffffffffffff7f", "3206088080808010",  # a 10-byte varint; an int32 keeps its low 32 bits
    "1a0b08ffffffffffffffffff7f",  # a timestamp before 1970
    "1a06108094ebdc03", "1a0b0880808080808080808001",  # timestamps out of range: refused
    "12021801", "1202200512022001", "32024a00",
    "0a01", "0a02ff61", "0e", "00", "080180808080808080808001", "fa01", "f901", "fb010c", "0c",
])
def test_hand_made_bytes_decode_as_protobuf(hexdata):
    assert_decodes_as_protobuf("xai_api.GetChatCompletionChunk", bytes.fromhex(hexdata))


def test_a_oneof_keeps_its_last_member():
    web = protobuf.encode(SCHEMA, "xai_api.GetCompletionsRequest", {"tools": [{"web_search": {}}]})
    fn = protobuf.encode(SCHEMA, "xai_api.GetCompletionsRequest", {"tools": [{"function": {"name": "f"}}]})
    tool_web, tool_fn = web[3:], fn[3:]  # the Tool message's own bytes (tag 0x8a 0x01 + one-byte length)
    both = b"\x8a\x01" + bytes([len(tool_web) + len(tool_fn)]) + tool_web + tool_fn
    assert protobuf.decode(SCHEMA, "xai_api.GetCompletionsRequest", both) == {"tools": [{"function": {"name": "f"}}]}
    assert_decodes_as_protobuf("xai_api.GetCompletionsRequest", both)


@pytest.mark.parametrize("value, path", [
    ({"modle": "x"}, "GetCompletionsRequest.modle: no such field"),
    ({"messages": [{"content": [{"txt": "x"}]}]}, "GetCompletionsRequest.messages[0].content[0].txt"),
    ({"max_tokens": 2 ** 31}, "GetCompletionsRequest.max_tokens: 2147483648 is out of range"),
    ({"max_tokens": 1.5}, "GetCompletionsRequest.max_tokens: expected an integer"),
    ({"messages": [{"role": "ROLE_ROBOT"}]}, "GetCompletionsRequest.messages[0].role: no value 'ROLE_ROBOT'"),
    ({"temperature": 1e39}, "GetCompletionsRequest.temperature: too large for a float"),
    ({"temperature": math.nan}, "GetCompletionsRequest.temperature: a number that is not finite"),
    ({"tools": [{"function": {}, "web_search": {}}]}, "GetCompletionsRequest.tools[0].web_search: function of the"),
    ({"max_tokens": 1, "maxTokens": 2}, "GetCompletionsRequest.maxTokens: field given twice"),
    ({"search_parameters": {"from_date": "2026-13-01T00:00:00Z"}}, "search_parameters.from_date: month must be"),
    ({"search_parameters": {"from_date": 5}}, "search_parameters.from_date: expected an RFC 3339 time"),
    ({"user": "\ud800"}, "GetCompletionsRequest.user: unpaired surrogate"),
    ({"user": 5}, "GetCompletionsRequest.user: expected a string"),
    ({"logprobs": "true"}, "GetCompletionsRequest.logprobs: expected true or false"),
    ({"stop": "x"}, "GetCompletionsRequest.stop: expected a list"),
    ({"stop": [None]}, "GetCompletionsRequest.stop[0]: null in a list"),
    ({"messages": ["x"]}, "GetCompletionsRequest.messages[0]: expected an object"),
    ({"messages": [{"content": [{"file": {"data": "a"}}]}]}, "content[0].file.data: not base64"),
    ([], "GetCompletionsRequest: expected an object"),
])
def test_bad_json_is_a_value_error_naming_the_path(value, path):
    with pytest.raises(ValueError) as caught:
        protobuf.encode(SCHEMA, "xai_api.GetCompletionsRequest", value)
    assert path in str(caught.value)
    if value != []:  # ParseDict reads a list as an object with no fields; we do not
        with pytest.raises(Exception):  # noqa: B017 - protobuf refuses it too
            reference_encode("xai_api.GetCompletionsRequest", value)


# --- (b) random messages of the schema ---------------------------------------------------------

def _timestamp_text(draw) -> str:
    seconds = draw(st.integers(-62135596800 + 2 * 86400, 253402300799 - 2 * 86400))
    digits = draw(st.integers(0, 9))
    fraction = "" if digits == 0 else "." + "".join(draw(st.lists(st.sampled_from("0123456789"),
                                                                   min_size=digits, max_size=digits)))
    offset = draw(st.sampled_from([None, 0, 90, -330, 14 * 60, -12 * 60]))
    local = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds + 60 * (offset or 0))
    zone = "Z" if offset is None else f"{'+' if offset >= 0 else '-'}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    return local.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + fraction + zone


def _integer(draw, low: int, high: int, as_text: bool):
    n = draw(st.integers(low, high))
    form = draw(st.sampled_from(["int", "str", "float"] if as_text else ["int", "float"]))
    if form == "float" and abs(n) < 2 ** 53:
        return float(n)
    return str(n) if form == "str" else n


def _scalar(draw, kind: str, type_name: str | None):
    if kind == "bool":
        return draw(st.booleans())
    if kind == "string":
        return draw(st.text(max_size=12))
    if kind == "bytes":
        text = base64.b64encode(draw(st.binary(max_size=12))).decode()
        return draw(st.sampled_from([text, text.rstrip("=").replace("+", "-").replace("/", "_")]))
    if kind == "enum":
        names = list(xai_schema.ENUMS[type_name])
        return draw(st.one_of(st.sampled_from(names), st.integers(-2 ** 31, 2 ** 31 - 1)))
    if kind in ("float", "double"):
        if kind == "float":
            number = draw(st.one_of(st.floats(width=32), st.floats(-FLOAT_MAX, FLOAT_MAX)))
        else:
            number = draw(st.floats())
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        return draw(st.sampled_from([number, repr(number)]))
    bits = {"int32": (-2 ** 31, 2 ** 31 - 1), "uint32": (0, 2 ** 32 - 1), "int64": (-2 ** 63, 2 ** 63 - 1),
            "uint64": (0, 2 ** 64 - 1)}[kind]
    return _integer(draw, *bits, as_text=kind.endswith("64"))


@st.composite
def json_messages(draw, name: str, depth: int = 0):
    if name == protobuf.TIMESTAMP:
        return _timestamp_text(draw)
    out: dict = {}
    oneofs: set = set()
    for field in xai_schema.MESSAGES[name]:
        fname, _, kind, label, _, type_name, oneof = field
        if draw(st.integers(0, 3 + 2 * depth)) != 0 or (kind == "message" and depth >= 3):
            continue
        if draw(st.integers(0, 9)) == 0:
            out[fname] = None
            continue
        if oneof is not None:
            if oneof in oneofs:
                continue
            oneofs.add(oneof)
        if label == "map":
            out[fname] = draw(st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=4))
        elif kind == "message":
            one = json_messages(type_name, depth + 1)
            out[fname] = draw(st.lists(one, max_size=2)) if label == "repeated" else draw(one)
        elif label == "repeated":
            out[fname] = [_scalar(draw, kind, type_name) for _ in range(draw(st.integers(0, 4)))]
        else:
            out[fname] = _scalar(draw, kind, type_name)
    return out


ROOTS = ["xai_api.GetCompletionsRequest", "xai_api.GetChatCompletionChunk", "xai_api.GetChatCompletionResponse"]
HYPOTHESIS = settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@HYPOTHESIS
@given(st.sampled_from(ROOTS).flatmap(lambda name: st.tuples(st.just(name), json_messages(name))))
def test_random_messages_encode_and_decode_as_protobuf(case):
    name, value = case
    ours = protobuf.encode(SCHEMA, name, value)
    assert ours == reference_encode(name, value)
    assert protobuf.decode(SCHEMA, name, ours) == reference_decode(name, ours)


@HYPOTHESIS
@given(st.sampled_from(sorted(xai_schema.MESSAGES)).flatmap(lambda name: st.tuples(st.just(name), json_messages(name))))
def test_random_messages_of_every_type_in_the_schema_encode_and_decode_as_protobuf(case):
    name, value = case
    ours = protobuf.encode(SCHEMA, name, value)
    assert ours == reference_encode(name, value)
    assert protobuf.decode(SCHEMA, name, ours) == reference_decode(name, ours)


@HYPOTHESIS
@given(st.sampled_from(ROOTS + sorted(xai_schema.MESSAGES)).flatmap(
    lambda name: st.tuples(st.just(name), st.lists(json_messages(name), min_size=2, max_size=3))))
def test_concatenated_messages_merge_as_protobuf_merges_them(case):
    # Bytes of one message given twice: scalars last-wins, messages merged, oneofs last member, lists appended.
    name, values = case
    data = b"".join(protobuf.encode(SCHEMA, name, v) for v in values)
    assert_decodes_as_protobuf(name, data)


# --- (c) hostile bytes -------------------------------------------------------------------------

@settings(max_examples=400)
@given(st.sampled_from(ROOTS), st.binary(max_size=64))
def test_random_bytes_decode_as_protobuf_or_are_refused_with_a_value_error(name, data):
    assert_decodes_as_protobuf(name, data)


@settings(max_examples=200)
@given(st.integers(0, len(MESSAGES) - 1), st.data())
def test_damaged_real_messages_decode_as_protobuf_or_are_refused(i, data):
    name, _, raw = MESSAGES[i]
    damaged = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(damaged) - 1))
        damaged[at] = data.draw(st.integers(0, 255))
    assert_decodes_as_protobuf(name, bytes(damaged))


def test_every_truncation_of_every_real_message_decodes_as_protobuf_or_is_refused():
    for name, _, raw in MESSAGES[:12]:
        for cut in range(len(raw)):
            assert_decodes_as_protobuf(name, raw[:cut])


def _cpu(run) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return max(best, 1e-3)  # a floor: a near-zero run would make any ratio noise


def _refused(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"nested deeper than 100 at byte \d+"):
        xai_grpc.decode_chunk(data)


def test_deep_nesting_is_refused_quickly():
    """Refused at depth 100, whatever follows: eight times the groups cost about the same (two
    sizes compared in one run, not a fixed time)."""
    deep = b"\xfb\x01" * 100_000  # unknown groups inside groups, never closed
    _refused(deep)
    small, large = _cpu(lambda: _refused(deep)), _cpu(lambda: _refused(deep * 8))
    assert large < 4 * small
    closed = b"\xfb\x01" * 50 + b"\xfc\x01" * 50
    assert xai_grpc.decode_chunk(closed) == {}
    with pytest.raises(ValueError, match="group ends with another field's end tag at byte 4"):
        xai_grpc.decode_chunk(b"\xfb\x01\xfb\x01\x0c")


@pytest.mark.parametrize("data, message", [
    (b"\x0a\xff\xff\xff\xff\x0f", "length 4294967295 runs past the end of its message at byte 1"),
    (b"\x12\x05\x0a\x10abc", "length 16 runs past the end of its message at byte 3"),
    (b"\x0a\x01a\x12", "truncated varint at byte 4"),
    (b"\x08" + b"\xff" * 10 + b"\x01", "overlong varint at byte 1"),
    (b"\x0f", "bad wire type 7 at byte 0"),
    (b"\x2a\x02a\xc3", "bad UTF-8 in a string at byte 3"),
])
def test_broken_bytes_name_the_byte(data, message):
    with pytest.raises(ValueError) as caught:
        xai_grpc.decode_chunk(data)
    assert str(caught.value) == message


def _packed_usage(n: int) -> bytes:
    packed = bytes([3] * n)  # SERVER_SIDE_TOOL_CODE_EXECUTION, n times
    usage = b"\x4a" + protobuf._varint(n) + packed
    return b"\x32" + protobuf._varint(len(usage)) + usage


def test_big_messages_decode_in_linear_time():
    """Eight times the message costs about eight times the CPU time (a quadratic decode would
    cost sixty-four times): two sizes in one run."""
    n = 200_000
    decoded = xai_grpc.decode_chunk(_packed_usage(n))
    assert len(decoded["usage"]["server_side_tools_used"]) == n
    text = "x" * 5_000_000
    big = protobuf.encode(SCHEMA, "xai_api.GetChatCompletionChunk", {"id": text})
    assert xai_grpc.decode_chunk(big) == {"id": text}
    small_data, large_data = _packed_usage(n // 8), _packed_usage(n)
    assert _cpu(lambda: xai_grpc.decode_chunk(large_data)) < 32 * _cpu(lambda: xai_grpc.decode_chunk(small_data))
