"""OpenAI legacy completions (text_completion): fold, detection, bad shapes."""

from __future__ import annotations

import copy
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import corpus, left_out
from llmtrace import dialects
from llmtrace.cli import app
from llmtrace.containers.llama_stack import unwrap
from llmtrace.dialects import FoldContext, openai_completions
from llmtrace.errors import UnreadableInput
from llmtrace.loader import load

STREAMS = corpus("openai-completion-stream")
BODIES = corpus("openai-completion")
CTX = FoldContext(dialect="openai-completions")


def _doc(path: Path) -> dict:
    return orjson.loads(path.read_bytes())


def _chunks(path: Path) -> list[dict]:
    return [unwrap(item) for item in _doc(path)["response"]["body"]]


def _write(tmp_path: Path, path: Path, body) -> Path:
    """A copy of the recording at ``path`` with ``response.body`` replaced."""
    doc = _doc(path)
    doc["response"]["body"] = body
    out = tmp_path / path.name
    out.write_bytes(orjson.dumps(doc))
    return out


def _result(path: Path):
    (exchange,) = load(str(path)).exchanges
    return exchange, exchange.result


def _expected(chunks: list[dict]) -> dict[int, dict]:
    """Per choice index: the plain concatenation of ``text`` and the last non-null finish_reason."""
    out: dict[int, dict] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            entry = out.setdefault(choice["index"], {"text": [], "finish_reason": None})
            if choice.get("text") is not None:
                entry["text"].append(choice["text"])
            if choice.get("finish_reason") is not None:
                entry["finish_reason"] = choice["finish_reason"]
    return {k: {"text": "".join(v["text"]), "finish_reason": v["finish_reason"]} for k, v in out.items()}


def _first(chunks: list[dict], key: str):
    return next((c[key] for c in chunks if c.get(key)), None)


def _last_usage(chunks: list[dict]):
    return next((c["usage"] for c in reversed(chunks) if c.get("usage") is not None), None)


# --- the corpus ------------------------------------------------------------------------------


def test_corpus_is_present():
    assert len(STREAMS) >= 4 and len(BODIES) >= 4


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.name)
def test_stream_reassembles_to_one_text_completion(path):
    chunks = _chunks(path)
    exchange, result = _result(path)
    assert exchange.dialect == "openai-completions"
    expected = _expected(chunks)
    response = result.response
    assert set(response) >= {"id", "object", "created", "model", "system_fingerprint", "choices", "usage"}
    assert response["object"] == "text_completion"
    assert response["id"] == _first(chunks, "id")
    assert response["model"] == _first(chunks, "model") == result.model
    assert response["system_fingerprint"] == _first(chunks, "system_fingerprint")
    assert response["created"] == (_first(chunks, "created") or chunks[0]["created"])
    assert response["usage"] == _last_usage(chunks)
    assert [c["index"] for c in response["choices"]] == sorted(expected)
    for choice, message in zip(response["choices"], result.choices):
        want = expected[choice["index"]]
        assert choice["text"] == message.content == want["text"]
        assert choice["finish_reason"] == message.finish_reason == want["finish_reason"]
        assert choice["logprobs"] is None
        assert message.role == "assistant" and message.tool_calls == []
        assert message.stop == want["finish_reason"]  # stop / length in this corpus
        # Per-chunk data stays out of the message.
        assert not {"delta", "seed", "token_ids"} & set(choice)
    assert result.complete
    timeline = result.timeline
    assert timeline.chunks == len(chunks)
    assert "".join(d.text for d in timeline.deltas) == expected[0]["text"]
    usage = _last_usage(chunks)
    assert result.usage.output_tokens == (usage["completion_tokens"] if usage else None)
    assert result.usage.total_tokens == (usage["total_tokens"] if usage else None)


def test_together_completion_chunks_are_completions_with_token_ids_on_the_timeline():
    (path,) = [p for p in STREAMS if _chunks(p)[0]["object"] == "completion.chunk"]
    chunks = _chunks(path)
    _, result = _result(path)
    assert result.response["object"] == "text_completion"
    token_ids = [c["choices"][0]["delta"]["token_id"] for c in chunks if c["choices"][0]["text"]]
    assert [d.token_id for d in result.timeline.deltas] == token_ids
    assert result.usage.cached_tokens == 0


