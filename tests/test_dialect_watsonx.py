"""IBM watsonx.ai text generation streams: the real recordings against an independent reading,
running totals, event times, edge cases."""

from __future__ import annotations

import json

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from llmtrace.cli import app
from llmtrace.dialects import FoldContext, watsonx
from llmtrace.loader import load
from raw_reading import NEWFORMATS, bodies, sse

FILES = sorted((NEWFORMATS / "D-openllmetry").glob("*.yaml"))


def test_the_real_streams_read_as_an_independent_reading_says():
    assert len(FILES) == 2
    for path in FILES:
        recording = load(str(path))
        found = 0
        for exchange, (url, text) in zip(recording.exchanges, bodies(path), strict=True):
            if "text_stream" not in url:
                assert exchange.dialect == "opaque"  # tokens, spaces, model specs
                continue
            events = [json.loads(data)["results"][0] for _, data in sse(text)]
            message = exchange.result.choices[0]
            assert exchange.dialect == "watsonx"
            assert message.content == "".join(e["generated_text"] for e in events)
            assert message.finish_reason == events[-1]["stop_reason"] == "eos_token" and message.stop == "stop"
            assert exchange.result.usage.output_tokens == events[-1]["generated_token_count"]
            assert exchange.result.usage.input_tokens == max(e["input_token_count"] for e in events) == 8
            assert exchange.result.timeline.timing == "created_at"
            found += 1
        assert found == 1


def test_reassemble_gives_the_text_generation_response():
    run = CliRunner().invoke(app, ["reassemble", "--index", "6", str(FILES[0])])
    assert run.exit_code == 0, run.output
    body = orjson.loads(run.stdout)
    result = body["results"][0]
    assert result["stop_reason"] == "eos_token" and result["generated_token_count"] == 11
    assert result["input_token_count"] == 8 and body["model_id"] == "google/flan-ul2"
    assert body["system"]["warnings"][0]["id"] == "disclaimer_warning"


def _events(texts: list[str], stop: str | None = "max_tokens") -> list[dict]:
    out = [{"model_id": "m", "created_at": "2024-03-01T07:40:24.839Z",
            "results": [{"generated_text": t, "generated_token_count": n + 1, "input_token_count": 5 if n == 0 else 0,
                         "stop_reason": "not_finished"}]} for n, t in enumerate(texts)]
    if stop:
        out.append({"model_id": "m", "results": [{"generated_text": "", "generated_token_count": len(texts),
                                                  "input_token_count": 0, "stop_reason": stop}]})
    return out


def test_cut_stream_and_unknown_fields():
    cut = watsonx.fold(_events(["a", "b"], stop=None), FoldContext(dialect="watsonx"))
    assert not cut.complete and cut.choices[0].finish_reason is None and cut.choices[0].content == "ab"
    events = _events(["a"])
    events[0]["something_new"] = {"x": 1}
    events[0]["results"][0]["seed"] = 7
    result = watsonx.fold(events, FoldContext(dialect="watsonx"))
    assert result.complete and result.choices[0].stop == "length"
    assert result.response["something_new"] == {"x": 1} and result.response["results"][0]["seed"] == 7


@settings(max_examples=40)
@given(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=10), st.data())
def test_rechunking_never_changes_the_message(pieces, data):
    text = "".join(pieces)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=5)))
    again = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)]) if text[a:b]]
    one = watsonx.fold(_events(pieces), FoldContext(dialect="watsonx"))
    two = watsonx.fold(_events(again), FoldContext(dialect="watsonx"))
    assert one.choices == two.choices
