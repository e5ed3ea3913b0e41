"""SSE lines end with CRLF, LF or a lone CR (WHATWG ``end-of-line = ( cr lf / cr / lf )``), mixed
freely, in raw ``.sse`` files and in SSE bodies inside cassettes (issue 11, item 12)."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from llmtrace.cli import app
from llmtrace.commands.reassemble import normalized_json, provider_json
from llmtrace.containers.bodies import byte_lines, kind_of, split, sse_payloads, text_lines
from llmtrace.loader import load
from llmtrace.sse import iter_events

EXAMPLES = Path(__file__).parent.parent / "examples" / "containers"
SSE = EXAMPLES / "sse"
STREAMS = ["openai-chat.sse", "anthropic-messages.sse", "openai-responses.sse", "openai-completions.sse",
           "gemini-crlf.sse"]
_EOL = re.compile(rb"\r\n|\r|\n")


def lines_of(data: bytes) -> list[bytes]:
    """The lines of ``data`` without their ends (a last line without an end included)."""
    parts = _EOL.split(data)
    return parts[:-1] if parts[-1] == b"" else parts


def encoded(lines: list[bytes], ends: list[bytes]) -> bytes:
    """``lines`` joined with the given ends. A lone CR followed by an empty line that ends in LF
    would read as one CRLF (that is the grammar, not a bug): that empty line's end becomes CR."""
    out = bytearray()
    for line, end in zip(lines, ends):
        if not line and end == b"\n" and out.endswith(b"\r"):
            end = b"\r"
        out += line + end
    return bytes(out)


def reassembled(name: str, data: bytes) -> list:
    recording = load(name, data=data)
    return [(provider_json(ex), normalized_json(ex)) for ex in recording.exchanges]


def test_cr_only_openai_chat_and_anthropic_streams_read_as_their_lf_originals():
    for name in ("openai-chat.sse", "anthropic-messages.sse"):
        original = (SSE / name).read_bytes()
        assert b"\r" not in original
        cr_only = original.replace(b"\n", b"\r")
        assert b"\n" not in cr_only
        assert kind_of(cr_only) == "sse"
        result = reassembled(name, cr_only)
        assert result == reassembled(name, original)
        assert result[0][1]["choices"][0]["content"], name  # text arrived, not an empty parse


def test_the_crlf_example_still_reads():
    data = (SSE / "gemini-crlf.sse").read_bytes()
    assert b"\r\n" in data
    assert reassembled("g.sse", data) == reassembled("g.sse", data.replace(b"\r\n", b"\n"))


def test_a_mixed_endings_stream():
    original = (SSE / "anthropic-messages.sse").read_bytes()
    lines = lines_of(original)
    ends = [(b"\r", b"\n", b"\r\n")[n % 3] for n in range(len(lines))]
    mixed = encoded(lines, ends)
    assert b"\r\n" in mixed and re.search(rb"\r[^\n]", mixed) and re.search(rb"[^\r]\n", mixed)
    assert reassembled("a.sse", mixed) == reassembled("a.sse", original)


def test_cr_only_sse_body_inside_a_cassette(tmp_path):
    """The body's text is split by ``text_lines`` (on LF only): a lone CR still ends a line."""
    for name in ("openai-chat.yaml", "anthropic-messages.yaml"):
        doc = yaml.safe_load((EXAMPLES / "vcr" / name).read_bytes())
        for interaction in doc["interactions"]:
            body = interaction["response"]["body"]
            body["string"] = body["string"].replace("\r\n", "\n").replace("\n", "\r")
        cr_only = yaml.safe_dump(doc).encode()
        assert reassembled(name, cr_only) == reassembled(name, (EXAMPLES / "vcr" / name).read_bytes())


def test_events_and_line_numbers_with_each_kind_of_end():
    for text in ("event: a\rdata: 1\r\rdata: 2\r\r", "event: a\ndata: 1\n\ndata: 2\n\n",
                 "event: a\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n", "event: a\rdata: 1\r\n\ndata: 2\r"):
        events = list(iter_events(text_lines(text)))
        assert [(e.event, e.data, e.line) for e in events] == [("a", "1", 0), ("message", "2", 3)], repr(text)
        assert list(iter_events(byte_lines(text.encode()))) == events


def test_a_cut_off_cr_only_stream_says_where():
    data = (SSE / "openai-chat.sse").read_bytes().replace(b"\n", b"\r")
    cut = data[:data.rindex(b"data: {") + 40]
    chunks, done, cut_off = sse_payloads(byte_lines(cut))
    assert chunks and not done and cut_off and cut_off.startswith("event ")


def test_a_long_cr_only_stream_is_read_in_linear_time():
    """One pass: ten times the events costs about ten times the CPU time (a quadratic split would
    cost a hundred times)."""
    import time

    event = b'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"x"}}]}\r\r'

    def cost(n: int) -> float:
        data = event * n
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            chunks, _, _ = sse_payloads(byte_lines(data))
            best = min(best, time.process_time() - start)
        assert len(chunks) == n
        return best

    small, large = cost(2_000), cost(20_000)
    assert large < 30 * max(small, 1e-3)


@settings(max_examples=60)
@given(st.sampled_from(STREAMS), st.data())
def test_re_encoding_line_ends_never_changes_the_result(name, data):
    original = (SSE / name).read_bytes()
    lines = lines_of(original)
    ends = data.draw(st.lists(st.sampled_from([b"\n", b"\r\n", b"\r"]), min_size=len(lines), max_size=len(lines)))
    reencoded = encoded(lines, ends)
    assert reassembled(name, reencoded) == reassembled(name, original)
    body = split(reencoded.decode(), "body")
    assert body.chunks == sse_payloads(byte_lines(original))[0]


def test_cli_reads_a_cr_only_file(tmp_path):
    path = tmp_path / "cr.sse"
    path.write_bytes((SSE / "anthropic-messages.sse").read_bytes().replace(b"\n", b"\r"))
    got = CliRunner().invoke(app, ["reassemble", str(path)])
    want = CliRunner().invoke(app, ["reassemble", str(SSE / "anthropic-messages.sse")])
    assert got.exit_code == 0 and got.stdout == want.stdout and orjson.loads(got.stdout)["content"]