@pytest.mark.parametrize("path", BODIES, ids=lambda p: p.name)
def test_body_is_kept_as_is(path):
    body = unwrap(_doc(path)["response"]["body"])
    exchange, result = _result(path)
    assert exchange.dialect == "openai-completions"
    assert result.response == body
    assert [m.content for m in result.choices] == [c["text"] for c in body["choices"]]
    assert [m.finish_reason for m in result.choices] == [c["finish_reason"] for c in body["choices"]]
    assert result.usage.input_tokens == body["usage"]["prompt_tokens"]
    assert result.complete


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.name)
def test_without_the_finish_chunk_the_stream_is_incomplete_but_keeps_its_text(path, tmp_path):
    body = _doc(path)["response"]["body"]
    finish = next(i for i, item in enumerate(body) if unwrap(item)["choices"][0]["finish_reason"] is not None)
    body = body[:finish]
    _, result = _result(_write(tmp_path, path, body))
    (message,) = result.choices
    assert not result.complete
    assert message.finish_reason is None and message.stop is None
    assert result.response["choices"][0]["finish_reason"] is None
    assert message.content == _expected([unwrap(item) for item in body])[0]["text"]


# --- several choices, logprobs, extras -------------------------------------------------------

def _chunk(index, text, finish=None, logprobs=None, **extra):
    choice = {"index": index, "text": text, "finish_reason": finish, "logprobs": logprobs, **extra}
    return {"id": "cmpl-1", "object": "text_completion", "created": 1700000000, "model": "m", "choices": [choice]}


