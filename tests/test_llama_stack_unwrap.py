"""The Llama Stack container's unwrapping of a streamed body: the two passes in C for the usual
stream give what ``unwrap`` of each item gives, whatever the items."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from llmtrace.containers.llama_stack import _unwrapped, unwrap

_WRAPPED = st.fixed_dictionaries({"__type__": st.sampled_from(["openai.types.Chunk", ""]),
                                  "__data__": st.one_of(st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
                                                        st.none(), st.integers())})
_ITEMS = st.one_of(
    _WRAPPED,
    _WRAPPED.map(lambda d: {"__type__": d["__type__"]}),  # no __data__
    _WRAPPED.map(lambda d: {"__data__": d["__data__"]}),  # no __type__
    st.just("a __type__ in a string"), st.just(["__type__", "__data__"]), st.just({"__type__"}),
    st.integers(), st.none(), st.booleans(), st.floats(allow_nan=False), st.text(max_size=4),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
)


@settings(max_examples=400)
@given(st.one_of(st.lists(_WRAPPED, max_size=6), st.lists(_ITEMS, max_size=6)))
def test_unwrapped_is_unwrap_of_each_item(body):
    assert _unwrapped(body) == [unwrap(item) for item in body]
    assert [type(x) for x in _unwrapped(body)] == [type(unwrap(item)) for item in body]


def test_the_usual_stream_takes_the_c_path():
    chunks = [{"id": n} for n in range(3)]
    body = [{"__type__": "openai.types.chat.ChatCompletionChunk", "__data__": chunk} for chunk in chunks]
    unwrapped = _unwrapped(body)
    assert unwrapped == chunks and all(a is b for a, b in zip(unwrapped, chunks))
