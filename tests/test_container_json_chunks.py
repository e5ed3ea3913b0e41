"""A plain JSON array of chunks (containers/json_chunks.py, NAME "json-chunks")."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import DATA
from llmtrace.errors import UnreadableInput
from llmtrace.loader import load

EXAMPLES = DATA.parent.parent / "examples" / "containers"


@pytest.mark.parametrize("name, dialect", [("gemini.json", "gemini"), ("anthropic-messages.json", "anthropic-messages")])
def test_examples(name, dialect):
    recording = load(str(EXAMPLES / "json-chunks" / name))
    (ex,) = recording.exchanges
    assert recording.container == "json-chunks" and ex.dialect == dialect
    assert ex.request.body is None and ex.response.streaming and ex.result.complete
    assert ex.response.chunks == json.loads((EXAMPLES / "json-chunks" / name).read_text())


def test_same_message_as_the_sse_stream():
    (array,) = load(str(EXAMPLES / "json-chunks/anthropic-messages.json")).exchanges
    (sse,) = load(str(EXAMPLES / "sse/anthropic-messages.sse")).exchanges
    assert array.response.chunks == sse.response.chunks and array.result.choices == sse.result.choices


def test_a_response_object_on_its_own_is_a_body(tmp_path):
    cassette = yaml.safe_load((DATA / "cassettes/pydantic-ai/test_openai_prompt_cache--test_openai_responses_prompt_cache_e2e.yaml")
                              .read_text())
    body = cassette["interactions"][0]["response"]["parsed_body"]
    path = tmp_path / "body.json"
    path.write_text(json.dumps(body))
    (ex,) = load(str(path)).exchanges
    assert not ex.response.streaming and ex.response.body == body
    assert ex.dialect == "openai-responses" and ex.result.choices[0].content == "OK"


@pytest.mark.parametrize("doc, message", [
    ([1, 2], "not a recording (an array of 2 items)"),
    ({"hello": "world"}, "not a recording (an object with keys hello)"),
])
def test_not_chunks(tmp_path, doc, message):
    path = tmp_path / "x.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(UnreadableInput) as info:
        load(str(path))
    assert message in info.value.line() and info.value.not_recording


def test_format_override_names_the_bad_chunk(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps([{"a": 1}, "two"]))
    with pytest.raises(UnreadableInput) as info:
        load(str(path), fmt="json-chunks")
    assert info.value.line().endswith("chunk should be an object, chunk 1")
