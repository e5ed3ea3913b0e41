"""``llmtrace serve`` driven by the vendors' own SDKs, httpx and curl, on real recordings from
tests/data: every client's accumulated answer equals ``llmtrace reassemble`` of the recording;
a capture of the served stream reads back ``diff --strict``-equal; each fault is seen by the
client or by ``check`` on the capture. The server runs in-process on a free port of 127.0.0.1
(one thread, its own event loop) or as a real subprocess; every request is bounded in time."""

from __future__ import annotations

import asyncio
import inspect
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import orjson
import pytest

from conftest import DATA, CORPUS
from llmtrace.anomalies import detect
from llmtrace.view import normalized_json
from llmtrace.loader import load
from llmtrace.server.app import Background, Options, Server
from llmtrace.server.faults import FaultError, parse

CASSETTES = DATA / "cassettes"
CHAT = CASSETTES / "crewAI" / "cassettes--test_usage_info_streaming_with_acall.yaml"
TOOLS = CASSETTES / "crewAI" / "llms--TestToolCallStreamingEventStructure.test_tool_call_events_have_consistent_tool_id.yaml"
COMPLETIONS = CASSETTES / "openllmetry" / "test_llms--test_trace_propagation_stream_with_events_with_no_content[VLLMOpenAI].yaml"
RESPONSES = CASSETTES / "pydantic-ai" / "test_openai_responses--test_openai_responses_phase_streamed_on_part_start.yaml"
ANTHROPIC = CASSETTES / "mirascope" / "anthropic_claude_sonnet_4_0--async_stream.yaml"
GEMINI = CASSETTES / "mirascope" / "google_gemini_2_5_flash--stream.yaml"
OLLAMA = sorted((CORPUS / "llama-stack" / "ollama-chat-stream").glob("*.json"))[0]
TIMED = CORPUS / "llama-stack" / "ollama-generate-stream" / "120f40661861.json"
TIMEOUT = 30


@contextmanager
def serving(*paths: Path, **options):
    """A server on a free port of 127.0.0.1 in a background thread; yields (base URL, log lines)."""
    lines: list[str] = []
    options.setdefault("speed", None)
    server = Server([load(str(p)) for p in paths], options=Options(log=lines.append, **options))
    with Background(server) as base:
        yield base, lines


def _body(path: Path, index: int = 0) -> dict:
    return dict(load(str(path)).exchanges[index].request.body)


def _expected(path: Path, index: int = 0) -> dict:
    return normalized_json(load(str(path)).exchanges[index])


def _kwargs(method, body: dict) -> dict:
    """The recorded body as SDK keyword arguments (unknown keys through ``extra_body``)."""
    known = inspect.signature(method).parameters
    kwargs = {k: v for k, v in body.items() if k in known}
    extra = {k: v for k, v in body.items() if k not in known}
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


def _accumulate_openai(chunks) -> dict:
    """What an application reading the SDK's chunk objects ends up with."""
    content, calls, finish, usage = [], {}, None, None
    for chunk in chunks:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                content.append(delta.content)
            for call in delta.tool_calls or []:
                slot = calls.setdefault(call.index, {"id": None, "name": None, "arguments": ""})
                slot["id"] = slot["id"] or call.id
                if call.function:
                    slot["name"] = slot["name"] or call.function.name
                    slot["arguments"] += call.function.arguments or ""
            finish = choice.finish_reason or finish
    return {"content": "".join(content) or None, "tool_calls": [calls[k] for k in sorted(calls)], "finish": finish,
            "usage": usage}


def _same_as_reassembled(got: dict, expected: dict) -> None:
    message = expected["choices"][0]
    assert got["content"] == message["content"]
    assert [(c["id"], c["name"], c["arguments"]) for c in got["tool_calls"]] == \
        [(c["id"], c["name"], c["arguments"]) for c in message["tool_calls"]]
    assert got["finish"] == message["finish_reason"]
    if got["usage"] is not None:
        assert (got["usage"].prompt_tokens, got["usage"].completion_tokens, got["usage"].total_tokens) == \
            (expected["usage"]["input_tokens"], expected["usage"]["output_tokens"], expected["usage"]["total_tokens"])