def test_choices_are_keyed_by_index_with_logprobs_concatenated():
    lp = lambda tok, off: {"tokens": [tok], "token_logprobs": [-0.5], "top_logprobs": [{tok: -0.5}],  # noqa: E731
                            "text_offset": [off]}
    chunks = [
        _chunk(1, "B", logprobs=lp("B", 0)),
        _chunk(0, "a", logprobs=lp("a", 0), stop_reason=None),
        _chunk(1, "b", logprobs=lp("b", 1)),
        _chunk(0, "", finish="stop", stop_reason=128009),
        _chunk(1, "", finish="length"),
        {"id": "cmpl-1", "object": "text_completion", "created": 1700000000, "model": "m", "choices": [],
         "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}},
    ]
    result = openai_completions.fold(chunks, CTX)
    assert result.response["choices"] == [
        {"index": 0, "text": "a", "finish_reason": "stop", "logprobs": lp("a", 0), "stop_reason": 128009},
        {"index": 1, "text": "Bb", "finish_reason": "length",
         "logprobs": {"tokens": ["B", "b"], "token_logprobs": [-0.5, -0.5],
                      "top_logprobs": [{"B": -0.5}, {"b": -0.5}], "text_offset": [0, 1]}},
    ]
    assert [(m.index, m.content, m.stop) for m in result.choices] == [(0, "a", "stop"), (1, "Bb", "length")]
    assert result.usage.total_tokens == 7
    assert result.observations.finish_chunks == {0: 3, 1: 4}
    assert [(d.chunk, d.choice, d.text) for d in result.timeline.deltas] == [(0, 1, "B"), (1, 0, "a"), (2, 1, "b")]


def test_one_choice_unfinished_makes_the_stream_incomplete():
    result = openai_completions.fold([_chunk(0, "a", finish="stop"), _chunk(1, "b")], CTX)
    assert not result.complete
    assert [m.finish_reason for m in result.choices] == ["stop", None]


# --- detection -----------------------------------------------------------------------------

TOGETHER_CHAT_CHUNK = {"id": "x", "object": "chat.completion.chunk", "model": "m", "choices": [
    {"index": 0, "text": "The", "seed": None, "delta": {"role": "assistant", "content": "The", "token_id": 791}}]}


def test_sniff():
    assert openai_completions.sniff(_chunk(0, "a")) == "openai-completions"
    assert openai_completions.sniff({"choices": [{"index": 0, "text": "a"}]}) == "openai-completions"
    assert openai_completions.sniff({"object": "text.completion", "choices": []}) == "openai-completions"
    assert openai_completions.sniff(TOGETHER_CHAT_CHUNK) is None
    assert openai_completions.sniff({"choices": [{"index": 0, "text": "a", "message": {}}]}) is None
    assert openai_completions.sniff({"model": "m", "created_at": "t", "done": False, "response": "x"}) is None
    assert dialects.sniff(TOGETHER_CHAT_CHUNK) == "openai-chat"
    assert dialects.sniff({**TOGETHER_CHAT_CHUNK, "object": "completion.chunk"}) == "openai-completions"


@pytest.mark.parametrize("path", corpus("openai-chat-on-completions-stream"), ids=lambda p: p.name)
def test_chat_chunks_recorded_against_a_completions_url_stay_chat(path):
    (exchange,) = load(str(path)).exchanges
    assert exchange.request.url.endswith("/completions")
    assert exchange.dialect == "openai-chat"
    assert exchange.result.response["object"] == "chat.completion"


@pytest.mark.parametrize("path", [p for p in corpus("openai-chat-stream") if b"api.together.xyz" in p.read_bytes()],
                         ids=lambda p: p.name)
def test_together_chat_streams_stay_chat(path):
    (exchange,) = load(str(path)).exchanges
    assert exchange.dialect == "openai-chat"


# --- wrong types -----------------------------------------------------------------------------

@pytest.mark.parametrize("mutate, what, where", [
    (lambda chunks: chunks[2]["choices"][0].update(text=5), "text should be a string", "chunk 2"),
    (lambda chunks: chunks[1]["choices"][0].update(logprobs={"tokens": "a"}), "logprobs.tokens should be an array",
     "chunk 1"),
    (lambda chunks: chunks[4].update(choices={"0": {}}), "choices should be an array", "chunk 4"),
    (lambda chunks: chunks[0]["choices"][0].update(index="0"), "choice index should be an integer", "chunk 0"),
])
def test_wrong_types_make_the_file_unreadable(mutate, what, where, tmp_path):
    path = STREAMS[0]
    body = copy.deepcopy(_doc(path)["response"]["body"])
    mutate([unwrap(item) for item in body])
    out = _write(tmp_path, path, body)
    assert left_out(out) == [(int(where.split()[1]), what)]  # kept, the chunk left out (issue 23)
    run = CliRunner().invoke(app, ["reassemble", str(out)])
    assert run.exit_code == 0 and run.stdout


def test_wrong_type_in_a_body_says_response_body(tmp_path):
    path = BODIES[0]
    body = unwrap(_doc(path)["response"]["body"])
    body["choices"][0]["text"] = ["Blue"]
    with pytest.raises(UnreadableInput) as info:
        load(str(_write(tmp_path, path, body)))
    assert (info.value.what, info.value.where) == ("text should be a string", "response body")


# --- the command line ------------------------------------------------------------------------

def test_reassemble_command_prints_one_text_completion():
    path = STREAMS[0]
    chunks = _chunks(path)
    run = CliRunner().invoke(app, ["reassemble", str(path)])
    assert run.exit_code == 0, run.stderr
    assert run.stderr == ""
    out = orjson.loads(run.stdout)
    assert list(out) == ["id", "object", "created", "model", "system_fingerprint", "choices", "usage"]
    assert out["object"] == "text_completion"
    assert list(out["choices"][0]) == ["index", "text", "finish_reason", "logprobs"]
    assert out["choices"][0]["text"] == _expected(chunks)[0]["text"]

    run = CliRunner().invoke(app, ["reassemble", "--normalized", str(path)])
    out = orjson.loads(run.stdout)
    assert out["dialect"] == "openai-completions"
    assert out["choices"][0]["role"] == "assistant"
    assert out["choices"][0]["content"] == _expected(chunks)[0]["text"]


def test_reassemble_command_warns_on_a_stream_without_finish(tmp_path):
    path = STREAMS[0]
    out = _write(tmp_path, path, _doc(path)["response"]["body"][:5])
    run = CliRunner().invoke(app, ["reassemble", str(out)])
    assert run.exit_code == 0
    assert orjson.loads(run.stdout)["choices"][0]["finish_reason"] is None
    assert "ends without a finish" in run.stderr


# --- re-chunking never changes the message ------------------------------------------------------

@st.composite
def _streams(draw):
    """Texts for 1-3 choices, each cut into fragments at drawn points, the fragments of all
    choices interleaved in a drawn order (each choice's own order kept)."""
    texts = draw(st.lists(st.text(max_size=30), min_size=1, max_size=3))
    queues = []
    for text in texts:
        cuts = sorted(set(draw(st.lists(st.integers(0, len(text)), max_size=8))) | {0, len(text)})
        pieces = [text[a:b] for a, b in zip(cuts, cuts[1:])] or [""]
        queues.append(pieces)
    order = draw(st.permutations([i for i, q in enumerate(queues) for _ in q]))
    positions = [0] * len(queues)
    chunks = []
    for index in order:
        chunks.append(_chunk(index, queues[index][positions[index]]))
        positions[index] += 1
    finish_order = draw(st.permutations(range(len(texts))))
    chunks += [_chunk(index, "", finish="stop") for index in finish_order]
    return texts, chunks


@settings(max_examples=80)
@given(_streams())
def test_rechunking_the_text_never_changes_the_reassembled_message(stream):
    texts, chunks = stream
    reference = openai_completions.fold(
        [_chunk(i, text) for i, text in enumerate(texts)] + [_chunk(i, "", finish="stop") for i in range(len(texts))],
        CTX)
    result = openai_completions.fold(chunks, CTX)
    assert result.choices == reference.choices
    assert result.response == reference.response
    assert [m.content for m in result.choices] == texts
