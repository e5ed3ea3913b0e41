"""The folds' reading of the common case (``ChatFold._choice``: a choice with nothing non-null but
its index and a delta of text; ``CompletionsFold._choice``: nothing but its index and text) gives
what their general reading gives, on every input: the same result, the same timeline and
observations, the same error for a bad chunk."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SEED, corpus
from llmtrace.dialects import FoldContext, feed
from llmtrace.dialects.openai_chat import ChatFold
from llmtrace.dialects.openai_completions import CompletionsFold
from llmtrace.errors import ShapeError
from llmtrace.loader import load
from test_property_rechunk import OPERATIONS, rechunk


def chat_outcome(chunks: list, common: bool, tolerant: bool = False, fold: type = ChatFold):
    """Everything the chat (or completions) fold makes of ``chunks``, read with its common path
    or without."""
    ctx = FoldContext(dialect="openai-chat", extra={"tolerant": True} if tolerant else {})
    state = fold(ctx)
    if not common:
        state._choice = state._any_choice
    try:
        feed(state, chunks)
        result = state.result(len(chunks))
    except ShapeError as exc:
        return ("error", exc.what, exc.where)
    return (result.model_dump(), list(result.timeline.deltas), result.observations.model_dump(),
            ctx.extra.get("unread"), result.model_fields_set, [c.model_fields_set for c in result.choices])


def assert_same_chat(chunks: list, fold: type = ChatFold) -> None:
    before = copy.deepcopy(chunks)
    for tolerant in (False, True):
        assert chat_outcome(chunks, True, tolerant, fold) == chat_outcome(chunks, False, tolerant, fold)
    assert chunks == before  # neither reading changes the chunks


def test_the_common_choice_is_read_without_the_general_path(monkeypatch):
    chunks = [{"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None,
                                                            "tool_calls": None, "function_call": None},
                                       "finish_reason": None, "logprobs": None, "obfuscation": "xyz"}]},
              {"id": "c", "choices": [{"delta": {"content": "Hi", "token_id": 7, "audio": None}}]},
              {"id": "c", "choices": [{"index": 0, "delta": {"content": "!"}, "finish_reason": "stop"}]}]
    general = []
    monkeypatch.setattr(ChatFold, "_any_choice", lambda self, i, raw: general.append(i))
    state = ChatFold(FoldContext(dialect="openai-chat"))
    feed(state, chunks)
    assert general == [2]  # the finish reason: read the general way
    assert state.choices[0].role == "assistant" and state.choices[0].content == ["", "Hi"]
    assert [tuple(d) for d in state.deltas] == [(1, 0, "content", "Hi", 7)]


def test_a_fold_that_reads_more_of_a_delta_reads_every_choice_the_general_way():
    from llmtrace.dialects.writer import WriterChatFold

    assert ChatFold(FoldContext(dialect="openai-chat"))._common_choices
    assert not WriterChatFold(FoldContext(dialect="writer"))._common_choices  # its _delta keeps graph_data


@pytest.mark.parametrize("raw", [
    {"index": 0, "delta": {"content": "x", "refusal": "no"}},
    {"index": 0, "delta": {"content": "x", "reasoning_content": "hm"}},
    {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "{}"}}]}},
    {"index": 0, "delta": {"content": "x"}, "logprobs": {"content": [{"token": "x"}]}},
    {"index": 0, "delta": {"content": "x"}, "content_filter_results": {"hate": {"filtered": False}}},
    {"index": 0, "delta": {"content": "x"}, "stop_reason": 42},
    {"index": 0, "message": {"role": "assistant", "content": "x"}},
    {"index": 0, "delta": {"content": [{"type": "text", "text": "x"}]}},
    {"index": 0, "delta": {"content": "x", "token_id": "7"}},
    {"index": 0, "delta": {"content": "x", "images": [{"type": "image_url"}]}},
])
def test_other_choices_read_the_same(raw):
    assert_same_chat([{"id": "c", "choices": [raw]}, {"id": "c", "choices": [{"index": 0, "delta": {"content": "y"}}]}])


@pytest.mark.parametrize("raw", [
    {"index": "0", "delta": {"content": "x"}},
    {"index": True, "delta": {"content": "x"}},
    {"index": 0, "delta": "x"},
    {"index": 0, "delta": ["x"]},
    {"index": 0, "delta": {"content": 5}},
    {"index": 0, "delta": {"role": 5, "content": "x"}},
    {"index": 0, "delta": {"role": ["assistant"]}},
])
def test_bad_choices_fail_the_same(raw):
    chunks = [{"id": "c", "choices": [{"index": 0, "delta": {"content": "a"}}]}, {"id": "c", "choices": [raw]}]
    outcome = chat_outcome(chunks, True)
    assert outcome[0] == "error" and outcome[2] == "chunk 1"
    assert_same_chat(chunks)


@pytest.mark.parametrize("raw", [
    {"index": None, "text": 0},
    {"text": ["x"]},
    {"index": "0", "text": "x"},
    {"index": 0, "text": "x", "logprobs": "x"},
    {"index": 0, "text": "x", "delta": {"token_id": 3}},
    {"index": 0, "text": "x", "stop_reason": 7},
])
def test_completion_choices_read_the_same(raw):
    chunks = [{"id": "c", "choices": [{"index": 0, "text": "a"}]}, {"id": "c", "choices": [raw]}]
    assert_same_chat(chunks, CompletionsFold)


# --- generated chunks ----------------------------------------------------------------------------
# Mostly the common shapes (so the common path is taken often), with every kind of exception mixed
# in: other fields set, values of the wrong type, keys no fold knows, keys left out or null.

_TEXT = st.text(max_size=6)
# Values of the wrong type for the fields read.
_ODD = st.one_of(st.integers(-2, 3), st.booleans(), st.lists(st.integers(-5, 5), max_size=2), st.just({}))
_NAMES = st.sampled_from(["audio", "extra", "provider_specific_fields", "annotations", "p", "x"])


def _mostly(common: st.SearchStrategy, rare: st.SearchStrategy, odds: int = 6) -> st.SearchStrategy:
    """``common`` about ``odds`` times out of ``odds + 1``, else ``rare`` (``one_of`` would draw
    either about as often)."""
    return st.sampled_from([True] * odds + [False]).flatmap(lambda usual: common if usual else rare)


def _absent(values: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly null or left out (``...``), as in most chunks; sometimes a value."""
    return _mostly(st.one_of(st.none(), st.just(...)), values, 15)


