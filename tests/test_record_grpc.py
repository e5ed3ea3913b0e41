"""``llmtrace record`` proxies gRPC: the xAI SDK pointed at the recording proxy, whose upstream is
``serve`` replaying an xAI cassette from tests/data, gets the recorded answer; the cassette
``record`` writes reads back as the same exchange (``diff`` exit 0) and is served as gRPC again
with the same message bytes on the wire. Errors (a gRPC status) and unary calls pass through and
are recorded. Real servers on 127.0.0.1, every call with a deadline."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

grpc = pytest.importorskip("grpc")
xai_sdk = pytest.importorskip("xai_sdk")

from test_serve_grpc import CODE, DEADLINE, REASONING, _cassette, _raw_stream, _recorded_question, _recording, _serve  # noqa: E402
from test_serve_realtime import TlsServer, self_signed  # noqa: E402

from llmtrace import reassemble  # noqa: E402
from llmtrace.loader import load  # noqa: E402
from llmtrace.server.app import Background, Options  # noqa: E402
from llmtrace.server import faults  # noqa: E402
from llmtrace.server.proxy import Options as ProxyOptions  # noqa: E402
from llmtrace.server.proxy import RecordServer  # noqa: E402
from llmtrace.server.saving import Saver  # noqa: E402


class _Recording:
    """``record`` in a background thread, in front of ``upstream``."""

    def __init__(self, upstream: str, folder: Path, save_as: str = "har"):
        self.lines: list[str] = []
        self.server = RecordServer(upstream, Saver(folder, save_as), options=ProxyOptions(log=self.lines.append))
        self.loop = asyncio.new_event_loop()

    def __enter__(self) -> str:
        started = threading.Event()

        def run():
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.server.start())
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert started.wait(10)
        return self.server.base_url

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def test_the_xai_sdk_through_record_gets_the_answer_and_the_cassette_reads_back_equal(tmp_path):
    expected = reassemble(load(str(REASONING)).exchanges[0])["outputs"][0]["message"]["content"]
    served, _ = _serve(REASONING)
    with served as upstream, _Recording(upstream, tmp_path) as proxy:
        pieces = [chunk.content for _response, chunk in _recorded_question(proxy).stream()]
    assert "".join(pieces) == expected
    [written] = sorted(tmp_path.glob("*.xai.yaml"))
    assert written.name == "0001-GRPC-xai-api-chat-getcompletionchunk.xai.yaml"
    # The SDK sends ``n: 1``, which the recording's older SDK left out (serve's matching counts it as unset).
    result = subprocess.run([sys.executable, "-m", "llmtrace", "diff", "--ignore", "request.params.n",
                             str(REASONING), str(written)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    item = yaml.safe_load(written.read_text())["interactions"][0]
    assert item["response_stream"]["chunks_raw"] == _cassette(REASONING)["response_stream"]["chunks_raw"]
    assert item["_status"] == 0 and "test-key" not in written.read_text()  # the authorization metadata, masked

    # Served again from what record wrote: the same bytes on the wire.
    again, _ = _serve(written)
    with again as base:
        got, ended = _raw_stream(base, _cassette(REASONING)["request_stream"]["raw"])
    assert ended.code() == grpc.StatusCode.OK
    assert got == _cassette(REASONING)["response_stream"]["chunks_raw"]


def test_a_raw_grpc_client_through_record_gets_the_recorded_bytes(tmp_path):
    interaction = _cassette(CODE)
    served, _ = _serve(CODE)
    with served as upstream, _Recording(upstream, tmp_path) as proxy:
        got, ended = _raw_stream(proxy, interaction["request_stream"]["raw"])
    assert ended.code() == grpc.StatusCode.OK
    assert got == interaction["response_stream"]["chunks_raw"]


def test_a_unary_call_and_an_error_status_pass_through_and_are_recorded(tmp_path):
    served, _ = _serve(REASONING, faults=(faults.parse("error:status=429,request=1"),))
    with served as upstream, _Recording(upstream, tmp_path) as proxy:
        response = _recorded_question(proxy).sample()
        with pytest.raises(grpc.RpcError) as failed:
            _recorded_question(proxy).sample()
    assert response.content == reassemble(load(str(REASONING)).exchanges[0])["outputs"][0]["message"]["content"]
    assert failed.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    first, second = sorted(tmp_path.glob("*.xai.yaml"))
    assert "-getcompletion.xai.yaml" in first.name
    assert load(str(first)).exchanges[0].result.choices[0].content == response.content
    ex = load(str(second)).exchanges[0]
    assert ex.failed and ex.response.error["code"] == 8


def test_save_as_vcr_appends_the_call_to_the_runs_cassette(tmp_path):
    served, _ = _serve(REASONING)
    with served as upstream, _Recording(upstream, tmp_path, "vcr") as proxy:
        list(_recorded_question(proxy).stream())
    [cassette] = sorted(tmp_path.glob("session-*.yaml"))
    recording = load(str(cassette))
    assert recording.exchanges[0].dialect == "xai-grpc"
    assert recording.exchanges[0].result.choices[0].content == \
        reassemble(load(str(REASONING)).exchanges[0])["outputs"][0]["message"]["content"]


# --- an https upstream: TLS with ALPN h2 ------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed(tmp_path_factory.mktemp("tls"))


def _record_command(upstream: str, folder: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "llmtrace", "record", "--upstream", upstream, "--listen",
                             "127.0.0.1:0", "-o", str(folder)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def _stopped(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.stderr.read()


def test_record_to_an_https_upstream_trusting_its_ca_through_ssl_cert_file(tmp_path, certificate):
    """The real ``record`` command, its upstream ``serve`` behind TLS with a self-signed
    certificate that ``SSL_CERT_FILE`` makes trusted; the xAI SDK talks plain gRPC to record. The
    written cassette equals the original (``llmtrace diff`` exit 0) and keeps the recorded bytes;
    without the CA trusted the call fails UNAVAILABLE and nothing is sent on unverified."""
    import os
    import ssl

    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["h2", "http/1.1"])
    server = TlsServer([_recording(REASONING)], options=Options(speed=None))  # the recorded bytes served
    server.context = context
    expected = reassemble(load(str(REASONING)).exchanges[0])["outputs"][0]["message"]["content"]
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    trusted, untrusted = tmp_path / "trusted", tmp_path / "untrusted"
    with Background(server) as upstream:
        assert upstream.startswith("https://127.0.0.1:")
        proc = _record_command(upstream, trusted, {**env, "SSL_CERT_FILE": str(cert)})
        try:
            proxy = proc.stdout.readline().strip()
            assert proxy.startswith("http://127.0.0.1:"), _stopped(proc)
            pieces = [chunk.content for _response, chunk in _recorded_question(proxy).stream()]
        finally:
            log = _stopped(proc)
        proc = _record_command(upstream, untrusted, env)  # the system's CAs only: refused
        try:
            proxy = proc.stdout.readline().strip()
            with pytest.raises(grpc.RpcError) as refused:
                list(_recorded_question(proxy).stream())
        finally:
            refused_log = _stopped(proc)
    assert "".join(pieces) == expected, log
    [written] = sorted(trusted.glob("*.xai.yaml"))
    result = subprocess.run([sys.executable, "-m", "llmtrace", "diff", "--ignore", "request.params.n",
                             str(REASONING), str(written)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    item = yaml.safe_load(written.read_text())["interactions"][0]
    assert item["response_stream"]["chunks_raw"] == _cassette(REASONING)["response_stream"]["chunks_raw"]
    assert item["_status"] == 0 and "Traceback" not in log and "test-key" not in written.read_text()
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "cannot reach the upstream ([SSL: CERTIFICATE_VERIFY_FAILED]" in refused_log, refused_log
    assert "Traceback" not in refused_log


# --- client-streaming and bidirectional calls: request messages forwarded as they arrive -----------


class _Upstream:
    """grpcio's own server (a generic handler: bytes in, bytes out) as the upstream: xAI's
    client-streaming ``Files/UploadFile`` and a bidirectional echo (no xAI method is one: the
    proxy is generic). It notes each request message when it arrives."""

    def __init__(self, hold: threading.Event | None = None):
        from concurrent import futures

        self.seen: list[bytes] = []
        self.arrived = threading.Condition()
        self.hold = hold
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                                  options=[("grpc.http2.bdp_probe", 0)])
        self.server.add_generic_rpc_handlers((
            grpc.method_handlers_generic_handler("xai_api.Files", {
                "UploadFile": grpc.stream_unary_rpc_method_handler(self.upload)}),
            grpc.method_handlers_generic_handler("test.Echo", {
                "Chat": grpc.stream_stream_rpc_method_handler(self.echo)}),
        ))
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    def note(self, message: bytes) -> None:
        with self.arrived:
            self.seen.append(message)
            self.arrived.notify_all()

    def wait_for(self, n: int) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.seen) >= n, DEADLINE)

    def upload(self, messages, context):
        for message in messages:
            self.note(message)
            if self.hold is not None:
                assert self.hold.wait(DEADLINE)
        return b"file:" + str(sum(len(m) for m in self.seen)).encode()

    def echo(self, messages, context):
        for message in messages:
            self.note(message)
            yield b"echo:" + message

    def __enter__(self) -> str:
        self.server.start()
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.server.stop(0).wait(10)


def _plain(proxy: str):
    return grpc.insecure_channel(proxy.removeprefix("http://"),
                                 options=[("grpc.enable_http_proxy", 0), ("grpc.http2.bdp_probe", 0)])


def test_a_client_streaming_upload_is_forwarded_message_by_message_and_recorded(tmp_path):
    """Each request message reaches the upstream before the client sends the next (it waits
    for it): forwarded as they arrive, not read whole first. The answer comes back and the
    call is written with the method's name, the request bytes as sent."""
    upstream = _Upstream()
    parts = [b"part-%d:" % i + bytes(range(256)) * 40 for i in range(5)]
    with upstream as base, _Recording(base, tmp_path) as proxy:
        def requests():
            for n, part in enumerate(parts):
                if n:  # the previous one arrived upstream while this call is still sending
                    assert upstream.wait_for(n), f"message {n - 1} never reached the upstream"
                yield part

        with _plain(proxy) as channel:
            answer = channel.stream_unary("/xai_api.Files/UploadFile")(requests(), timeout=DEADLINE)
    assert answer == b"file:" + str(sum(map(len, parts))).encode()
    assert upstream.seen == parts
    [written] = sorted(tmp_path.glob("*.xai.yaml"))
    assert written.name == "0001-GRPC-xai-api-files-uploadfile.xai.yaml"
    item = yaml.safe_load(written.read_text())["interactions"][0]
    assert item["_method"] == "/xai_api.Files/UploadFile" and item["_status"] == 0
    assert item["request"]["raw"] == b"".join(b"\0" + len(p).to_bytes(4, "big") + p for p in parts)
    assert item["response"]["raw"] == answer