# --- the vendors' SDKs ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [CHAT, TOOLS], ids=["content-and-usage", "tool-calls"])
def test_openai_chat_streaming_sync(path):
    import openai

    with serving(path) as (base, lines):
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="test", max_retries=0, timeout=TIMEOUT)
        stream = client.chat.completions.create(**_kwargs(client.chat.completions.create, _body(path)))
        _same_as_reassembled(_accumulate_openai(stream), _expected(path))
    assert len(lines) == 1 and "exchange 0" in lines[0]


def test_openai_chat_streaming_async():
    import openai

    async def main():
        client = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="test", max_retries=0, timeout=TIMEOUT)
        stream = await client.chat.completions.create(**_kwargs(client.chat.completions.create, _body(TOOLS)))
        return _accumulate_openai([chunk async for chunk in stream])

    with serving(TOOLS) as (base, _):
        _same_as_reassembled(asyncio.run(main()), _expected(TOOLS))


def test_openai_non_streaming_request_gets_the_reassembled_body():
    import openai

    with serving(CHAT) as (base, _):
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="test", max_retries=0, timeout=TIMEOUT)
        body = _body(CHAT)
        body["stream"] = False
        body.pop("stream_options")
        completion = client.chat.completions.create(**_kwargs(client.chat.completions.create, body))
    expected = _expected(CHAT)
    assert completion.choices[0].message.content == expected["choices"][0]["content"]
    assert completion.usage.total_tokens == expected["usage"]["total_tokens"]


def test_openai_completions():
    import openai

    with serving(COMPLETIONS) as (base, _):
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="test", max_retries=0, timeout=TIMEOUT)
        stream = client.completions.create(**_kwargs(client.completions.create, _body(COMPLETIONS)))
        chunks = list(stream)
    expected = _expected(COMPLETIONS)["choices"][0]
    assert "".join(c.choices[0].text for c in chunks if c.choices) == expected["content"]
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == \
        [expected["finish_reason"]]


def test_openai_responses():
    import openai

    with serving(RESPONSES) as (base, _):
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="test", max_retries=0, timeout=TIMEOUT)
        events = list(client.responses.create(**_kwargs(client.responses.create, _body(RESPONSES))))
    done = [e for e in events if e.type == "response.completed"][-1].response
    expected = _expected(RESPONSES)
    assert done.output_text == (expected["choices"][0]["content"] or "")
    assert done.usage.output_tokens == expected["usage"]["output_tokens"]


def test_anthropic_messages_stream():
    import anthropic

    with serving(ANTHROPIC) as (base, _):
        client = anthropic.Anthropic(base_url=base, api_key="test", max_retries=0, timeout=TIMEOUT)
        body = _body(ANTHROPIC)
        body.pop("stream")
        with client.messages.stream(**_kwargs(client.messages.stream, body)) as stream:
            message = stream.get_final_message()
    expected = _expected(ANTHROPIC)
    assert "".join(b.text for b in message.content if b.type == "text") == expected["choices"][0]["content"]
    assert message.stop_reason == expected["choices"][0]["finish_reason"]
    assert message.usage.output_tokens == expected["usage"]["output_tokens"]


def test_google_genai_stream():
    from google import genai
    from google.genai import types

    body = _body(GEMINI)
    with serving(GEMINI, mode="loose") as (base, lines):
        client = genai.Client(api_key="test", http_options=types.HttpOptions(base_url=base, api_version="v1beta",
                                                                       timeout=TIMEOUT * 1000))
        contents = [types.Content(role=c.get("role"), parts=[types.Part(text=p["text"]) for p in c["parts"]])
                    for c in body["contents"]]
        chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents=contents))
    expected = _expected(GEMINI)
    assert "".join(c.text or "" for c in chunks) == expected["choices"][0]["content"]
    assert chunks[-1].usage_metadata.total_token_count == expected["usage"]["total_tokens"]
    assert "exchange 0" in lines[0]


def test_ollama_chat_stream():
    import ollama

    body = _body(OLLAMA)
    with serving(OLLAMA) as (base, _):
        client = ollama.Client(host=base, timeout=TIMEOUT)
        parts = list(client.chat(model=body["model"], messages=body["messages"], options=body.get("options"),
                                 stream=True))
    expected = _expected(OLLAMA)
    assert "".join(p.message.content or "" for p in parts) == expected["choices"][0]["content"]
    assert parts[-1].done and parts[-1].eval_count == expected["usage"]["output_tokens"]


