"""Reading recordings: the Llama Stack container, dialect detection, and unreadable input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CORPUS, SEED, all_recordings, corpus, left_out
from llmtrace.errors import UnreadableInput
from llmtrace.loader import load

# The corpus folder a recording sits in says what it is.
DIALECT_OF_KIND = {
    "openai-chat": "openai-chat",
    "openai-chat-stream": "openai-chat",
    "openai-chat-on-completions-stream": "openai-chat",
    "openai-completion": "openai-completions",
    "openai-completion-stream": "openai-completions",
    "ollama-generate": "ollama-generate",
    "ollama-generate-stream": "ollama-generate",
    "ollama-chat": "ollama-chat",
    "ollama-chat-stream": "ollama-chat",
    "gemini": "gemini",
    "gemini-stream": "gemini",
    "embeddings": "opaque",
    "models": "opaque",
}


@pytest.mark.parametrize("path", all_recordings(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_corpus_recording_loads(path: Path):
    rec = load(str(path))
    assert rec.container == "llama-stack"
    assert len(rec.exchanges) == 1
    ex = rec.exchanges[0]
    expected = DIALECT_OF_KIND.get(path.parent.name)
    if expected:
        assert ex.dialect == expected
    if ex.response.streaming and not ex.failed:
        assert ex.response.chunks, "a stream keeps its raw chunks"
        assert ex.result is not None and ex.result.timeline.chunks == len(ex.response.chunks)


def test_seed_request_and_response():
    ex = load(str(SEED)).exchanges[0]
    assert ex.request.method == "POST"
    assert ex.request.host == "api.together.xyz"
    assert ex.request.endpoint == "/v1/chat/completions"
    assert ex.request.model == "meta-llama/Llama-3.3-70B-Instruct-Turbo-Free"
    assert ex.normalized_request.messages[0].content == "What's the weather in Tokyo?"
    assert ex.normalized_request.tools == []
    assert ex.normalized_request.json_mode is False  # {"type": "text"} is not JSON mode
    assert ex.response.streaming and len(ex.response.chunks) == 24
    msg = ex.result.choices[0]
    assert msg.content == '{"type": "function", "name": "get_weather", "parameters": {"city": "Tokyo"}}'
    assert msg.role == "assistant" and msg.finish_reason == "stop" and msg.tool_calls == []
    assert ex.result.usage.input_tokens == 42 and ex.result.usage.output_tokens == 24


def test_recorded_exception_is_an_error_exchange():
    path = corpus("exception")[0]
    ex = load(str(path)).exchanges[0]
    assert ex.failed and ex.result is None
    assert ex.response.status == 400
    assert ex.dialect == "openai-chat"  # from the request: the body never came


def test_http_error_status_and_test_id_payload_request():
    ex = load(str(CORPUS / "llama-stack/other/0750f75691e1.json")).exchanges[0]
    assert ex.failed and ex.response.status == 400
    assert ex.response.error == {"message": "Missing key 'type' in input 'tools'.", "code": "invalid_request"}
    assert ex.request.body["model"] == "gemini-2.5-flash-lite"  # from "payload"
    assert ex.normalized_request.tools == ["get_weather"]


def test_non_http_recording_is_opaque():
    ex = load(str(CORPUS / "llama-stack/other/733c80510f7f.json")).exchanges[0]
    assert ex.dialect == "opaque" and ex.result is None
    assert ex.request.url is None and ex.request.body["api"] == "file_processors"


def test_raw_sse_lines_become_event_payloads():
    ex = load(str(CORPUS / "llama-stack/raw-sse/557ab35eb5de.json")).exchanges[0]
    types = [c["type"] for c in ex.response.chunks]
    assert types[0] == "message_start" and types[-1] == "message_stop"
    assert all(isinstance(c, dict) for c in ex.response.chunks)


def test_model_list_body_is_unwrapped():
    ex = load(str(corpus("models")[0])).exchanges[0]
    assert ex.dialect == "opaque"
    assert isinstance(ex.response.body, list) and "__type__" not in ex.response.body[0]


# --- unreadable input -----------------------------------------------------------------------


def _write(tmp_path: Path, name: str, data: bytes | str) -> str:
    p = tmp_path / name
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(p)


def _mutated(tmp_path: Path, change) -> str:
    doc = json.loads(SEED.read_text())
    change(doc)
    return _write(tmp_path, "mutated.json", json.dumps(doc))


@pytest.mark.parametrize(
    "data, what, where",
    [
        (b"hello", "not JSON", "line 1, column 1 (byte 0)"),
        (b"", "empty file", None),
        (b"   \n", "empty file", None),
        (b'{"a": 1}', "not a recording", None),
        (b"[1, 2]", "not a recording", None),
        (b'{"request": {}, "response": {"body": [], "is_streaming": true}}\n}', "not JSON", "line 2"),
    ],
)
def test_unreadable_documents(tmp_path, data, what, where):
    path = _write(tmp_path, "bad.json", data)
    with pytest.raises(UnreadableInput) as info:
        load(path)
    line = info.value.line()
    assert line.startswith(path + ": ") and what in line
    if where:
        assert where in line


def test_file_cut_off_mid_json(tmp_path):
    data = SEED.read_bytes()
    path = _write(tmp_path, "cut.json", data[: len(data) // 2])
    with pytest.raises(UnreadableInput) as info:
        load(path)
    assert "cut off mid-JSON" in info.value.line()
    assert f"(byte {len(data) // 2})" in info.value.line()


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(UnreadableInput, match="no such file"):
        load(str(tmp_path / "nope.json"))
    with pytest.raises(UnreadableInput, match="is a directory"):
        load(str(tmp_path))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["response"].__setitem__("body", 42), "should be an array"),
        (lambda d: d["response"]["body"][3]["__data__"].__setitem__("choices", "oops"), "chunk 3"),
        (lambda d: d["response"]["body"][5]["__data__"]["choices"][0].__setitem__("delta", [1]), "chunk 5"),
        (lambda d: d["response"]["body"][2]["__data__"]["choices"][0]["delta"].__setitem__("content", 7),
         "chunk 2"),
        (lambda d: d["response"]["body"].__setitem__(4, "not a chunk"), "chunk 4"),
        (lambda d: d.__setitem__("request", []), "not a recording"),
        (lambda d: d["request"].__setitem__("url", 5), "request.url"),
    ],
)
def test_wrong_types_inside_name_the_place(tmp_path, change, message):
    path = _mutated(tmp_path, change)
    if message.startswith("chunk "):  # a chunk's field: the chunk is left out, the exchange kept (issue 23)
        (found,) = left_out(path)
        assert found[0] == int(message.split()[1])
        return
    with pytest.raises(UnreadableInput) as info:
        load(path)
    assert message in info.value.line()