def _object(fields: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """Dicts with the given keys (``...``: left out) in a drawn order, and some keys no fold
    knows (mostly null)."""
    @st.composite
    def build(draw):
        items = [(key, draw(value)) for key, value in fields.items()]
        items += draw(st.lists(st.tuples(_NAMES, _absent(st.one_of(_TEXT, _ODD))), max_size=2))
        order = draw(st.permutations(range(len(items))))
        return {items[n][0]: items[n][1] for n in order if items[n][1] is not ...}
    return build()


_CALL = st.fixed_dictionaries({"index": st.integers(0, 1)}, optional={
    "id": _TEXT, "type": st.just("function"),
    "function": st.fixed_dictionaries({}, optional={"name": _TEXT, "arguments": _TEXT})})


def _streams(choice: st.SearchStrategy, odd: st.SearchStrategy, kind: str, created: list) -> st.SearchStrategy:
    """Lists of chunks of ``kind`` (``object``) whose ``choices`` mostly hold one ``choice``."""
    chunk = _object({
        "id": st.sampled_from(["a", "a", "b", "", ...]),
        "object": st.sampled_from([kind, ...]),
        "created": st.sampled_from([*created, None, ...]),
        "model": st.sampled_from(["m", "", None, ...]),
        "choices": _mostly(st.lists(choice, min_size=1, max_size=1),
                           st.one_of(st.lists(choice, max_size=3), st.none(), st.just(...), odd)),
        "usage": _absent(st.just({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3})),
    })
    return st.lists(chunk, max_size=8)


def chat_chunks(odd: st.SearchStrategy) -> st.SearchStrategy:
    """Lists of chat chunks; ``odd``: the values of a wrong type mixed in (``st.nothing()``: none)."""
    delta = _object({
        "role": _mostly(st.one_of(st.none(), st.just(...)),
                        _mostly(st.sampled_from(["assistant", "", "tool"]), odd), 3),
        "content": _mostly(_TEXT, st.one_of(st.none(), st.just(...), odd, st.just([{"type": "text", "text": "t"}]))),
        "refusal": _absent(_TEXT),
        "tool_calls": _absent(st.one_of(st.lists(_CALL, max_size=2), odd)),
        "function_call": _absent(st.just({"name": "f", "arguments": "{}"})),
        "token_id": _absent(_mostly(st.integers(0, 9), _TEXT)),
        "reasoning_content": _absent(_TEXT),
    })
    choice = _object({
        "index": _mostly(st.integers(0, 1), st.one_of(st.none(), st.just(...), odd)),
        "delta": _mostly(delta, st.one_of(st.none(), st.just(...), odd)),
        "message": _absent(delta),
        "finish_reason": _absent(st.sampled_from(["stop", "length", "tool_calls"])),
        "logprobs": _absent(st.just({"content": [{"token": "t", "logprob": -0.5}]})),
        "obfuscation": st.one_of(st.just(...), _TEXT),
        "text": _absent(_TEXT),
        "content_filter_results": _absent(st.just({"hate": {"filtered": False}})),
    })
    return _streams(choice, odd, "chat.completion.chunk", [0, 1, 2])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=chat_chunks(st.nothing()))
