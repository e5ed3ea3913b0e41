"""Record on miss (``llmtrace serve PATH... --upstream URL``): a miss is forwarded to a real
upstream (another ``llmtrace serve`` on a free port of 127.0.0.1, counting what it is asked),
streamed back, written as a recording with credentials masked and per-chunk times, and served
from then on without asking the upstream again. Driven over HTTP with httpx and the OpenAI SDK,
in-process and as the ``llmtrace serve`` command."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import openai
import orjson
import pytest

import llmtrace
from conftest import DATA
from llmtrace.loader import load
from llmtrace.server.app import Background, Options, Server
from llmtrace.server.onmiss import Upstream

pytest_plugins = ["pytester"]

CHAT = DATA / "cassettes" / "crewAI" / "cassettes--test_usage_info_streaming_with_acall.yaml"
TOOLS = DATA / "cassettes" / "crewAI" / "llms--TestToolCallStreamingEventStructure.test_tool_call_events_have_consistent_tool_id.yaml"
TIMEOUT = 30
KEY = "sk-proj-" + "Zx9" * 16  # a credential by shape: never written as it is
BODY = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "Tell me a joke."}]}


@contextmanager
def upstream(*paths: Path, rate: float | None = None):
    """The provider: a ``serve`` answering any request with its closest recording, on a free
    port; yields (base URL, the log lines: one per request it was asked)."""
    lines: list[str] = []
    server = Server([load(str(p)) for p in paths], options=Options(speed=None if rate is None else 1.0, rate=rate,
                                                                     mode="closest", log=lines.append))
    with Background(server) as base:
        yield base, lines


@contextmanager
def growing(folder: Path, up: str, *paths: Path, save_as: str = "har"):
    lines: list[str] = []
    server = Server([load(str(p)) for p in paths],
                    options=Options(speed=None, log=lines.append, upstream=Upstream(up, str(folder), save_as)))
    with Background(server) as base:
        yield base, lines


def _chat(base: str, body: dict = BODY) -> tuple[int, str]:
    with httpx.Client(timeout=TIMEOUT) as client:
        response = client.post(base + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"})
        return response.status_code, response.text


def _recorded(log: list[str], count: int = 1, needle: str = "recorded → ") -> list[str]:
    """The log lines with ``needle``, once ``count`` are there (the client has its answer before
    the file is written and the line logged: a request sent meanwhile waits for it)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        lines = [line for line in log if needle in line]
        if len(lines) >= count:
            return lines
        time.sleep(0.01)
    raise AssertionError(f"not recorded within {TIMEOUT} s: {log}")


def _text(sse: str) -> str:
    out = []
    for line in sse.splitlines():
        if line.startswith("data: {"):
            for choice in orjson.loads(line[6:]).get("choices", []):
                out.append(choice.get("delta", {}).get("content") or "")
    return "".join(out)


def test_a_miss_is_fetched_once_recorded_masked_and_then_served(tmp_path):
    with upstream(CHAT) as (up, asked), growing(tmp_path, up) as (base, log):
        first = _chat(base)
        assert len(asked) == 1 and first[0] == 200
        [line] = _recorded(log)
        files = sorted(tmp_path.iterdir())
        assert [f.name for f in files] == ["0001-POST-v1-chat-completions.har"]
        assert line.endswith(f"recorded → {files[0]}")
        second = _chat(base)
        assert len(asked) == 1, "the upstream was asked again for a recorded request"
        assert second == first and "Why did the scarecrow" in _text(first[1])
        assert any("0001-POST-v1-chat-completions.har exchange 0" in line for line in log)
    text = files[0].read_text()
    assert KEY not in text and "Bearer ***" in text
    recorded = load(str(files[0])).exchanges[0]
    assert recorded.request.body["messages"] == BODY["messages"]
    har = orjson.loads(text)["log"]["entries"][0]["response"]["content"]["_chunks"]
    assert har and all("offset_ms" in read for read in har)


def test_chunk_times_are_kept_from_a_paced_upstream(tmp_path):
    with upstream(CHAT, rate=200) as (up, _), growing(tmp_path, up) as (base, log):
        with httpx.Client(timeout=TIMEOUT) as client:
            with client.stream("POST", base + "/v1/chat/completions", json=BODY) as response:
                pieces = list(response.iter_raw())
    # the crewAI recording has no times: paced at serve's default rate, reads arrive apart
    reads = orjson.loads(next(tmp_path.iterdir()).read_bytes())["log"]["entries"][0]["response"]["content"]["_chunks"]
    offsets = [read["offset_ms"] for read in reads]
    assert len(reads) > 1 and len(pieces) > 1 and offsets == sorted(offsets) and offsets[-1] > offsets[0]


def test_different_requests_grow_one_vcr_cassette_and_each_is_served(tmp_path):
    tool_body = dict(load(str(TOOLS)).exchanges[0].request.body)
    with upstream(CHAT, TOOLS) as (up, asked), growing(tmp_path, up, save_as="vcr") as (base, log):
        a, b = _chat(base), _chat(base, tool_body)
        assert len(asked) == 2
        assert _chat(base) == a and _chat(base, tool_body) == b
        assert len(asked) == 2
    [cassette] = list(tmp_path.iterdir())
    assert cassette.name == "session-0001.yaml"
    recording = load(str(cassette))
    assert [ex.request.body["messages"][0]["content"] for ex in recording.exchanges] == \
        ["Tell me a joke.", "What is the temperature in San Francisco?"]
    assert KEY not in cassette.read_text()


