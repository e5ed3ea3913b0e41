"""``serve`` replays xAI gRPC cassettes as gRPC over HTTP/2, on the same port as HTTP/1.1, to the
real clients: the xAI SDK (``xai_sdk``, streaming and unary) and grpcio's generic client (the
bytes on the wire). Real server, 127.0.0.1, a free port, every call with a deadline."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import yaml

grpc = pytest.importorskip("grpc")
xai_sdk = pytest.importorskip("xai_sdk")

from xai_sdk.chat import user  # noqa: E402

from llmtrace import reassemble  # noqa: E402
from llmtrace.containers import bodies  # noqa: E402
from llmtrace.dialects import xai_grpc  # noqa: E402
from llmtrace.loader import load  # noqa: E402
from llmtrace.server import faults  # noqa: E402
from llmtrace.server.app import Background, Options, Server  # noqa: E402
from llmtrace.view import normalized_json  # noqa: E402

DATA = Path(__file__).parent / "data" / "newformats" / "F-pydantic-ai"
REASONING = DATA / "tests__models__cassettes__test_xai__test_xai_stream_events_with_reasoning.xai.yaml"
CODE = DATA / "tests__models__cassettes__test_xai__test_xai_builtin_code_execution_tool_stream.xai.yaml"
STREAM = "/xai_api.Chat/GetCompletionChunk"
UNARY = "/xai_api.Chat/GetCompletion"
DEADLINE = 20


def _recording(path: Path):
    bodies.keep_raw(True)
    try:
        return load(str(path))
    finally:
        bodies.keep_raw(False)


def _cassette(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["interactions"][0]


def _serve(*paths: Path, **options):
    options.setdefault("speed", None)
    lines: list[str] = []
    server = Server([_recording(p) for p in paths], options=Options(log=lines.append, **options))
    return Background(server), lines


def _host(base: str) -> str:
    return base.removeprefix("http://")


def _channel(base: str):
    return grpc.insecure_channel(_host(base), options=[("grpc.enable_http_proxy", 0)])


def _raw_stream(base: str, request: bytes, method: str = STREAM) -> tuple[list[bytes], object]:
    """The messages of one call, as bytes (no deserializer), and how it ended."""
    with _channel(base) as channel:
        call = channel.unary_stream(method)(request, timeout=DEADLINE)
        got: list[bytes] = []
        try:
            for message in call:
                got.append(message)
        except grpc.RpcError as exc:
            return got, exc
        return got, call


def _client(base: str):
    return xai_sdk.Client(api_key="test-key", api_host=_host(base), use_insecure_channel=True, timeout=DEADLINE,
                          channel_options=[("grpc.enable_http_proxy", 0)])


def _recorded_question(base: str):
    """The chat the reasoning cassette recorded, asked again through the SDK."""
    return _client(base).chat.create(model="grok-4-fast-reasoning", max_tokens=100, use_encrypted_content=True,
                                     messages=[user("What is the 10th prime number?")])


def test_the_xai_sdk_streams_the_recorded_answer():
    expected = reassemble(load(str(REASONING)).exchanges[0])["outputs"][0]["message"]["content"]
    served, lines = _serve(REASONING)
    with served as base:
        chat = _recorded_question(base)
        pieces = [chunk.content for _response, chunk in chat.stream()]
    recorded = _cassette(REASONING)["response_stream"]["chunks_json"]
    assert len(pieces) == len(recorded)
    assert "".join(pieces) == expected == "".join(c["chunk"]["outputs"][0]["delta"].get("content", "") for c in recorded)
    assert any("OK, 41 frames" in line for line in lines), lines


def test_a_server_side_tool_stream_reaches_the_sdk_with_its_tool_call():
    served, _ = _serve(CODE)
    request = _cassette(CODE)["request_stream"]["raw"]
    with served as base:
        got, ended = _raw_stream(base, request)
    assert ended.code() == grpc.StatusCode.OK
    chunks = [xai_grpc.decode_chunk(m) for m in got]
    calls = [call for c in chunks for out in c.get("outputs", []) for call in out.get("delta", {}).get("tool_calls", [])]
    assert calls and calls[0]["function"]["name"] == "code_execution"


@pytest.mark.parametrize("path", [REASONING, CODE], ids=["reasoning", "code-execution"])
def test_the_messages_on_the_wire_are_the_recorded_bytes_and_read_back_equal(path, tmp_path):
    interaction = _cassette(path)
    served, _ = _serve(path)
    with served as base:
        got, ended = _raw_stream(base, interaction["request_stream"]["raw"])
    assert ended.code() == grpc.StatusCode.OK
    assert got == interaction["response_stream"]["chunks_raw"]
    # Captured, written as a cassette of the same kind, read back: the same exchange.
    captured = {"interactions": [{"request_stream": {"json": interaction["request_stream"]["json"]},
                                  "response_stream": {"chunks_json": [{"chunk": xai_grpc.decode_chunk(m)} for m in got]}}]}
    out = tmp_path / "captured.xai.yaml"
    out.write_text(yaml.safe_dump(captured))
    original, again = load(str(path)).exchanges[0], load(str(out)).exchanges[0]
    assert normalized_json(again)["choices"] == normalized_json(original)["choices"]
    assert normalized_json(again)["usage"] == normalized_json(original)["usage"]


def test_without_recorded_bytes_the_json_chunks_are_encoded(tmp_path):
    interaction = _cassette(REASONING)
    del interaction["response_stream"]["chunks_raw"]
    path = tmp_path / "json-only.xai.yaml"
    path.write_text(yaml.safe_dump({"interactions": [interaction]}))
    served, _ = _serve(path)
    with served as base:
        got, ended = _raw_stream(base, interaction["request_stream"]["raw"])
    assert ended.code() == grpc.StatusCode.OK
    assert [xai_grpc.decode_chunk(m) for m in got] == [c["chunk"] for c in interaction["response_stream"]["chunks_json"]]


def test_unary_get_completion_answers_with_the_reassembled_response():
    expected = reassemble(load(str(REASONING)).exchanges[0])["outputs"][0]["message"]["content"]
    served, lines = _serve(REASONING)
    with served as base:
        chat = _recorded_question(base)
        response = chat.sample()
    assert response.content == expected
    assert response.usage.completion_tokens == 40
    assert any("whole response" in line for line in lines), lines


def test_a_request_nothing_matches_is_not_found_with_the_closest():
    served, lines = _serve(REASONING)
    with served as base:
        chat = _client(base).chat.create(model="grok-4-fast-reasoning", messages=[user("Something else")])
        with pytest.raises(grpc.RpcError) as caught:
            list(chat.stream())
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "closest" in caught.value.details() and "messages" in caught.value.details()
    assert any("NOT_FOUND no_match" in line for line in lines)


def test_closest_and_sequence_matching_answer_other_requests():
    for mode in ("closest", "sequence"):
        served, _ = _serve(REASONING, mode=mode)
        with served as base:
            chat = _client(base).chat.create(model="grok-4-fast-reasoning", messages=[user("Something else")])
            assert "29" in "".join(chunk.content for _r, chunk in chat.stream())


def test_an_unknown_method_is_unimplemented():
    served, _ = _serve(REASONING)
    with served as base:
        got, ended = _raw_stream(base, b"", method="/xai_api.Models/ListLanguageModels")
    assert got == [] and ended.code() == grpc.StatusCode.UNIMPLEMENTED


def test_a_request_that_is_not_protobuf_is_invalid_argument():
    served, _ = _serve(REASONING)
    with served as base:
        got, ended = _raw_stream(base, b"\xff\xff\xff")
    assert got == [] and ended.code() == grpc.StatusCode.INVALID_ARGUMENT


def _faulted(spec: str) -> tuple[list[bytes], object, list[str]]:
    served, lines = _serve(REASONING, faults=(faults.parse(spec),))
    with served as base:
        got, ended = _raw_stream(base, _cassette(REASONING)["request_stream"]["raw"])
    return got, ended, lines


def test_fault_error_is_the_grpc_status_of_that_http_status():
    got, ended, _ = _faulted("error:status=429,retry_after=3")
    assert got == [] and ended.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert ("retry-after", "3") in tuple(ended.trailing_metadata())
    got, ended, _ = _faulted("error:status=503")
    assert ended.code() == grpc.StatusCode.UNAVAILABLE


def _messages(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos + 5 <= len(data):
        length = int.from_bytes(data[pos + 1:pos + 5], "big")
        if pos + 5 + length > len(data):
            break
        out.append(data[pos + 5:pos + 5 + length])
        pos += 5 + length
    return out


def test_fault_cut_drops_the_connection_mid_stream():
    # grpcio may drop messages it had received when the connection goes: it ends UNAVAILABLE
    # with at most the frames sent; the bytes on the wire are read with httpx over HTTP/2.
    got, ended, lines = _faulted("cut:after=3")
    assert len(got) <= 4 and ended.code() == grpc.StatusCode.UNAVAILABLE
    assert any("cut after frame 3 (4 of 41 frames)" in line for line in lines), lines
    served, _ = _serve(REASONING, faults=(faults.parse("cut:after=3"),))
    received = bytearray()
    with served as base, httpx.Client(http1=False, http2=True, timeout=DEADLINE, trust_env=False) as client:
        body = b"\0" + len(raw := _cassette(REASONING)["request_stream"]["raw"]).to_bytes(4, "big") + raw
        with pytest.raises(httpx.RemoteProtocolError):
            with client.stream("POST", base + STREAM, content=body,
                               headers={"content-type": "application/grpc", "te": "trailers"}) as response:
                assert response.http_version == "HTTP/2"
                for piece in response.iter_raw():
                    received.extend(piece)
    assert _messages(bytes(received)) == _cassette(REASONING)["response_stream"]["chunks_raw"][:4]


def test_fault_error_in_stream_ends_with_internal():
    got, ended, _ = _faulted("error-in-stream:after=2")
    assert len(got) == 3 and ended.code() == grpc.StatusCode.INTERNAL
    assert "error in stream" in ended.details()


def test_faults_duplicate_split_and_drop_done():
    recorded = _cassette(REASONING)["response_stream"]["chunks_raw"]
    got, ended, _ = _faulted("duplicate:chunk=1")
    assert got == recorded[:2] + recorded[1:] and ended.code() == grpc.StatusCode.OK
    got, ended, _ = _faulted("split-utf8")
    assert got == recorded
    got, ended, _ = _faulted("drop-done")
    assert got == recorded[:-1] and ended.code() == grpc.StatusCode.OK
    assert "finish_reason" not in str(xai_grpc.decode_chunk(got[-1]))


def test_the_recorded_pace_is_kept():
    chunks = _cassette(REASONING)["response_stream"]["chunks_json"]
    from datetime import datetime

    stamps = [datetime.fromisoformat(c["chunk"]["created"][:26]) for c in chunks]
    recorded = (stamps[-1] - stamps[0]).total_seconds()
    assert recorded > 0.2
    served, _ = _serve(REASONING, speed=2.0)
    with served as base:
        start = time.monotonic()
        got, ended = _raw_stream(base, _cassette(REASONING)["request_stream"]["raw"])
        took = time.monotonic() - start
    assert ended.code() == grpc.StatusCode.OK
    assert took >= recorded / 2 * 0.9, (took, recorded)


def test_http1_still_answers_on_the_same_port():
    served, _ = _serve(REASONING)
    with served as base:
        with httpx.Client(base_url=base, timeout=DEADLINE, trust_env=False) as client:
            health = client.get("/llmtrace/health").json()
            assert health["endpoints"] == [UNARY]
            wrong = client.post(STREAM, content=b"\0\0\0\0\0", headers={"content-type": "application/grpc"})
            assert wrong.status_code == 505
        # and gRPC after it, on a new connection
        got, ended = _raw_stream(base, _cassette(REASONING)["request_stream"]["raw"])
        assert ended.code() == grpc.StatusCode.OK and len(got) == 41


def test_garbage_after_the_http2_preface_closes_only_that_connection():
    import socket

    served, lines = _serve(REASONING)
    with served as base:
        host, port = _host(base).split(":")
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            # A SETTINGS frame whose length is not a multiple of 6: a connection error in HTTP/2.
            sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x03\x04\x00\x00\x00\x00\x00abc")
            received = b""
            try:
                while piece := sock.recv(4096):
                    received += piece
            except ConnectionResetError:
                pass
            # reaching here means the server closed it: our own 5 s timeout raises instead
        assert b"\x07" in received  # a GOAWAY frame (type 7) said why
        got, ended = _raw_stream(base, _cassette(REASONING)["request_stream"]["raw"])
        assert ended.code() == grpc.StatusCode.OK and len(got) == 41
    assert any("gRPC connection closed" in line for line in lines), lines


def test_a_large_stream_waits_for_the_clients_flow_control_window(tmp_path):
    # Well past HTTP/2's default 64 KiB window: the server must wait for WINDOW_UPDATEs.
    interaction = _cassette(REASONING)
    first = interaction["response_stream"]["chunks_json"][2]["chunk"]
    big = [{"chunk": {**first, "outputs": [{"delta": {"content": "x" * 30_000, "role": "ROLE_ASSISTANT"}}]}}
           for _ in range(40)]
    interaction["response_stream"] = {"chunks_json": big}
    path = tmp_path / "big.xai.yaml"
    path.write_text(yaml.safe_dump({"interactions": [interaction]}))
    served, _ = _serve(path)
    with served as base:
        got, ended = _raw_stream(base, interaction["request_stream"]["raw"])
    assert ended.code() == grpc.StatusCode.OK and len(got) == 40
    assert sum(len(m) for m in got) > 1_200_000


def test_the_command_serves_grpc_and_says_how_to_reach_it():
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "llmtrace", "serve", "--port", "0", "--speed", "max", str(REASONING)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:")
        chat = _recorded_question(base)
        assert "".join(chunk.content for _r, chunk in chat.stream()).startswith("29\n\nThe first 10 prime")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read()
    assert f'xai_sdk.Client(api_host="{_host(base)}", use_insecure_channel=True)' in err
    assert "gRPC /xai_api.Chat/GetCompletionChunk →" in err and "OK, 41 frames" in err and "Traceback" not in err


def test_a_recorded_chunk_the_schema_cannot_write_is_internal_not_a_hang(tmp_path):
    interaction = _cassette(REASONING)
    chunks = interaction["response_stream"]["chunks_json"]
    chunks[0]["chunk"]["field_from_a_newer_sdk"] = 1
    interaction["response_stream"] = {"chunks_json": chunks}
    path = tmp_path / "newer.xai.yaml"
    path.write_text(yaml.safe_dump({"interactions": [interaction]}))
    served, lines = _serve(path)
    with served as base:
        got, ended = _raw_stream(base, interaction["request_stream"]["raw"])
    assert got == [] and ended.code() == grpc.StatusCode.INTERNAL
    assert "field_from_a_newer_sdk" in ended.details()


def test_the_async_xai_sdk_streams_too():
    import asyncio

    expected = reassemble(load(str(REASONING)).exchanges[0])["outputs"][0]["message"]["content"]
    served, _ = _serve(REASONING)

    async def ask(base: str) -> str:
        client = xai_sdk.AsyncClient(api_key="test-key", api_host=_host(base), use_insecure_channel=True,
                                     timeout=DEADLINE, channel_options=[("grpc.enable_http_proxy", 0)])
        chat = client.chat.create(model="grok-4-fast-reasoning", max_tokens=100, use_encrypted_content=True,
                                  messages=[user("What is the 10th prime number?")])
        return "".join([chunk.content async for _response, chunk in chat.stream()])

    with served as base:
        assert asyncio.run(asyncio.wait_for(ask(base), DEADLINE)) == expected


def test_a_gzip_request_is_read_and_a_gzip_bomb_refused():
    import gzip

    from llmtrace.server.grpc import RESOURCE_EXHAUSTED, GrpcError, unframed

    served, _ = _serve(REASONING)
    raw = _cassette(REASONING)["request_stream"]["raw"]
    with served as base, _channel(base) as channel:
        call = channel.unary_stream(STREAM)(raw, timeout=DEADLINE, compression=grpc.Compression.Gzip)
        assert len(list(call)) == 41
    bomb = gzip.compress(b"\0" * (65 * 2**20))
    assert len(bomb) < 2**20
    with pytest.raises(GrpcError) as refused:
        unframed(b"\1" + len(bomb).to_bytes(4, "big") + bomb, "gzip")
    assert refused.value.status == RESOURCE_EXHAUSTED
    with pytest.raises(GrpcError, match="cut off"):
        unframed(b"\1" + (len(bomb) // 2).to_bytes(4, "big") + bomb[:len(bomb) // 2], "gzip")


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=25))
def test_any_rechunked_stream_served_and_captured_reads_back_the_same(tmp_path, pieces):
    interaction = _cassette(REASONING)
    template = interaction["response_stream"]["chunks_json"][2]["chunk"]
    chunks = [{"chunk": {**template, "outputs": [{"delta": {"content": p, "role": "ROLE_ASSISTANT"}}]}} for p in pieces]
    chunks[-1]["chunk"]["outputs"][0]["finish_reason"] = "REASON_STOP"
    interaction["response_stream"] = {"chunks_json": chunks}
    path = tmp_path / "rechunked.xai.yaml"
    path.write_text(yaml.safe_dump({"interactions": [interaction]}))
    served, _ = _serve(path)
    with served as base:
        got, ended = _raw_stream(base, interaction["request_stream"]["raw"])
    assert ended.code() == grpc.StatusCode.OK
    back = tmp_path / "back.xai.yaml"
    back.write_text(yaml.safe_dump({"interactions": [{"request_stream": {"json": interaction["request_stream"]["json"]},
                                                      "response_stream": {"chunks_json": [
                                                          {"chunk": xai_grpc.decode_chunk(m)} for m in got]}}]}))
    original, again = (normalized_json(load(str(p)).exchanges[0]) for p in (path, back))
    assert again["choices"] == original["choices"] and again["choices"][0]["content"] == "".join(pieces)
