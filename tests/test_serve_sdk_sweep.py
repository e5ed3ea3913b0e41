"""Every streamed OpenAI (chat, completions, Responses), Anthropic and Ollama exchange of every
recording in tests/data and examples/, served by ``llmtrace serve`` and read through the vendor's
own SDK: the text the SDK accumulates equals ``llmtrace reassemble``'s; a recording whose stream
carries an error makes the SDK raise it. (Gemini: tests/test_serve.py, on a REST recording.)"""

from __future__ import annotations

from pathlib import Path

import anthropic
import httpx
import ollama
import openai
import pytest

from llmtrace.errors import UnreadableInput
from llmtrace.loader import load
from llmtrace.server.app import Background, Options, Server
from llmtrace.view import normalized_json
from llmtrace.walk import iter_inputs
from test_serve import _kwargs

ROOT = Path(__file__).resolve().parent.parent
SDKS = {"openai-chat", "openai-completions", "openai-responses", "anthropic-messages", "ollama-chat", "ollama-generate"}
TIMEOUT = 30


def _servable(ex) -> bool:
    # Chat chunks recorded on a /completions URL (Llama Stack's openai-chat-on-completions) came
    # from a completions call whose SDK object has no place for chat deltas: not an SDK case.
    chat_elsewhere = ex.dialect == "openai-chat" and not (ex.request.endpoint or "").endswith("/chat/completions")
    # Anthropic Messages on Vertex (``…/models/MODEL:streamRawPredict``, the model in the URL): not
    # the Anthropic SDK's path, nor its request (no ``model`` in the body).
    messages_elsewhere = ex.dialect == "anthropic-messages" and not (ex.request.endpoint or "").endswith("/messages")
    return (ex.dialect in SDKS and ex.response.streaming and not ex.failed and ex.result is not None
            and bool(ex.request.endpoint) and isinstance(ex.request.body, dict) and not chat_elsewhere
            and not messages_elsewhere)


def _recordings():
    out = []
    for item in iter_inputs([str(ROOT / "tests" / "data"), str(ROOT / "examples")]):
        try:
            recording = load(item.path)
        except UnreadableInput:
            continue
        if any(_servable(ex) for ex in recording.exchanges):
            out.append(recording)
    return out


RECORDINGS = _recordings()


def _sdk_kwargs(method, body: dict) -> dict:
    """The recorded body as keyword arguments; a literal ``extra_body`` key (Llama Stack records
    the SDK's keyword arguments, not the wire body) is sent as that key."""
    body = dict(body)
    literal = body.pop("extra_body", None)
    kwargs = _kwargs(method, body)
    if literal is not None:
        kwargs.setdefault("extra_body", {})["extra_body"] = literal
    return kwargs


def _chat_text(stream) -> str | None:
    parts = []
    for chunk in stream:
        for choice in chunk.choices:
            content = choice.delta.content
            if choice.index != 0 or content is None:
                continue
            if isinstance(content, list):  # Mistral: typed content parts
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
            parts.append(content)
    return "".join(parts) or None


def _through_the_sdk(base: str, ex) -> str | None:
    body = dict(ex.request.body)
    endpoint = ex.request.endpoint
    if ex.dialect == "openai-chat":
        client = openai.OpenAI(base_url=base + endpoint.rsplit("/chat/completions", 1)[0], api_key="test",
                               max_retries=0, timeout=TIMEOUT)
        return _chat_text(client.chat.completions.create(**_sdk_kwargs(client.chat.completions.create, body)))
    if ex.dialect == "openai-completions":
        client = openai.OpenAI(base_url=base + endpoint.rsplit("/completions", 1)[0], api_key="test", max_retries=0,
                               timeout=TIMEOUT)
        chunks = client.completions.create(**_sdk_kwargs(client.completions.create, body))
        return "".join(c.choices[0].text for c in chunks if c.choices and c.choices[0].index == 0) or None
    if ex.dialect == "openai-responses":
        client = openai.OpenAI(base_url=base + endpoint.rsplit("/responses", 1)[0], api_key="test", max_retries=0,
                               timeout=TIMEOUT)
        events = list(client.responses.create(**_sdk_kwargs(client.responses.create, body)))
        done = [e for e in events if e.type in ("response.completed", "response.incomplete", "response.failed")]
        return done[-1].response.output_text if done else None
    if ex.dialect == "anthropic-messages":
        client = anthropic.Anthropic(base_url=base + endpoint.rsplit("/v1/messages", 1)[0], api_key="test",
                                     max_retries=0, timeout=TIMEOUT)
        body.pop("stream", None)
        with client.messages.stream(**_kwargs(client.messages.stream, body)) as stream:
            message = stream.get_final_message()
        return "".join(b.text for b in message.content if b.type == "text") or None
    client = ollama.Client(host=base, timeout=TIMEOUT)
    common = {"model": body["model"], "options": body.get("options"), "format": body.get("format"), "stream": True}
    if ex.dialect == "ollama-chat":
        parts = client.chat(messages=body["messages"], tools=body.get("tools"), think=body.get("think"), **common)
        return "".join(p.message.content or "" for p in parts) or None
    parts = client.generate(prompt=body.get("prompt"), system=body.get("system"), raw=body.get("raw"),
                            images=body.get("images"), suffix=body.get("suffix"), **common)
    return "".join(p.response or "" for p in parts) or None


