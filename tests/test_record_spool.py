"""``record`` spools a stream as it arrives: a real upstream on 127.0.0.1 streams a large SSE
body through a real ``llmtrace record`` process. Checked: its peak memory does not grow with the
stream (a 5 MB and a 47 MB stream in one run, compared with a wide margin); the HAR written
reads back with ``llmtrace reassemble`` equal to what was sent, masked; a recorder killed with
SIGKILL mid-stream leaves what it received in its spool, which the next run turns into a
recording; masking window by window finds what masking the whole body finds."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest
from aiohttp import web

from llmtrace import secrets
from llmtrace.server import saving, spool
from llmtrace.server.app import Listening
from test_adversarial import _peak_rss
from test_record import _in_thread

TIMEOUT = 60
KEY = "sk-" + "proj-" + "Q7w8E9r0" * 6  # a credential the upstream spells across two events


def _event(content: str, finish: str | None = None) -> bytes:
    doc = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
           "choices": [{"index": 0, "delta": {"content": content} if content else {}, "finish_reason": finish}]}
    return b"data: " + orjson.dumps(doc) + b"\n\n"


_WORDS = [" ".join(f"w{n}x{k}" for k in range(300)) + " " for n in range(40)]
_BLOCK = b"".join(_event(words) for words in _WORDS)  # about 64 KB
_BLOCK_TEXT = "".join(_WORDS)


def _stream(blocks: int, hang: bool = False):
    """What the upstream sends for ``blocks`` blocks: the key split across two events in the
    middle, then a finish (or nothing more: it hangs, a stream that never ends)."""
    middle = blocks // 2
    parts = [_BLOCK] * middle + [_event("the key " + KEY[:9]), _event(KEY[9:] + " end ")] + [_BLOCK] * (blocks - middle)
    if not hang:
        parts += [_event("", "stop"), b"data: [DONE]\n\n"]
    text = _BLOCK_TEXT * middle + "the key " + KEY + " end " + _BLOCK_TEXT * (blocks - middle)
    return parts, text


class Upstream(Listening):
    """Streams ``_stream(blocks)`` for ``POST /v1/chat/completions?blocks=N`` (``&hang=1``: then
    waits until stopped)."""

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.answer)
        return app

    async def start(self):
        import asyncio

        self.stopping = asyncio.Event()
        return await super().start()

    async def stop(self) -> None:
        self.stopping.set()
        await super().stop()

    async def answer(self, request: web.Request) -> web.StreamResponse:
        import asyncio

        await request.read()
        hang = request.query.get("hang") == "1"
        parts, _ = _stream(int(request.query["blocks"]), hang)
        out = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await out.prepare(request)
        for part in parts:
            await out.write(part)
        if hang:  # until stopped (bounded: the test kills the recorder long before)
            try:
                await asyncio.wait_for(self.stopping.wait(), 60)
            except asyncio.TimeoutError:
                pass
        await out.write_eof()
        return out


def _record(out: Path, upstream: str, *more: str, preexec_fn=None) -> subprocess.Popen:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    proc = subprocess.Popen([sys.executable, "-m", "llmtrace", "record", "--upstream", upstream, "--listen",
                             "127.0.0.1:0", "-o", str(out), *more], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True, preexec_fn=preexec_fn)
    proc.base = proc.stdout.readline().strip()
    if not proc.base.startswith("http://127.0.0.1:"):
        proc.kill()
        pytest.fail(f"record did not start: {proc.communicate(timeout=30)[1][-2000:]}")
    return proc


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=TIMEOUT)[1]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.communicate()[1]


def _send(base: str, query: str, stop_after: int | None = None) -> int:
    """One streamed request through the proxy; the bytes the client got (it reads until
    ``stop_after`` bytes when given, else to the end)."""
    got = 0
    with httpx.Client(timeout=TIMEOUT) as client:
        with client.stream("POST", f"{base}/v1/chat/completions?{query}", json={"model": "m", "stream": True},
                           headers={"authorization": "Bearer " + KEY}) as response:
            assert response.status_code == 200
            for data in response.iter_raw():
                got += len(data)
                if stop_after is not None and got >= stop_after:
                    break
    return got


def _wait(proc: subprocess.Popen, folder: Path, n: int) -> list[Path]:
    """The HAR files of ``folder`` once ``record`` logged ``n`` more saved."""
    lines, deadline = [], time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and sum("→" in line for line in lines) < n:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
    assert sum("→" in line for line in lines) >= n, "".join(lines)
    assert "NOT SAVED" not in "".join(lines), "".join(lines)
    return sorted(folder.glob("*.har"))


def _reassembled(path: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "llmtrace", "reassemble", str(path)], capture_output=True,
                          timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    return orjson.loads(done.stdout)["choices"][0]["message"]["content"]


def _masked(text: str) -> str:
    return text.replace(KEY, "*" * len(KEY))  # its two pieces overwritten (``mask_split``)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak RSS read from /proc")
def test_a_long_stream_is_spooled_memory_does_not_grow_with_it(tmp_path: Path) -> None:
    """A 5 MB and a 47 MB stream through one ``record`` process: its peak RSS grows by less
    than 30 MB between them (it grew by several times the stream when every read was kept in
    memory); both HAR files read back as sent, the key split across two events masked."""
    out = tmp_path / "rec"
    with _in_thread(Upstream("127.0.0.1", 0)) as upstream:
        proc = _record(out, upstream.base_url)
        try:
            small, big = 50, 500  # blocks of 94 KB
            _send(proc.base, f"blocks={small}")
            (first,) = _wait(proc, out, 1)
            after_small = _peak_rss(proc.pid)
            got = _send(proc.base, f"blocks={big}")
            files = _wait(proc, out, 1)
            after_big = _peak_rss(proc.pid)
        finally:
            err = _stop(proc)
    assert proc.returncode == 0, err
    assert got > 40 << 20
    print("peak RSS after 5 MB and after 47 MB:", after_small >> 20, after_big >> 20, "MiB")
    assert after_big - after_small < 30 << 20, (after_small >> 20, after_big >> 20)
    assert not list(out.glob(".llmtrace-*")), "spools and temporary files are removed"
    assert _reassembled(first) == _masked(_stream(small)[1])
    doc = orjson.loads(files[1].read_bytes())  # the big one: read here, not by a capped process
    content = doc["log"]["entries"][0]["response"]["content"]
    parts, text = _stream(big)
    sent = b"".join(parts)
    assert content["size"] == len(sent) == doc["log"]["entries"][0]["response"]["bodySize"]
    assert KEY not in content["text"] and KEY[:9] not in content["text"]
    assert content["text"].encode() == saving.mask_split(sent)
    assert "".join(c["text"] for c in content["_chunks"]) == content["text"]


def test_a_recorder_killed_mid_stream_leaves_what_it_received(tmp_path: Path) -> None:
    """``kill -9`` during an endless stream: the spool in the record folder holds every byte
    the client got, ``reassemble`` reads it as a cut stream; the next ``record`` run into the
    folder turns it into a recording (masked,
    ``_error`` saying why it stopped, ``check``: no-finish) and removes the spool."""
    out = tmp_path / "rec"
    with _in_thread(Upstream("127.0.0.1", 0)) as upstream:
        proc = _record(out, upstream.base_url)
        try:
            got = _send(proc.base, "blocks=40&hang=1", stop_after=len(_BLOCK) * 40)
            (spooled,) = out.glob(".llmtrace-spool-*.partial")
            deadline = time.monotonic() + TIMEOUT
            while spooled.stat().st_size < got and time.monotonic() < deadline:
                time.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
        assert not list(out.glob("*.har"))
        left = saving.Capture.recovered(next(spool.orphans(out)))  # as the next run reads it
        received = left.body
        left.spool.close()
        assert len(received) >= got and received.startswith(_BLOCK * 20)
        cut = _reassembled(spooled)  # the spool itself reads as the recording it would have become
        assert len(cut) > len(_BLOCK_TEXT) * 20 and cut == _stream(40, hang=True)[1][:len(cut)]
        again = _record(out, upstream.base_url)
        try:
            (path,) = _wait(again, out, 1)  # recovered as it starts
            for line in iter(again.stderr.readline, ""):
                if "SIGTERM or Ctrl-C stops" in line:
                    break
            time.sleep(0.5)  # its signal handlers are set just after that line
        finally:
            err = _stop(again)
    assert again.returncode == 0, err
    assert not list(out.glob(".llmtrace-spool-*")), "the spool is removed once recovered"
    doc = orjson.loads(path.read_bytes())
    entry = doc["log"]["entries"][0]
    assert "recovered from its spool" in entry["_error"]
    assert entry["response"]["content"]["text"].encode() == saving.mask_split(received)
    assert KEY not in path.read_text()
    _, text = _stream(40, hang=True)
    again_text = _reassembled(path)
    assert len(again_text) > len(_BLOCK_TEXT) * 20 and again_text == _masked(text)[:len(again_text)]
    done = subprocess.run([sys.executable, "-m", "llmtrace", "check", str(path)], capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert "no-finish" in done.stdout, done.stdout + done.stderr


def test_masking_window_by_window_finds_what_the_whole_body_does(tmp_path: Path, monkeypatch) -> None:
    """Windows of 300 bytes seen with 400 around them (instead of MiBs): credentials whole in
    one event, spelt across two events, in key-named fields, near and across every window
    boundary, masked in ``content.text`` as ``mask_text(mask_split(body))`` masks them, and
    in ``_chunks`` alike, whatever the reads (a read cut inside a character: base64)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    monkeypatch.setattr(saving, "_OWN", 300)
    monkeypatch.setattr(saving, "_OVERLAP", 400)
    pieces = [_event("plain words here "), _event("a key " + KEY + " !"), _event("split " + KEY[:12]),
              _event(KEY[12:] + " done"), b'data: {"api_key": "' + b"Zx9" * 8 + b'"}\n\n', _event("caf\u00e9 ")]

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.sampled_from(range(len(pieces))), min_size=1, max_size=25), st.lists(st.integers(1, 4000)))
    def check(order, cuts):
        body = b"".join(pieces[i] for i in order)
        cuts = sorted({c for c in cuts if c < len(body)})
        reads = [body[a:b] for a, b in zip([0] + cuts, cuts + [len(body)])]
        capture = saving.Capture("POST", "http://x/v1", "/v1", "HTTP/1.1", [], b"", 0.0, tmp_path)
        capture.response_headers = [("content-type", "text/event-stream")]
        for n, data in enumerate(reads):
            capture.add(float(n), data)
        try:
            doc = saving.har(capture, True)
        finally:
            capture.discard()
        content = doc["log"]["entries"][0]["response"]["content"]
        assert content["text"] == secrets.mask_text(saving.mask_split(body).decode())
        chunks = b"".join(c["text"].encode() if "text" in c else base64.b64decode(c["base64"])
                          for c in content["_chunks"])
        assert chunks == content["text"].encode()  # the reads masked as the body is

    check()


