"""Writer: the ``{"value": …}`` completions stream and the chat stream with Writer's extras."""

from __future__ import annotations

import json

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from llmtrace.cli import app
from llmtrace.dialects import FoldContext, writer
from llmtrace.loader import load
from raw_reading import NEWFORMATS, bodies, sse

FOLDER = NEWFORMATS / "G-openllmetry"


def _chat_expected(text: str) -> dict:
    contents: dict[int, list[str]] = {}
    finishes: dict[int, str] = {}
    usage = None
    for _, data in sse(text):
        chunk = json.loads(data)
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            if choice["delta"].get("content"):
                contents.setdefault(choice["index"], []).append(choice["delta"]["content"])
            if choice.get("finish_reason"):
                finishes[choice["index"]] = choice["finish_reason"]
    return {"content": {k: "".join(v) for k, v in contents.items()}, "finish": finishes,
            "input": usage["prompt_tokens"], "output": usage["completion_tokens"]}


def test_the_real_streams_read_as_an_independent_reading_says():
    files = sorted(FOLDER.glob("*.yaml"))
    assert len(files) == 3
    for path in files:
        exchange = load(str(path)).exchanges[0]
        text = bodies(path)[0][1]
        assert exchange.dialect == "writer"
        if "completions" in path.name:
            expected = "".join(json.loads(data)["value"] for _, data in sse(text))
            assert exchange.result.choices[0].content == expected and expected.startswith("Sure, here's")
            assert exchange.result.complete and exchange.result.response["choices"][0]["text"] == expected
            continue
        seen = {"content": {m.index: m.content for m in exchange.result.choices},
                "finish": {m.index: m.finish_reason for m in exchange.result.choices},
                "input": exchange.result.usage.input_tokens, "output": exchange.result.usage.output_tokens}
        assert seen == _chat_expected(text), path.name


def test_chat_extras_are_kept_in_the_reassembled_message():
    path = next(FOLDER.glob("*multiple_choices*"))
    run = CliRunner().invoke(app, ["reassemble", str(path)])
    assert run.exit_code == 0, run.output
    body = orjson.loads(run.stdout)
    assert [c["index"] for c in body["choices"]] == [0, 1]
    message = body["choices"][0]["message"]
    assert message["graph_data"] == {"sources": None, "status": None, "subqueries": None}
    assert "llm_data" not in message  # only null values ever arrived


def test_extras_merge_and_unknown_keys_do_not_crash():
    def chunk(content, graph=None, finish=None, **more):
        delta = {"content": content, "role": "assistant", "graph_data": graph or {"sources": None}, **more}
        return {"id": "w", "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    chunks = [chunk("Hi", {"sources": [{"file_id": "f"}], "status": None}),
              chunk(" there", {"sources": None, "status": "done"}, llm_data={"prompt": "p"}, new_thing=[1]),
              chunk("", finish="stop")]
    result = writer.fold(chunks, FoldContext(dialect="writer"))
    message = result.response["choices"][0]["message"]
    assert message["content"] == "Hi there" and result.choices[0].stop == "stop"
    assert message["graph_data"] == {"sources": [{"file_id": "f"}], "status": "done"}
    assert message["llm_data"] == {"prompt": "p"}
    cut = writer.fold(chunks[:2], FoldContext(dialect="writer"))
    assert not cut.complete and cut.choices[0].finish_reason is None and cut.choices[0].content == "Hi there"


@settings(max_examples=40)
@given(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=10), st.data())
def test_rechunking_completion_values_never_changes_the_text(pieces, data):
    text = "".join(pieces)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=5)))
    again = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)]) if text[a:b]]
    ctx = FoldContext(dialect="writer", request_body={"model": "palmyra-x4"})
    one = writer.fold([{"value": p} for p in pieces], ctx)
    two = writer.fold([{"value": p} for p in again], ctx)
    assert one.response == two.response and one.choices == two.choices