@pytest.mark.parametrize("recording", RECORDINGS, ids=[str(Path(r.source).relative_to(ROOT)) for r in RECORDINGS])
def test_the_sdk_reads_what_was_recorded(recording):
    mode = "sequence" if len(recording.exchanges) > 1 else "strict"
    server = Server([recording], options=Options(speed=None, mode=mode, log=lambda line: None))
    with Background(server) as base:
        with httpx.Client(timeout=TIMEOUT) as client:
            for ex in recording.exchanges:
                if not _servable(ex):
                    if ex.request.endpoint and isinstance(ex.request.body, dict):  # keep the sequence in step
                        client.post(base + ex.request.endpoint, json=ex.request.body).read()
                    continue
                want = normalized_json(ex)["choices"][0]["content"] if ex.result.choices else None
                try:
                    got = _through_the_sdk(base, ex)
                except (openai.APIError, anthropic.APIError):
                    assert ex.result.observations.stream_errors, "the SDK raised, but the recording streamed no error"
                    continue
                assert (got or None) == (want or None)


def _gemini(ex) -> bool:
    endpoint = ex.request.endpoint or ""
    return (ex.dialect == "gemini" and ex.response.streaming and not ex.failed and ex.result is not None
            and ":streamGenerateContent" in endpoint and "/v1beta/models/" in endpoint  # the Gemini API's, not Vertex's
            and isinstance(ex.request.body, dict))


def _gemini_recordings():
    out = []
    for item in iter_inputs([str(ROOT / "tests" / "data"), str(ROOT / "examples")]):
        try:
            recording = load(item.path)
        except UnreadableInput:
            continue
        out.extend((recording, ex) for ex in recording.exchanges if _gemini(ex))
    return out


GEMINI = _gemini_recordings()


@pytest.mark.parametrize("recording, ex", GEMINI, ids=[str(Path(r.source).relative_to(ROOT)) for r, _ in GEMINI])
def test_google_genai_reads_what_was_recorded(recording, ex):
    """The REST recordings (``:streamGenerateContent``) through google-genai. The SDK writes the
    request its own way (field order, defaults) and only the contents are sent here (no system
    instruction, no config), so these are matched by ``closest``; the path decides
    the recording (a base URL prefix such as ``/router/v2/google`` is kept)."""
    from google import genai
    from google.genai import types

    endpoint = ex.request.endpoint
    prefix, _, rest = endpoint.partition("/v1beta/models/")
    model = rest.split(":", 1)[0]
    body = ex.request.body
    contents = [types.Content.model_validate(c) for c in body["contents"]]
    server = Server([recording], options=Options(speed=None, mode="closest", log=lambda line: None))
    with Background(server) as base:
        client = genai.Client(api_key="test", http_options=types.HttpOptions(base_url=base + prefix, api_version="v1beta",
                                                                           timeout=TIMEOUT * 1000))
        chunks = list(client.models.generate_content_stream(model=model, contents=contents))
    text = "".join(part.text for c in chunks if c.candidates for part in (c.candidates[0].content.parts or [])
                   if part.text and not part.thought) or None
    assert text == normalized_json(ex)["choices"][0]["content"]