# --- fidelity: what is served reads back as the recording ---------------------------------------------


def _capture(base: str, path: Path, index: int = 0, suffix: str = "/v1/chat/completions") -> bytes:
    with httpx.Client(timeout=TIMEOUT) as client:
        with client.stream("POST", base + suffix, json=_body(path, index)) as response:
            return b"".join(response.iter_raw())


@pytest.mark.parametrize("path, suffix", [(CHAT, "/v1/chat/completions"), (ANTHROPIC, "/v1/messages"),
                                          (OLLAMA, "/api/chat")], ids=["openai", "anthropic", "ollama"])
def test_a_capture_reads_back_diff_strict_equal(tmp_path, path, suffix):
    with serving(path) as (base, _):
        data = _capture(base, path, suffix=suffix)
    capture = tmp_path / ("capture.ndjson" if suffix == "/api/chat" else "capture.sse")
    capture.write_bytes(data)
    served = load(str(capture)).exchanges[0]
    original = load(str(path)).exchanges[0]
    assert len(served.response.chunks) == len(original.response.chunks)
    assert served.response.chunks == original.response.chunks  # one recorded chunk, one frame, in order
    result = subprocess.run([sys.executable, "-m", "llmtrace", "diff", "--strict", "--ignore", "request",
                             "--ignore", "anomalies", "--ignore", "response.timing", "--ignore", "response.status",
                             str(path), str(capture)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_curl_sees_every_frame():
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    with serving(CHAT) as (base, _):
        out = subprocess.run([curl, "-sN", "--max-time", "20", f"{base}/v1/chat/completions", "-H",
                              "content-type: application/json", "-d", orjson.dumps(_body(CHAT)).decode()],
                             capture_output=True, timeout=30).stdout.decode()
    chunks = len(load(str(CHAT)).exchanges[0].response.chunks)
    assert out.count("data: ") == chunks + 1 and out.rstrip().endswith("data: [DONE]")


# --- timing ---------------------------------------------------------------------------------------


def test_recorded_pace_scaled_by_speed():
    """Paced, never early: frame k arrives no sooner than its recorded offset / speed after the
    request was sent (a lower bound no machine load can break), and the whole stream takes far
    less than the recording did (speed 10: a tenfold margin). Lateness is bench/'s to measure."""
    exchange = load(str(TIMED)).exchanges[0]
    recorded = [t - exchange.result.timeline.times[0] for t in exchange.result.timeline.times]
    assert recorded[-1] > 1.0  # the margin below needs a recording that lasts
    with serving(TIMED, speed=10.0) as (base, _):
        body = _body(TIMED)
        arrivals = []
        with httpx.Client(timeout=TIMEOUT) as client:
            sent = time.monotonic()
            with client.stream("POST", base + "/api/generate", json=body) as response:
                for line in response.iter_lines():
                    if line.strip():
                        arrivals.append(time.monotonic() - sent)
    assert len(arrivals) == len(recorded)
    for got, want in zip(arrivals, recorded):
        assert got >= want / 10 - 0.002, (got, want)
    # how much later than that is the machine's load: the schedule itself is the recording's, scaled
    from llmtrace.server import pace

    at_one, at_ten = pace.offsets(exchange, 1.0, None), pace.offsets(exchange, 10.0, None)
    assert [round(t / 10, 9) for t in at_one] == [round(t, 9) for t in at_ten]
    assert all(b - a == pytest.approx(d - c) for a, b, c, d in zip(recorded, recorded[1:], at_one, at_one[1:]))


# --- faults ---------------------------------------------------------------------------------------------


def _check_codes(tmp_path: Path, data: bytes, name: str = "capture.sse") -> set[str]:
    capture = tmp_path / name
    capture.write_bytes(data)
    recording = load(str(capture))
    return {a.code for ex in recording.exchanges for a in detect(ex, recording)}


@pytest.mark.parametrize("fault, code", [("cut:after=3", "no-finish"), ("drop-done", "no-finish"),
                                         ("duplicate:chunk=2", "duplicate-chunk"),
                                         ("error-in-stream:after=4", "error-in-stream")])
def test_faults_are_caught_by_check(tmp_path, fault, code):
    with serving(CHAT, faults=(parse(fault),)) as (base, lines):
        try:
            data = _capture(base, CHAT)
        except httpx.RemoteProtocolError as exc:  # the cut: the client sees the connection end mid-body
            assert fault.startswith("cut")
            data = getattr(exc, "partial", b"")
            with httpx.Client(timeout=TIMEOUT) as client:
                collected = bytearray()
                try:
                    with client.stream("POST", base + "/v1/chat/completions", json=_body(CHAT)) as response:
                        for piece in response.iter_raw():
                            collected += piece
                except httpx.RemoteProtocolError:
                    pass
                data = bytes(collected)
    assert code in _check_codes(tmp_path, data)
    assert fault.split(":")[0] in lines[-1]


def test_tool_call_as_text_is_caught(tmp_path):
    with serving(TOOLS, faults=(parse("tool-call-as-text:family=hermes"),)) as (base, _):
        data = _capture(base, TOOLS)
    assert "tool-call-in-text" in _check_codes(tmp_path, data)
    assert b"<tool_call>" in data


def test_stall_is_measured_by_the_client():
    """The stall is planned after frame 2 and no frame after it reaches the client sooner than
    the stall after the request was sent (a lower bound no machine load can break; how much
    later is the load's)."""
    import random

    from llmtrace.server import faults

    stall = parse("stall:after=2,seconds=0.6")
    assert faults.plan([stall], 0, 10, random.Random(0)).stall == {2: 0.6}
    with serving(CHAT, faults=(stall,)) as (base, _):
        times = []
        with httpx.Client(timeout=TIMEOUT) as client:
            sent = time.monotonic()
            with client.stream("POST", base + "/v1/chat/completions", json=_body(CHAT)) as response:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        times.append(time.monotonic() - sent)
    assert len(times) > 3 and all(t >= 0.6 for t in times[3:]), times


def test_split_utf8_keeps_the_text_intact():
    import openai

    with serving(CHAT, faults=(parse("split-utf8"),)) as (base, _):
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="test", max_retries=0, timeout=TIMEOUT)
        got = _accumulate_openai(client.chat.completions.create(**_kwargs(client.chat.completions.create, _body(CHAT))))
    _same_as_reassembled(got, _expected(CHAT))


def test_error_fault_reaches_the_sdk_with_retry_after():
    import anthropic
    import openai

    with serving(CHAT, ANTHROPIC, faults=(parse("error:status=429,retry_after=7"),)) as (base, _):
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="test", max_retries=0, timeout=TIMEOUT)
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(**_kwargs(client.chat.completions.create, _body(CHAT)))
        assert caught.value.response.headers["retry-after"] == "7"
        aclient = anthropic.Anthropic(base_url=base, api_key="test", max_retries=0, timeout=TIMEOUT)
        body = _body(ANTHROPIC)
        with pytest.raises(anthropic.RateLimitError) as caught:
            aclient.messages.create(**_kwargs(aclient.messages.create, body))
        assert caught.value.body["error"]["type"] == "rate_limit_error"


