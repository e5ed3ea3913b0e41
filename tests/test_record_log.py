"""``record``'s log line counts the stream's events (SSE events, NDJSON lines) apart from the
network reads they came in; llmtrace's own ``/llmtrace/*`` endpoints pass through unrecorded."""

from __future__ import annotations

import time

import httpx

from llmtrace.loader import load
from llmtrace.server.proxy import received
from llmtrace.server.saving import Capture
from test_record import CHAT, TIMED, TIMEOUT, _body, _raw, _wait_files, recording, serving


def capture(content_type: str, reads: list[bytes], encoding: str | None = None, folder=None) -> Capture:
    c = Capture("POST", "http://x/v1", "/v1", "HTTP/1.1", [], b"", 0.0, folder)
    c.response_headers = [("Content-Type", content_type)] + ([("Content-Encoding", encoding)] if encoding else [])
    for i, data in enumerate(reads):
        c.add(float(i), data)
    return c


def test_events_and_reads_are_counted_apart(tmp_path):
    def capture(*args):
        return globals()["capture"](*args, folder=tmp_path)

    sse = [b"data: {\"a\": 1}\n\ndata: {\"a\"", b": 2}\n\n: keep-alive\n\nevent: done\r\ndata: [DONE]\r\n\r\n"]
    assert received(capture("text/event-stream; charset=utf-8", sse)) == "3 SSE events in 2 network reads"
    assert received(capture("application/x-ndjson", [b'{"a":1}\n{"a"', b':2}\n'])) == "2 NDJSON lines in 2 network reads"
    assert received(capture("application/json", [b"{}"])) == "1 network read"
    assert received(capture("text/event-stream", [b"\x1f\x8b..."], "gzip")) == "1 network read"


def test_events_are_counted_piece_by_piece_as_in_one_piece(tmp_path):
    """The count reads the body back piece by piece (a line ending or a line split between two
    reads) and finds what splitting the whole body finds: SSE events are the blocks between
    blank lines that carry a field, NDJSON lines the lines that are not blank."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    def whole(body: bytes, sse: bool) -> int:
        if not sse:
            return sum(1 for line in body.splitlines() if line.strip())
        blocks = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n\n")
        return sum(1 for block in blocks if any(line and not line.startswith(b":") for line in block.split(b"\n")))

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.sampled_from([b"data: x", b"\n", b"\r", b"\r\n", b": c", b" ", b"e", b":"]), max_size=30),
           st.lists(st.integers(0, 60), max_size=5), st.booleans())
    def check(parts, cuts, sse):
        body = b"".join(parts)
        cuts = sorted({c for c in cuts if c < len(body)})
        reads = [body[a:b] for a, b in zip([0] + cuts, cuts + [len(body)]) if body[a:b]]
        c = capture("text/event-stream" if sse else "application/x-ndjson", reads, folder=tmp_path)
        try:
            n = whole(body, sse)
            unit = "SSE event" if sse else "NDJSON line"
            assert received(c).startswith(f"{n} {unit}{'s' if n != 1 else ''} in ")
        finally:
            c.discard()

    check()


def test_the_log_line_of_a_recorded_stream(tmp_path):
    recorded = load(str(CHAT)).exchanges[0].response.chunks
    with serving(CHAT) as upstream, recording(upstream, tmp_path) as (base, lines):
        status, _, _ = _raw(base, "/v1/chat/completions", _body(CHAT))
        assert status == 200
        _wait_files(tmp_path, 1)
        deadline = time.monotonic() + 60  # a guard against a hang: the loop ends as soon as the line is there
        while not lines and time.monotonic() < deadline:
            time.sleep(0.02)
    assert len(lines) == 1
    # every recorded chunk is one SSE event, plus the final [DONE]
    assert f"→ 200, {len(recorded) + 1} SSE events in " in lines[0] and " network read" in lines[0]


def test_llmtrace_endpoints_are_passed_and_never_recorded(tmp_path):
    with serving(TIMED) as upstream, recording(upstream, tmp_path) as (base, lines):
        with httpx.Client(timeout=TIMEOUT) as client:
            assert client.get(base + "/llmtrace/health").status_code == 200
        status, _, _ = _raw(base, "/api/generate", _body(TIMED))
        assert status == 200
        files = _wait_files(tmp_path, 1)
        time.sleep(0.2)
    assert [f.name for f in sorted(tmp_path.iterdir())] == [files[0].name]
    assert "llmtrace/health" not in files[0].name and len(lines) == 1 and "/api/generate" in lines[0]
    assert "NDJSON lines in" in lines[0]
