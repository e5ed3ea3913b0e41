"""OpenAI-like servers' extras in chat streams: Groq ``x_groq``, DeepSeek cache counts,
OpenRouter ``provider``/``cost``/``reasoning_details``, Mistral ``p`` padding and thinking
chunks — read, normalized, and kept in the reassembled response."""

from __future__ import annotations

import json

import orjson
from typer.testing import CliRunner

from llmtrace.cli import app
from llmtrace.dialects import FoldContext, openai_chat
from llmtrace.loader import load
from raw_reading import NEWFORMATS, bodies, sse


def _chunks(path, n=0):
    return [json.loads(d) for _, d in sse(bodies(path)[n][1]) if d != "[DONE]"]


def test_groq_usage_comes_from_x_groq_and_x_groq_is_kept():
    for path in [*(NEWFORMATS / "F-openllmetry").glob("*groq*"), *(NEWFORMATS / "F-pydantic-ai").glob("*web_search*")]:
        chunks = _chunks(path)
        expected = [c["x_groq"]["usage"] for c in chunks if "usage" in c.get("x_groq", {})][-1]
        exchange = load(str(path)).exchanges[0]
        usage = exchange.result.usage
        assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (
            expected["prompt_tokens"], expected["completion_tokens"], expected["total_tokens"])
        assert exchange.result.response["usage"] == expected
        assert exchange.result.response["x_groq"]["usage"] == expected
        content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
        assert exchange.result.choices[0].content == content


def test_mistral_thinking_chunks_are_reasoning_and_padding_is_dropped():
    path = next((NEWFORMATS / "F-pydantic-ai").glob("*mistral*thinking*"))
    chunks = _chunks(path)
    thinking, text = [], []
    for chunk in chunks:
        content = chunk["choices"][0]["delta"].get("content")
        if isinstance(content, list):
            thinking += [t["text"] for part in content if part["type"] == "thinking" for t in part["thinking"]]
        elif content:
            text.append(content)
    message = load(str(path)).exchanges[0].result.choices[0]
    assert message.reasoning == "".join(thinking) and message.reasoning.startswith("Okay, the user")
    assert message.content == "".join(text)
    run = CliRunner().invoke(app, ["reassemble", str(path)])
    assert orjson.loads(run.stdout)["choices"][0]["message"]["thinking"] == message.reasoning
    padded = next((NEWFORMATS / "F-openllmetry").glob("*mistral*"))
    assert any("p" in c for c in _chunks(padded))
    response = load(str(padded)).exchanges[0].result.response
    assert "p" not in response and response["usage"]["total_tokens"] == 91


def test_openrouter_provider_cost_and_reasoning_details():
    path = next((NEWFORMATS / "G-pydantic-ai").glob("*openrouter_stream_with_reasoning*"))
    exchange = load(str(path)).exchanges[0]
    response = exchange.result.response
    assert response["provider"] == "OpenAI" and response["usage"]["cost"] == 0.00085
    details = response["choices"][0]["message"]["reasoning_details"]
    assert details[0]["type"] == "reasoning.encrypted"
    path = next((NEWFORMATS / "G-pydantic-ai").glob("*openrouter_stream_error*"))
    message = load(str(path)).exchanges[0].result.choices[0]
    chunks = _chunks(path)
    assert message.reasoning == "".join(c["choices"][0]["delta"].get("reasoning") or "" for c in chunks)


def test_deepseek_cache_hits_are_the_cached_tokens():
    chunk = {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "x"},
                                                                        "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11,
                       "prompt_cache_hit_tokens": 8, "prompt_cache_miss_tokens": 2}}
    result = openai_chat.fold([chunk], FoldContext(dialect="openai-chat"))
    assert result.usage.cached_tokens == 8
    assert result.response["usage"]["prompt_cache_miss_tokens"] == 2