def test_request_k_limits_a_fault_to_one_request():
    with serving(CHAT, faults=(parse("error:status=503,request=1"),)) as (base, _):
        statuses = []
        with httpx.Client(timeout=TIMEOUT) as client:
            for _ in range(3):
                statuses.append(client.post(base + "/v1/chat/completions", json={**_body(CHAT), "stream": False}).status_code)
    assert statuses == [200, 503, 200]


@pytest.mark.parametrize("spec, message", [("explode", "unknown fault"), ("cut", "needs after="),
                                           ("cut:after=x", "whole number"), ("stall:after=1,secs=2", "no key 'secs'"),
                                           ("error:status=200", "HTTP error status")])
def test_bad_fault_specs(spec, message):
    with pytest.raises(FaultError, match=message):
        parse(spec)


# --- matching and misses ----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix, shape", [("/v1/chat/completions", "openai"), ("/v1/messages", "anthropic"),
                                           ("/v1beta/models/gemini-2.5-flash:generateContent", "gemini"),
                                           ("/api/chat", "ollama")])
def test_a_miss_is_a_404_in_the_providers_shape(suffix, shape):
    with serving(CHAT, ANTHROPIC, GEMINI, OLLAMA) as (base, lines):
        with httpx.Client(timeout=TIMEOUT) as client:
            response = client.post(base + suffix, json={"model": "nope", "messages": [{"role": "user", "content": "?"}],
                                                        "contents": [{"parts": [{"text": "?"}]}]})
    assert response.status_code == 404
    body = response.json()
    error = body if shape == "ollama" else body["error"]
    if shape == "anthropic":
        assert body["type"] == "error"
    if shape == "gemini":
        assert error["status"] == "NOT_FOUND" and error["code"] == 404 if False else error["status"] == "NOT_FOUND"
    assert error["code"] == "no_match" and error["llmtrace"]["closest"]["exchange"] == 0
    assert error["llmtrace"]["differences"]
    assert "no_match" in lines[-1]


