"""nock recordings: the openinference Bedrock test's recording (a hex-encoded event stream) and
hand-built JSON bodies."""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import orjson
import pytest

from llmtrace.errors import UnreadableInput
from llmtrace.loader import load

NOCK = Path(__file__).parent / "data" / "bedrock" / "openinference" / "should-handle-meta-llama-streaming.json"


def _generation(hex_text: str) -> str:
    """The Llama generation in the event stream, read frame by frame without llmtrace."""
    data, pos, out = bytes.fromhex(hex_text), 0, []
    while pos + 12 <= len(data):
        total, headers = struct.unpack(">II", data[pos:pos + 8])
        payload = data[pos + 12 + headers:pos + total - 4]
        inner = json.loads(base64.b64decode(json.loads(payload)["bytes"]))
        out.append(inner.get("generation") or "")
        pos += total
    return "".join(out)


def test_the_hex_event_stream_is_a_bedrock_generation():
    recording = load(str(NOCK))
    assert recording.container == "nock"
    [exchange] = recording.exchanges
    assert exchange.dialect == "bedrock-invoke" and exchange.request.model == "meta.llama3-8b-instruct-v1:0"
    assert exchange.request.host == "bedrock-runtime.us-east-1.amazonaws.com:443"
    expected = _generation(json.loads(NOCK.read_text())[0]["response"])
    assert exchange.result.choices[0].content == expected and len(expected) > 100


def test_json_bodies_and_pieces(tmp_path):
    doc = [{"scope": "https://api.openai.com:443", "method": "POST", "path": "/v1/chat/completions",
            "body": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, "status": 200,
            "response": {"id": "c", "object": "chat.completion", "model": "gpt-4o",
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"},
                                      "finish_reason": "stop"}]}},
           {"scope": "https://api.openai.com:443", "method": "POST", "path": "/v1/chat/completions",
            "body": {"model": "gpt-4o", "stream": True}, "status": 200,
            "response": ['data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"he"}}]}\n\n',
                         'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"llo"},'
                         '"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n']}]
    target = tmp_path / "nock.json"
    target.write_bytes(orjson.dumps(doc))
    whole, streamed = load(str(target)).exchanges
    assert whole.result.choices[0].content == "hello" and whole.fidelity == "final-text"
    assert streamed.result.choices[0].content == "hello" and len(streamed.response.chunks) == 2


def test_a_bad_scope_names_the_interaction(tmp_path):
    target = tmp_path / "nock.json"
    target.write_bytes(orjson.dumps([{"scope": 3, "method": "GET", "path": "/", "status": 200}]))
    with pytest.raises(UnreadableInput, match="scope and path should be strings, interaction 0"):
        load(str(target))
