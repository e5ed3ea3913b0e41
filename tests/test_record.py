"""``llmtrace record`` in front of ``llmtrace serve``: real clients (openai, anthropic, httpx,
curl) talk to the recording proxy, which forwards to serve replaying recordings from tests/data.
Checked: the client gets the bytes serve sends; the written recording reads back
``diff --strict``-equal to the served one except for timing, with ``timing: chunk-times`` and
per-chunk offsets that follow serve's pace; faults serve injects are recorded as they happened;
secrets are masked in the files but reach the upstream; a VCR cassette replays through vcrpy.
Everything runs on 127.0.0.1 with bounded timeouts."""

from __future__ import annotations

import asyncio
import base64
import gzip
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import orjson
import pytest
from aiohttp import web

from conftest import CORPUS, DATA
from llmtrace import compare
from llmtrace.anomalies import detect
from llmtrace.view import documents
from llmtrace.containers import chunk_reads
from llmtrace.loader import load
from llmtrace.server import pace
from llmtrace.server.app import Options, Server
from llmtrace.server.faults import parse
from llmtrace.server.proxy import Options as ProxyOptions
from llmtrace.server.proxy import RecordServer, upstream_url
from llmtrace.server.saving import Saver, slug

CASSETTES = DATA / "cassettes"
CHAT = CASSETTES / "crewAI" / "cassettes--test_usage_info_streaming_with_acall.yaml"
ANTHROPIC = CASSETTES / "mirascope" / "anthropic_claude_sonnet_4_0--async_stream.yaml"
TIMED = CORPUS / "llama-stack" / "ollama-generate-stream" / "120f40661861.json"
TIMEOUT = 30
LLMTRACE = [sys.executable, "-m", "llmtrace"]
# What differs between a recording and its re-recording through serve and record: timing.
TIMING = {"response.timing", "response.ttft_s", "response.gap_p50_s", "response.gap_p95_s",
          "response.longest_stall_s", "response.span_s", "response.tokens_per_second"}


def _key() -> str:
    return "sk-" + "proj-" + "A1b2" * 10


