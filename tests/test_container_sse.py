"""Raw SSE text files (containers/sse_text.py, NAME "sse"): every dialect that streams SSE,
CRLF, comments, multi-line data, [DONE], cut-off and malformed streams, stdin, memory."""

from __future__ import annotations

import tracemalloc

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from conftest import DATA
from llmtrace.cli import app
from llmtrace.containers import sse_text
from llmtrace.errors import UnreadableInput
from llmtrace.loader import load

EXAMPLES = DATA.parent.parent / "examples" / "containers"
SSE = sorted((EXAMPLES / "sse").glob("*.sse"))


@pytest.mark.parametrize("path", SSE, ids=lambda p: p.name)
def test_examples(path):
    recording = load(str(path))
    (ex,) = recording.exchanges
    assert recording.container == "sse" and ex.dialect == path.stem.removesuffix("-crlf")
    assert ex.request.method is None and ex.request.url is None and ex.request.body is None
    assert ex.response.streaming and ex.response.cut_off is None and ex.result.complete


def test_same_chunks_as_the_cassette_it_was_cut_from():
    (raw,) = load(str(EXAMPLES / "sse/openai-chat.sse")).exchanges
    (cassette,) = load(str(EXAMPLES / "vcr/openai-chat.yaml")).exchanges
    assert raw.response.chunks == cassette.response.chunks and raw.response.done_marker
    assert raw.result.choices == cassette.result.choices and raw.result.usage == cassette.result.usage


def test_anthropic_event_lines_and_gemini_crlf():
    (ant,) = load(str(EXAMPLES / "sse/anthropic-messages.sse")).exchanges
    assert ant.response.chunks[0]["type"] == "message_start" and not ant.response.done_marker
    (gem,) = load(str(EXAMPLES / "sse/gemini-crlf.sse")).exchanges
    assert b"\r\n" in (EXAMPLES / "sse/gemini-crlf.sse").read_bytes()
    assert gem.result.choices[0].content == "4242\n"


def test_comments_ids_retry_and_multiline_data(tmp_path):
    path = tmp_path / "s.txt"
    path.write_bytes(b': connected\r\nretry: 1000\r\nid: 1\r\nevent: response.created\r\n'
                     b'data: {"type": "response.created",\r\ndata:  "response": {"id": "r", "status": "in_progress"}}\r\n\r\n'
                     b': ping\r\n\r\n'
                     b'data: {"type": "response.completed", "response": {"id": "r", "status": "completed", "output": []}}\r\n')
    (ex,) = load(str(path)).exchanges
    assert [c["type"] for c in ex.response.chunks] == ["response.created", "response.completed"]
    assert ex.dialect == "openai-responses" and ex.result.complete


def _cut(tmp_path, fraction: float):
    data = (EXAMPLES / "sse/openai-chat.sse").read_bytes()
    path = tmp_path / "cut.sse"
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def test_cut_off_mid_event_keeps_what_arrived(tmp_path):
    path = _cut(tmp_path, 0.5)
    (ex,) = load(str(path)).exchanges
    assert ex.response.cut_off and "SSE data is not JSON (unexpected end of data)" in ex.response.cut_off
    assert ex.response.cut_off.startswith(f"event {len(ex.response.chunks)}, line ")
    assert not ex.result.complete and ex.result.choices[0].content.startswith("Why did the scarecrow")
    run = CliRunner().invoke(app, ["reassemble", str(path)])
    assert run.exit_code == 0 and "without a finish" in run.stderr


def test_sse_without_blank_lines_is_unreadable_with_its_line(tmp_path):
    path = tmp_path / "noblank.sse"
    path.write_text((EXAMPLES / "sse/openai-chat.sse").read_text().replace("\n\n", "\n"))
    with pytest.raises(UnreadableInput) as info:
        load(str(path))
    assert "SSE data is not JSON" in info.value.line() and info.value.line().endswith("event 0, line 1")


def test_bad_event_in_the_middle(tmp_path):
    path = tmp_path / "bad.sse"
    path.write_text('data: {"a": 1}\n\ndata: {"a": 2]\n\ndata: {"a": 3}\n\n')
    run = CliRunner().invoke(app, ["reassemble", str(path)])
    assert run.exit_code == 2 and run.stdout == ""
    assert run.stderr.strip().endswith("event 1, line 3")


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.sse"
    path.write_bytes(b'data: {"a": "\xe9"}\n\n')
    with pytest.raises(UnreadableInput, match="not UTF-8 text.*line 1"):
        load(str(path))


def test_stdin_and_format_override():
    data = (EXAMPLES / "sse/openai-responses.sse").read_bytes()
    run = CliRunner().invoke(app, ["reassemble", "--normalized", "-"], input=data)
    assert run.exit_code == 0
    out = orjson.loads(run.stdout)
    assert out["container"] == "sse" and out["dialect"] == "openai-responses"
    assert out["choices"][0]["content"] == "The capital of PotatoLand is **Potato City**."
    forced = CliRunner().invoke(app, ["reassemble", "--format", "sse", "-n", "-"], input=data)
    assert forced.stdout == run.stdout
    wrong = CliRunner().invoke(app, ["reassemble", "--format", "ndjson", "-"], input=data)
    assert wrong.exit_code == 2 and "<stdin>: line is not JSON" in wrong.stderr and "line 1" in wrong.stderr


def test_reading_keeps_no_copy_of_the_text():
    chunk = yaml.safe_load((EXAMPLES / "vcr/openai-chat.yaml").read_text())
    line = chunk["interactions"][0]["response"]["body"]["string"].split("\n\n")[3] + "\n\n"
    data = (line * 20_000).encode()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        pairs = sse_text.read_bytes(data)
        retained, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(pairs[0][1].chunks) == 20_000
    # A decoded copy of the text, or a list of its lines, would add at least len(data) on top.
    assert peak - retained < len(data) / 4, (peak - retained, len(data), retained - before)