def _one_stream(out: Path, *more: str, preexec_fn=None) -> tuple[subprocess.Popen, int, str]:
    """A ``record`` process (with ``more`` options) relaying one 4.7 MB stream, then stopped:
    the process, the bytes the client got, its log."""
    with _in_thread(Upstream("127.0.0.1", 0)) as upstream:
        proc = _record(out, upstream.base_url, *more, preexec_fn=preexec_fn)
        try:
            got = _send(proc.base, "blocks=50")
            lines, deadline = [], time.monotonic() + TIMEOUT
            while time.monotonic() < deadline and not any("POST" in line for line in lines):
                lines.append(proc.stderr.readline())
        finally:
            err = _stop(proc)
    return proc, got, "".join(lines) + err


def test_a_cassette_keeps_a_body_beyond_max_size_truncated(tmp_path: Path) -> None:
    """``--save-as vcr`` holds the run in one YAML document: a 4.7 MB stream recorded with
    ``--max-size 1M`` is kept truncated at 1 MiB there, ``_error`` saying so, the client
    getting every byte."""
    import yaml

    out = tmp_path / "rec"
    proc, got, log = _one_stream(out, "--save-as", "vcr", "--max-size", "1M")
    assert proc.returncode == 0, log
    parts, _ = _stream(50)
    assert got == len(b"".join(parts))
    (cassette,) = out.glob("session-*.yaml")
    response = yaml.safe_load(cassette.read_text())["interactions"][0]["response"]
    assert len(response["body"]["string"].encode()) == 1 << 20
    assert "beyond the 1 MiB limit (--max-size): saved truncated there" in response["_timing"]["error"]
    assert sum(len(c["text"].encode()) for c in response["_chunks"]) == 1 << 20


def test_a_full_disk_while_spooling_still_relays_the_stream(tmp_path: Path) -> None:
    """Files limited to 1 MiB (``RLIMIT_FSIZE``, as a full disk): the spool stops growing, the
    client still gets every byte of a 4.7 MB stream, no traceback; what was spooled stays for
    the next run (the HAR file cannot be written either)."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    out = tmp_path / "rec"
    proc, got, log = _one_stream(out, preexec_fn=limit)
    assert got == len(b"".join(_stream(50)[0]))
    assert proc.returncode == 0 and "Traceback" not in log, log
    assert "NOT SAVED" in log
    (spooled,) = out.glob(".llmtrace-spool-*.partial")
    assert 0 < spooled.stat().st_size <= 1 << 20
