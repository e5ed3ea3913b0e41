"""NDJSON / JSON Lines files (containers/ndjson.py): Ollama's native streams and chunk dumps;
a cut-off last line is kept as far as it goes and flagged, other bad lines are unreadable."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from conftest import DATA
from llmtrace.cli import app
from llmtrace.errors import UnreadableInput
from llmtrace.loader import load

EXAMPLES = DATA.parent.parent / "examples" / "containers"


@pytest.mark.parametrize("name, dialect", [("ollama-chat.ndjson", "ollama-chat"),
                                           ("ollama-generate.ndjson", "ollama-generate"),
                                           ("openai-chat.jsonl", "openai-chat")])
def test_examples(name, dialect):
    recording = load(str(EXAMPLES / "ndjson" / name))
    (ex,) = recording.exchanges
    assert recording.container == "ndjson" and ex.dialect == dialect
    assert ex.request.url is None and ex.response.streaming and ex.response.cut_off is None
    assert ex.result.complete
    lines = [line for line in (EXAMPLES / "ndjson" / name).read_text().splitlines() if line.strip()]
    assert len(ex.response.chunks) == len(lines)


def test_same_chunks_as_the_sse_stream():
    (ndjson,) = load(str(EXAMPLES / "ndjson/openai-chat.jsonl")).exchanges
    (sse,) = load(str(EXAMPLES / "sse/openai-chat.sse")).exchanges
    assert ndjson.response.chunks == sse.response.chunks
    assert ndjson.result.choices == sse.result.choices


def _write(tmp_path, text: str):
    path = tmp_path / "stream.ndjson"
    path.write_text(text)
    return path


def _lines() -> list[str]:
    return (EXAMPLES / "ndjson/ollama-chat.ndjson").read_text().splitlines(keepends=True)


def test_truncated_last_line_keeps_the_chunks_before_it(tmp_path):
    lines = _lines()
    path = _write(tmp_path, "".join(lines[:5]) + "\n\n" + lines[5][:30])
    (ex,) = load(str(path)).exchanges
    assert len(ex.response.chunks) == 5
    assert ex.response.cut_off == "line 8: line is not JSON (unexpected end of data)"
    assert not ex.result.complete
    run = CliRunner().invoke(app, ["reassemble", str(path)])
    assert run.exit_code == 0 and "without a finish" in run.stderr


@pytest.mark.parametrize("text, where", [
    ('{"a": 1}\n{"b": \n{"c": 3}\n', "line 2"),  # a cut line with more after it: broken, not cut off
    ('{"a": 1}\n{"b": 2}}\n', "line 2"),  # garbage after a value
])
def test_bad_lines_are_unreadable_with_their_number(tmp_path, text, where):
    with pytest.raises(UnreadableInput) as info:
        load(str(_write(tmp_path, text)))
    assert "line is not JSON" in info.value.line() and info.value.line().endswith(where)


def test_nothing_readable_is_unreadable(tmp_path):
    run = CliRunner().invoke(app, ["reassemble", "--format", "ndjson", str(_write(tmp_path, '{"model": "llama3", "cre'))])
    assert run.exit_code == 2 and run.stdout == "" and run.stderr.strip().endswith("line 1")


def test_blank_and_crlf_lines(tmp_path):
    lines = _lines()
    (ex,) = load(str(_write(tmp_path, "\n" + "\r\n\r\n".join(line.rstrip("\n") for line in lines) + "\r\n"))).exchanges
    assert len(ex.response.chunks) == len(lines) and ex.result.complete


def test_a_single_line_is_one_chunk_with_format_ndjson(tmp_path):
    path = _write(tmp_path, _lines()[-1])
    auto = load(str(path))
    assert auto.container == "json-chunks" and not auto.exchanges[0].response.streaming  # a body on its own
    forced = load(str(path), fmt="ndjson")
    assert forced.container == "ndjson" and forced.exchanges[0].response.chunks == [auto.exchanges[0].response.body]