def test_unknown_path_and_bad_json():
    with serving(CHAT) as (base, _):
        with httpx.Client(timeout=TIMEOUT) as client:
            unknown = client.get(base + "/nothing/here")
            bad = client.post(base + "/v1/chat/completions", content=b"{not json")
            health = client.get(base + "/llmtrace/health")
            again = client.post(base + "/v1/chat/completions", json={**_body(CHAT), "stream": False})
    assert unknown.status_code == 404 and "no_match" not in unknown.text
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("the request body is not JSON")
    assert health.status_code == 200 and health.json()["exchanges"] == 1
    assert again.status_code == 200  # the server kept serving


def test_loose_and_sequence_matching():
    body = _body(CHAT)
    changed = {**body, "messages": [{"role": "user", "content": "something else"}]}
    with serving(CHAT, mode="loose") as (base, _):
        with httpx.Client(timeout=TIMEOUT) as client:  # loose: parameters may differ, the conversation not
            assert client.post(base + "/v1/chat/completions", json={**body, "temperature": 0.3}).status_code == 200
            assert client.post(base + "/v1/chat/completions", json={**changed, "stream": False}).status_code == 404
    with serving(CHAT, mode="closest") as (base, _):
        with httpx.Client(timeout=TIMEOUT) as client:
            assert client.post(base + "/v1/chat/completions", json={**changed, "stream": False}).status_code == 200
    with serving(CHAT, TOOLS, mode="sequence") as (base, lines):
        with httpx.Client(timeout=TIMEOUT) as client:
            codes = [client.post(base + "/v1/chat/completions", json={**changed, "stream": False}).status_code
                     for _ in range(3)]
    assert codes == [200, 200, 404]
    assert CHAT.name in lines[0] and TOOLS.name in lines[1]


