"""``llmtrace serve`` streams only when the request asks, by each dialect's wire rule: OpenAI
(chat, completions, Responses) and Anthropic stream on ``"stream": true`` only, Ollama unless
``"stream": false``, Gemini by the method in the path. A streamed recording asked for without a
stream answers ``reassemble``'s body, which the vendor's SDK parses into the same object. Each
SDK both ways, against a server on a free port of 127.0.0.1."""

from __future__ import annotations

import subprocess
import shutil

import httpx
import orjson
import pytest

import llmtrace
from conftest import DATA
from llmtrace.dialects import wants_stream
from llmtrace.loader import load
from test_serve import (ANTHROPIC, CHAT, COMPLETIONS, GEMINI, OLLAMA, RESPONSES, TIMEOUT, TOOLS, _accumulate_openai,
                        _body, _kwargs, serving)


def _reassembled(path, index: int = 0):
    return llmtrace.reassemble(load(str(path)).exchanges[index])


def _dump(obj) -> dict:
    """An SDK object as the JSON it was parsed from (the fields the body set)."""
    return obj.model_dump(mode="json", exclude_unset=True, by_alias=True)


def _without(body: dict, *keys: str) -> dict:
    return {k: v for k, v in body.items() if k not in keys}


def _openai(base: str):
    import openai

    return openai.OpenAI(base_url=f"{base}/v1", api_key="test", max_retries=0, timeout=TIMEOUT)


@pytest.mark.parametrize("path", [CHAT, TOOLS], ids=["content", "tool-calls"])
def test_openai_chat_without_stream_gets_the_reassembled_completion(path):
    body = _without(_body(path), "stream", "stream_options")
    with serving(path) as (base, lines):
        client = _openai(base)
        completion = client.chat.completions.create(**_kwargs(client.chat.completions.create, body))
        again = client.chat.completions.create(**_kwargs(client.chat.completions.create, {**body, "stream": False}))
        streamed = _accumulate_openai(client.chat.completions.create(
            **_kwargs(client.chat.completions.create, {**body, "stream": True})))
    assert type(completion).__name__ == "ChatCompletion"
    assert _dump(completion) == _dump(again) == _reassembled(path)
    message = completion.choices[0].message
    assert streamed["content"] == message.content
    assert [c["name"] for c in streamed["tool_calls"]] == [c.function.name for c in message.tool_calls or []]
    assert ["whole body" in line for line in lines] == [True, True, False]


def test_openai_completions_both_ways():
    body = _without(_body(COMPLETIONS), "stream")
    with serving(COMPLETIONS) as (base, _):
        client = _openai(base)
        completion = client.completions.create(**_kwargs(client.completions.create, body))
        chunks = list(client.completions.create(**_kwargs(client.completions.create, {**body, "stream": True})))
    assert _dump(completion) == _reassembled(COMPLETIONS)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == completion.choices[0].text


def test_openai_responses_both_ways():
    body = _without(_body(RESPONSES), "stream")
    with serving(RESPONSES) as (base, _):
        client = _openai(base)
        response = client.responses.create(**_kwargs(client.responses.create, body))
        events = list(client.responses.create(**_kwargs(client.responses.create, {**body, "stream": True})))
    assert type(response).__name__ == "Response"
    assert _dump(response) == _reassembled(RESPONSES)
    done = [e for e in events if e.type == "response.completed"][-1].response
    assert done.output_text == response.output_text and done.id == response.id


def test_anthropic_messages_both_ways():
    import anthropic

    body = _without(_body(ANTHROPIC), "stream")
    with serving(ANTHROPIC) as (base, _):
        client = anthropic.Anthropic(base_url=base, api_key="test", max_retries=0, timeout=TIMEOUT)
        message = client.messages.create(**_kwargs(client.messages.create, body))
        with client.messages.stream(**_kwargs(client.messages.stream, body)) as stream:
            final = stream.get_final_message()
    assert type(message).__name__ == "Message"
    assert _dump(message) == _reassembled(ANTHROPIC)
    assert final.content[0].text == message.content[0].text and final.stop_reason == message.stop_reason


