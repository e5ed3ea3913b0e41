"""llmtrace's OpenAI chat reassembly against openai-python's own accumulator
(``ChatCompletionStreamState``, openai pinned in the ``dev`` extra) on every OpenAI chat stream
in the corpus.

The reference is fed each recorded ``__data__`` with explicit nulls dropped (it raises on
them, see ``test_reference_raises_on_explicit_nulls``) and, as the SDK's own stream does,
without Azure's asynchronous-filter events. Where the reference is known to be wrong (role
sent in every delta is concatenated, per-chunk ``token_id`` summed, usage wiped by a later
chunk, tool-call deltas without ``index``) the test pins the reference's wrong answer *and*
llmtrace's right one, so a change on either side shows up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

from conftest import SEED, corpus
from llmtrace.dialects import FoldContext
from llmtrace.dialects.openai_chat import REASONING_FIELDS, fold
from llmtrace.loader import load

FILES = corpus("openai-chat-stream") + corpus("openai-chat-on-completions-stream") + [SEED]


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def recorded_chunks(path: Path) -> list[dict]:
    """The chunk payloads as recorded (``__data__`` of each body item), nulls included."""
    doc = orjson.loads(path.read_bytes())
    return [item["__data__"] for item in doc["response"]["body"]]


def reference(chunks: list[dict]):
    """openai-python's accumulated snapshot of ``chunks`` (nulls dropped first).

    No ``input_tools``/``response_format``: those only add parsing on top of the accumulation,
    and ``get_final_completion()`` raises on ``finish_reason: "length"``, so the raw snapshot
    is what is compared."""
    state = ChatCompletionStreamState()
    for data in chunks:
        data = drop_nulls(data)
        # ChatCompletionStream skips Azure's filter events (object "") before they reach the state.
        if data.get("object") != "chat.completion.chunk":
            continue
        state.handle_chunk(ChatCompletionChunk.model_validate(data))
    return state.current_completion_snapshot


def _deltas(chunks: list[dict], index: int) -> list[tuple[int, dict]]:
    """(chunk position, delta) of every delta of choice ``index``."""
    return [(i, choice["delta"]) for i, chunk in enumerate(chunks) for choice in chunk.get("choices") or []
            if choice.get("index", 0) == index and choice.get("delta") is not None]


def _fold(chunks: list[dict]):
    return fold(chunks, FoldContext(dialect="openai-chat"))


def test_every_kind_is_covered():
    kinds = {p.parent.name for p in FILES}
    assert kinds == {"openai-chat-stream", "openai-chat-on-completions-stream", "seed"}
    assert all(load(str(p)).exchanges[0].dialect == "openai-chat" for p in FILES)


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_messages_match_openai_python(path: Path):
    chunks = recorded_chunks(path)
    ref = reference(chunks)
    result = load(str(path)).exchanges[0].result

    ref_choices = sorted(ref.choices, key=lambda c: c.index)
    assert [m.index for m in result.choices] == [c.index for c in ref_choices]
    for rc, message, provider in zip(ref_choices, result.choices, result.response["choices"]):
        ref_message = rc.message
        assert message.content == ref_message.content
        assert message.refusal == ref_message.refusal
        assert message.finish_reason == rc.finish_reason
        assert [(t.id, t.name, t.arguments) for t in message.tool_calls] == [
            (t.id, t.function.name, t.function.arguments) for t in ref_message.tool_calls or []]

        extra = ref_message.model_extra or {}
        ref_reasoning = {name: extra[name] for name in REASONING_FIELDS if name in extra}
        assert {name: provider["message"][name] for name in REASONING_FIELDS
                if name in provider["message"]} == ref_reasoning
        assert message.reasoning == ("".join(ref_reasoning.values()) or None)

        ref_logprobs = rc.logprobs.model_dump(exclude_unset=True) if rc.logprobs is not None else None
        assert drop_nulls(provider["logprobs"]) == ref_logprobs

        deltas = _deltas(chunks, rc.index)
        roles = [d["role"] for _, d in deltas if d.get("role")]
        assert message.role == (roles[0] if roles else "assistant")
        if len(roles) > 1:
            # Known reference bug: a role repeated in every delta (Ollama, Together) is concatenated.
            assert ref_message.role == "".join(roles)
        else:
            assert message.role == (ref_message.role or "assistant")

        token_ids = [(i, d["token_id"]) for i, d in deltas if d.get("token_id") is not None]
        if token_ids:
            # Known reference bug: Together's per-chunk token_id is summed into the message.
            assert extra["token_id"] == sum(t for _, t in token_ids)
            assert "token_id" not in provider["message"]
            assert [(d.chunk, d.token_id) for d in result.timeline.deltas
                    if d.choice == rc.index and d.kind == "content"] == [
                (i, d.get("token_id")) for i, d in deltas if d.get("content")]

    ref_usage = ref.usage.model_dump(exclude_unset=True) if ref.usage is not None else None
    assert drop_nulls(result.response["usage"]) == ref_usage
    usage = result.usage
    if ref.usage is None:
        assert usage.model_dump() == dict.fromkeys(usage.model_dump())
    else:
        prompt_details = ref.usage.prompt_tokens_details
        completion_details = ref.usage.completion_tokens_details
        cached = prompt_details.cached_tokens if prompt_details else (ref.usage.model_extra or {}).get("cached_tokens")
        assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (
            ref.usage.prompt_tokens, ref.usage.completion_tokens, ref.usage.total_tokens)
        assert usage.cached_tokens == cached
        assert usage.reasoning_tokens == (completion_details.reasoning_tokens if completion_details else None)

    assert (result.response["id"], result.response["model"], result.response["created"]) == (
        ref.id, ref.model, ref.created)


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_reassembled_response_shape(path: Path):
    chunks = recorded_chunks(path)
    result = load(str(path)).exchanges[0].result
    response = result.response

    assert response["object"] == "chat.completion"
    indexes = [c["index"] for c in response["choices"]]
    assert indexes == sorted(set(indexes))
    for choice, message in zip(response["choices"], result.choices):
        provider = choice["message"]
        assert provider["role"] == "assistant"  # never "assistantassistant…"
        assert provider["content"] == message.content
        assert ("tool_calls" in provider) == bool(message.tool_calls)
        for call, tool in zip(provider.get("tool_calls", []), message.tool_calls):
            assert call == {"id": tool.id, "type": "function",
                            "function": {"name": tool.name, "arguments": tool.arguments}}
            assert tool.parsed_arguments == orjson.loads(tool.arguments or "{}")

    usages = [c["usage"] for c in chunks if c.get("usage") is not None]
    assert response["usage"] == (usages[-1] if usages else None)
    filters = [f for c in chunks for f in c.get("prompt_filter_results") or []]
    if filters:
        assert response["prompt_filter_results"] == filters
    else:
        assert "prompt_filter_results" not in response


def test_corpus_exercises_the_known_reference_bugs():
    """The exceptions above are not hypothetical: the corpus holds streams of each kind."""
    repeated_role = token_ids = azure_filters = 0
    for path in FILES:
        chunks = recorded_chunks(path)
        deltas = _deltas(chunks, 0)
        repeated_role += sum(1 for _, d in deltas if d.get("role")) > 1
        token_ids += any(d.get("token_id") is not None for _, d in deltas)
        azure_filters += any(c.get("prompt_filter_results") for c in chunks)
    assert repeated_role and token_ids and azure_filters


# --- hand-made streams where the reference raises or is wrong --------------------------------


def _chunk(delta: dict | None = None, finish: str | None = None, index: int = 0, **top) -> dict:
    choices = [] if delta is None else [{"index": index, "delta": delta, "finish_reason": finish}]
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": choices, **top}


def test_reference_raises_on_explicit_nulls():
    chunks = [
        _chunk({"role": "assistant", "tool_calls": [
            {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
        _chunk({"tool_calls": [{"index": 0, "id": None, "type": None,
                                "function": {"name": None, "arguments": "{\"a\": 1}"}}]}),
        _chunk({}, finish="tool_calls"),
    ]
    state = ChatCompletionStreamState()
    with pytest.raises(AssertionError):
        for data in chunks:
            state.handle_chunk(ChatCompletionChunk.model_validate(data))
    (call,) = _fold(chunks).choices[0].tool_calls
    assert (call.id, call.name, call.arguments, call.parsed_arguments) == ("call_1", "f", '{"a": 1}', {"a": 1})
    assert _fold(chunks).choices == _fold(drop_nulls(chunks)).choices


def test_reference_raises_on_tool_call_without_index():
    # Gemini's OpenAI endpoint: whole tool calls, no index (openai/openai-python#2806).
    chunks = [
        _chunk({"role": "assistant", "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}),
        _chunk({"tool_calls": [
            {"id": "b", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}]}),
        _chunk({}, finish="tool_calls"),
    ]
    with pytest.raises(Exception):
        reference(chunks)
    calls = _fold(chunks).choices[0].tool_calls
    assert [(c.id, c.name, c.parsed_arguments) for c in calls] == [
        ("a", "get_weather", {"city": "Paris"}), ("b", "get_weather", {"city": "Rome"})]


def test_reference_wipes_usage_with_a_later_chunk():
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    chunks = [_chunk({"role": "assistant", "content": "hi"}), _chunk({}, finish="stop"),
              _chunk(None, usage=usage), _chunk(None)]
    assert reference(chunks).usage is None
    result = _fold(chunks)
    assert result.response["usage"] == usage
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.total_tokens) == (3, 2, 5)