@contextmanager
def _in_thread(server):
    """``server`` (start/stop coroutines) running on its own loop in a background thread."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            errors.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    if errors:
        raise errors[0]
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@contextmanager
def serving(*paths: Path, **options):
    """``serve`` on a free port of 127.0.0.1; yields its base URL."""
    options.setdefault("speed", None)
    lines: list[str] = []
    with _in_thread(Server([load(str(p)) for p in paths], options=Options(log=lines.append, **options))) as server:
        yield server.base_url


@contextmanager
def recording(upstream: str, out: Path, save_as: str = "har", mask: bool = True, **options):
    """``record`` in front of ``upstream`` on a free port; yields (base URL, log lines)."""
    lines: list[str] = []
    proxy = RecordServer(upstream, Saver(out, save_as, mask), options=ProxyOptions(log=lines.append, **options))
    with _in_thread(proxy) as server:
        yield server.base_url, lines


def _body(path: Path, index: int = 0) -> dict:
    return dict(load(str(path)).exchanges[index].request.body)


def _raw(base: str, path: str, body: dict, headers: dict | None = None) -> tuple[int, dict, bytes]:
    with httpx.Client(timeout=TIMEOUT) as client:
        with client.stream("POST", base + path, json=body, headers=headers or {}) as response:
            return response.status_code, dict(response.headers), b"".join(response.iter_raw())


def _wait_files(folder: Path, n: int, pattern: str = "*.har") -> list[Path]:
    deadline = time.monotonic() + 60  # a guard against a hang: it returns as soon as the files are there
    while time.monotonic() < deadline:
        files = sorted(folder.glob(pattern))
        if len(files) >= n:
            return files
        time.sleep(0.02)
    raise AssertionError(f"{n} recordings expected in {folder}, found {sorted(folder.iterdir())}")


def _diff(a: Path, b: Path, cli: bool = False) -> list[dict]:
    """``llmtrace diff --strict --json`` of two recordings (in-process unless ``cli``), less
    what timing makes differ."""
    if cli:
        done = subprocess.run(LLMTRACE + ["diff", "--strict", "--json", str(a), str(b)], capture_output=True,
                              timeout=TIMEOUT, cwd=Path(__file__).parent.parent)
        assert done.returncode in (0, 1), done.stderr
        changes = orjson.loads(done.stdout) if done.stdout.strip() else []
    else:
        pairs = compare.compare_recordings(documents(load(str(a))), documents(load(str(b))), strict=True)
        changes = [d.json() for pair in pairs for d in pair.differences if d.counts]
    return [c for c in changes if c["path"] not in TIMING
            and not (c["path"] == "response.status" and c["a"] is None and c["b"] == 200)]


def _check_codes(path: Path) -> set[str]:
    recording = load(str(path))
    return {a.code for ex in recording.exchanges for a in detect(ex, recording)}


def _offsets(exchange) -> list[float]:
    """A recorded exchange's chunk times as seconds from the request's start."""
    started = exchange.response.timings["started"]
    return [t - started for t in exchange.result.timeline.times]


# --- end to end ----------------------------------------------------------------------------------


def test_curl_gets_what_serve_sends_and_the_har_reads_back_equal(tmp_path):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    body = orjson.dumps(_body(TIMED))
    with serving(TIMED) as upstream, recording(upstream, tmp_path) as (proxy, lines):
        outputs = []
        for base in (upstream, proxy):
            done = subprocess.run([curl, "-sS", "-N", "--max-time", "20", "-H", "content-type: application/json",
                                   "--data-binary", "@-", base + "/api/generate"], input=body, capture_output=True,
                                  timeout=TIMEOUT)
            assert done.returncode == 0, done.stderr
            outputs.append(done.stdout)
        files = _wait_files(tmp_path, 1)
    assert outputs[0] == outputs[1] and outputs[0].count(b"\n") == 11
    assert [f.name for f in files] == ["0001-POST-api-generate.har"]
    assert "POST /api/generate → 200" in lines[0] and "0001-POST-api-generate.har" in lines[0]
    assert _diff(TIMED, files[0], cli=True) == []
    ex = load(str(files[0])).exchanges[0]
    assert ex.container == "har" and ex.result.timeline.timing == "chunk-times" and ex.fidelity == "chunks+times"
    doc = orjson.loads(files[0].read_bytes())
    content = doc["log"]["entries"][0]["response"]["content"]
    assert "".join(c["text"] for c in content["_chunks"]).encode() == outputs[0]
    assert doc["log"]["version"] == "1.2" and doc["log"]["entries"][0]["startedDateTime"].endswith("Z")


def _untimed_ttft(tmp_path: Path) -> Path:
    """The timed Ollama recording without its load and prompt durations: serve then sends the
    first chunk at once and the others at their recorded gaps (~0.19 s)."""
    doc = orjson.loads(TIMED.read_bytes())
    for chunk in doc["response"]["body"]:
        value = chunk["__data__"]
        value["load_duration"] = value["prompt_eval_duration"] = None
    out = tmp_path / "timed.json"
    out.write_bytes(orjson.dumps(doc))
    return out


def test_recorded_offsets_follow_the_served_pace(tmp_path):
    source = _untimed_ttft(tmp_path)
    speed = 2.0
    expected = pace.offsets(load(str(source)).exchanges[0], speed, None)
    assert expected[-1] > 0.8  # a real pace to follow
    with serving(source, speed=speed) as upstream, recording(upstream, tmp_path / "out") as (proxy, _):
        status, _, data = _raw(proxy, "/api/generate", _body(source))
        files = _wait_files(tmp_path / "out", 1)
    assert status == 200 and data.count(b"\n") == 11
    ex = load(str(files[0])).exchanges[0]
    assert ex.result.timeline.timing == "chunk-times"
    got = _offsets(ex)
    assert len(got) == len(expected)
    # Never before serve sent it (the proxy's clock starts before serve's), one read per chunk
    # in the order sent: bounds no machine load can break. How late is the load's (bench/).
    late = [g - e for g, e in zip(got, expected)]
    assert min(late) > -0.005, (got, expected)
    assert got == sorted(got), got
    # serve replays the recorded file at the pace recorded (record → inspect → replay).
    replay = pace.offsets(ex, 1.0, None)
    assert replay is not None and abs((replay[-1] - replay[0]) - (got[-1] - got[0])) < 0.001


def _accumulate_openai(stream) -> tuple[str, str | None, int | None]:
    text, finish, usage = [], None, None
    for chunk in stream:
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
        if chunk.usage is not None:
            usage = chunk.usage.total_tokens
    return "".join(text), finish, usage


def test_openai_sdk_through_the_proxy(tmp_path):
    import openai

    body = _body(CHAT)
    with serving(CHAT) as upstream, recording(upstream, tmp_path) as (proxy, _):
        got = []
        for base in (upstream, proxy):
            client = openai.OpenAI(base_url=f"{base}/v1", api_key=_key(), max_retries=0, timeout=TIMEOUT)
            got.append(_accumulate_openai(client.chat.completions.create(**body)))
        direct = _raw(upstream, "/v1/chat/completions", body)
        proxied = _raw(proxy, "/v1/chat/completions", body)
        files = _wait_files(tmp_path, 2)
    assert got[0] == got[1] and got[0][0]
    assert direct[0] == proxied[0] == 200 and direct[2] == proxied[2]
    assert direct[1]["content-type"] == proxied[1]["content-type"]
    assert [f.name for f in files] == ["0001-POST-v1-chat-completions.har", "0002-POST-v1-chat-completions.har"]
    for f in files:
        assert _diff(CHAT, f) == []
        assert load(str(f)).exchanges[0].result.timeline.timing == "chunk-times"
    assert _key().encode() not in files[0].read_bytes()  # the SDK's key, masked


def test_anthropic_sdk_through_the_proxy(tmp_path):
    import anthropic

    body = _body(ANTHROPIC)
    body.pop("stream")
    with serving(ANTHROPIC) as upstream, recording(upstream, tmp_path) as (proxy, _):
        finals = []
        for base in (upstream, proxy):
            client = anthropic.Anthropic(base_url=base, api_key="test", max_retries=0, timeout=TIMEOUT)
            with client.messages.stream(**body) as stream:
                finals.append(stream.get_final_message().model_dump())
        files = _wait_files(tmp_path, 1)
    assert finals[0] == finals[1]
    assert _diff(ANTHROPIC, files[0]) == []


def test_concurrent_streams_are_recorded_independently(tmp_path):
    source = _untimed_ttft(tmp_path)
    body = _body(source)

    async def main(proxy: str) -> list[bytes]:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            async def one() -> bytes:
                async with client.stream("POST", proxy + "/api/generate", json=body) as response:
                    return b"".join([piece async for piece in response.aiter_raw()])
            return await asyncio.gather(*(one() for _ in range(8)))

    with serving(source, speed=20.0) as upstream, recording(upstream, tmp_path / "out") as (proxy, _):
        results = asyncio.run(main(proxy))
        files = _wait_files(tmp_path / "out", 8)
    assert len(set(results)) == 1
    assert [f.name[:4] for f in files] == [f"{n:04d}" for n in range(1, 9)]
    for f in files:
        ex = load(str(f)).exchanges[0]
        assert len(ex.response.chunks) == 11 and ex.result.timeline.timing == "chunk-times"
        doc = orjson.loads(f.read_bytes())
        assert "".join(c["text"] for c in doc["log"]["entries"][0]["response"]["content"]["_chunks"]).encode() \
            == results[0]


# --- faults --------------------------------------------------------------------------------------


def test_a_cut_stream_is_cut_for_the_client_and_recorded_as_no_finish(tmp_path):
    body = _body(CHAT)
    with serving(CHAT, faults=(parse("cut:after=3"),)) as upstream, recording(upstream, tmp_path) as (proxy, lines):
        with pytest.raises(httpx.RemoteProtocolError):
            _raw(proxy, "/v1/chat/completions", body)
        files = _wait_files(tmp_path, 1)
    doc = orjson.loads(files[0].read_bytes())
    entry = doc["log"]["entries"][0]
    assert "mid-stream" in entry["_error"] and "mid-stream" in lines[0]
    assert entry["response"]["status"] == 200
    ex = load(str(files[0])).exchanges[0]
    assert len(ex.response.chunks) == 4
    assert "no-finish" in _check_codes(files[0])
    done = subprocess.run(LLMTRACE + ["check", str(files[0])], capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 1 and "no-finish" in done.stdout


def _held_upstream(stall: float, resume: threading.Event):
    """An upstream whose stream of five events stops after the third until ``resume`` is set
    (by the client, once it has that event through the proxy; 30 s at most), then waits
    ``stall`` seconds more and sends the rest."""
    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        out = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await out.prepare(request)
        for n in range(5):
            if n == 3:
                await asyncio.get_running_loop().run_in_executor(None, resume.wait, 30)
                await asyncio.sleep(stall)
            chunk = {"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
                     "choices": [{"index": 0, "delta": {"content": f"w{n} "}, "finish_reason": "stop" if n == 4 else None}]}
            await out.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        await out.write(b"data: [DONE]\n\n")
        await out.write_eof()
        return out

    return posting(answer)


def posting(answer) -> web.Application:
    """An aiohttp application answering every POST with ``answer`` (a test's upstream)."""
    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    return app


def test_a_stall_is_recorded_with_its_gap(tmp_path):
    """The upstream holds its stream after the third event until the client has that event
    through the proxy, then waits 0.4 s: a proxy that buffered would never let it go on (the
    test would fail at the 30 s guard), and the recorded gap and the client's are at least the
    stall by causality, whatever the machine's load."""
    from llmtrace.server.app import Listening

    stall, resume = 0.4, threading.Event()

    class Upstream(Listening):
        def application(self):
            return _held_upstream(stall, resume)

    with _in_thread(Upstream("127.0.0.1", 0)) as upstream, recording(upstream.base_url, tmp_path) as (proxy, _):
        seen = []  # when the client gets each event through the proxy
        with httpx.Client(timeout=TIMEOUT) as client:
            with client.stream("POST", proxy + "/v1/chat/completions", json=_body(CHAT)) as response:
                status = response.status_code
                for line in response.iter_lines():
                    if line.startswith("data: {"):
                        seen.append(time.monotonic())
                        if len(seen) == 3:
                            resume.set()
        files = _wait_files(tmp_path, 1)
    assert status == 200 and len(seen) == 5
    assert seen[3] - seen[2] >= stall  # the client's gap: the stall was not buffered away
    offsets = _offsets(load(str(files[0])).exchanges[0])
    assert len(offsets) == 5 and offsets == sorted(offsets), offsets  # a time per event, in order
    assert offsets[3] - offsets[2] >= stall - 0.001, offsets  # the proxy kept event 2's time before it passed it on


def test_a_429_reaches_the_sdk_and_is_recorded(tmp_path):
    import openai

    with serving(CHAT, faults=(parse("error:status=429,retry_after=7"),)) as upstream, \
            recording(upstream, tmp_path) as (proxy, _):
        client = openai.OpenAI(base_url=f"{proxy}/v1", api_key="test", max_retries=0, timeout=TIMEOUT)
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(**_body(CHAT))
        files = _wait_files(tmp_path, 1)
    assert caught.value.response.headers["retry-after"] == "7"
    response = orjson.loads(files[0].read_bytes())["log"]["entries"][0]["response"]
    assert response["status"] == 429
    assert {"name": "retry-after", "value": "7"} in [{"name": h["name"].lower(), "value": h["value"]}
                                                     for h in response["headers"]]
    ex = load(str(files[0])).exchanges[0]
    assert ex.failed and ex.response.status == 429 and "429" in ex.response.error_message


def test_an_unreachable_upstream_is_a_502_recorded(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with recording(f"http://127.0.0.1:{port}", tmp_path) as (proxy, lines):
        status, _, data = _raw(proxy, "/v1/chat/completions", _body(CHAT))
        files = _wait_files(tmp_path, 1)
    assert status == 502 and b"cannot reach the upstream" in data
    entry = orjson.loads(files[0].read_bytes())["log"]["entries"][0]
    assert entry["response"]["status"] == 0 and "cannot reach" in entry["_error"]
    assert "no response" in lines[0]


# --- secrets -------------------------------------------------------------------------------------


@contextmanager
def _echo_upstream():
    """A real aiohttp upstream that answers with the credentials it received, as SSE."""
    seen: list[dict] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append({"authorization": request.headers.get("Authorization"), "query": request.query_string,
                     "path": request.path})
        out = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await out.prepare(request)
        payload = {"choices": [{"index": 0, "delta": {"content": f"you sent {request.headers.get('Authorization')}"}}]}
        await out.write(b"data: " + orjson.dumps(payload) + b"\n\n")
        await out.write(b"data: [DONE]\n\n")
        await out.write_eof()
        return out

    class Upstream:
        base_url = ""

        async def start(self):
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", handle)
            self.runner = web.AppRunner(app, access_log=None)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            self.base_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"

        async def stop(self):
            await self.runner.cleanup()

    with _in_thread(Upstream()) as upstream:
        yield upstream.base_url, seen


@pytest.mark.parametrize("mask", [True, False])
def test_secrets_reach_the_upstream_and_are_masked_in_the_file(tmp_path, mask):
    key = _key()
    with _echo_upstream() as (upstream, seen), recording(upstream + "/base", tmp_path, mask=mask) as (proxy, _):
        status, _, data = _raw(proxy, f"/v1/chat/completions?api_key={key}&x=1", {"model": "m", "stream": True},
                               headers={"Authorization": f"Bearer {key}"})
        files = _wait_files(tmp_path, 1)
    assert status == 200 and key.encode() in data  # the client gets the answer unchanged
    assert seen == [{"authorization": f"Bearer {key}", "query": f"api_key={key}&x=1",
                     "path": "/base/v1/chat/completions"}]
    written = files[0].read_bytes()
    assert (key.encode() in written) is not mask
    if mask:
        assert written.count(b"***") >= 3  # the header, the URL, the echoed body and its read


# --- VCR -----------------------------------------------------------------------------------------


def test_a_vcr_cassette_replays_through_vcrpy_with_the_openai_sdk(tmp_path):
    import openai
    import vcr

    body = _body(CHAT)
    with serving(CHAT) as upstream:
        with recording(upstream, tmp_path, save_as="vcr") as (proxy, _):
            client = openai.OpenAI(base_url=f"{proxy}/v1", api_key=_key(), max_retries=0, timeout=TIMEOUT)
            live = [_accumulate_openai(client.chat.completions.create(**body)) for _ in range(2)]
        cassette = tmp_path / "session-0001.yaml"
        assert cassette.exists()
    # The upstream is gone: the answers now come from the cassette alone.
    with vcr.VCR(record_mode="none").use_cassette(str(cassette)):
        client = openai.OpenAI(base_url=f"{upstream}/v1", api_key="test", max_retries=0, timeout=TIMEOUT)
        replayed = [_accumulate_openai(client.chat.completions.create(**body)) for _ in range(2)]
    assert replayed == live and live[0][0]
    rec = load(str(cassette))
    assert rec.container == "vcr" and len(rec.exchanges) == 2
    for ex in rec.exchanges:
        assert ex.result.timeline.timing == "chunk-times" and ex.fidelity == "chunks+times"
    assert _key().encode() not in cassette.read_bytes()
    import yaml

    one = tmp_path / "one.yaml"  # one exchange, to compare with the served recording
    doc = yaml.safe_load(cassette.read_text())
    doc["interactions"] = doc["interactions"][:1]
    one.write_text(yaml.safe_dump(doc))
    assert _diff(CHAT, one) == []


def test_a_second_vcr_run_takes_the_next_session(tmp_path):
    (tmp_path / "session-0001.yaml").write_text("interactions: []\nversion: 1\n")
    Saver(tmp_path, "vcr").prepare()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session-0001.yaml", "session-0002.yaml"]
    assert (tmp_path / "session-0001.yaml").read_text() == "interactions: []\nversion: 1\n"


# --- pieces --------------------------------------------------------------------------------------


def test_upstream_url_and_slug():
    assert upstream_url("https://api.openai.com", "/v1/chat/completions?a=1") == \
        "https://api.openai.com/v1/chat/completions?a=1"
    assert upstream_url("http://h:1/base/", "/v1/x") == "http://h:1/base/v1/x"
    assert slug("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse") == \
        "v1beta-models-gemini-2-5-flash-streamgeneratecontent"
    assert slug("/") == "root"


def _reads(*pairs) -> list[dict]:
    return [{"offset_ms": ms, "text": text} for ms, text in pairs]


def test_reads_give_each_sse_event_the_time_of_the_read_that_completed_it():
    reads = chunk_reads.reads_of(_reads((10, 'data: {"a":1}\n\ndata: {"a"'), (25, ':2}\n'), (40, '\ndata: [DONE]\n\n')),
                                 "x")
    # Event 1 ends in the first read; event 2's blank line arrives in the third.
    assert chunk_reads.payload_times(reads, 100.0, None, 2) == [100.01, 100.04]
    assert chunk_reads.payload_times(reads, 100.0, None, 3) is None  # the reads disagree with the body


def test_reads_of_a_gzip_ndjson_stream():
    data = gzip.compress(b'{"n":1}\n{"n":2}\n{"n":3}\n')
    cut = [data[:len(data) // 3], data[len(data) // 3:2 * len(data) // 3], data[2 * len(data) // 3:]]
    reads = chunk_reads.reads_of([{"offset_ms": 5 * (i + 1), "base64": base64.b64encode(c).decode()}
                                  for i, c in enumerate(cut)], "x")
    times = chunk_reads.payload_times(reads, None, "gzip", 3)
    assert times is not None and len(times) == 3 and times == sorted(times) and times[-1] == 0.015


@pytest.mark.parametrize("bad, what", [
    ("nope", "_chunks should be a list"),
    ([{"offset_ms": -1, "text": ""}], "offset_ms"),
    ([{"offset_ms": 1}], "\"text\" or \"base64\""),
    ([{"offset_ms": 1, "base64": "!!"}], "not valid base64"),
])
def test_bad_reads_are_named(tmp_path, bad, what):
    doc = {"log": {"version": "1.2", "entries": [{
        "startedDateTime": "2026-01-01T00:00:00.000Z", "request": {"method": "POST", "url": "http://h/v1/chat/completions"},
        "response": {"status": 200, "content": {"text": 'data: {"choices":[]}\n\n', "_chunks": bad}}}]}}
    path = tmp_path / "bad.har"
    path.write_bytes(orjson.dumps(doc))
    done = subprocess.run(LLMTRACE + ["show", str(path)], capture_output=True, timeout=TIMEOUT, text=True)
    assert done.returncode == 2 and what in done.stderr and "_chunks" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


# --- the command ---------------------------------------------------------------------------------


def _start(args: list[str], cwd: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(LLMTRACE + ["record"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                            text=True)
    lines = [proc.stdout.readline() for _ in range(5)]  # the URL, then the variables
    proc.printed = "".join(lines)
    return proc, lines[0].strip()


def test_the_command_prints_its_url_records_and_exits_0_on_sigterm(tmp_path):
    (tmp_path / "recs").mkdir()
    (tmp_path / "recs" / "0001-POST-v1-chat-completions.har").write_text("kept")
    with serving(CHAT) as upstream:
        proc, url = _start(["--upstream", upstream, "--listen", "127.0.0.1:0", "-o", "recs"], tmp_path)
        try:
            assert url.startswith("http://127.0.0.1:")
            status, _, _ = _raw(url, "/v1/chat/completions", _body(CHAT))
            assert status == 200
            files = _wait_files(tmp_path / "recs", 2)
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0
    assert [f.name for f in files] == ["0001-POST-v1-chat-completions.har", "0002-POST-v1-chat-completions.har"]
    assert (tmp_path / "recs" / "0001-POST-v1-chat-completions.har").read_text() == "kept"
    assert "POST /v1/chat/completions → 200" in err and "Traceback" not in err
    assert "OPENAI_BASE_URL=" + url + "/v1" in proc.printed and out == ""


def test_ctrl_c_exits_130(tmp_path):
    proc, url = _start(["--upstream", "http://127.0.0.1:9", "--listen", "127.0.0.1:0", "-o", "r"], tmp_path)
    try:
        assert url.startswith("http://")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err


def test_a_port_in_use_exits_2_with_one_line(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        done = subprocess.run(LLMTRACE + ["record", "--upstream", "http://127.0.0.1:9", "--listen",
                                          f"127.0.0.1:{port}", "-o", str(tmp_path / "r")],
                              capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert not (tmp_path / "r").exists() or not os.listdir(tmp_path / "r")


@pytest.mark.parametrize("args, what", [
    (["--upstream", "api.openai.com"], "--upstream should be an http"),
    (["--upstream", "http://h", "--listen", "nope"], "--listen should be HOST:PORT"),
    (["--upstream", "http://h", "--listen", "127.0.0.1:70000"], "port from 0 to 65535"),
])
def test_bad_options_exit_2(tmp_path, args, what):
    done = subprocess.run(LLMTRACE + ["record"] + args, capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path)
    assert done.returncode == 2 and what in done.stderr and done.stdout == ""


def test_a_client_that_leaves_mid_stream_is_recorded_as_such(tmp_path, capfd):
    source = _untimed_ttft(tmp_path)
    with serving(source, speed=1.0) as upstream, recording(upstream, tmp_path / "out") as (proxy, lines):
        with httpx.Client(timeout=TIMEOUT) as client:
            with client.stream("POST", proxy + "/api/generate", json=_body(source)) as response:
                first = next(response.iter_lines())
        files = _wait_files(tmp_path / "out", 1)
    assert first.startswith("{")
    entry = orjson.loads(files[0].read_bytes())["log"]["entries"][0]
    assert "the client closed the connection" in entry["_error"] and "client closed" in lines[0]
    assert 1 <= len(entry["response"]["content"]["_chunks"]) < 11
    assert "Traceback" not in capfd.readouterr().err


def test_sigterm_during_a_stream_still_saves_it(tmp_path):
    source = _untimed_ttft(tmp_path)
    with serving(source, speed=1.0) as upstream:
        proc, url = _start(["--upstream", upstream, "--listen", "127.0.0.1:0", "-o", "r"], tmp_path)
        try:
            with httpx.Client(timeout=TIMEOUT) as client:
                with client.stream("POST", url + "/api/generate", json=_body(source)) as response:
                    lines = response.iter_lines()
                    next(lines)
                    proc.send_signal(signal.SIGTERM)
                    try:
                        for _ in lines:
                            pass
                    except httpx.HTTPError:
                        pass  # cut by the stopping proxy: allowed
            _, err = proc.communicate(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err
    files = list((tmp_path / "r").glob("*.har"))
    assert len(files) == 1 and "recorded 1 exchange" in err
    assert load(str(files[0])).exchanges[0].response.chunks  # kept, as far as it went


def test_a_gzip_stream_passes_as_sent_and_reads_back_timed(tmp_path):
    """An upstream that compresses its SSE stream (each event flushed): the client gets the
    compressed bytes and decodes them itself; the HAR has the decoded text, the reads as sent."""
    events = [b'data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,'
              b'"delta":{"content":"%d "},"finish_reason":null}]}\n\n' % i for i in range(4)]
    events.append(b'data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,'
                  b'"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')

    async def handle(request: web.Request) -> web.StreamResponse:
        out = web.StreamResponse(headers={"content-type": "text/event-stream", "content-encoding": "gzip"})
        await out.prepare(request)
        import zlib

        packer = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
        for event in events:
            await out.write(packer.compress(event) + packer.flush(zlib.Z_SYNC_FLUSH))
            await asyncio.sleep(0.03)
        await out.write(packer.flush())
        await out.write_eof()
        return out

    class Upstream:
        async def start(self):
            app = web.Application()
            app.router.add_post("/v1/chat/completions", handle)
            self.runner = web.AppRunner(app, access_log=None)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            self.base_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"

        async def stop(self):
            await self.runner.cleanup()

    with _in_thread(Upstream()) as upstream, recording(upstream.base_url, tmp_path) as (proxy, _):
        with httpx.Client(timeout=TIMEOUT) as client:
            response = client.post(proxy + "/v1/chat/completions", json={"model": "m", "stream": True},
                                   headers={"accept-encoding": "gzip"})
        files = _wait_files(tmp_path, 1)
    assert response.headers["content-encoding"] == "gzip" and response.content == b"".join(events)
    doc = orjson.loads(files[0].read_bytes())
    content = doc["log"]["entries"][0]["response"]["content"]
    assert content["text"].encode() == b"".join(events) and "base64" in content["_chunks"][0]
    ex = load(str(files[0])).exchanges[0]
    assert ex.result.choices[0].content == "0 1 2 3 " and ex.result.timeline.timing == "chunk-times"
    offsets = _offsets(ex)
    assert len(offsets) == 5 and offsets[-1] - offsets[0] >= 0.1


def test_a_secret_split_across_reads_is_masked_whole():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from llmtrace.server.saving import _secrets_whole

    key = "sk-" + "proj-" + "A1b2C3d4" * 6
    text = f'data: {{"content": "the key is {key} — keep it"}}\n\ndata: [DONE]\n\n'.encode()

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.integers(1, len(text) - 1), unique=True, max_size=6))
    def check(cuts):
        cuts = sorted(cuts)
        pieces = [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])]
        received = [(float(i), p) for i, p in enumerate(pieces)]
        out = _secrets_whole(received)
        assert b"".join(d for _, d in out) == text  # nothing lost, nothing added
        assert sum(key.encode() in d for _, d in out) == 1  # the secret lies in one read
        originals = {b for b in [sum(map(len, pieces[:i + 1])) for i in range(len(pieces))]}
        ends = [sum(len(d) for _, d in out[:i + 1]) for i in range(len(out))]
        start, stop = text.index(key.encode()), text.index(key.encode()) + len(key)
        # only the boundaries inside the secret moved (to its end)
        assert set(ends) == {b for b in originals if not start < b < stop} | ({stop} if any(
            start < b < stop for b in originals) else set())
        assert [o for o, _ in out] == sorted(o for o, _ in out)

    check()