def test_a_bidirectional_call_in_lock_step_through_record(tmp_path):
    """Send one, receive its echo, send the next: a proxy that waited for the whole request
    would never answer the first."""
    import queue as queues

    upstream = _Upstream()
    outgoing: queues.Queue = queues.Queue()
    with upstream as base, _Recording(base, tmp_path) as proxy:
        with _plain(proxy) as channel:
            call = channel.stream_stream("/test.Echo/Chat")(iter(outgoing.get, None), timeout=DEADLINE)
            echoes = []
            for n in range(3):
                outgoing.put(b"turn %d" % n)
                echoes.append(next(call))
            outgoing.put(None)
            assert list(call) == []
    assert echoes == [b"echo:turn 0", b"echo:turn 1", b"echo:turn 2"]
    [written] = sorted(tmp_path.glob("*.xai.yaml"))
    item = yaml.safe_load(written.read_text())["interactions"][0]
    assert item["_method"] == "/test.Echo/Chat" and item["_status"] == 0


def test_a_slow_upstream_holds_the_client_back_through_flow_control(tmp_path):
    """The upstream stops reading after the first message: the client can only send what the
    windows between hold (the proxy acknowledges a frame once the upstream took it), not the
    whole 8 MiB into the proxy's memory."""
    hold = threading.Event()
    upstream = _Upstream(hold)
    part = b"x" * 2**20
    pulled = []
    with upstream as base, _Recording(base, tmp_path) as proxy:
        def requests():
            for n in range(8):
                pulled.append(n)
                yield part

        with _plain(proxy) as channel:
            future = channel.stream_unary("/xai_api.Files/UploadFile").future(requests(), timeout=DEADLINE)
            assert upstream.wait_for(1)
            import time

            time.sleep(1.0)  # time enough for an unbounded proxy to take everything
            held = len(pulled)
            hold.set()
            answer = future.result(DEADLINE)
    assert answer == b"file:" + str(8 * len(part)).encode()
    assert held < 8, held