def test_generated_chat_chunks_read_the_same(chunks):
    assert_same_chat(chunks)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=chat_chunks(st.one_of(_ODD, _TEXT)))
def test_generated_chat_chunks_with_wrong_types_read_the_same(chunks):
    assert_same_chat(chunks)


def completion_chunks(odd: st.SearchStrategy) -> st.SearchStrategy:
    """Lists of completions chunks (``odd`` as in ``chat_chunks``)."""
    choice = _object({
        "index": _mostly(st.integers(0, 1), st.one_of(st.none(), st.just(...), odd)),
        "text": _mostly(_TEXT, st.one_of(st.none(), st.just(...), odd)),
        "finish_reason": _absent(st.sampled_from(["stop", "length"])),
        "logprobs": _absent(st.just({"tokens": ["t"], "token_logprobs": [-0.5], "text_offset": [0]})),
        "stop_reason": _absent(st.one_of(st.integers(0, 9), _TEXT)),
        "delta": _absent(st.fixed_dictionaries({}, optional={"token_id": st.one_of(st.integers(0, 9), _TEXT),
                                                              "text": _TEXT})),
        "seed": _absent(st.integers(0, 9)),
        "token_ids": _absent(st.lists(st.integers(0, 9), max_size=2)),
        "message": _absent(st.just({"content": "x"})),
        "content_filter_results": _absent(st.just({"hate": {"filtered": False}})),
    })
    return _streams(choice, odd, "text_completion", [0, 1])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=completion_chunks(st.nothing()))
def test_generated_completion_chunks_read_the_same(chunks):
    assert_same_chat(chunks, CompletionsFold)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=completion_chunks(st.one_of(_ODD, _TEXT)))
def test_generated_completion_chunks_with_wrong_types_read_the_same(chunks):
    assert_same_chat(chunks, CompletionsFold)


FILES = corpus("openai-chat-stream") + corpus("openai-chat-on-completions-stream") + [SEED]


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=OPERATIONS, extra=st.lists(st.tuples(st.integers(0, 10**6), _NAMES, st.one_of(st.none(), _TEXT)),
                                             max_size=4))
def test_rechunked_corpus_streams_read_the_same(path, operations, extra):
    """Real streams, re-chunked, with keys added to some deltas and choices (null or not)."""
    chunks = rechunk(load(str(path)).exchanges[0].response.chunks, operations)
    for at, name, value in extra:
        raws = [raw for chunk in chunks for raw in (chunk.get("choices") or []) if isinstance(raw, dict)]
        if raws:
            raw = raws[at % len(raws)]
            target = raw["delta"] if at % 2 and isinstance(raw.get("delta"), dict) else raw
            target[name] = value
    assert_same_chat(chunks)