def test_identical_requests_in_flight_ask_the_upstream_once(tmp_path):
    with upstream(CHAT, rate=200) as (up, asked), growing(tmp_path, up) as (base, _):
        results: list = []
        threads = [threading.Thread(target=lambda: results.append(_chat(base))) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
    assert len(asked) == 1 and len(results) == 3 and len({r for r in results}) == 1
    assert len(list(tmp_path.iterdir())) == 1


def test_upstream_errors_pass_through_and_are_not_kept(tmp_path):
    with upstream(CHAT) as (up, asked), growing(tmp_path, up) as (base, log):
        with httpx.Client(timeout=TIMEOUT) as client:  # the upstream has nothing for /v1/embeddings: its 404
            response = client.post(base + "/v1/embeddings", json={"model": "x", "input": "y"})
        assert response.status_code == 404 and len(asked) == 1
        _recorded(log, needle="not recorded (status 404")
    with growing(tmp_path, "http://127.0.0.1:9") as (base, log):  # nothing listens on the discard port
        status, text = _chat(base)
        _recorded(log, needle="not recorded (cannot reach the upstream")
    assert status == 502 and "cannot reach the upstream" in text
    assert list(tmp_path.iterdir()) == []


def test_the_openai_sdk_through_the_api(tmp_path):
    async def run() -> tuple[str, str]:
        with upstream(CHAT) as (up, asked):
            async with llmtrace.serve([], upstream=up, record_to=tmp_path) as server:
                client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=KEY, max_retries=0)
                texts = []
                for _ in range(2):
                    stream = await client.chat.completions.create(model="gpt-4o-mini", stream=True,
                                                                  messages=BODY["messages"])
                    texts.append("".join([c.choices[0].delta.content or "" async for c in stream if c.choices]))
            assert len(asked) == 1
        return texts[0], texts[1]

    first, second = asyncio.run(run())
    assert first == second and first.startswith("Why did the scarecrow")
    with pytest.raises(ValueError):
        llmtrace.serve([], upstream="http://127.0.0.1:9")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmtrace", "serve", *args], capture_output=True, text=True,
                          timeout=60)


def test_the_command_records_into_the_first_folder_then_serves_it(tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    with upstream(CHAT) as (up, asked):
        proc = subprocess.Popen([sys.executable, "-m", "llmtrace", "serve", "--port", "0", "--speed", "max",
                                 str(folder), "--upstream", up], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            base = proc.stdout.readline().strip()
            assert base.startswith("http://127.0.0.1:")
            first, second = _chat(base), _chat(base)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        assert len(asked) == 1 and first == second
    err = proc.stderr.read()
    assert "Traceback" not in err
    assert f"a miss goes to {up} and is recorded into {folder}" in err
    assert f"recorded → {folder / '0001-POST-v1-chat-completions.har'}" in err


def test_the_command_refuses_without_a_folder_to_record_to(tmp_path):
    result = _cli("--port", "0", str(CHAT), "--upstream", "http://127.0.0.1:9")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"llmtrace: --upstream needs --record-to DIR: the first PATH ({CHAT}) is not a folder"]
    result = _cli("--port", "0", str(CHAT), "--record-to", str(tmp_path))
    assert result.returncode == 2 and "go with --upstream URL" in result.stderr and len(result.stderr.splitlines()) == 1
    result = _cli("--port", "0", str(CHAT), "--upstream", "ftp://x", "--record-to", str(tmp_path))
    assert result.returncode == 2 and "--upstream should be an http:// or https:// URL" in result.stderr
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = _cli("--port", "0", str(CHAT), "--upstream", "http://127.0.0.1:9", "--record-to", str(blocker / "sub"))
    assert result.returncode == 2 and "cannot write recordings there" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_without_upstream_a_miss_stays_a_404(tmp_path):
    lines: list[str] = []
    with Background(Server([load(str(CHAT))], options=Options(speed=None, log=lines.append))) as base:
        status, text = _chat(base, {**BODY, "messages": [{"role": "user", "content": "Something else."}]})
    assert status == 404 and "no_match" in text and list(tmp_path.iterdir()) == []


FIXTURE_TEST = '''
import openai
import pytest


@pytest.mark.llmtrace_recordings("recorded", upstream=UPSTREAM)
def test_grows(llmtrace_server):
    client = openai.OpenAI(base_url=llmtrace_server.openai, api_key="sk-test", max_retries=0, timeout=20)
    texts = [client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Tell me a joke."}]
                                            ).choices[0].message.content for _ in range(2)]
    assert texts[0] == texts[1] and texts[0].startswith("Why did the scarecrow")
    first, second = llmtrace_server.requests
    assert first["matched"] is None and first["status"] == 200
    assert second["matched"] == {"file": "0001-POST-v1-chat-completions.har", "exchange": 0}


@pytest.mark.llmtrace_recordings("recorded/0001-POST-v1-chat-completions.har", upstream=UPSTREAM)
def test_needs_a_folder(llmtrace_server):
    pass
'''


def test_the_pytest_fixture_records_on_miss(pytester):
    (pytester.path / "recorded").mkdir()
    with upstream(CHAT) as (up, asked):
        pytester.makepyfile(test_grow=FIXTURE_TEST.replace("UPSTREAM", repr(up)))
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", timeout=120)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*upstream needs record_to=DIR (the first path is not a folder)*"])
    assert len(asked) == 1
    assert [p.name for p in (pytester.path / "recorded").iterdir()] == ["0001-POST-v1-chat-completions.har"]