def test_gemini_by_the_method_in_the_path():
    from google import genai
    from google.genai import types

    body = _body(GEMINI)
    with serving(GEMINI) as (base, lines):
        client = genai.Client(api_key="test", http_options=types.HttpOptions(base_url=base, api_version="v1beta",
                                                                           timeout=TIMEOUT * 1000))
        contents = [types.Content(role=c.get("role"), parts=[types.Part(text=p["text"]) for p in c["parts"]])
                    for c in body["contents"]]
        whole = client.models.generate_content(model="gemini-2.5-flash", contents=contents)
        chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents=contents))
    expected = _reassembled(GEMINI)
    got = whole.model_dump(mode="json", exclude_none=True, by_alias=True)
    assert got["candidates"] == expected["candidates"] and got["usageMetadata"] == expected["usageMetadata"]
    assert got["responseId"] == expected["responseId"]
    assert "".join(c.text or "" for c in chunks) == whole.text
    assert "whole body" in lines[0] and "frames" in lines[1]


def test_ollama_streams_unless_told_not_to():
    import ollama

    body = _body(OLLAMA)
    with serving(OLLAMA) as (base, _):
        client = ollama.Client(host=base, timeout=TIMEOUT)
        whole = client.chat(model=body["model"], messages=body["messages"], options=body.get("options"), stream=False)
        parts = list(client.chat(model=body["model"], messages=body["messages"], options=body.get("options"),
                                 stream=True))
        with httpx.Client(timeout=TIMEOUT) as http:  # no "stream" key at all: Ollama's default, a stream
            raw = http.post(base + "/api/chat", json=_without(body, "stream"))
    assert whole.model_dump(mode="json", exclude_unset=True) == _reassembled(OLLAMA)
    assert "".join(p.message.content or "" for p in parts) == whole.message.content
    assert raw.headers["content-type"].startswith("application/x-ndjson")
    assert len(raw.text.splitlines()) == len(parts) > 1


def test_a_plain_curl_post_gets_json_not_sse():
    """The issue's repro: a recorded stream, a request without ``stream`` → one JSON body."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    path = DATA.parent.parent / "examples" / "containers" / "vcr" / "openai-chat.yaml"
    body = _without(_body(path), "stream", "stream_options")
    with serving(path) as (base, _):
        out = subprocess.run([curl, "-si", "--max-time", "20", f"{base}/v1/chat/completions",
                              "-H", "content-type: application/json", "-d", orjson.dumps(body).decode()],
                             capture_output=True, timeout=30, check=True).stdout.decode()
    head, _, payload = out.partition("\r\n\r\n")
    assert "content-type: application/json" in head.lower()
    assert orjson.loads(payload) == _reassembled(path)


@pytest.mark.parametrize("dialect, path, body, recorded, expected", [
    ("openai-chat", "/v1/chat/completions", {}, True, False),
    ("openai-chat", "/v1/chat/completions", {"stream": True}, False, True),
    ("openai-responses", "/v1/responses", {"stream": "yes"}, True, False),  # not a boolean: not asked
    ("anthropic-messages", "/v1/messages", {"stream": False}, True, False),
    ("ollama-chat", "/api/chat", {}, False, True),
    ("ollama-generate", "/api/generate", {"stream": False}, True, False),
    ("gemini", "/v1beta/models/m:generateContent", {"stream": True}, True, False),
    ("gemini", "/v1beta/models/m:streamGenerateContent", {}, False, True),
    ("gemini", "/v1beta/models/m/generate_content_stream", {}, True, True),  # the path cannot tell
    ("bedrock-converse", "/model/m/converse-stream", {}, False, True),
    ("bedrock-converse", "/model/m/converse", {}, True, False),
    ("bedrock-invoke", "/model/m/invoke", {}, True, False),
    ("watsonx", "/ml/v1/text/generation_stream", {}, False, True),
    ("watsonx", "/ml/v1/text/generation", {}, True, False),
    ("cohere-v2", "/v2/chat", {}, True, False),
    ("a2a", "/", {"method": "message/stream"}, False, True),
    ("a2a", "/", {"method": "tasks/get"}, True, True),
    ("openai-assistants", "/v1/threads/runs", {}, True, True),
    ("opaque", "/v1/embeddings", {}, False, False),
])
def test_each_dialects_rule(dialect, path, body, recorded, expected):
    assert wants_stream(dialect, path, body, recorded) is expected