# --- the command ------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_command_prints_the_url_and_stops_on_sigterm():
    proc = subprocess.Popen([sys.executable, "-m", "llmtrace", "serve", "--port", "0", "--speed", "max", str(CHAT)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:")
        assert proc.stdout.readline().strip() == f"OPENAI_BASE_URL={base}/v1"
        with httpx.Client(timeout=TIMEOUT) as client:
            assert client.get(base + "/llmtrace/health").status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read()
    assert "Traceback" not in err and "GET /llmtrace/health" not in err


def test_port_in_use_and_unreadable_recordings_exit_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "llmtrace", "serve", "--port", str(port), str(CHAT)],
                                capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and result.stderr.startswith(f"llmtrace: cannot listen on 127.0.0.1:{port}")
    bad = tmp_path / "bad.json"
    bad.write_text('{"request": ')
    result = subprocess.run([sys.executable, "-m", "llmtrace", "serve", "--port", "0", str(bad), str(CHAT)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "bad.json: cut off mid-JSON" in result.stderr and result.stdout == ""
    result = subprocess.run([sys.executable, "-m", "llmtrace", "serve", "--fault", "explode", str(CHAT)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "unknown fault 'explode'" in result.stderr


BEDROCK = DATA / "bedrock" / "openllmetry" / \
    "test_anthropic_converse_stream_with_tool_use.yaml"
COHERE = DATA / "newformats" / "B-openllmetry" / \
    "packages__opentelemetry-instrumentation-cohere__tests__cassettes__test_chat__test_cohere_v2_chat_legacy_with_streaming.yaml"


@pytest.mark.parametrize("path, name", [(BEDROCK, "capture.bin"), (COHERE, "capture.sse")], ids=["bedrock", "cohere"])
def test_newer_dialects_replay_in_their_own_wire_format(tmp_path, path, name):
    original = load(str(path)).exchanges[0]
    with serving(path) as (base, _):
        with httpx.Client(timeout=TIMEOUT) as client:
            with client.stream("POST", base + original.request.endpoint, json=original.request.body) as response:
                data = b"".join(response.iter_raw())
                content_type = response.headers["content-type"]
    capture = tmp_path / name
    capture.write_bytes(data)
    served = load(str(capture)).exchanges[0]
    assert served.dialect == original.dialect
    assert served.response.chunks == original.response.chunks
    assert normalized_json(served)["choices"] == normalized_json(original)["choices"]
    if path == BEDROCK:
        assert content_type == "application/vnd.amazon.eventstream"


@pytest.mark.parametrize("path", [Path(__file__).resolve().parent.parent / "examples" / "containers" / "sse" / "openai-chat.sse",
                                  Path(__file__).resolve().parent.parent / "examples" / "containers" / "sse" / "anthropic-messages.sse",
                                  CHAT], ids=["sse-file", "sse-anthropic", "vcr-body"])
def test_the_recorded_bytes_are_served_where_the_recording_has_them(path):
    from llmtrace.containers import bodies

    bodies.keep_raw(True)
    try:
        recording = load(str(path))
    finally:
        bodies.keep_raw(False)
    exchange = recording.exchanges[0]
    if path.suffix == ".sse":
        recorded = path.read_bytes()
        suffix = "/v1/messages" if "anthropic" in path.name else "/v1/chat/completions"
        body = {"stream": True}
    else:
        import yaml

        recorded = yaml.safe_load(path.read_text())["interactions"][0]["response"]["body"]["string"].encode()
        suffix, body = "/v1/chat/completions", _body(path)
    with Background(Server([recording], options=Options(speed=None, mode="loose", log=lambda line: None))) as base:
        with httpx.Client(timeout=TIMEOUT) as client:
            with client.stream("POST", base + suffix, json=body) as response:
                served = b"".join(response.iter_raw())
    assert served == recorded


def test_an_ndjson_stream_is_served_as_its_recorded_lines():
    from llmtrace.containers import bodies

    path = Path(__file__).resolve().parent.parent / "examples" / "containers" / "ndjson" / "ollama-chat.ndjson"
    bodies.keep_raw(True)
    try:
        recording = load(str(path))
    finally:
        bodies.keep_raw(False)
    with Background(Server([recording], options=Options(speed=None, mode="loose", log=lambda line: None))) as base:
        with httpx.Client(timeout=TIMEOUT) as client:
            with client.stream("POST", base + "/api/chat", json={"model": "x", "messages": []}) as response:
                served = b"".join(response.iter_raw())
                assert response.headers["content-type"].startswith("application/x-ndjson")
    assert served == path.read_bytes()


def test_a_gemini_json_array_stream_is_served_as_recorded():
    from llmtrace.containers import bodies
    from llmtrace.server import wire

    bodies.keep_raw(True)
    try:
        text = '[{"candidates": [{"content": {"parts": [{"text": "Hel"}], "role": "model"}}]}\r\n,\r\n' \
               '{"candidates": [{"content": {"parts": [{"text": "lo"}], "role": "model"}, "finishReason": "STOP"}]}\r\n]'
        payloads = bodies.split(text, "test")
    finally:
        bodies.keep_raw(False)
    assert len(payloads.chunks) == 2 and "".join(payloads.chunks.raw) + payloads.chunks.tail == text
    from llmtrace.model import Exchange, Request, Response

    exchange = Exchange(index=0, container="vcr", dialect="gemini", request=Request(),
                        response=Response(streaming=True, chunks=payloads.chunks))
    stream = wire.stream(exchange)
    assert b"".join(stream.frames + stream.end) == text.encode() and stream.content_type == "application/json"