def test_a_call_the_client_cancels_is_reset_upstream(tmp_path):
    upstream = _Upstream()
    ended = threading.Event()

    def watched(messages, context):
        context.add_callback(ended.set)  # the upstream's call ends: cancelled, not left open
        yield from upstream.echo(messages, context)

    upstream.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Watched", {
        "Chat": grpc.stream_stream_rpc_method_handler(watched)}),))
    outgoing = threading.Event()
    with upstream as base, _Recording(base, tmp_path) as proxy:
        with _plain(proxy) as channel:
            def requests():
                yield b"hello"
                outgoing.wait(DEADLINE)  # the request stays open

            call = channel.stream_stream("/test.Watched/Chat")(requests(), timeout=DEADLINE)
            assert next(call) == b"echo:hello"
            call.cancel()
            assert ended.wait(5)  # well before the deadline the upstream was told
            outgoing.set()
    [written] = sorted(tmp_path.glob("*.xai.yaml"))
    assert yaml.safe_load(written.read_text())["interactions"][0]["_error"] == "the client cancelled the call"


def test_a_request_beyond_the_size_kept_is_forwarded_whole_and_its_start_kept(tmp_path, monkeypatch):
    from llmtrace.server import grpc as served_grpc

    monkeypatch.setattr(served_grpc, "MAX_REQUEST", 1000)  # what the file keeps of a request
    upstream = _Upstream()
    parts = [bytes([i]) * 10_000 for i in range(3)]
    with upstream as base, _Recording(base, tmp_path) as proxy:
        with _plain(proxy) as channel:
            answer = channel.stream_unary("/xai_api.Files/UploadFile")(iter(parts), timeout=DEADLINE)
    assert upstream.seen == parts and answer == b"file:30000"
    [written] = sorted(tmp_path.glob("*.xai.yaml"))
    item = yaml.safe_load(written.read_text())["interactions"][0]
    assert item["request"]["raw"] == (b"\0" + (10_000).to_bytes(4, "big") + parts[0])[:1005]
    assert "larger than" in item["_request_cut"]


def test_calls_the_upstream_ends_early_leave_the_connection_usable(tmp_path):
    """The upstream refuses an upload after its first message while the client still sends:
    the frames the proxy drops still open the connection's window again, so after many such
    calls on one connection the next upload goes through."""
    upstream = _Upstream()

    def refuse(messages, context):
        next(messages)
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "too big")

    upstream.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Refuse", {
        "Upload": grpc.stream_unary_rpc_method_handler(refuse)}),))
    part = b"y" * 60_000
    with upstream as base, _Recording(base, tmp_path) as proxy:
        with _plain(proxy) as channel:
            codes = []
            for _ in range(6):
                with pytest.raises(grpc.RpcError) as refused:
                    channel.stream_unary("/test.Refuse/Upload")(iter([part] * 8), timeout=DEADLINE)
                codes.append(refused.value.code())
            answer = channel.stream_unary("/xai_api.Files/UploadFile")(iter([part] * 4), timeout=DEADLINE)
    assert codes == [grpc.StatusCode.INVALID_ARGUMENT] * 6
    assert answer == b"file:" + str(len(upstream.seen) * len(part)).encode() and len(upstream.seen) == 4
